import { randomUUID } from 'node:crypto';
import { Observable } from 'rxjs';
import { WebSocket, WebSocketServer } from 'ws';
import type { RawData } from 'ws';
import { ValidationError } from '../core/errors/index.js';
import type { ValidationInfo } from '../core/errors/index.js';
import { InvalidTask } from '../core/invalid-task.js';
import type { Task } from '../core/types.js';
import { describe } from '../core/validate.js';
import { readClientFrame } from '../wire/protocol.js';
import type { ServerFrame } from '../wire/protocol.js';

/**
 * The tasks clients submit over WebSocket, as a push source: every `submit` frame (see
 * `SubmitFrameSchema`) of one socket, or of every socket of a `WebSocketServer`, becomes tasks; bare prompts
 * get fresh ids, and the sender gets an `accepted` frame. A frame that is not valid gets an `error` frame
 * back (the socket stays open); an invalid `submit` also becomes an `InvalidTask` (`frame-N`, counting every
 * frame received) that the pool settles as rejected. Other frame types are left to whoever else listens.
 * Completes when the socket or the server closes.
 *
 * ```
 * frames:  --s--p--x--c      s = submit a and b, p = ping, x = a submit that is not valid, c = close
 * result:  --(ab)--i--|      i = InvalidTask('frame-3'); the sender of x also gets an `error` frame
 * ```
 *
 * @example
 * fromWebSocket(wss).pipe(runAgents(agent, { concurrency: 8, queueLimit: 100 }), toWebSocket(wss)).subscribe();
 */
export function fromWebSocket(target: WebSocketServer | WebSocket): Observable<Task | InvalidTask> {
  const isServer = target instanceof WebSocketServer;
  if (!isServer && !(target instanceof WebSocket)) {
    throw new TypeError(`Expected a WebSocketServer or a WebSocket from \`ws\`, got ${describe(target)}`);
  }
  return new Observable<Task | InvalidTask>((subscriber) => {
    let frames = 0;
    // Only open sockets: a socket that closes forgets itself, so a long-lived server retains none of them.
    const live = new Set<() => void>();
    const listen = (socket: WebSocket): void => {
      const reply = (frame: ServerFrame): void => {
        if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(frame));
      };
      const onMessage = (data: RawData, isBinary: boolean): void => {
        frames++;
        const parsed = readClientFrame(data, isBinary);
        if (!parsed.success) {
          reply(parsed.error);
          if (parsed.frameType === 'submit') {
            const { message, issues = [] } = parsed.error;
            subscriber.next(
              new InvalidTask(
                `frame-${frames}`,
                new ValidationError({
                  issues: issues as ValidationInfo['issues'],
                  source: 'frame',
                  message,
                }),
              ),
            );
          }
          return;
        }
        const frame = parsed.frame;
        if (frame.type !== 'submit') return;
        const submitted = frame.tasks ?? (frame.task === undefined ? [] : [frame.task]);
        const tasks = submitted.map((t): Task =>
          typeof t === 'string' ? { id: randomUUID(), input: t } : t,
        );
        reply({ type: 'accepted', taskIds: tasks.map((t) => t.id) });
        for (const task of tasks) subscriber.next(task);
      };
      const forget = (): void => {
        socket.off('message', onMessage);
        socket.off('close', forget);
        live.delete(forget);
      };
      socket.on('message', onMessage);
      socket.on('close', forget);
      live.add(forget);
    };
    const onClose = (): void => {
      subscriber.complete();
    };
    let detach: () => void;
    if (isServer) {
      for (const socket of target.clients) listen(socket);
      target.on('connection', listen);
      target.once('close', onClose);
      detach = () => {
        target.off('connection', listen);
        target.off('close', onClose);
      };
    } else {
      listen(target);
      target.once('close', onClose);
      detach = () => target.off('close', onClose);
    }
    return () => {
      detach();
      for (const forget of [...live]) forget();
    };
  });
}

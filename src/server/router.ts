import type { TaskEvent } from '../core/types.js';
import type { GatewayClient } from './gateway-client.js';
import { eventToFrame } from '../wire/protocol.js';
import type { ServerFrame } from '../wire/protocol.js';
import type { GatewayTask } from './tenant.js';
import { WatchIndex } from './watch-index.js';
import type { Owner } from './watch-index.js';

type TaskFrame = Extract<ServerFrame, { type: 'started' | 'delta' | 'tool' | 'settled' }>;

/**
 * Sends each task event to the socket that submitted the task and to the clients watching it, each under the
 * id it knows the task by: its own id for its own identity's tasks, the id plus `owner` for another's.
 */
export class EventRouter {
  readonly watches: WatchIndex<GatewayClient>;

  /** `admits` answers whether a client that watches everything may see an owner's tasks. */
  constructor(admits: (client: GatewayClient, owner: Owner) => boolean) {
    this.watches = new WatchIndex(admits);
  }

  /** Routes an event of a gateway task, or with `task` undefined one published from elsewhere. */
  route(event: TaskEvent<unknown>, task: GatewayTask | undefined): void {
    const frame = eventToFrame(event) as TaskFrame | undefined;
    if (frame === undefined) return;
    const owner: Owner = task?.tenant.identity;
    const id = task?.id ?? event.taskId;
    const own = task === undefined ? frame : relabel(frame, id, undefined);
    // Each view of the frame is encoded once, however many sockets it goes to.
    let ownText: string | undefined;
    let foreign: TaskFrame | undefined;
    let foreignText: string | undefined;
    const sendTo = (client: Pick<GatewayClient, 'send'>, mine: boolean): void => {
      if (mine) client.send(own, (ownText ??= JSON.stringify(own)));
      else {
        foreign ??= relabel(frame, id, owner);
        client.send(foreign, (foreignText ??= JSON.stringify(foreign)));
      }
    };
    const submitter = task?.submitter;
    if (submitter !== undefined) sendTo(submitter, true);
    this.watches.forEachWatcher(owner, id, (client) => {
      if (client !== submitter) sendTo(client, owner === undefined || client.identity === owner);
    });
    if (event.type === 'settled') this.watches.taskEnded(owner, id);
  }
}

/** A task's frame as a client sees it: under the id it gave, naming the owner when it is not the client's. */
function relabel(frame: TaskFrame, taskId: string, owner: string | undefined): TaskFrame {
  const withOwner = owner === undefined ? {} : { owner };
  if (frame.type === 'settled')
    return { ...frame, taskId, ...withOwner, result: { ...frame.result, taskId } };
  return { ...frame, taskId, ...withOwner };
}

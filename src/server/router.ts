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
    const owner: Owner = task?.tenant.identity;
    const id = task?.id ?? event.taskId;
    const submitter = task?.submitter;
    const watched = this.watches.isWatched(owner, id);
    if (submitter !== undefined || watched) {
      // Made under the id the owner's clients know the task by, so that a lone submitter's is not copied.
      const own = eventToFrame(event, id) as TaskFrame | undefined;
      if (own !== undefined) {
        const ownText = JSON.stringify(own);
        submitter?.send(own, ownText);
        if (watched) this.#toWatchers(owner, id, own, ownText, submitter);
      }
    }
    if (event.type === 'settled') this.watches.taskEnded(owner, id);
  }

  /** Sends a frame to a task's watchers besides its submitter; the view naming the owner is encoded once. */
  #toWatchers(
    owner: Owner,
    id: string,
    own: TaskFrame,
    ownText: string,
    submitter: GatewayTask['submitter'] | undefined,
  ): void {
    let foreign: TaskFrame | undefined;
    let foreignText: string | undefined;
    this.watches.forEachWatcher(owner, id, (client) => {
      if (client === submitter) return;
      if (owner === undefined || client.identity === owner) {
        client.send(own, ownText);
        return;
      }
      foreign ??= { ...own, owner };
      client.send(foreign, (foreignText ??= JSON.stringify(foreign)));
    });
  }
}

/** Whose task: the identity that submitted it, or `undefined` for one published from elsewhere (`results`). */
export type Owner = string | undefined;

/** How many of the hook's answers a client that watches everything keeps before asking anew. */
const MAX_ANSWERS = 1024;

/** What a client watches, as the index needs to know it. */
export interface Watcher {
  readonly identity: string;
}

interface Watches {
  /** Explicit task ids, by owner. */
  readonly ids: Map<Owner, Set<string>>;
  /** How many explicit ids in all. */
  idCount: number;
  /** Owners whose every task is watched. */
  readonly owners: Set<Owner>;
  /** `subscribe '*'` without an owner: every task of every owner the hook admits. */
  everything: boolean;
  /** The hook's answers for `everything`, per owner, asked the first time an owner's task comes by. */
  readonly admitted: Map<Owner, boolean>;
}

/**
 * Which clients watch which tasks, beyond the one that submitted a task (which always gets its events).
 * Looked up per event by task, not by looping over every watcher: an index by `[owner, id]`, one by owner for
 * `subscribe '*'` within one owner, and the few clients that watch everything they are admitted to.
 */
export class WatchIndex<C extends Watcher> {
  readonly #byTask = new Map<Owner, Map<string, Set<C>>>();
  readonly #byOwner = new Map<Owner, Set<C>>();
  readonly #everything = new Set<C>();
  readonly #watches = new Map<C, Watches>();
  readonly #admits: (client: C, owner: Owner) => boolean;

  /** `admits` answers whether a client that watches everything may see the tasks of an owner not its own. */
  constructor(admits: (client: C, owner: Owner) => boolean) {
    this.#admits = admits;
  }

  /** Explicit ids and owners a client watches; what the per-socket limit counts. */
  size(client: C): number {
    const watches = this.#watches.get(client);
    return watches === undefined ? 0 : watches.idCount + watches.owners.size + (watches.everything ? 1 : 0);
  }

  watchIds(client: C, owner: Owner, ids: readonly string[]): void {
    const watches = this.#of(client);
    let mine = watches.ids.get(owner);
    if (mine === undefined) {
      mine = new Set();
      watches.ids.set(owner, mine);
    }
    let byId = this.#byTask.get(owner);
    if (byId === undefined) {
      byId = new Map();
      this.#byTask.set(owner, byId);
    }
    for (const id of ids) {
      if (mine.has(id)) continue;
      mine.add(id);
      watches.idCount++;
      addTo(byId, id, client);
    }
  }

  watchOwner(client: C, owner: Owner): void {
    const watches = this.#of(client);
    if (watches.owners.has(owner)) return;
    watches.owners.add(owner);
    addTo(this.#byOwner, owner, client);
  }

  watchEverything(client: C): void {
    const watches = this.#of(client);
    watches.everything = true;
    watches.admitted.clear();
    this.#everything.add(client);
  }

  /** Stops watching ids of an owner, or with `'*'` every task of that owner (watched by id or as a whole). */
  unwatch(client: C, owner: Owner, ids: readonly string[] | '*'): void {
    const watches = this.#watches.get(client);
    if (watches === undefined) return;
    const dropped = ids === '*' ? [...(watches.ids.get(owner) ?? [])] : ids;
    for (const id of dropped) this.#drop(client, watches, owner, id);
    if (ids === '*' && watches.owners.delete(owner)) removeFrom(this.#byOwner, owner, client);
  }

  /** Stops watching everything (`unsubscribe '*'` without an owner); the socket still gets what it submits. */
  unwatchAll(client: C): void {
    this.forget(client);
  }

  /** Forgets a client that went away. */
  forget(client: C): void {
    const watches = this.#watches.get(client);
    if (watches === undefined) return;
    for (const [owner, ids] of watches.ids) for (const id of [...ids]) this.#drop(client, watches, owner, id);
    for (const owner of watches.owners) removeFrom(this.#byOwner, owner, client);
    this.#everything.delete(client);
    this.#watches.delete(client);
  }

  /**
   * Whether any client may watch this task: most events have no watcher but their submitter, and nothing need
   * be made for watchers then.
   */
  isWatched(owner: Owner, id: string): boolean {
    return this.#everything.size > 0 || this.#byOwner.has(owner) || this.#byTask.get(owner)?.has(id) === true;
  }

  /** Calls `visit` once for every client watching this task. */
  forEachWatcher(owner: Owner, id: string, visit: (client: C) => void): void {
    const byTask = this.#byTask.get(owner)?.get(id);
    const byOwner = this.#byOwner.get(owner);
    const seen = new Set<C>();
    const once = (client: C): void => {
      if (seen.has(client)) return;
      seen.add(client);
      visit(client);
    };
    byTask?.forEach(once);
    byOwner?.forEach(once);
    for (const client of this.#everything) {
      if (seen.has(client)) continue;
      if (owner !== undefined && owner === client.identity) {
        once(client);
        continue;
      }
      const watches = this.#watches.get(client);
      if (watches === undefined) continue;
      let admitted = watches.admitted.get(owner);
      if (admitted === undefined) {
        admitted = this.#admits(client, owner);
        // Bounded: owners come and go, and asking again costs only a call of the hook.
        if (watches.admitted.size >= MAX_ANSWERS) watches.admitted.clear();
        watches.admitted.set(owner, admitted);
      }
      if (admitted) once(client);
    }
  }

  /** A task settled: explicit watches of it end, so that they do not count against the client's limit. */
  taskEnded(owner: Owner, id: string): void {
    const clients = this.#byTask.get(owner)?.get(id);
    if (clients === undefined) return;
    for (const client of [...clients]) {
      const watches = this.#watches.get(client);
      if (watches !== undefined) this.#drop(client, watches, owner, id);
    }
  }

  #of(client: C): Watches {
    let watches = this.#watches.get(client);
    if (watches === undefined) {
      watches = { ids: new Map(), idCount: 0, owners: new Set(), everything: false, admitted: new Map() };
      this.#watches.set(client, watches);
    }
    return watches;
  }

  #drop(client: C, watches: Watches, owner: Owner, id: string): void {
    const mine = watches.ids.get(owner);
    if (mine?.delete(id) !== true) return;
    watches.idCount--;
    if (mine.size === 0) watches.ids.delete(owner);
    const byId = this.#byTask.get(owner);
    if (byId === undefined) return;
    removeFrom(byId, id, client);
    if (byId.size === 0) this.#byTask.delete(owner);
  }
}

function addTo<K, C>(map: Map<K, Set<C>>, key: K, client: C): void {
  let set = map.get(key);
  if (set === undefined) {
    set = new Set();
    map.set(key, set);
  }
  set.add(client);
}

function removeFrom<K, C>(map: Map<K, Set<C>>, key: K, client: C): void {
  const set = map.get(key);
  if (set === undefined) return;
  set.delete(client);
  if (set.size === 0) map.delete(key);
}

/**
 * The one re-entrancy guard of the engines. An engine's state changes come from callbacks — a worker
 * settling, a source emitting, a timer, a consumer's reaction to an event — and many of them arrive while the
 * engine is already working through an earlier change, on the same stack. Recursing would reorder work and,
 * on long synchronous chains, overflow the stack. So every change ends with `run()`: the first call runs
 * `step` until a pass asks for no more; a call made while a pass is under way only marks that another pass
 * is needed, and returns.
 *
 * As in RxJS's `mergeInternals`, the state a step reads is the engine's own: the loop itself holds only
 * whether it is running and whether it was asked again.
 *
 * @example
 * const loop = new DrainLoop(() => {
 *   while (slots > 0 && queue.length > 0) start(queue.shift());
 * });
 * loop.run(); // also safe from inside `start`'s callbacks
 */
export class DrainLoop {
  readonly #step: () => void;
  #running = false;
  #again = false;

  constructor(step: () => void) {
    this.#step = step;
  }

  /** Whether a pass is under way; a change seen now will be handled by the loop, not by its caller. */
  get running(): boolean {
    return this.#running;
  }

  #askedAgain(): boolean {
    return this.#again;
  }

  /** Runs passes until one ends without a new request; `false` when it only asked a running loop again. */
  run(): boolean {
    if (this.#running) {
      this.#again = true;
      return false;
    }
    this.#running = true;
    try {
      do {
        this.#again = false;
        this.#step();
        // Set by calls made during the step, which the compiler cannot see.
      } while (this.#askedAgain());
    } finally {
      this.#running = false;
    }
    return true;
  }
}

const MIN_CAPACITY = 16;

/**
 * A FIFO ring buffer with O(1) `push` and `shift`. Arrays are not used as queues here because V8's
 * `Array.prototype.shift` turns O(n) past ~16k elements, which makes large backlogs quadratic.
 */
export class Deque<T> {
  #items: (T | undefined)[] = new Array<T | undefined>(MIN_CAPACITY);
  #head = 0;
  #size = 0;
  // Capacity is a power of two so wrapping is a mask, not a modulo.
  #mask = MIN_CAPACITY - 1;

  get size(): number {
    return this.#size;
  }

  push(item: T): void {
    if (this.#size > this.#mask) this.#grow();
    this.#items[(this.#head + this.#size) & this.#mask] = item;
    this.#size++;
  }

  /** Removes and returns the oldest item, or `undefined` when empty. */
  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const item = this.#items[this.#head];
    // Cleared so a drained queue holds no references to finished work.
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) & this.#mask;
    this.#size--;
    if (this.#size === 0 && this.#mask >= 1024) this.clear();
    return item;
  }

  /** The oldest item without removing it. */
  peek(): T | undefined {
    return this.#size === 0 ? undefined : this.#items[this.#head];
  }

  clear(): void {
    this.#items = new Array<T | undefined>(MIN_CAPACITY);
    this.#head = 0;
    this.#size = 0;
    this.#mask = MIN_CAPACITY - 1;
  }

  #grow(): void {
    const capacity = this.#mask + 1;
    const next = new Array<T | undefined>(capacity * 2);
    for (let i = 0; i < this.#size; i++) next[i] = this.#items[(this.#head + i) & this.#mask];
    this.#items = next;
    this.#head = 0;
    this.#mask = capacity * 2 - 1;
  }
}

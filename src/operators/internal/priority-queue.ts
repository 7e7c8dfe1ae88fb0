import { Deque } from '../../core/deque.js';

/**
 * A queue where higher priority leaves first and equal priorities keep arrival order. Items of one priority
 * share a FIFO bucket; a max-heap orders the distinct priorities. With all priorities equal (the common case)
 * every operation is O(1); otherwise O(log k) for k distinct priorities present.
 */
export class PriorityQueue<T> {
  readonly #orderOf: (item: T) => number;
  #buckets = new Map<number, Deque<T>>();
  #heap: number[] = [];
  #top: Deque<T> | undefined;
  #topPriority = 0;
  #size = 0;

  /** @param orderOf - the arrival number of an item, used by `shiftOldest` across buckets. */
  constructor(orderOf: (item: T) => number) {
    this.#orderOf = orderOf;
  }

  get size(): number {
    return this.#size;
  }

  push(item: T, priority: number): void {
    this.#size++;
    if (this.#top !== undefined && priority === this.#topPriority) {
      this.#top.push(item);
      return;
    }
    let bucket = this.#buckets.get(priority);
    if (bucket === undefined) {
      bucket = new Deque<T>();
      this.#buckets.set(priority, bucket);
      heapPush(this.#heap, priority);
    }
    bucket.push(item);
    if (this.#top === undefined || priority > this.#topPriority) {
      this.#top = bucket;
      this.#topPriority = priority;
    }
  }

  /** Removes the next item to run: highest priority, oldest among equals. */
  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    let top = this.#top as Deque<T>;
    // Buckets emptied earlier are dropped lazily, when they come to the top.
    while (top.size === 0) {
      this.#buckets.delete(this.#topPriority);
      heapPop(this.#heap);
      this.#topPriority = this.#heap[0] as number;
      top = this.#buckets.get(this.#topPriority) as Deque<T>;
      this.#top = top;
    }
    this.#size--;
    const item = top.shift();
    if (this.#size === 0) this.#compact();
    return item;
  }

  /** Removes the item that has waited longest, whatever its priority. O(k) for k distinct priorities. */
  shiftOldest(): T | undefined {
    if (this.#buckets.size <= 1) return this.shift();
    if (this.#size === 0) return undefined;
    let oldest: Deque<T> | undefined;
    let oldestOrder = Number.POSITIVE_INFINITY;
    for (const bucket of this.#buckets.values()) {
      const head = bucket.peek();
      if (bucket.size > 0 && this.#orderOf(head as T) < oldestOrder) {
        oldest = bucket;
        oldestOrder = this.#orderOf(head as T);
      }
    }
    this.#size--;
    const item = (oldest as Deque<T>).shift();
    if (this.#size === 0) this.#compact();
    return item;
  }

  clear(): void {
    this.#buckets = new Map();
    this.#heap = [];
    this.#top = undefined;
    this.#topPriority = 0;
    this.#size = 0;
  }

  // Once empty, only the top bucket is kept, ready for the next push of the same priority.
  #compact(): void {
    if (this.#buckets.size === 1) return;
    const top = this.#top as Deque<T>;
    this.#buckets = new Map([[this.#topPriority, top]]);
    this.#heap = [this.#topPriority];
  }
}

function heapPush(heap: number[], value: number): void {
  let i = heap.length;
  heap.push(value);
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const p = heap[parent] as number;
    if (p >= value) break;
    heap[i] = p;
    i = parent;
  }
  heap[i] = value;
}

function heapPop(heap: number[]): void {
  const last = heap.pop() as number;
  const n = heap.length;
  if (n === 0) return;
  let i = 0;
  for (;;) {
    const left = 2 * i + 1;
    if (left >= n) break;
    const right = left + 1;
    const child = right < n && (heap[right] as number) > (heap[left] as number) ? right : left;
    const c = heap[child] as number;
    if (c <= last) break;
    heap[i] = c;
    i = child;
  }
  heap[i] = last;
}

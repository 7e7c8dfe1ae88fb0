/** A uniform random number in [0, 1), as `Math.random` gives. */
export type Random = () => number;

/**
 * A seeded PRNG (mulberry32): small, fast, and good enough to make simulated runs look varied while staying
 * reproducible.
 */
export function mulberry32(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a over the UTF-16 code units of `text`: turns a key into a 32-bit PRNG seed. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * A PRNG for one purpose of one attempt of one task. Each purpose (latency, length, words, faults) gets its
 * own stream, so turning faults on does not change the text or timing of the runs that do not fail, and a
 * task's draws do not depend on which other tasks ran before it.
 */
export function randomFor(seed: number, taskId: string, attempt: number, purpose: string): Random {
  return mulberry32(hash32(`${seed}\u0000${purpose}\u0000${attempt}\u0000${taskId}`));
}

/** A uniform integer in [min, max]. */
export function intBetween(random: Random, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

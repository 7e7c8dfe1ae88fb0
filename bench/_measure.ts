// What the timing benchmarks share: forced GC, interleaved rounds, medians with their spread, the machine's load.
import { availableParallelism, loadavg } from 'node:os';
import { basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const gc = (globalThis as { gc?: () => void }).gc;

/** Whether `collectGarbage` really collects: `npm run bench` starts node with `--expose-gc`. */
export const canCollectGarbage = gc !== undefined;

/** Forces a full collection when node allows it, so one contender's garbage is not billed to the next. */
export function collectGarbage(): void {
  gc?.();
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The nearest-rank percentile `p` (0 to 1) of sorted values; NaN for none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** `median (min–max)` with the given number of decimals. */
export function withSpread(values: readonly number[], digits: number): string {
  const f = (n: number): string => n.toFixed(digits);
  return `${f(median(values))} (${f(Math.min(...values))}–${f(Math.max(...values))})`;
}

export function numberOption(args: readonly string[], name: string, fallback: number): number {
  const at = args.indexOf(name);
  if (at === -1) return fallback;
  const value = Number(args[at + 1]);
  if (!Number.isInteger(value) || value < 1) {
    throw new TypeError(`Expected \`${name}\` to be a positive integer, got \`${args[at + 1]}\``);
  }
  return value;
}

export function listOption(args: readonly string[], name: string, fallback: readonly number[]): number[] {
  const at = args.indexOf(name);
  if (at === -1) return [...fallback];
  const values = (args[at + 1] ?? '').split(',').map(Number);
  if (values.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new TypeError(
      `Expected \`${name}\` to be positive integers separated by commas, got \`${args[at + 1]}\``,
    );
  }
  return values;
}

/**
 * Runs every contender `rounds` times after one warm-up round, with GC forced before each run. Rounds go round
 * the contenders, starting one further each round, so drift of a shared CPU and the order hit them all alike.
 */
export async function interleave<S>(
  names: readonly string[],
  rounds: number,
  run: (name: string) => Promise<S>,
): Promise<Map<string, S[]>> {
  const samples = new Map<string, S[]>(names.map((name) => [name, []]));
  for (let round = 0; round <= rounds; round++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(round + k) % names.length]!;
      collectGarbage();
      const sample = await run(name);
      if (round > 0) samples.get(name)!.push(sample);
    }
  }
  return samples;
}

/** One line on how the figures were taken: node, cores, GC, and the 1-minute load average. */
export function conditions(): string {
  const gcNote = canCollectGarbage
    ? 'GC forced before each run'
    : 'GC NOT forced (start node with --expose-gc)';
  return `node ${process.version}, ${availableParallelism()} cores, ${gcNote}, load average ${loadavg()[0]!.toFixed(2)}`;
}

/**
 * The repository's root, whether a benchmark runs from bench/ (under tsx) or compiled into .bench-out/bench/
 * (`npm run bench`), so paths to node_modules, src/ and tsconfig files hold either way.
 */
export const repoRoot: string = (() => {
  const above = dirname(dirname(fileURLToPath(import.meta.url)));
  return basename(above) === '.bench-out' ? dirname(above) : above;
})();

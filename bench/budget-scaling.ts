// `npm run bench -- budget-scaling`: the cost of one grant (acquire, then its refund) against how many grants
// the sliding window already holds, in memoryStore — the arithmetic every budget runs per request. High
// request rates fill the log: at 500 requests per second a minute holds 30,000 entries.
import { memoryStore } from '../src/budget/memory-store.js';
import { limitSpec } from '../src/budget/token-bucket.js';

const SIZES = [600, 3_000, 12_000, 30_000];
const GRANTS = 5_000;
const ROUNDS = 7;

function microsPerGrant(size: number): number {
  const store = memoryStore();
  const spec = { limits: [limitSpec('requests', size * 2, { burstMs: 60_000, sliding: true })] };
  let now = 0;
  for (let i = 0; i < size; i++) {
    now += 1;
    store.acquire({ key: 'k', spec, id: `fill${i}`, amounts: { requests: 1 }, now }).subscribe();
  }
  const start = performance.now();
  for (let i = 0; i < GRANTS; i++) {
    store.acquire({ key: 'k', spec, id: `g${i}`, amounts: { requests: 1 }, now }).subscribe();
    store.adjust({ key: 'k', spec, id: `g${i}`, delta: { requests: -1 }, now, final: true }).subscribe();
  }
  return ((performance.now() - start) * 1_000) / GRANTS;
}

export default function budgetScaling(): Promise<void> {
  console.log('| entries in the window | µs per grant and refund (median of 7) | min–max |');
  console.log('|---:|---:|---:|');
  for (const size of SIZES) {
    const runs = Array.from({ length: ROUNDS }, () => microsPerGrant(size)).sort((a, b) => a - b);
    const median = runs[Math.floor(ROUNDS / 2)] ?? 0;
    console.log(
      `| ${size.toLocaleString('en-US')} | ${median.toFixed(1)} | ${(runs[0] ?? 0).toFixed(1)}–${(runs.at(-1) ?? 0).toFixed(1)} |`,
    );
  }
  return Promise.resolve();
}

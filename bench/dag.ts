// Tool DAG scheduling quality in virtual time: `npm run bench -- dag [--seed 1] [--trials 40]`.
// Seeded random plans (50–500 nodes) whose tools take lognormal durations; each tool hints its typical
// duration and each call varies around it. Reports makespan against the lower bound for rxagent (eager,
// critical path first), the same engine with a ready-order FIFO queue, and a level-by-level executor.
import { VirtualTimeScheduler, concat, from, lastValueFrom, mergeMap, timer } from 'rxjs';
import { z } from 'zod';
import { mulberry32 } from '../src/models/simulated-random.js';
import { dagEngine } from '../src/operators/internal/dag-engine.js';
import { defineTool } from '../src/tools/define-tool.js';
import type { Tool } from '../src/tools/define-tool.js';
import type { PlanNode } from '../src/tools/plan.js';

interface Plan {
  readonly shape: string;
  readonly tool: number[];
  readonly duration: number[];
  readonly deps: number[][];
}

const TOOL_KINDS = 6;

function normal(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

function randomPlan(random: () => number, shape: string): Plan {
  const n = 50 + Math.floor(random() * 451);
  // Tool kinds with heavy-tailed typical durations (lognormal, σ = 1), calls jittered around them (σ = 0.25).
  const base = Array.from({ length: TOOL_KINDS }, () => 100 * Math.exp(normal(random)));
  const tool = Array.from({ length: n }, () => Math.floor(random() * TOOL_KINDS));
  const duration = tool.map((k) => Math.max(1, Math.round((base[k] ?? 1) * Math.exp(0.25 * normal(random)))));
  const deps: number[][] = [];
  for (let i = 0; i < n; i++) {
    if (shape === 'chain + fan') {
      // One long chain (a fifth of the plan) next to independent calls and a few joins.
      const chain = Math.floor(n / 5);
      deps.push(
        i > 0 && i < chain ? [i - 1] : i >= chain && random() < 0.1 ? [Math.floor(random() * i)] : [],
      );
      continue;
    }
    const count = random() < 0.15 ? 0 : 1 + Math.floor(random() * 3);
    const window = Math.max(1, Math.floor(n / 8));
    const picked = new Set<number>();
    for (let k = 0; k < count && i > 0; k++) picked.add(i - 1 - Math.floor(random() * Math.min(i, window)));
    deps.push([...picked]);
  }
  return { shape, tool, duration, deps };
}

function criticalPath(plan: Plan): number {
  const finish: number[] = [];
  plan.duration.forEach((d, i) => {
    finish.push(d + Math.max(0, ...(plan.deps[i] ?? []).map((j) => finish[j] ?? 0)));
  });
  return Math.max(...finish);
}

function toolsFor(plan: Plan, scheduler: VirtualTimeScheduler): Tool[] {
  const hint = Array.from({ length: TOOL_KINDS }, (_, k) => {
    const own = plan.duration.filter((_, i) => plan.tool[i] === k);
    return own.length === 0 ? 1 : own.reduce((a, b) => a + b, 0) / own.length;
  });
  return hint.map((durationHint, k) =>
    defineTool({
      name: `tool${k}`,
      input: z.object({ ms: z.number() }),
      durationHint,
      run: ({ ms }) => timer(ms, scheduler),
    }),
  );
}

async function runEngine(plan: Plan, concurrency: number, order: 'critical-path' | 'fifo'): Promise<number> {
  const scheduler = new VirtualTimeScheduler();
  const nodes: PlanNode[] = plan.duration.map((ms, i) => ({
    id: `n${i}`,
    tool: `tool${plan.tool[i] ?? 0}`,
    args: { ms },
    dependsOn: (plan.deps[i] ?? []).map((j) => `n${j}`),
  }));
  const done = lastValueFrom(
    from(nodes).pipe(
      dagEngine(toolsFor(plan, scheduler), {
        concurrency,
        onFailure: 'skip-dependents',
        scheduler,
        wrap: undefined,
        order,
        references: true,
      }),
    ),
  );
  scheduler.flush();
  await done;
  return scheduler.now();
}

async function runLevels(plan: Plan, concurrency: number): Promise<number> {
  const scheduler = new VirtualTimeScheduler();
  const level: number[] = [];
  plan.deps.forEach((deps) => level.push(1 + Math.max(-1, ...deps.map((j) => level[j] ?? 0))));
  const waves = Array.from({ length: Math.max(...level) + 1 }, (_, l) =>
    plan.duration.filter((_, i) => level[i] === l),
  );
  const done = lastValueFrom(
    concat(...waves.map((wave) => from(wave).pipe(mergeMap((ms) => timer(ms, scheduler), concurrency)))),
    { defaultValue: 0 },
  );
  scheduler.flush();
  await done;
  return scheduler.now();
}

function parseArgs(args: string[]): { seed: number; trials: number } {
  const read = (name: string, fallback: number): number => {
    const at = args.indexOf(`--${name}`);
    const value = at < 0 ? fallback : Number(args[at + 1]);
    if (!Number.isInteger(value) || value < 1)
      throw new TypeError(`Expected --${name} to be a positive integer`);
    return value;
  };
  return { seed: read('seed', 1), trials: read('trials', 40) };
}

const stats = (xs: number[]): string =>
  `${(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(3)} (worst ${Math.max(...xs).toFixed(3)})`;

export default async function bench(args: string[]): Promise<void> {
  const { seed, trials } = parseArgs(args);
  const caps = [Number.POSITIVE_INFINITY, 2, 4, 8];
  console.log(`# dag scheduling, ${trials} seeded random plans per shape (seed ${seed}), virtual time\n`);
  console.log(
    'Ratio = makespan ÷ lower bound, where the bound is max(critical path, total work ÷ c); 1.000 is optimal.\n',
  );
  for (const shape of ['random layered', 'chain + fan']) {
    const random = mulberry32(seed);
    const plans = Array.from({ length: trials }, () => randomPlan(random, shape));
    console.log(`## ${shape}\n`);
    console.log('| c | rxagent (critical path first) | ready-order FIFO | level by level |');
    console.log('|---|---|---|---|');
    for (const c of caps) {
      const ours: number[] = [];
      const fifo: number[] = [];
      const levels: number[] = [];
      for (const plan of plans) {
        const work = plan.duration.reduce((a, b) => a + b, 0);
        const bound = Math.max(criticalPath(plan), work / c);
        ours.push((await runEngine(plan, c, 'critical-path')) / bound);
        fifo.push((await runEngine(plan, c, 'fifo')) / bound);
        levels.push((await runLevels(plan, c)) / bound);
      }
      console.log(
        `| ${c === Number.POSITIVE_INFINITY ? '∞' : c} | ${stats(ours)} | ${stats(fifo)} | ${stats(levels)} |`,
      );
    }
    console.log('');
  }
}

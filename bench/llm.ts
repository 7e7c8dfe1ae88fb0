// `npm run bench -- llm [--rounds 7] [--tasks 20000] [--deltas 50] [--concurrency 100]`: an LLM-shaped
// workload with no network: every task streams `--deltas` text deltas and a `done` from the same async
// generator, which each contender drains, counting the deltas and collecting every final text. CPU per task
// (process.cpuUsage, user + system) and wall time, medians over interleaved rounds with GC forced between.
import pLimit from 'p-limit';
import { Observable, from } from 'rxjs';
import type { Agent, AgentEvent, Task, TaskEvent } from '../src/core/types.js';
import { fromAsyncIterable } from '../src/core/from-async-iterable.js';
import { runAgents } from '../src/operators/run-agents.js';
import { fromTasks } from '../src/sources/from-tasks.js';
import { conditions, interleave, median, numberOption, withSpread } from './_measure.js';

interface Outcome {
  readonly texts: readonly string[];
  readonly deltas: number;
}

type Contender = (
  tasks: readonly Task[],
  concurrency: number,
  stream: () => AsyncGenerator<AgentEvent>,
) => Promise<Outcome>;

/** A model's stream: `pieces.length` deltas, then `done` with the whole text, one `next()` per event. */
function streamOf(pieces: readonly string[]): () => AsyncGenerator<AgentEvent> {
  // No await inside: a model with its answer ready, so the generator's own machinery is all the async work.
  // eslint-disable-next-line @typescript-eslint/require-await
  return async function* stream() {
    let text = '';
    for (const piece of pieces) {
      text += piece;
      yield { type: 'delta', text: piece };
    }
    yield { type: 'done', text, finishReason: 'stop' };
  };
}

/** Drains one stream as a hand-written client would: count the deltas, keep the final text. */
async function drain(stream: AsyncGenerator<AgentEvent>, onDelta: () => void): Promise<string> {
  let text = '';
  for await (const event of stream) {
    if (event.type === 'delta') onDelta();
    else if (event.type === 'done') text = event.text;
  }
  return text;
}

/** Collects what a pool emits: deltas counted, the value of every fulfilled task; a rejected task fails the run. */
function collect(events$: Observable<TaskEvent>): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const texts: string[] = [];
    let deltas = 0;
    events$.subscribe({
      next: (event) => {
        if (event.type === 'delta') deltas++;
        else if (event.type === 'settled') {
          if (event.result.status === 'fulfilled') texts.push(event.result.value);
          else reject(event.result.error);
        }
      },
      error: reject,
      complete: () => {
        resolve({ texts, deltas });
      },
    });
  });
}

/** The same generator through a hand-written bridge instead of RxJS `from()`: `for await`, `next` per event. */
function observableOf(stream: () => AsyncGenerator<AgentEvent>): Observable<AgentEvent> {
  return new Observable<AgentEvent>((subscriber) => {
    const iterator = stream();
    void (async () => {
      try {
        for await (const event of iterator) {
          if (subscriber.closed) return;
          subscriber.next(event);
        }
        subscriber.complete();
      } catch (error: unknown) {
        subscriber.error(error);
      }
    })();
    return () => {
      void iterator.return(undefined);
    };
  });
}

const FLOOR = 'plain async loop (floor)';
const P_LIMIT = 'p-limit + for await';

const CONTENDERS: Record<string, Contender> = {
  [FLOOR]: async (tasks, concurrency, stream) => {
    const texts: string[] = [];
    let deltas = 0;
    const iterator = tasks[Symbol.iterator]();
    const loop = async (): Promise<void> => {
      for (const _task of iterator) texts.push(await drain(stream(), () => deltas++));
    };
    await Promise.all(Array.from({ length: concurrency }, loop));
    return { texts, deltas };
  },
  [P_LIMIT]: async (tasks, concurrency, stream) => {
    const limit = pLimit(concurrency);
    let deltas = 0;
    const texts = await Promise.all(tasks.map(() => limit(() => drain(stream(), () => deltas++))));
    return { texts, deltas };
  },
  'rxagent runAgents, async-generator agent (from())': (tasks, concurrency, stream) => {
    const agent: Agent = { run: () => from(stream()) };
    return collect(fromTasks(tasks).pipe(runAgents(agent, { concurrency })));
  },
  'rxagent runAgents, async-generator agent (fromAsyncIterable)': (tasks, concurrency, stream) => {
    const agent: Agent = { run: () => fromAsyncIterable(stream()) };
    return collect(fromTasks(tasks).pipe(runAgents(agent, { concurrency })));
  },
  'rxagent runAgents, Observable agent': (tasks, concurrency, stream) => {
    const agent: Agent = { run: () => observableOf(stream) };
    return collect(fromTasks(tasks).pipe(runAgents(agent, { concurrency })));
  },
};

interface Sample {
  readonly cpuUs: number;
  readonly wallMs: number;
}

export default async function bench(args: string[]): Promise<void> {
  const rounds = numberOption(args, '--rounds', 7);
  const n = numberOption(args, '--tasks', 20_000);
  const deltaCount = numberOption(args, '--deltas', 50);
  const concurrency = numberOption(args, '--concurrency', 100);
  const pieces = Array.from({ length: deltaCount }, (_, i) => ` word${i}`);
  const stream = streamOf(pieces);
  const expectedText = pieces.join('');
  const tasks: Task[] = Array.from({ length: n }, (_, i) => ({ id: `t${i}`, input: 'x' }));

  const names = Object.keys(CONTENDERS);
  const samples = await interleave(names, rounds, async (name): Promise<Sample> => {
    const cpu = process.cpuUsage();
    const start = performance.now();
    const { texts, deltas } = await CONTENDERS[name]!(tasks, concurrency, stream);
    const wallMs = performance.now() - start;
    const used = process.cpuUsage(cpu);
    if (texts.length !== n || deltas !== n * deltaCount || texts.some((text) => text !== expectedText)) {
      throw new Error(
        `${name} collected ${texts.length} texts of ${n} and ${deltas} deltas of ${n * deltaCount}`,
      );
    }
    return { cpuUs: (used.user + used.system) / n, wallMs };
  });

  const cpuOf = (name: string): number[] => samples.get(name)!.map((s) => s.cpuUs);
  const floor = median(cpuOf(FLOOR));
  const pLimitCpu = median(cpuOf(P_LIMIT));
  console.log(
    `\n${n.toLocaleString('en')} tasks × ${deltaCount} deltas from an async generator, concurrency ${concurrency}; ` +
      `median (min–max) of ${rounds} rounds`,
  );
  console.log(`(${conditions()})\n`);
  console.log('| contender | CPU µs/task | × p-limit CPU | × floor CPU | wall ms |');
  console.log('|---|---:|---:|---:|---:|');
  for (const name of names) {
    const cpu = cpuOf(name);
    const wall = samples.get(name)!.map((s) => s.wallMs);
    const ratios = `${(median(cpu) / pLimitCpu).toFixed(2)} | ${(median(cpu) / floor).toFixed(2)}`;
    console.log(`| ${name} | ${withSpread(cpu, 1)} | ${ratios} | ${withSpread(wall, 0)} |`);
  }
}

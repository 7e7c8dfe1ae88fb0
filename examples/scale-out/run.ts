// Scale-out on one machine: a producer, three workers and a gateway as separate processes sharing one
// Redis (REDIS_URL, or a redis-server started here on a free port) and one token budget.
// Run with `npx tsx examples/scale-out/run.ts`.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const COUNT = 30;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        resolve(typeof address === 'object' && address !== null ? address.port : 6379);
      });
    });
  });
}

async function startRedis(): Promise<{ url: string; server: ChildProcess }> {
  const port = await freePort();
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', ''], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => {
      reject(new Error(`Could not start redis-server (${error.message}); install it or set REDIS_URL`));
    });
    server.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('Ready to accept connections')) resolve();
    });
  });
  return { url: `redis://127.0.0.1:${port}`, server };
}

function run(
  name: string,
  file: string,
  env: Record<string, string>,
): { child: ChildProcess; output: string[] } {
  const output: string[] = [];
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL(file, import.meta.url))], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child.stdout.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) {
      output.push(line);
      console.log(`[${name}] ${line}`);
    }
  });
  return { child, output };
}

const exited = (child: ChildProcess): Promise<number | null> =>
  child.exitCode === null
    ? new Promise((resolve) => child.once('exit', resolve))
    : Promise.resolve(child.exitCode);

const own = process.env.REDIS_URL === undefined ? await startRedis() : undefined;
const url = process.env.REDIS_URL ?? own?.url ?? '';
const env = { REDIS_URL: url, PREFIX: `scale-out:${Date.now()}:`, COUNT: String(COUNT) };
const started = Date.now();
try {
  const gateway = run('gateway', './gateway.ts', env);
  await exited(run('producer', './producer.ts', env).child);
  const workers = ['w1', 'w2', 'w3'].map((name) => run(name, './worker.ts', { ...env, NAME: name }));
  const codes = await Promise.all([...workers.map((w) => exited(w.child)), exited(gateway.child)]);
  const summary = JSON.parse(gateway.output.at(-1) ?? '{}') as { results?: number; unique?: number };
  console.log(
    `\nSummary: ${COUNT} tasks, ${summary.results ?? 0} results (${summary.unique ?? 0} distinct), ` +
      `${workers.map((w) => w.output.at(-1) ?? '?').join('; ')}, ` +
      `${((Date.now() - started) / 1000).toFixed(1)} s, exit codes ${codes.join(',')}`,
  );
} finally {
  own?.server.kill('SIGTERM');
}

// Scale-out on one machine: a producer, three workers and a gateway as separate processes sharing one
// Redis (REDIS_URL, or a redis-server started here on a free port, with an append-only file) and one token
// budget. Run with `npx tsx examples/scale-out/run.ts`.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';

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

// The queue keeps its promises across a Redis restart only if Redis keeps its data: an append-only file,
// fsynced every second (README, "Scale-out on Redis"). It lives in a directory of its own, deleted at the end.
async function startRedis(): Promise<{ url: string; server: ChildProcess; dir: string }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'rxagent-scale-out-'));
  const options = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''];
  const persistence = ['--appendonly', 'yes', '--appendfsync', 'everysec'];
  const server = spawn('redis-server', [...options, ...persistence], {
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
  return { url: `redis://127.0.0.1:${port}`, server, dir };
}

/** Says whether the Redis at `url` keeps an append-only file, which the queue needs to survive a restart. */
async function describePersistence(url: string): Promise<string> {
  const redis = new Redis(url);
  try {
    const [, appendonly] = (await redis.config('GET', 'appendonly')) as [string, string];
    const [, appendfsync] = (await redis.config('GET', 'appendfsync')) as [string, string];
    return appendonly === 'yes'
      ? `redis: append-only file on (appendfsync ${appendfsync})`
      : 'redis: no append-only file, so a restart loses queued tasks and results (see README.md)';
  } catch (error) {
    return `redis: persistence unknown (${(error as Error).message})`;
  } finally {
    redis.disconnect();
  }
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
  console.log(await describePersistence(url));
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
  if (own !== undefined) {
    own.server.kill('SIGTERM');
    await exited(own.server);
    rmSync(own.dir, { recursive: true, force: true });
  }
}

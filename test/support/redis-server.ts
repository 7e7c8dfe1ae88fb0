import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe } from 'vitest';

const BINARY = process.env.REDIS_SERVER ?? 'redis-server';

/** Whether `redis-server` can run here, and why not. */
function detect(): { readonly available: boolean; readonly reason: string } {
  const probe = spawnSync(BINARY, ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    return {
      available: false,
      reason: `${BINARY} not found (${probe.error?.message ?? `exit ${String(probe.status)}`})`,
    };
  }
  return { available: true, reason: '' };
}

const detected = detect();

/**
 * `describe` for suites that need a real redis-server: skipped with a printed reason when it is absent,
 * except under CI, where the suite runs and fails.
 */
export const describeRedis: typeof describe.skip = (() => {
  if (detected.available || process.env.CI !== undefined) return describe;
  console.warn(`Skipping Redis tests: ${detected.reason}. Install redis-server (apt install redis-server).`);
  return describe.skip;
})();

/** A redis-server child process on a loopback port. */
export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** Stops the server without saving; resolves when the process has exited. */
  stop(): Promise<void>;
  /** Starts the server again on the same port (after `stop`). */
  start(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

function launch(port: number): Promise<ChildProcess> {
  if (!detected.available) return Promise.reject(new Error(`Cannot start Redis: ${detected.reason}`));
  return new Promise((resolve, reject) => {
    const child = spawn(
      BINARY,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        child.stdout.off('data', onData);
        child.stdout.resume();
        resolve(child);
      }
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => {
      reject(new Error(`redis-server exited with ${String(code)} before it was ready:\n${output}`));
    });
  });
}

/** Starts a redis-server on a free loopback port with persistence off. Stop it in teardown. */
export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  let child: ChildProcess | undefined = await launch(port);
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      const running = child;
      child = undefined;
      if (running === undefined || running.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        running.once('exit', () => {
          resolve();
        });
        running.kill('SIGKILL');
      });
    },
    async start() {
      if (child !== undefined) return;
      child = await launch(port);
    },
  };
}

/**
 * Starts a redis-server and a client before the tests of the enclosing block and stops both after them.
 * `onStart` receives them; after-hooks registered later in the block run before this one stops Redis.
 */
export function useRedis(onStart: (server: RedisServer, redis: Redis) => void): void {
  let started: { server: RedisServer; redis: Redis } | undefined;
  beforeAll(async () => {
    const server = await startRedis();
    started = { server, redis: new Redis(server.url) };
    onStart(started.server, started.redis);
  });
  afterAll(async () => {
    started?.redis.disconnect();
    await started?.server.stop();
  });
}

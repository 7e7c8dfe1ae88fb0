// A redis-server child process for tests and benchmarks; nothing here imports vitest, so a benchmark can use it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

/** Whether `redis-server` can run here, and why not, found once per process. */
export const detected = detect();

/** How {@link startRedis} runs the server. */
export interface RedisServerOptions {
  /**
   * Keep an append-only file, fsynced with this policy, so a restart finds the data again. Without it the
   * server keeps nothing across a restart (`--save ''`, `--appendonly no`). @defaultValue none
   */
  readonly appendfsync?: 'always' | 'everysec';
}

/** A redis-server child process on a loopback port, with a data directory of its own. */
export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** The server's `--dir`, kept across `stop` and `start` and deleted by `close`. */
  readonly dir: string;
  /** Stops the server as a crash would (SIGKILL, nothing saved); resolves when the process has exited. */
  stop(): Promise<void>;
  /** Starts the server again on the same port and directory (after `stop`). */
  start(): Promise<void>;
  /** `stop`, then `start`: what an append-only file holds comes back, nothing else does. */
  restart(): Promise<void>;
  /** Stops the server for good and deletes its data directory. */
  close(): Promise<void>;
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

function launch(port: number, dir: string, options: RedisServerOptions): Promise<ChildProcess> {
  if (!detected.available) return Promise.reject(new Error(`Cannot start Redis: ${detected.reason}`));
  const persistence =
    options.appendfsync === undefined
      ? ['--appendonly', 'no']
      : ['--appendonly', 'yes', '--appendfsync', options.appendfsync];
  return new Promise((resolve, reject) => {
    const child = spawn(
      BINARY,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        ...persistence,
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

/**
 * Starts a redis-server on a free loopback port, in a temporary directory, with persistence off unless
 * `appendfsync` asks for an append-only file. `close` it in teardown.
 */
export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'rxagent-redis-'));
  let child: ChildProcess | undefined = await launch(port, dir, options);
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
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
      child = await launch(port, dir, options);
    },
    async restart() {
      await server.stop();
      await server.start();
    },
    async close() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

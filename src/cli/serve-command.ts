import { createBudget } from '../budget/create-budget.js';
import { defaultAgent } from '../models/openai/default-agent.js';
import { serve } from '../server/serve.js';
import type { Gateway } from '../server/serve.js';
import type { ServeConfig } from '../server/serve-config.js';
import type { CommandIo } from './command-io.js';
import { UsageError } from './options.js';

/** The flags of `rxagent serve`, parsed. */
export interface ServeOptions {
  readonly port: number;
  readonly host: string;
  readonly concurrency: number;
  readonly queueLimit: number;
  readonly tpm?: number;
  readonly rpm?: number;
  readonly allowedHosts?: readonly string[];
}

/** `rxagent serve`: the gateway and its dashboard until Ctrl-C, which drains and closes. */
export async function serveCommand(options: ServeOptions, io: CommandIo): Promise<number> {
  const agent = defaultAgent({ env: io.env });
  io.stderr.write(`rxagent: using ${agent.description}\n`);
  const budget =
    options.tpm === undefined && options.rpm === undefined
      ? undefined
      : createBudget({
          ...(options.tpm === undefined ? {} : { tokensPerMinute: options.tpm }),
          ...(options.rpm === undefined ? {} : { requestsPerMinute: options.rpm }),
        });
  await serveUntilInterrupt(
    {
      agent,
      port: options.port,
      host: options.host,
      pool: { concurrency: options.concurrency, queueLimit: options.queueLimit },
      // The dashboard shows the shared pool and budget to everyone who may connect; tasks stay private.
      authorize: (request) => request.action === 'submit' || request.action === 'metrics',
      ...(options.allowedHosts === undefined ? {} : { allowedHosts: options.allowedHosts }),
      ...(budget === undefined ? {} : { budget }),
    },
    io,
  );
  return 0;
}

/**
 * Serves the gateway until the first Ctrl-C, then drains and closes it. The handler is removed at the first
 * Ctrl-C, so a second one ends the process the default way while a drain waits on a slow task.
 */
export async function serveUntilInterrupt(config: ServeConfig, io: CommandIo): Promise<void> {
  let gateway: Gateway;
  try {
    gateway = await serve(config);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      throw new UsageError(
        `cannot listen on ${config.host ?? '127.0.0.1'}:${config.port ?? 0} (${code}); pick another --port`,
      );
    }
    throw error;
  }
  io.stdout.write(`rxagent: dashboard at ${gateway.url}/ , WebSocket at ${gateway.wsUrl} (Ctrl-C to stop)\n`);
  await new Promise<void>((resolve) => {
    const stop = io.onInterrupt(() => {
      stop();
      resolve();
    });
  });
  io.stderr.write('rxagent: draining the running tasks, then closing (Ctrl-C again to stop now)\n');
  await gateway.close();
}

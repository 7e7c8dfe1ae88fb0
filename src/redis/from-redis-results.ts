import { Observable } from 'rxjs';
import { z } from 'zod';
import { errorFromJSON } from '../core/errors/index.js';
import { UsageSchema } from '../core/schemas.js';
import type { Settled, TaskEvent } from '../core/types.js';
import { describe, expectConfig, expectInteger, expectKnownKeys } from '../core/validate.js';
import { dedicated, expectConnection, type RedisConnectionConfig } from './connection.js';

/** Configuration of {@link fromRedisResults}. */
export interface FromRedisResultsConfig extends RedisConnectionConfig {
  /** The results stream `toRedisStream` writes. */
  readonly stream: string;
  /** Where to start: `'$'` for results written from now on, `'0'` for all, or an entry id. @defaultValue '$' */
  readonly from?: string;
  /** Longest one read blocks. @defaultValue 2000 */
  readonly blockMs?: number;
}

const ErrorSchema = z.looseObject({
  name: z.string().exactOptional(),
  code: z.string(),
  message: z.string(),
  retryable: z.boolean().exactOptional(),
  info: z.unknown(),
});

const SettledSchema = z.discriminatedUnion('status', [
  z.looseObject({
    status: z.literal('fulfilled'),
    taskId: z.string(),
    value: z.unknown(),
    usage: UsageSchema,
    attempts: z.number(),
    durationMs: z.number(),
  }),
  z.looseObject({
    status: z.literal('rejected'),
    taskId: z.string(),
    error: ErrorSchema,
    usage: UsageSchema.exactOptional(),
    attempts: z.number(),
    durationMs: z.number(),
  }),
]);

const CONFIG_KEYS = ['client', 'url', 'stream', 'from', 'blockMs'] as const;

/**
 * Reads the results other processes wrote with `toRedisStream` as `settled` task events, so a gateway can
 * push them to its WebSocket clients (`serve({ results: fromRedisResults({ url, stream: 'results' }) })`).
 * Errors come back as the classes they were thrown as, with their message and info (`errorFromJSON`). Entries
 * that are not results are skipped. Runs until unsubscribed, on a connection of its own.
 *
 * ```
 * results stream:  --a-----b---c--     entries written by toRedisStream in any process
 * output:          --A-----B---C--     A B C = { type: 'settled', taskId, result }
 * ```
 *
 * @example
 * fromRedisResults({ url, stream: 'results' }).subscribe((e) => console.log(e.taskId, e.type));
 */
export function fromRedisResults(config: FromRedisResultsConfig): Observable<TaskEvent<unknown>> {
  expectConfig('config', config);
  expectKnownKeys('fromRedisResults', config, CONFIG_KEYS);
  expectConnection('fromRedisResults', config);
  if (typeof config.stream !== 'string' || config.stream === '') {
    throw new TypeError(`Expected \`stream\` to be a non-empty string, got ${describe(config.stream)}`);
  }
  const start = config.from ?? '$';
  if (typeof start !== 'string' || start === '') {
    throw new TypeError(`Expected \`from\` to be '$', '0' or an entry id, got ${describe(start)}`);
  }
  const blockMs = expectInteger('blockMs', config.blockMs ?? 2_000, 1);
  return new Observable<TaskEvent<unknown>>((subscriber) => {
    const reader = dedicated(config);
    reader.on('error', () => undefined);
    let closed = false;
    const loop = async (): Promise<void> => {
      // '$' is resolved once: repeated with '$', reads would miss what arrives between them.
      let last = start;
      if (last === '$') {
        const newest = await reader.xrevrange(config.stream, '+', '-', 'COUNT', 1);
        last = newest[0]?.[0] ?? '0-0';
      }
      while (!closed) {
        const reply = await reader.xread('COUNT', 100, 'BLOCK', blockMs, 'STREAMS', config.stream, last);
        for (const [, entries] of reply ?? []) {
          for (const [id, fields] of entries) {
            last = id;
            const event = toEvent(fields);
            if (event !== undefined) subscriber.next(event);
          }
        }
      }
    };
    loop().catch((error: unknown) => {
      if (!closed) subscriber.error(error);
    });
    return () => {
      closed = true;
      reader.disconnect();
    };
  });
}

function toEvent(fields: readonly string[]): TaskEvent<unknown> | undefined {
  const index = fields.findIndex((name, i) => i % 2 === 0 && name === 'result');
  const text = index === -1 ? undefined : fields[index + 1];
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = SettledSchema.safeParse(json);
  if (!parsed.success) return undefined;
  const data = parsed.data;
  const result: Settled<unknown> =
    data.status === 'fulfilled'
      ? {
          status: 'fulfilled',
          taskId: data.taskId,
          value: data.value,
          usage: data.usage,
          attempts: data.attempts,
          durationMs: data.durationMs,
        }
      : {
          status: 'rejected',
          taskId: data.taskId,
          error: errorFromJSON(data.error),
          ...(data.usage === undefined ? {} : { usage: data.usage }),
          attempts: data.attempts,
          durationMs: data.durationMs,
        };
  return { type: 'settled', taskId: data.taskId, result };
}

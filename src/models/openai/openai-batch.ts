import type OpenAI from 'openai';
import { Observable, asyncScheduler, type OperatorFunction, type SchedulerLike } from 'rxjs';
import type { InvalidTask } from '../../core/invalid-task.js';
import { expectPeer } from '../../core/peer.js';
import type { Task, TaskEvent } from '../../core/types.js';
import type { Price } from '../../core/usage.js';
import {
  describe,
  expectConfig,
  expectFunction,
  expectInteger,
  expectKnownKeys,
  expectOneOf,
  expectPositive,
  expectScheduler,
} from '../../core/validate.js';
import { BatchEngine } from './batch-engine.js';
import { clientOptions } from './openai.js';
import { nonEmpty } from '../endpoint.js';
import { loadSdk, type Sdk } from './sdk.js';

/** Configuration of {@link openaiBatch}. */
export interface OpenAIBatchConfig {
  /**
   * The model of tasks whose `params.model` names none; tasks of different models go in different files.
   * @defaultValue the `RXAGENT_MODEL` environment variable
   */
  readonly model?: string;
  /** The API key. @defaultValue the `OPENAI_API_KEY` environment variable */
  readonly apiKey?: string;
  /**
   * Any OpenAI-compatible endpoint with the Files and Batch APIs, including its `/v1`.
   * @defaultValue the `OPENAI_BASE_URL` environment variable, else `https://api.openai.com/v1`
   */
  readonly baseURL?: string;
  /** A ready client (Azure, a proxy). Excludes `apiKey` and `baseURL`. @defaultValue a client from `apiKey` and `baseURL` */
  readonly client?: OpenAI;
  /** The time the provider has to finish a batch; OpenAI accepts only `'24h'`. @defaultValue '24h' */
  readonly completionWindow?: '24h';
  /** Requests per input file (OpenAI's limit: 50,000). @defaultValue 50000 */
  readonly maxRequestsPerFile?: number;
  /** Bytes per input file (OpenAI's limit: 200 MB). @defaultValue 200000000 */
  readonly maxBytesPerFile?: number;
  /**
   * How long a file that is not full waits for more tasks before it is submitted; a source that completes
   * submits what it gathered at once. @defaultValue 60000
   */
  readonly flushAfterMs?: number;
  /** The first wait between polls of a batch, and after any change in its status or counts. @defaultValue 5000 */
  readonly pollIntervalMs?: number;
  /** Polls back off (doubling) while nothing changes, up to this. @defaultValue 60000 */
  readonly maxPollIntervalMs?: number;
  /**
   * Failed calls in a row (5xx, connection failures) retried for one batch, with the poll backoff, before its
   * tasks are rejected with the failure; other failures reject at once. @defaultValue 5
   */
  readonly maxRetries?: number;
  /**
   * A file where each uploaded input file and each created batch is written (and synced to disk) before the
   * batch is polled. A run given the same journal after a crash re-attaches to those batches, and never
   * submits a task that is in one again. @defaultValue none: no crash safety
   */
  readonly journal?: string;
  /**
   * The live price of a model, such as `priceOf` from `rxagent`; results are priced at half of it, the Batch
   * API's discount, in `usage.cost`. @defaultValue none: results carry no cost
   */
  readonly priceOf?: (model: string) => Price | undefined;
  /** Output cap for tasks that set no `maxOutputTokens`. @defaultValue none: the provider's default */
  readonly defaultMaxOutputTokens?: number;
  /** The request field that carries the output cap. @defaultValue 'max_completion_tokens' */
  readonly maxTokensField?: 'max_completion_tokens' | 'max_tokens';
  /** Where the environment variables are read. @defaultValue process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The clock of polls, backoff and `flushAfterMs`. @defaultValue asyncScheduler */
  readonly scheduler?: SchedulerLike;
}

const OPTIONS = [
  'model',
  'apiKey',
  'baseURL',
  'client',
  'completionWindow',
  'maxRequestsPerFile',
  'maxBytesPerFile',
  'flushAfterMs',
  'pollIntervalMs',
  'maxPollIntervalMs',
  'maxRetries',
  'journal',
  'priceOf',
  'defaultMaxOutputTokens',
  'maxTokensField',
  'env',
  'scheduler',
] as const;

/**
 * Runs tasks through OpenAI's Batch API, at half the live price, as an operator from tasks to the task events
 * `runAgents` yields: `started` when a task's batch is created, then exactly one `settled` — fulfilled with
 * the answer's text, usage (cached and reasoning tokens included) and batch-priced cost, or rejected with
 * the request's error. Tasks are gathered into JSONL input files per model (within `maxRequestsPerFile` and
 * `maxBytesPerFile`), uploaded, made into batches and polled with backoff; failed, expired and cancelled
 * batches settle their tasks with `ProviderError`s (`info.type` `'batch_failed'`, `'batch_expired'` —
 * retryable — or `'batch_cancelled'`). Unsubscribing cancels the provider's batches. With a `journal`, a
 * crashed run started again re-attaches to its batches instead of submitting their tasks again.
 *
 * ```
 * tasks:   ab(c|)               the source completes: a, b and c go out as one file
 * result:  ---(SSS)-----(sss)|  S started when the batch is created, s settled when its results are read
 * ```
 *
 * @example
 * fromJsonl('requests.jsonl')
 *   .pipe(openaiBatch({ model: 'gpt-4o-mini', journal: 'results.jsonl.batches', priceOf }), toJsonl('results.jsonl'))
 *   .subscribe();
 */
export function openaiBatch(config: OpenAIBatchConfig = {}): OperatorFunction<Task | InvalidTask, TaskEvent> {
  expectConfig('config', config);
  expectKnownKeys('openaiBatch', config, OPTIONS);
  const env = config.env ?? process.env;
  const model = config.model ?? nonEmpty(env['RXAGENT_MODEL']);
  if (typeof model !== 'string' || model === '') {
    throw new TypeError(
      `Expected \`model\` to be a non-empty string, got ${describe(model)}. Pass \`model\` or set RXAGENT_MODEL.`,
    );
  }
  const completionWindow = expectOneOf('completionWindow', config.completionWindow ?? '24h', ['24h']);
  const maxRequestsPerFile = expectInteger('maxRequestsPerFile', config.maxRequestsPerFile ?? 50_000, 1);
  const maxBytesPerFile = expectInteger('maxBytesPerFile', config.maxBytesPerFile ?? 200_000_000, 1);
  const flushAfterMs = expectPositive('flushAfterMs', config.flushAfterMs ?? 60_000);
  const pollIntervalMs = expectPositive('pollIntervalMs', config.pollIntervalMs ?? 5_000);
  const maxPollIntervalMs = expectPositive('maxPollIntervalMs', config.maxPollIntervalMs ?? 60_000);
  if (maxPollIntervalMs < pollIntervalMs) {
    throw new TypeError(
      `Expected \`maxPollIntervalMs\` to be at least \`pollIntervalMs\` (${pollIntervalMs}), got ${maxPollIntervalMs}`,
    );
  }
  const maxRetries = expectInteger('maxRetries', config.maxRetries ?? 5, 0);
  if (config.journal !== undefined && (typeof config.journal !== 'string' || config.journal === '')) {
    throw new TypeError(`Expected \`journal\` to be a file path, got ${describe(config.journal)}`);
  }
  if (config.priceOf !== undefined) expectFunction('priceOf', config.priceOf);
  const defaultMax =
    config.defaultMaxOutputTokens === undefined
      ? undefined
      : expectInteger('defaultMaxOutputTokens', config.defaultMaxOutputTokens, 1);
  const maxTokensField = expectOneOf('maxTokensField', config.maxTokensField ?? 'max_completion_tokens', [
    'max_completion_tokens',
    'max_tokens',
  ]);
  const scheduler = expectScheduler('scheduler', config.scheduler ?? asyncScheduler);
  const connect = connector(config, env);
  expectPeer('openai', 'openaiBatch');
  const options = {
    connect,
    request: { model, maxOutputTokens: defaultMax, maxTokensField },
    completionWindow,
    maxRequestsPerFile,
    maxBytesPerFile,
    flushAfterMs,
    pollIntervalMs,
    maxPollIntervalMs,
    maxRetries,
    journal: config.journal,
    priceOf: config.priceOf,
    scheduler,
  };
  return (source) =>
    new Observable<TaskEvent>((subscriber) => {
      const engine = new BatchEngine(options, subscriber);
      const subscription = source.subscribe({
        next: (item) => {
          engine.add(item);
        },
        error: (error: unknown) => {
          subscriber.error(error);
        },
        complete: () => {
          engine.end();
        },
      });
      return () => {
        subscription.unsubscribe();
        engine.stop();
      };
    });
}

/** The client the batches are made with: the caller's, or one made on first use from the key and URL. */
export function connector(
  config: Pick<OpenAIBatchConfig, 'apiKey' | 'baseURL' | 'client'>,
  env: Readonly<Record<string, string | undefined>>,
): () => Promise<{ readonly sdk: Sdk; readonly client: OpenAI }> {
  const { client } = config;
  if (client !== undefined) {
    if (config.apiKey !== undefined || config.baseURL !== undefined) {
      throw new TypeError(
        'Pass either `client` or `apiKey`/`baseURL`, not both: a ready client already has its own key and URL.',
      );
    }
    const api = client as { batches?: { create?: unknown }; files?: { create?: unknown } } | null;
    if (typeof api?.batches?.create !== 'function' || typeof api.files?.create !== 'function') {
      throw new TypeError(
        `Expected \`client\` to be an OpenAI client with the Batch API, got ${describe(client)}`,
      );
    }
    return () => loadSdk().then((sdk) => ({ sdk, client }));
  }
  const options = clientOptions(
    {
      ...(config.apiKey === undefined ? {} : { apiKey: config.apiKey }),
      ...(config.baseURL === undefined ? {} : { baseURL: config.baseURL }),
    },
    env,
  );
  let made: OpenAI | undefined;
  return () =>
    loadSdk().then((sdk) => {
      made ??= new sdk.OpenAI(options);
      return { sdk, client: made };
    });
}

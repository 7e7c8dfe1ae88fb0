/**
 * A local OpenAI-compatible HTTP server for tests, examples and benchmarks. It speaks real HTTP and real SSE,
 * enforces a tokens/requests-per-minute limit the way OpenAI does, and misbehaves on cue. Only `node:http`:
 * examples and benchmarks can use it without any test dependency.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  createBatchApi,
  type ApiCue,
  type ApiRoute,
  type BatchCue,
  type ServerBatch,
  type StoredFile,
} from './openai-batch-api.js';

/** How the server answers one request. Fields combine; with none set it streams an echo of the prompt. */
export interface ServerCue {
  /** The reply text instead of `Echo: <last user message>`. One token per word. */
  readonly text?: string;
  /** Parallel tool calls to stream, their argument fragments interleaved; `finish_reason` becomes `tool_calls`. */
  readonly toolCalls?: readonly { readonly name: string; readonly arguments: string; readonly id?: string }[];
  /** Answer with this HTTP status and OpenAI's error body for it. */
  readonly status?: number;
  /** Answer 429 with OpenAI's `insufficient_quota` body. */
  readonly insufficientQuota?: boolean;
  /** Send the headers, then nothing at all. */
  readonly hang?: boolean;
  /** Send the headers, then only `: ping` comments, every this many ms. */
  readonly keepAliveMs?: number;
  /** Destroy the socket after this many data chunks. */
  readonly cutAfter?: number;
  /** End the response cleanly after this many data chunks, without a finish reason or `[DONE]`. */
  readonly endAfter?: number;
  /** Send a chunk that is not JSON after this many data chunks. */
  readonly invalidJsonAfter?: number;
  /** Send an `{ error }` object as a data chunk after this many data chunks, then end. */
  readonly errorAfter?: number;
  /** Stop after this many data chunks until `release()` is called. */
  readonly pauseAfter?: number;
  /** Delay between data chunks, in ms. */
  readonly chunkDelayMs?: number;
  /** Report this many of the prompt's tokens as read from the cache (`usage.prompt_tokens_details`). */
  readonly cachedTokens?: number;
  /**
   * Answer with a response recorded from a real provider, byte for byte: its status, its headers in place of
   * the server's own, and its body exactly as given. Nothing is charged to the rate limit.
   */
  readonly recorded?: RecordedResponse;
}

/** A provider's response as it was recorded. */
export interface RecordedResponse {
  /** @defaultValue 200 */
  readonly status?: number;
  /** @defaultValue `content-type: text/event-stream` for a 200, else `application/json` */
  readonly headers?: Readonly<Record<string, string>>;
  readonly body: string | Uint8Array;
}

/** What the server saw of one request, and how it ended. Times come from the server's `now()`. */
export interface RecordedRequest {
  readonly index: number;
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** The parsed JSON body, or `undefined` when there was none or it was not JSON. */
  readonly body: unknown;
  readonly cue: ServerCue;
  readonly receivedAt: number;
  status: number | undefined;
  /** Data chunks written so far (SSE `data:` events other than `[DONE]`). */
  chunksSent: number;
  /** When the last chunk was written. */
  lastChunkAt: number | undefined;
  /** When the server finished the response. */
  endedAt: number | undefined;
  /** When the client closed the connection before the response ended. */
  disconnectedAt: number | undefined;
}

export interface OpenAIServerOptions {
  /** Tokens admitted per window; each request is charged its input words plus its max tokens. @defaultValue Infinity */
  readonly tokensPerMinute?: number;
  /** Requests admitted per window. @defaultValue Infinity */
  readonly requestsPerMinute?: number;
  /** The sliding window's length; tests scale a minute down. @defaultValue 60000 */
  readonly windowMs?: number;
  /** The charge for requests that name no max tokens. @defaultValue 100 */
  readonly defaultMaxTokens?: number;
  /** When set, requests must carry `Authorization: Bearer <apiKey>` or get 401. @defaultValue none */
  readonly apiKey?: string;
  /** The cue for requests that match nothing else. @defaultValue {} */
  readonly behavior?: ServerCue;
  /** The server's clock in ms; only differences matter. @defaultValue performance.now */
  readonly now?: () => number;
  /**
   * Batches move one state on after this many ms (validating → in_progress → finalizing → completed, and
   * cancelling → cancelled). @defaultValue none: only `advanceBatches()` moves them
   */
  readonly batchStepMs?: number;
}

export interface OpenAIServer {
  /** The base URL, including `/v1`. */
  readonly url: string;
  readonly port: number;
  readonly requests: readonly RecordedRequest[];
  /** Requests whose client went away before the response ended. */
  readonly disconnects: number;
  /** Requests answered 429 for the rate limit (not for quota). */
  readonly rateLimited: number;
  now(): number;
  /** Queues cues for the next requests, one each, in arrival order. */
  cue(...cues: ServerCue[]): void;
  /** Every request whose prompt contains `marker` gets `cue`, before queued cues. */
  when(marker: string, cue: ServerCue): void;
  /** Replaces the cue for requests that match nothing else. */
  setBehavior(cue: ServerCue): void;
  /** Lets every paused stream go on. */
  release(): void;
  /** Resolves once `predicate` holds; checked now and on every request, chunk, end and disconnect. */
  waitFor(predicate: () => boolean): Promise<void>;
  /** Files uploaded, and the output and error files of batches, by id. */
  readonly files: ReadonlyMap<string, StoredFile>;
  /** Every batch created, in order. */
  readonly batches: readonly ServerBatch[];
  /** Queues cues for the next batches created, one each. */
  cueBatch(...cues: BatchCue[]): void;
  /** Queues cues for the next requests to a route of the Files or Batch API, one each. */
  cueApi(route: ApiRoute, ...cues: ApiCue[]): void;
  /** Moves every batch that is not finished one state on (or only batch `id`). */
  advanceBatches(id?: string): void;
  /** Stops listening and destroys every open connection. */
  close(): Promise<void>;
}

interface Charge {
  readonly at: number;
  readonly tokens: number;
}

interface ChatBody {
  readonly model?: unknown;
  readonly messages?: unknown;
  readonly stream?: unknown;
  readonly stream_options?: { readonly include_usage?: unknown } | null;
  readonly max_tokens?: unknown;
  readonly max_completion_tokens?: unknown;
}

/**
 * Starts the server on 127.0.0.1 and a free port.
 *
 * @example
 * const server = await startOpenAIServer({ tokensPerMinute: 1000, windowMs: 1000 });
 * const agent = openaiModel({ model: 'test-model', baseURL: server.url, apiKey: 'test' });
 * await server.close();
 */
export async function startOpenAIServer(options: OpenAIServerOptions = {}): Promise<OpenAIServer> {
  const now = options.now ?? (() => performance.now());
  const tpm = options.tokensPerMinute ?? Number.POSITIVE_INFINITY;
  const rpm = options.requestsPerMinute ?? Number.POSITIVE_INFINITY;
  const windowMs = options.windowMs ?? 60_000;
  const defaultMaxTokens = options.defaultMaxTokens ?? 100;
  const requests: RecordedRequest[] = [];
  const queued: ServerCue[] = [];
  const markers: [string, ServerCue][] = [];
  const paused = new Set<() => void>();
  const watchers = new Set<() => void>();
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let behavior = options.behavior ?? {};
  let charges: Charge[] = [];
  let rateLimited = 0;
  const cutByServer = new WeakSet<RecordedRequest>();

  const notify = (): void => {
    for (const check of [...watchers]) check();
  };
  const later = (ms: number, work: () => void): NodeJS.Timeout => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      work();
    }, ms);
    timers.add(timer);
    return timer;
  };

  const rateHeaders = (): Record<string, string> => {
    if (tpm === Number.POSITIVE_INFINITY && rpm === Number.POSITIVE_INFINITY) return {};
    const at = now();
    charges = charges.filter((c) => c.at > at - windowMs);
    const used = charges.reduce((sum, c) => sum + c.tokens, 0);
    const newest = charges.at(-1);
    const reset = formatDuration(newest === undefined ? 0 : newest.at + windowMs - at);
    const headers: Record<string, string> = {};
    if (rpm !== Number.POSITIVE_INFINITY) {
      headers['x-ratelimit-limit-requests'] = String(rpm);
      headers['x-ratelimit-remaining-requests'] = String(Math.max(0, rpm - charges.length));
      headers['x-ratelimit-reset-requests'] = reset;
    }
    if (tpm !== Number.POSITIVE_INFINITY) {
      headers['x-ratelimit-limit-tokens'] = String(tpm);
      headers['x-ratelimit-remaining-tokens'] = String(Math.max(0, tpm - used));
      headers['x-ratelimit-reset-tokens'] = reset;
    }
    return headers;
  };

  /** Charges the request, or says how long until it would fit. */
  const admit = (
    tokens: number,
  ): { limit: 'tokens' | 'requests'; waitMs: number; used: number } | undefined => {
    const at = now();
    charges = charges.filter((c) => c.at > at - windowMs);
    if (charges.length + 1 > rpm) {
      const oldest = charges[charges.length - rpm];
      return { limit: 'requests', waitMs: (oldest?.at ?? at) + windowMs - at, used: charges.length };
    }
    const used = charges.reduce((sum, c) => sum + c.tokens, 0);
    if (used + tokens > tpm) {
      let freed = 0;
      let waitMs = windowMs;
      for (const charge of charges) {
        freed += charge.tokens;
        if (used - freed + tokens <= tpm) {
          waitMs = charge.at + windowMs - at;
          break;
        }
      }
      return { limit: 'tokens', waitMs, used };
    }
    charges.push({ at, tokens });
    return undefined;
  };

  const pickCue = (prompt: string): ServerCue => {
    const marked = markers.find(([marker]) => prompt.includes(marker));
    if (marked !== undefined) return marked[1];
    return queued.shift() ?? behavior;
  };

  const send = (
    res: ServerResponse,
    record: RecordedRequest,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void => {
    record.status = status;
    res.writeHead(status, { 'content-type': 'application/json', ...rateHeaders(), ...headers });
    res.end(JSON.stringify(body));
  };

  const handleChat = (req: IncomingMessage, res: ServerResponse, record: RecordedRequest): void => {
    const body = record.body as ChatBody | undefined;
    const messages = Array.isArray(body?.messages)
      ? (body.messages as { role?: unknown; content?: unknown }[])
      : [];
    if (body === undefined || typeof body.model !== 'string' || messages.length === 0) {
      send(
        res,
        record,
        400,
        errorBody('`model` and a non-empty `messages` are required.', 'invalid_request_error'),
      );
      return;
    }
    const { cue } = record;
    if (options.apiKey !== undefined && req.headers.authorization !== `Bearer ${options.apiKey}`) {
      send(
        res,
        record,
        401,
        errorBody('Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key'),
      );
      return;
    }
    if (cue.recorded !== undefined) {
      replay(res, record, cue.recorded);
      return;
    }
    if (cue.insufficientQuota === true) {
      send(res, record, 429, quotaBody());
      return;
    }
    if (cue.status !== undefined) {
      send(res, record, cue.status, statusBody(cue.status));
      return;
    }
    const maxTokens = positive(body.max_completion_tokens) ?? positive(body.max_tokens) ?? defaultMaxTokens;
    const inputTokens = inputWords(messages);
    const denied = admit(inputTokens + maxTokens);
    if (denied !== undefined) {
      rateLimited += 1;
      const limit = denied.limit === 'tokens' ? 'tokens per min (TPM)' : 'requests per min (RPM)';
      const requested = denied.limit === 'tokens' ? inputTokens + maxTokens : 1;
      const message =
        `Rate limit reached for ${body.model} in organization org-test on ${limit}: ` +
        `Limit ${denied.limit === 'tokens' ? tpm : rpm}, Used ${denied.used}, Requested ${requested}. ` +
        `Please try again in ${formatDuration(denied.waitMs)}. Visit https://platform.openai.com/account/rate-limits to learn more.`;
      send(res, record, 429, errorBody(message, denied.limit, 'rate_limit_exceeded'), {
        'retry-after': String(Math.ceil(denied.waitMs / 1000)),
        'retry-after-ms': String(Math.ceil(denied.waitMs)),
      });
      return;
    }
    const { outWords, calls, finish, usage, base } = answerOf(
      body.model,
      messages,
      cue,
      record.index,
      maxTokens,
    );
    if (body.stream !== true) {
      send(res, record, 200, completionOf({ outWords, calls, finish, usage, base }));
      return;
    }
    const withUsage = body.stream_options?.include_usage === true;
    const chunk = (delta: unknown, finishReason: string | null = null): string =>
      JSON.stringify({
        ...base,
        choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }],
        ...(withUsage ? { usage: null } : {}),
      });
    const events = [chunk({ role: 'assistant', content: '', refusal: null })];
    outWords.forEach((word, i) => events.push(chunk({ content: i === 0 ? word : ` ${word}` })));
    events.push(...toolCallChunks(calls).map((fragments) => chunk({ tool_calls: fragments })));
    events.push(chunk({}, finish));
    if (withUsage) events.push(JSON.stringify({ ...base, choices: [], usage }));
    streamEvents(res, record, events);
  };

  const replay = (res: ServerResponse, record: RecordedRequest, recorded: RecordedResponse): void => {
    const status = recorded.status ?? 200;
    record.status = status;
    const type = status === 200 ? 'text/event-stream' : 'application/json';
    res.removeHeader('x-request-id');
    res.writeHead(status, recorded.headers ?? { 'content-type': type });
    res.end(recorded.body);
  };

  const streamEvents = (res: ServerResponse, record: RecordedRequest, events: readonly string[]): void => {
    const { cue } = record;
    record.status = 200;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      ...rateHeaders(),
    });
    res.flushHeaders();
    if (cue.hang === true) return;
    if (cue.keepAliveMs !== undefined) {
      const ping = (): void => {
        if (res.destroyed) return;
        res.write(': ping\n\n');
        later(cue.keepAliveMs ?? 0, ping);
      };
      ping();
      return;
    }
    let pausedOnce = false;
    const step = (i: number): void => {
      if (res.destroyed) return;
      if (i === cue.cutAfter) {
        cutByServer.add(record);
        // Ending the socket first flushes the chunks already written; the client still sees a body cut short.
        const { socket } = res;
        if (socket === null) res.destroy();
        else socket.end(() => socket.destroy());
        return;
      }
      if (i === cue.endAfter) {
        res.end();
        return;
      }
      if (i === cue.pauseAfter && !pausedOnce) {
        pausedOnce = true;
        const resume = (): void => {
          paused.delete(resume);
          step(i);
        };
        paused.add(resume);
        return;
      }
      if (i === cue.invalidJsonAfter) res.write(`data: {"id": "${record.index}", "choices": [oops\n\n`);
      if (i === cue.errorAfter) {
        res.end(`data: ${JSON.stringify(statusBody(500))}\n\n`);
        return;
      }
      const event = events[i];
      if (event === undefined) {
        res.end('data: [DONE]\n\n');
        return;
      }
      res.write(`data: ${event}\n\n`);
      record.chunksSent += 1;
      record.lastChunkAt = now();
      notify();
      const delay = cue.chunkDelayMs ?? 0;
      if (delay > 0)
        later(delay, () => {
          step(i + 1);
        });
      else step(i + 1);
    };
    step(0);
  };

  const batchApi = createBatchApi({
    now,
    later: (ms, work) => {
      later(ms, work);
    },
    notify,
    send: (res, status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    },
    answer: (body, index) => {
      const cue = markers.find(([marker]) => JSON.stringify(body.messages).includes(marker))?.[1] ?? behavior;
      if (cue.insufficientQuota === true) return { status: 429, body: quotaBody() };
      if (cue.status !== undefined) return { status: cue.status, body: statusBody(cue.status) };
      const max = positive(body['max_completion_tokens']) ?? positive(body['max_tokens']) ?? defaultMaxTokens;
      return { status: 200, body: completionOf(answerOf(body.model, body.messages, cue, index, max)) };
    },
    errorBody: statusBody,
    stepMs: options.batchStepMs,
  });

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (data: Buffer) => chunks.push(data));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const text = raw.toString('utf8');
      const body = parseJson(text);
      const prompt = JSON.stringify((body as ChatBody | undefined)?.messages ?? '');
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const isChat = req.method === 'POST' && path === '/v1/chat/completions';
      const record: RecordedRequest = {
        index: requests.length,
        method: req.method ?? 'GET',
        path,
        headers: req.headers,
        body,
        cue: isChat ? pickCue(prompt) : {},
        receivedAt: now(),
        status: undefined,
        chunksSent: 0,
        lastChunkAt: undefined,
        endedAt: undefined,
        disconnectedAt: undefined,
      };
      requests.push(record);
      res.setHeader('x-request-id', `req_${record.index}`);
      res.on('finish', () => {
        record.status ??= res.statusCode;
        record.endedAt = now();
        notify();
      });
      res.on('close', () => {
        // A socket we destroyed on cue is not the client leaving.
        if (!res.writableFinished && !cutByServer.has(record)) record.disconnectedAt = now();
        notify();
      });
      notify();
      if (isChat) handleChat(req, res, record);
      else if (batchApi.handles(record.method, path)) batchApi.handle(req, res, path, raw);
      else if (req.method === 'GET' && path === '/v1/models') {
        send(res, record, 200, {
          object: 'list',
          data: [{ id: 'test-model', object: 'model', created: 0, owned_by: 'rxagent' }],
        });
      } else
        send(
          res,
          record,
          404,
          errorBody(`Unknown request URL: ${req.method ?? ''} ${path}.`, 'invalid_request_error'),
        );
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    get disconnects() {
      return requests.filter((r) => r.disconnectedAt !== undefined).length;
    },
    get rateLimited() {
      return rateLimited;
    },
    now,
    cue(...cues) {
      queued.push(...cues);
    },
    when(marker, cue) {
      markers.push([marker, cue]);
    },
    setBehavior(cue) {
      behavior = cue;
    },
    release() {
      for (const resume of [...paused]) resume();
    },
    files: batchApi.files,
    batches: batchApi.batches,
    cueBatch(...cues) {
      batchApi.cueBatch(...cues);
    },
    cueApi(route, ...cues) {
      batchApi.cueApi(route, ...cues);
    },
    advanceBatches(id) {
      batchApi.advanceBatches(id);
    },
    waitFor(predicate) {
      return new Promise<void>((resolve) => {
        const check = (): void => {
          if (!predicate()) return;
          watchers.delete(check);
          resolve();
        };
        watchers.add(check);
        check();
      });
    },
    close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      paused.clear();
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}

/** What the server answers one chat request with, before it is sent whole or streamed. */
export interface Answer {
  readonly outWords: readonly string[];
  readonly calls: readonly { readonly id: string; readonly name: string; readonly arguments: string }[];
  readonly finish: 'tool_calls' | 'length' | 'stop';
  readonly usage: {
    readonly prompt_tokens: number;
    readonly completion_tokens: number;
    readonly total_tokens: number;
    readonly prompt_tokens_details?: { readonly cached_tokens: number };
  };
  readonly base: {
    readonly id: string;
    readonly object: string;
    readonly created: number;
    readonly model: string;
  };
}

/**
 * The answer to a chat request: an echo of the last user message (or the cue's text) cut at `maxTokens`
 * words, the cue's tool calls, and usage counting words as tokens.
 */
export function answerOf(
  model: string,
  messages: readonly { readonly role?: unknown; readonly content?: unknown }[],
  cue: ServerCue,
  index: number,
  maxTokens: number,
): Answer {
  const inputTokens = inputWords(messages);
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  const words = (cue.text ?? `Echo: ${typeof lastUser?.content === 'string' ? lastUser.content : ''}`)
    .split(/\s+/)
    .filter((w) => w !== '');
  const calls = (cue.toolCalls ?? []).map((call, i) => ({
    ...call,
    id: call.id ?? `call_${index}_${i}`,
  }));
  const truncated = words.length > maxTokens;
  const outWords = truncated ? words.slice(0, maxTokens) : words;
  const finish = calls.length > 0 ? 'tool_calls' : truncated ? 'length' : 'stop';
  const usage = {
    prompt_tokens: inputTokens,
    completion_tokens: outWords.length + calls.length,
    total_tokens: inputTokens + outWords.length + calls.length,
    ...(cue.cachedTokens === undefined
      ? {}
      : { prompt_tokens_details: { cached_tokens: Math.min(cue.cachedTokens, inputTokens) } }),
  };
  const base = { id: `chatcmpl-${index}`, object: 'chat.completion.chunk', created: 0, model };
  return { outWords, calls, finish, usage, base };
}

/** A whole (not streamed) `chat.completion` object for an answer. */
export function completionOf({ outWords, calls, finish, usage, base }: Answer): Record<string, unknown> {
  const message = {
    role: 'assistant',
    content: calls.length > 0 && outWords.length === 0 ? null : outWords.join(' '),
    refusal: null,
    ...(calls.length > 0
      ? {
          tool_calls: calls.map((c) => ({
            id: c.id,
            type: 'function',
            function: { name: c.name, arguments: c.arguments },
          })),
        }
      : {}),
  };
  return {
    ...base,
    object: 'chat.completion',
    choices: [{ index: 0, message, finish_reason: finish, logprobs: null }],
    usage,
  };
}

/** Tool calls as OpenAI streams them: a first fragment with id and name, then argument pieces, interleaved. */
function toolCallChunks(calls: readonly { id: string; name: string; arguments: string }[]): unknown[][] {
  // A text answer carries no `tool_calls` at all, not an empty list.
  if (calls.length === 0) return [];
  const pieces = calls.map((call) => call.arguments.match(/[\s\S]{1,8}/g) ?? []);
  const chunks: unknown[][] = [
    calls.map((call, index) => ({
      index,
      id: call.id,
      type: 'function',
      function: { name: call.name, arguments: '' },
    })),
  ];
  const rounds = Math.max(0, ...pieces.map((p) => p.length));
  for (let round = 0; round < rounds; round += 1) {
    const fragments = pieces.flatMap((p, index) =>
      p[round] === undefined ? [] : [{ index, function: { arguments: p[round] } }],
    );
    chunks.push(fragments);
  }
  return chunks;
}

function errorBody(message: string, type: string, code: string | null = null): unknown {
  return { error: { message, type, param: null, code } };
}

function quotaBody(): unknown {
  const message =
    'You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.';
  return errorBody(message, 'insufficient_quota', 'insufficient_quota');
}

function statusBody(status: number): unknown {
  if (status === 503)
    return errorBody('The engine is currently overloaded, please try again later.', 'server_error');
  if (status >= 500) {
    return errorBody(
      'The server had an error while processing your request. Sorry about that!',
      'server_error',
    );
  }
  if (status === 401)
    return errorBody('Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key');
  if (status === 404)
    return errorBody('The model `missing` does not exist.', 'invalid_request_error', 'model_not_found');
  return errorBody(`Request failed with status ${status}.`, 'invalid_request_error');
}

/** Go-style durations as OpenAI's `x-ratelimit-reset-*` headers carry them: `20ms`, `1.5s`, `6m0s`. */
export function formatDuration(ms: number): string {
  const value = Math.max(0, ms);
  if (value < 1_000) return `${Math.ceil(value)}ms`;
  if (value < 60_000) return `${Math.round(value) / 1_000}s`;
  const minutes = Math.floor(value / 60_000);
  return `${minutes}m${Math.round(value - minutes * 60_000) / 1_000}s`;
}

function inputWords(messages: readonly { readonly content?: unknown }[]): number {
  return messages.reduce((sum, m) => sum + countWords(typeof m.content === 'string' ? m.content : ''), 0);
}

function countWords(text: string): number {
  return text.split(/\s+/).filter((w) => w !== '').length;
}

function positive(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

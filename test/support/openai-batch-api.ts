/**
 * The Files and Batch APIs of the local OpenAI-compatible server: uploads, file contents, and batches that
 * move through OpenAI's states on cue or on a timer, answering every request with the objects the real API
 * sends. Only `node:http` types: the server stays usable without any test dependency.
 *
 * Shapes, from the `openai` SDK's types (node_modules/openai/resources/batches.d.ts, files.d.ts) and the Batch
 * guide (https://developers.openai.com/api/docs/guides/batch):
 * - a Batch object has `id`, `object: 'batch'`, `endpoint`, `errors` (`{ object: 'list', data: [{ code,
 *   message, param, line }] }` or null), `input_file_id`, `completion_window`, `status`, `output_file_id`,
 *   `error_file_id`, `created_at` and one `*_at` time (Unix seconds, or null) per state, `request_counts`
 *   (`{ total, completed, failed }`), `metadata`, `model` and `usage`;
 * - statuses are `validating → in_progress → finalizing → completed`, or `failed` (the input did not pass
 *   validation), `expired` (the window ran out: requests not run go to the error file as `batch_expired`),
 *   `cancelling → cancelled` (requests not run go to the error file as `batch_cancelled`);
 * - each line of the output and error files is `{ id: 'batch_req_…', custom_id, response: { status_code,
 *   request_id, body } | null, error: { code, message } | null }`: the output file holds the 200s, the error
 *   file the other statuses and the requests that never ran.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The states of a batch, as OpenAI names them. */
export type BatchStatus =
  | 'validating'
  | 'failed'
  | 'in_progress'
  | 'finalizing'
  | 'completed'
  | 'expired'
  | 'cancelling'
  | 'cancelled';

const TERMINAL: readonly BatchStatus[] = ['failed', 'completed', 'expired', 'cancelled'];

/** How the next batch created behaves; fields combine. */
export interface BatchCue {
  /** Fail validation with this error (its `line` 1-based, as OpenAI reports it): validating → failed. */
  readonly fail?: { readonly code?: string; readonly message?: string; readonly line?: number };
  /** Let the window run out once this many requests have run: in_progress → expired. */
  readonly expireAfter?: number;
  /** Stop advancing on the timer in this status; `advanceBatches()` still moves it on. */
  readonly holdIn?: BatchStatus;
}

/** A route of the Files and Batch APIs, for {@link ApiCue}s. */
export type ApiRoute = 'upload' | 'file' | 'content' | 'create' | 'retrieve' | 'cancel' | 'list';

/** How the server answers the next request to a route. */
export interface ApiCue {
  /** Answer with this HTTP status and OpenAI's error body for it. */
  readonly status?: number;
  /**
   * Do the work first (store the file, create the batch), then answer with `status`, or not at all with
   * `hang`: the client cannot tell whether it happened.
   */
  readonly afterWork?: boolean;
  /** Send nothing at all; the request stays open until the client gives up or the server closes. */
  readonly hang?: boolean;
  /** Handle the request (as usual, or as the other fields say) only after this many ms. */
  readonly delayMs?: number;
}

/** A file as the server keeps it: OpenAI's File object and its bytes. */
export interface StoredFile {
  readonly object: {
    readonly id: string;
    readonly object: 'file';
    readonly bytes: number;
    readonly created_at: number;
    readonly filename: string;
    readonly purpose: string;
    readonly status: 'processed';
    readonly expires_at: number | null;
    readonly status_details: null;
  };
  readonly content: Buffer;
}

/** One request of a batch's input file, parsed. */
interface InputLine {
  readonly customId: string;
  readonly body: {
    readonly model: string;
    readonly messages: readonly { role?: unknown; content?: unknown }[];
  } & Record<string, unknown>;
}

/** The usage of one answer in a result line. */
interface BodyUsage {
  readonly prompt_tokens?: number;
  readonly completion_tokens?: number;
  readonly prompt_tokens_details?: { readonly cached_tokens?: number };
}

/** A batch as the server keeps it. */
export interface ServerBatch {
  /** The Batch object, as retrieve answers it. */
  readonly object: Record<string, unknown> & { readonly id: string; status: BatchStatus };
  readonly cue: BatchCue;
  /** The result line of each request that ran, by custom_id. */
  readonly results: Map<string, Record<string, unknown>>;
  lines: readonly InputLine[];
}

/** What the batch API needs from the server it is part of. */
export interface BatchApiHost {
  now(): number;
  later(ms: number, work: () => void): void;
  notify(): void;
  send(res: ServerResponse, status: number, body: unknown): void;
  /** The status and body answering one request of a batch, as the chat endpoint would answer it. */
  answer(body: InputLine['body'], index: number): { readonly status: number; readonly body: unknown };
  errorBody(status: number): unknown;
  /** Auto-advance each state after this long; undefined advances only on `advanceBatches()`. */
  readonly stepMs: number | undefined;
}

/** The Files and Batch APIs, and the handles tests use to drive them. */
export interface BatchApi {
  readonly files: ReadonlyMap<string, StoredFile>;
  readonly batches: readonly ServerBatch[];
  /** Whether this server answers `method path`. */
  handles(method: string, path: string): boolean;
  handle(req: IncomingMessage, res: ServerResponse, path: string, raw: Buffer): void;
  /** Queues cues for the next batches created, one each. */
  cueBatch(...cues: BatchCue[]): void;
  /** Queues cues for the next requests to `route`, one each. */
  cueApi(route: ApiRoute, ...cues: ApiCue[]): void;
  /** Moves every batch that is not finished one state on (or only `id`). */
  advanceBatches(id?: string): void;
}

const seconds = (): number => Math.floor(Date.now() / 1000);

/** Starts empty; the server routes `/v1/files` and `/v1/batches` here. */
export function createBatchApi(host: BatchApiHost): BatchApi {
  const files = new Map<string, StoredFile>();
  const batches: ServerBatch[] = [];
  const batchCues: BatchCue[] = [];
  const apiCues = new Map<ApiRoute, ApiCue[]>();
  let fileCount = 0;
  let requestCount = 0;

  const storeFile = (filename: string, purpose: string, content: Buffer): StoredFile => {
    fileCount += 1;
    const file: StoredFile = {
      object: {
        id: `file-${fileCount}`,
        object: 'file',
        bytes: content.length,
        created_at: seconds(),
        filename,
        purpose,
        status: 'processed',
        // Batch files expire after 30 days unless asked otherwise (FileCreateParams.expires_after).
        expires_at: purpose === 'batch' ? seconds() + 30 * 24 * 3600 : null,
        status_details: null,
      },
      content,
    };
    files.set(file.object.id, file);
    host.notify();
    return file;
  };

  const schedule = (batch: ServerBatch): void => {
    const { stepMs } = host;
    const { status } = batch.object;
    if (stepMs === undefined || TERMINAL.includes(status) || batch.cue.holdIn === status) return;
    host.later(stepMs, () => {
      if (batch.object.status === status) step(batch);
    });
  };

  const set = (batch: ServerBatch, status: BatchStatus, fields: Record<string, unknown> = {}): void => {
    Object.assign(batch.object, fields, { status });
    host.notify();
    schedule(batch);
  };

  /** Runs the requests of a batch that have not run, up to `limit` of them in all. */
  const run = (batch: ServerBatch, limit = Number.POSITIVE_INFINITY): void => {
    for (const line of batch.lines) {
      if (batch.results.size >= limit) break;
      if (batch.results.has(line.customId)) continue;
      requestCount += 1;
      batch.results.set(line.customId, resultLine(line, requestCount));
    }
    const done = [...batch.results.values()];
    const completed = done.filter((r) => (r['response'] as { status_code?: number }).status_code === 200);
    Object.assign(batch.object, {
      request_counts: {
        total: batch.lines.length,
        completed: completed.length,
        failed: done.length - completed.length,
      },
    });
  };

  const resultLine = (line: InputLine, index: number): Record<string, unknown> => {
    const { status, body } = host.answer(line.body, index);
    return {
      id: `batch_req_${index}`,
      custom_id: line.customId,
      response: { status_code: status, request_id: `req_batch_${index}`, body },
      error: null,
    };
  };

  /** Writes the output and error files of a finished batch; requests that never ran get `code`. */
  const finish = (
    batch: ServerBatch,
    notRun: 'batch_expired' | 'batch_cancelled' | undefined,
  ): Record<string, unknown> => {
    const output: string[] = [];
    const errors: string[] = [];
    for (const line of batch.lines) {
      const result = batch.results.get(line.customId);
      if (result !== undefined) {
        const ok = (result['response'] as { status_code: number }).status_code === 200;
        (ok ? output : errors).push(JSON.stringify(result));
      } else if (notRun !== undefined) {
        requestCount += 1;
        errors.push(
          JSON.stringify({
            id: `batch_req_${requestCount}`,
            custom_id: line.customId,
            response: null,
            error: {
              code: notRun,
              message:
                notRun === 'batch_expired'
                  ? 'This request could not be executed before the completion window expired.'
                  : 'This request was not executed because the batch was cancelled.',
            },
          }),
        );
      }
    }
    const id = batch.object.id;
    const outputFile =
      output.length === 0
        ? null
        : storeFile(`${id}_output.jsonl`, 'batch_output', Buffer.from(`${output.join('\n')}\n`));
    const errorFile =
      errors.length === 0
        ? null
        : storeFile(`${id}_error.jsonl`, 'batch_output', Buffer.from(`${errors.join('\n')}\n`));
    return { output_file_id: outputFile?.object.id ?? null, error_file_id: errorFile?.object.id ?? null };
  };

  /** One state on: what OpenAI's batch runner does between two polls. */
  const step = (batch: ServerBatch): void => {
    const now = seconds();
    switch (batch.object.status) {
      case 'validating': {
        const problem = batch.cue.fail ?? validate(batch);
        if (problem !== undefined) {
          set(batch, 'failed', {
            failed_at: now,
            errors: {
              object: 'list',
              data: [
                {
                  code: problem.code ?? 'invalid_request',
                  message: problem.message ?? 'The input file is invalid.',
                  param: null,
                  line: problem.line ?? null,
                },
              ],
            },
          });
          return;
        }
        set(batch, 'in_progress', {
          in_progress_at: now,
          request_counts: { total: batch.lines.length, completed: 0, failed: 0 },
        });
        return;
      }
      case 'in_progress': {
        const { expireAfter } = batch.cue;
        if (expireAfter !== undefined) {
          run(batch, expireAfter);
          set(batch, 'expired', { expired_at: now, ...finish(batch, 'batch_expired') });
          return;
        }
        run(batch);
        set(batch, 'finalizing', { finalizing_at: now });
        return;
      }
      case 'finalizing':
        set(batch, 'completed', { completed_at: now, usage: usageOf(batch), ...finish(batch, undefined) });
        return;
      case 'cancelling':
        // A batch cancelled while validating has not read its requests yet.
        if (batch.lines.length === 0) validate(batch);
        set(batch, 'cancelled', { cancelled_at: now, ...finish(batch, 'batch_cancelled') });
        return;
      default:
        return;
    }
  };

  /** Reads the input file as OpenAI's validation would: the first problem found, else nothing. */
  const validate = (batch: ServerBatch): { code: string; message: string; line?: number } | undefined => {
    const file = files.get(batch.object['input_file_id'] as string);
    if (file === undefined) return { code: 'invalid_file', message: 'The input file no longer exists.' };
    const lines: InputLine[] = [];
    const seen = new Set<string>();
    const models = new Set<string>();
    const texts = file.content.toString('utf8').split('\n');
    for (const [i, text] of texts.entries()) {
      if (text.trim() === '') continue;
      const line = i + 1;
      let parsed: {
        custom_id?: unknown;
        method?: unknown;
        url?: unknown;
        body?: { model?: unknown; messages?: unknown };
      };
      try {
        parsed = JSON.parse(text) as typeof parsed;
      } catch {
        return { code: 'invalid_json_line', message: `This line is not parseable as valid JSON.`, line };
      }
      if (typeof parsed.custom_id !== 'string')
        return { code: 'missing_custom_id', message: 'custom_id is required.', line };
      if (seen.has(parsed.custom_id))
        return {
          code: 'duplicate_custom_id',
          message: `The custom_id for this request is a duplicate of another request.`,
          line,
        };
      seen.add(parsed.custom_id);
      if (parsed.method !== 'POST')
        return { code: 'invalid_method', message: 'Only POST is supported.', line };
      if (parsed.url !== batch.object['endpoint'])
        return {
          code: 'mismatched_endpoint',
          message: `The URL of this request does not match the batch's endpoint.`,
          line,
        };
      const body = parsed.body;
      if (typeof body?.model !== 'string' || !Array.isArray(body.messages))
        return { code: 'invalid_request', message: '`model` and `messages` are required.', line };
      models.add(body.model);
      if (models.size > 1)
        return {
          code: 'mismatched_model',
          message: 'Each input file can only include requests to a single model.',
          line,
        };
      lines.push({ customId: parsed.custom_id, body: body as InputLine['body'] });
    }
    if (lines.length === 0) return { code: 'empty_file', message: 'The input file has no requests.' };
    batch.lines = lines;
    Object.assign(batch.object, { model: [...models][0] ?? null });
    return undefined;
  };

  const usageOf = (batch: ServerBatch): Record<string, unknown> => {
    let input = 0;
    let output = 0;
    let cached = 0;
    for (const result of batch.results.values()) {
      const usage = (result['response'] as { body?: { usage?: BodyUsage } }).body?.usage;
      input += usage?.prompt_tokens ?? 0;
      output += usage?.completion_tokens ?? 0;
      cached += usage?.prompt_tokens_details?.cached_tokens ?? 0;
    }
    return {
      input_tokens: input,
      input_tokens_details: { cached_tokens: cached },
      output_tokens: output,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: input + output,
    };
  };

  const createBatch = (params: Record<string, unknown>): ServerBatch | string => {
    const fileId = params['input_file_id'];
    if (typeof fileId !== 'string' || !files.has(fileId)) return `No such File object: ${String(fileId)}`;
    if (files.get(fileId)?.object.purpose !== 'batch')
      return `File ${fileId} was not uploaded with purpose 'batch'.`;
    if (params['completion_window'] !== '24h')
      return `Invalid completion_window: ${String(params['completion_window'])}. Must be '24h'.`;
    const now = seconds();
    const batch: ServerBatch = {
      object: {
        id: `batch_${batches.length + 1}`,
        object: 'batch',
        endpoint: params['endpoint'],
        model: null,
        errors: null,
        input_file_id: fileId,
        completion_window: '24h',
        status: 'validating',
        output_file_id: null,
        error_file_id: null,
        created_at: now,
        in_progress_at: null,
        expires_at: now + 24 * 3600,
        finalizing_at: null,
        completed_at: null,
        failed_at: null,
        expired_at: null,
        cancelling_at: null,
        cancelled_at: null,
        request_counts: { total: 0, completed: 0, failed: 0 },
        usage: null,
        metadata: params['metadata'] ?? null,
      },
      cue: batchCues.shift() ?? {},
      results: new Map(),
      lines: [],
    };
    batches.push(batch);
    host.notify();
    schedule(batch);
    return batch;
  };

  const cancel = (batch: ServerBatch): string | undefined => {
    const { status } = batch.object;
    if (status === 'cancelling' || status === 'cancelled') return undefined;
    if (TERMINAL.includes(status)) return `Cannot cancel a batch with status '${status}'.`;
    set(batch, 'cancelling', { cancelling_at: seconds() });
    return undefined;
  };

  const list = (url: URL): Record<string, unknown> => {
    const limit = Math.min(100, Math.max(1, Number(url.searchParams.get('limit') ?? 20)));
    const after = url.searchParams.get('after');
    const newestFirst = [...batches].reverse().map((b) => b.object);
    const start = after === null ? 0 : newestFirst.findIndex((b) => b.id === after) + 1;
    const data = newestFirst.slice(start, start + limit);
    return {
      object: 'list',
      data,
      first_id: data[0]?.id ?? null,
      last_id: data.at(-1)?.id ?? null,
      has_more: start + limit < newestFirst.length,
    };
  };

  const routeOf = (method: string, path: string): ApiRoute | undefined => {
    if (method === 'POST' && path === '/v1/files') return 'upload';
    if (method === 'GET' && /^\/v1\/files\/[^/]+$/.test(path)) return 'file';
    if (method === 'GET' && /^\/v1\/files\/[^/]+\/content$/.test(path)) return 'content';
    if (method === 'POST' && path === '/v1/batches') return 'create';
    if (method === 'GET' && path === '/v1/batches') return 'list';
    if (method === 'GET' && /^\/v1\/batches\/[^/]+$/.test(path)) return 'retrieve';
    if (method === 'POST' && /^\/v1\/batches\/[^/]+\/cancel$/.test(path)) return 'cancel';
    return undefined;
  };

  const notFound = (res: ServerResponse, what: string): void => {
    host.send(res, 404, {
      error: { message: `No such ${what}`, type: 'invalid_request_error', param: null, code: null },
    });
  };
  const badRequest = (res: ServerResponse, message: string): void => {
    host.send(res, 400, { error: { message, type: 'invalid_request_error', param: null, code: null } });
  };

  /** Does what the route does; answers unless `answer` is false (a cue answers instead). */
  const work = (
    route: ApiRoute,
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    raw: Buffer,
    answer: boolean,
  ): void => {
    const reply = (status: number, body: unknown): void => {
      if (answer) host.send(res, status, body);
    };
    const id = path.split('/')[3] ?? '';
    const batch = batches.find((b) => b.object.id === id);
    switch (route) {
      case 'upload': {
        const form = parseMultipart(raw, req.headers['content-type'] ?? '');
        const file = form.find((part) => part.name === 'file');
        const purpose = form.find((part) => part.name === 'purpose')?.content.toString('utf8');
        if (file === undefined || purpose === undefined) {
          if (answer) badRequest(res, 'A multipart body with `file` and `purpose` is required.');
          return;
        }
        reply(200, storeFile(file.filename ?? 'upload', purpose, file.content).object);
        return;
      }
      case 'file': {
        const stored = files.get(id);
        if (stored === undefined) {
          if (answer) notFound(res, `File: ${id}`);
        } else reply(200, stored.object);
        return;
      }
      case 'content': {
        const stored = files.get(id);
        if (stored === undefined) {
          if (answer) notFound(res, `File: ${id}`);
          return;
        }
        if (answer) {
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          res.end(stored.content);
        }
        return;
      }
      case 'create': {
        const created = createBatch(parseObject(raw));
        if (typeof created === 'string') {
          if (answer) badRequest(res, created);
        } else reply(200, created.object);
        return;
      }
      case 'retrieve':
        if (batch === undefined) {
          if (answer) notFound(res, `batch: ${id}`);
        } else reply(200, batch.object);
        return;
      case 'cancel': {
        if (batch === undefined) {
          if (answer) notFound(res, `batch: ${id}`);
          return;
        }
        const refused = cancel(batch);
        if (refused !== undefined) {
          if (answer) badRequest(res, refused);
        } else reply(200, batch.object);
        return;
      }
      case 'list':
        reply(200, list(new URL(req.url ?? '/', 'http://localhost')));
        return;
    }
  };

  return {
    files,
    batches,
    handles: (method, path) => routeOf(method, path) !== undefined,
    handle(req, res, path, raw) {
      const route = routeOf(req.method ?? 'GET', path);
      if (route === undefined) return;
      const cue = apiCues.get(route)?.shift();
      const respond = (): void => {
        if (cue === undefined || (cue.status === undefined && cue.hang !== true)) {
          work(route, req, res, path, raw, true);
          return;
        }
        if (cue.afterWork === true) work(route, req, res, path, raw, false);
        if (cue.hang === true) return;
        host.send(res, cue.status ?? 500, host.errorBody(cue.status ?? 500));
      };
      if (cue?.delayMs === undefined) respond();
      else host.later(cue.delayMs, respond);
    },
    cueBatch(...cues) {
      batchCues.push(...cues);
    },
    cueApi(route, ...cues) {
      const queue = apiCues.get(route) ?? [];
      queue.push(...cues);
      apiCues.set(route, queue);
    },
    advanceBatches(id) {
      for (const batch of batches) {
        if (id !== undefined && batch.object.id !== id) continue;
        if (!TERMINAL.includes(batch.object.status)) step(batch);
      }
    },
  };
}

/** The parts of a `multipart/form-data` body: each with its field name, file name and bytes. */
export function parseMultipart(
  body: Buffer,
  contentType: string,
): { name: string; filename: string | undefined; content: Buffer }[] {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  const marker = boundary?.[1] ?? boundary?.[2];
  if (marker === undefined) return [];
  const delimiter = Buffer.from(`--${marker}`);
  const parts: { name: string; filename: string | undefined; content: Buffer }[] = [];
  let at = body.indexOf(delimiter);
  while (at !== -1) {
    const start = at + delimiter.length;
    // `--` after a delimiter ends the body.
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next === -1) break;
    // Each part is CRLF, headers, CRLF CRLF, content, CRLF.
    const part = body.subarray(start + 2, next - 2);
    const split = part.indexOf('\r\n\r\n');
    if (split !== -1) {
      const headers = part.subarray(0, split).toString('utf8');
      const name = /name="([^"]*)"/i.exec(headers)?.[1];
      const filename = /filename="([^"]*)"/i.exec(headers)?.[1];
      if (name !== undefined) parts.push({ name, filename, content: part.subarray(split + 4) });
    }
    at = next;
  }
  return parts;
}

function parseObject(raw: Buffer): Record<string, unknown> {
  try {
    const value = JSON.parse(raw.toString('utf8')) as unknown;
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

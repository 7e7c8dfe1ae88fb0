import type { Observable } from 'rxjs';
import type { RxAgentError } from './errors/index.js';

/** One message of a chat conversation, in the OpenAI shape most providers accept. */
export interface ChatMessage {
  readonly role: 'system' | 'user' | 'assistant' | 'tool';
  readonly content: string;
  /** For `role: 'tool'`: the id of the call this message answers; required there. @defaultValue none */
  readonly toolCallId?: string;
  /** For `role: 'assistant'`: the tool calls the model asked for. @defaultValue none */
  readonly toolCalls?: readonly ToolCall[];
}

/** A tool call asked for by a model. `arguments` is the JSON text the model produced. */
export interface ToolCall {
  readonly id: string;
  readonly name: string;
  readonly arguments: string;
}

/** One unit of work: a prompt (or conversation) with an id that names it in every event. */
export interface Task<M = unknown> {
  /** Names the task in every event and result; 1 to 256 characters when it comes from outside. */
  readonly id: string;
  /** A prompt (sent as one user message) or a whole conversation. */
  readonly input: string | readonly ChatMessage[];
  /**
   * The most output tokens the run may produce; budgets reserve this much.
   * @defaultValue the agent's own cap (`defaultMaxOutputTokens` of `openaiModel`, `maxOutputTokens` of
   * `simulatedModel`); `estimateTokens` reserves `DEFAULT_MAX_OUTPUT_TOKENS` (1024)
   */
  readonly maxOutputTokens?: number;
  /** Higher leaves the queue first; equal priorities keep arrival order. @defaultValue 0 */
  readonly priority?: number;
  /** The caller's own data, carried with the task; rxagent never reads it. @defaultValue none */
  readonly meta?: M;
  /**
   * Request parameters for this task, passed to whichever model runs it; a model that cannot honour one
   * fails the task with a `ValidationError` rather than drop it. @defaultValue the model's own
   */
  readonly params?: TaskParams;
}

/**
 * Per-task request parameters, in one shape for every provider. `model` overrides the model's default for
 * the task, and is what budgets and prices use. The output cap is the task's own `maxOutputTokens`.
 */
export interface TaskParams {
  readonly model?: string;
  readonly temperature?: number;
  readonly topP?: number;
  /** Up to 4 sequences that end the answer. */
  readonly stop?: readonly string[];
  readonly seed?: number;
  /** Plain text (the default), any JSON object, or JSON that fits `schema`. */
  readonly responseFormat?: ResponseFormat;
  /** Tools the model may call, described by JSON Schema; calls come back as `tool-calls` events. */
  readonly tools?: readonly ToolSpec[];
  /** Whether and which tool the model must call. @defaultValue 'auto' when `tools` are given */
  readonly toolChoice?: 'auto' | 'none' | 'required' | { readonly name: string };
  /**
   * Provider-specific settings, keyed by provider (`openai`, `anthropic`, or an AI SDK provider's key), merged
   * into that provider's request as is. Keys for other providers are ignored.
   */
  readonly providerOptions?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

/** The shape of an answer: free text, any JSON object, or JSON fitting a schema (OpenAI's names). */
export type ResponseFormat =
  | { readonly type: 'text' }
  | { readonly type: 'json_object' }
  | {
      readonly type: 'json_schema';
      readonly name: string;
      readonly schema: Readonly<Record<string, unknown>>;
      readonly description?: string;
      readonly strict?: boolean;
    };

/** A tool a model may call, as data: its name, what it is for, and its arguments as JSON Schema. */
export interface ToolSpec {
  readonly name: string;
  readonly description?: string;
  /** JSON Schema of the arguments object. */
  readonly parameters: Readonly<Record<string, unknown>>;
  /** Ask the provider to hold the arguments to the schema exactly, where it can. */
  readonly strict?: boolean;
}

/**
 * Tokens a run used, and what they cost when a price is known. `inputTokens` counts every input token,
 * cached ones included (Anthropic's uncached `input_tokens` plus its cache reads and writes);
 * `cachedInputTokens` and `cacheWriteTokens` say how many of them were read from and written to the
 * provider's cache, `reasoningTokens` how many of `outputTokens` were thinking. Each is absent when the
 * provider did not say.
 */
export interface Usage {
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cachedInputTokens?: number;
  readonly cacheWriteTokens?: number;
  readonly reasoningTokens?: number;
  /** In US dollars; absent when no price is known. */
  readonly cost?: number;
}

/**
 * A provider's view of its rate limits, as its `x-ratelimit-*` (OpenAI and compatible servers) or
 * `anthropic-ratelimit-*` headers report it. The token fields are the limit on all tokens (Anthropic's
 * `tokens` family: the most restrictive limit in effect); Anthropic also reports its input-token (ITPM) and
 * output-token (OTPM) limits apart. A field whose header the provider did not send is absent.
 */
export interface RateLimitSnapshot {
  readonly limitTokens?: number;
  readonly limitRequests?: number;
  readonly remainingTokens?: number;
  readonly remainingRequests?: number;
  /** Time until the token limit is fully restored. */
  readonly resetTokensMs?: number;
  /** Time until the request limit is fully restored. */
  readonly resetRequestsMs?: number;
  /** Input tokens per minute allowed (Anthropic's ITPM). */
  readonly limitInputTokens?: number;
  readonly remainingInputTokens?: number;
  /** Time until the input-token limit is fully restored. */
  readonly resetInputTokensMs?: number;
  /** Output tokens per minute allowed (Anthropic's OTPM). */
  readonly limitOutputTokens?: number;
  readonly remainingOutputTokens?: number;
  /** Time until the output-token limit is fully restored. */
  readonly resetOutputTokensMs?: number;
}

/** Why a model stopped: OpenAI's finish reasons in kebab-case, `'other'` for any other a provider sends. */
export type FinishReason = 'stop' | 'length' | 'tool-calls' | 'content-filter' | 'other';

/**
 * What a model emits during one run: text `delta`s as they stream, the `tool-calls` it asks for, `usage` and
 * `rate-limits` reports, a `retry` notice from `retryBackoff` (`attempt` is the attempt about to start, from
 * 2), a `route` notice from `router` (the deployment an attempt runs on), an `admitted` notice when a budget
 * let an attempt go after `waitMs` of waiting (so the time before it is not the model's), and a final `done`
 * with the whole text.
 */
export type AgentEvent =
  | { readonly type: 'delta'; readonly text: string }
  | { readonly type: 'tool-calls'; readonly calls: readonly ToolCall[] }
  | { readonly type: 'usage'; readonly usage: Usage }
  | { readonly type: 'rate-limits'; readonly limits: RateLimitSnapshot }
  | {
      readonly type: 'retry';
      readonly attempt: number;
      readonly delayMs: number;
      readonly error: RxAgentError;
    }
  | { readonly type: 'route'; readonly deployment: string; readonly attempt: number }
  | { readonly type: 'admitted'; readonly waitMs: number }
  | { readonly type: 'done'; readonly text: string; readonly finishReason: FinishReason };

/** What a run may use: the abort signal fires when the run is unsubscribed. */
export interface RunContext {
  readonly signal: AbortSignal;
}

/**
 * Anything that can run a task as a stream of events: a model, an adapter, a fake. A run is cold, and
 * unsubscribing (or the `signal` aborting) must stop it, so the pool can cancel what it no longer needs.
 *
 * @example
 * const echo: Agent = {
 *   run: (task) => of({ type: 'done', text: textOf(task), finishReason: 'stop' }),
 * };
 */
export interface Agent {
  run(task: Task, context: RunContext): Observable<AgentEvent>;
  /**
   * The output cap the agent sends for tasks that set no `maxOutputTokens`. Providers charge a request's
   * rate limit at admission with its input plus this cap, so budgets reserve it; leave it out when the
   * provider picks the cap, and budgets reserve 1,024 tokens. @defaultValue unknown
   */
  readonly maxOutputTokens?: number;
}

/**
 * The `Promise.allSettled` shape of one task's outcome. `attempts` counts every attempt, retries and hedges
 * included, and is 0 for a task that never ran (invalid,
 * turned away by a full queue, cancelled while queued), and `durationMs` counts from its start, not its
 * arrival. `meta` is the task's own `meta`, carried through so a result can be joined to what it was for.
 */
export type Settled<V = string> =
  | {
      readonly status: 'fulfilled';
      readonly taskId: string;
      readonly value: V;
      readonly usage: Usage;
      readonly attempts: number;
      readonly durationMs: number;
      /** Why the model stopped, from its `done` event; absent for a worker that returns plain values. */
      readonly finishReason?: FinishReason;
      /** The task's `meta`; absent when it had none. */
      readonly meta?: unknown;
    }
  | {
      readonly status: 'rejected';
      readonly taskId: string;
      readonly error: RxAgentError;
      readonly usage?: Usage;
      readonly attempts: number;
      readonly durationMs: number;
      /** The task's `meta` (or the invalid item's, when its source could read one); absent when none. */
      readonly meta?: unknown;
    };

/**
 * What flows out of a pool: every task yields `started` (unless rejected before running), any deltas and tool
 * events, `retry`, `route`, `admitted` and `hedge` notices, and exactly one `settled`. A `hedge` notice says that
 * attempt `attempt` starts beside one with no first token `afterMs` after its request went out (`runAgents`'
 * `hedge`).
 */
export type TaskEvent<V = string> =
  | { readonly type: 'started'; readonly taskId: string; readonly waitMs: number }
  | { readonly type: 'delta'; readonly taskId: string; readonly seq: number; readonly text: string }
  | { readonly type: 'tool'; readonly taskId: string; readonly calls: readonly ToolCall[] }
  | {
      readonly type: 'retry';
      readonly taskId: string;
      readonly attempt: number;
      readonly delayMs: number;
      readonly error: RxAgentError;
    }
  | { readonly type: 'route'; readonly taskId: string; readonly deployment: string; readonly attempt: number }
  | {
      readonly type: 'admitted';
      readonly taskId: string;
      /** The attempt the budget let go, from 1. */
      readonly attempt: number;
      /** How long the attempt waited for the budget. */
      readonly waitMs: number;
    }
  | { readonly type: 'hedge'; readonly taskId: string; readonly attempt: number; readonly afterMs: number }
  | { readonly type: 'settled'; readonly taskId: string; readonly result: Settled<V> };

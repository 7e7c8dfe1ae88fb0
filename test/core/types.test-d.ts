import { describe, expectTypeOf, it } from 'vitest';
import type { RxAgentError } from '../../src/core/errors/index.js';
import type {
  AgentEvent,
  ChatMessage,
  FinishReason,
  RateLimitSnapshot,
  Settled,
  Task,
  TaskEvent,
  TaskParams,
  ToolCall,
  Usage,
} from '../../src/core/types.js';

describe('public core types', () => {
  it('Task', () => {
    expectTypeOf<Task>().toEqualTypeOf<{
      readonly id: string;
      readonly input: string | readonly ChatMessage[];
      readonly maxOutputTokens?: number;
      readonly priority?: number;
      readonly meta?: unknown;
      readonly params?: TaskParams;
    }>();
    expectTypeOf<Task<{ user: string }>['meta']>().toEqualTypeOf<{ user: string } | undefined>();
    expectTypeOf<ChatMessage>().toEqualTypeOf<{
      readonly role: 'system' | 'user' | 'assistant' | 'tool';
      readonly content: string;
      readonly toolCallId?: string;
      readonly toolCalls?: readonly ToolCall[];
    }>();
    expectTypeOf<ToolCall>().toEqualTypeOf<{
      readonly id: string;
      readonly name: string;
      readonly arguments: string;
    }>();
  });

  it('AgentEvent', () => {
    expectTypeOf<AgentEvent>().toEqualTypeOf<
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
      | { readonly type: 'done'; readonly text: string; readonly finishReason: FinishReason }
    >();
    expectTypeOf<FinishReason>().toEqualTypeOf<
      'stop' | 'length' | 'tool-calls' | 'content-filter' | 'other'
    >();
    expectTypeOf<Usage>().toEqualTypeOf<{
      readonly inputTokens: number;
      readonly outputTokens: number;
      readonly cachedInputTokens?: number;
      readonly cacheWriteTokens?: number;
      readonly reasoningTokens?: number;
      readonly cost?: number;
    }>();
  });

  it('TaskEvent', () => {
    expectTypeOf<TaskEvent>().toEqualTypeOf<
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
      | {
          readonly type: 'route';
          readonly taskId: string;
          readonly deployment: string;
          readonly attempt: number;
        }
      | {
          readonly type: 'admitted';
          readonly taskId: string;
          readonly attempt: number;
          readonly waitMs: number;
        }
      | {
          readonly type: 'hedge';
          readonly taskId: string;
          readonly attempt: number;
          readonly afterMs: number;
        }
      | { readonly type: 'settled'; readonly taskId: string; readonly result: Settled }
    >();
    expectTypeOf<Extract<TaskEvent<number>, { type: 'settled' }>['result']>().toEqualTypeOf<
      Settled<number>
    >();
  });

  it('Settled', () => {
    expectTypeOf<Settled>().toEqualTypeOf<
      | {
          readonly status: 'fulfilled';
          readonly taskId: string;
          readonly value: string;
          readonly usage: Usage;
          readonly attempts: number;
          readonly durationMs: number;
          readonly finishReason?: FinishReason;
          readonly meta?: unknown;
        }
      | {
          readonly status: 'rejected';
          readonly taskId: string;
          readonly error: RxAgentError;
          readonly usage?: Usage;
          readonly attempts: number;
          readonly durationMs: number;
          readonly meta?: unknown;
        }
    >();
    expectTypeOf<Extract<Settled<{ n: number }>, { status: 'fulfilled' }>['value']>().toEqualTypeOf<{
      n: number;
    }>();
  });
});

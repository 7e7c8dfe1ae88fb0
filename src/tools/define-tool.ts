import { Observable, from, isObservable, of, reduce } from 'rxjs';
import type { ObservableInput } from 'rxjs';
import type { z } from 'zod';
import { isAgentEvent } from '../core/agent-event.js';
import { describe, expectConfig, expectFunction, expectNumber } from '../core/validate.js';
import { withSignal } from '../core/with-signal.js';

/** What a tool run may use: the signal aborts when the run is cancelled (unsubscribed, fail-fast, timeout). */
export interface ToolContext {
  readonly signal: AbortSignal;
}

/**
 * A tool a plan or a model can call: a name, a zod schema for its arguments, and a run function.
 * Make one with {@link defineTool}.
 */
export interface Tool<In = unknown, Out = unknown> {
  /** The name plans and models call it by. */
  readonly name: string;
  /** Shown to models in tool lists. @defaultValue none */
  readonly description?: string;
  /** Checks the arguments after references were replaced; `run` only ever sees parsed arguments. */
  readonly input: z.ZodType<In>;
  /** `false`: two runs of this tool never overlap. @defaultValue true */
  readonly parallel: boolean;
  /** Expected run time in any unit, used only to rank ready nodes by critical path. @defaultValue 1 */
  readonly durationHint: number;
  /** Runs the tool on parsed arguments: a value, a Promise, or an Observable whose last value counts. */
  run(args: In, context: ToolContext): ObservableInput<Out> | Out;
}

/** What {@link defineTool} takes. */
export interface ToolDefinition<S extends z.ZodType, Out> {
  /** The name plans and models call it by; unique among the tools given to one `dag`. */
  readonly name: string;
  /** Shown to models in tool lists. @defaultValue none */
  readonly description?: string;
  /** The zod schema of the arguments object. */
  readonly input: S;
  /** `false` to never run two calls of this tool at once (a file writer, a stateful session). @defaultValue true */
  readonly parallel?: boolean;
  /** Expected run time relative to other tools (any unit), for critical-path ordering. @defaultValue 1 */
  readonly durationHint?: number;
  /**
   * Runs the tool. May return a plain value, a Promise, or an Observable (its last value is the result; an
   * agent's `done` event stands for its text, so `run: (a, c) => agent.run(task, c)` works as is).
   */
  readonly run: (args: z.output<S>, context: ToolContext) => ObservableInput<Out> | Out;
}

/**
 * Defines a tool with a zod schema for its arguments. Throws `TypeError` on a malformed definition.
 *
 * @example
 * const search = defineTool({
 *   name: 'search',
 *   input: z.object({ query: z.string() }),
 *   run: async ({ query }, { signal }) => {
 *     const response = await fetch(`https://example.com/search?q=${encodeURIComponent(query)}`, { signal });
 *     return (await response.json()) as unknown;
 *   },
 * });
 */
export function defineTool<S extends z.ZodType, Out>(
  definition: ToolDefinition<S, Out>,
): Tool<z.output<S>, Out> {
  expectConfig('definition', definition);
  const { name, description, input, parallel = true, durationHint = 1, run } = definition;
  if (typeof name !== 'string' || !/^[A-Za-z_][\w.-]*$/.test(name)) {
    throw new TypeError(
      `Expected \`name\` to be a tool name (a letter or _ then letters, digits, _ . -), got ${describe(name)}`,
    );
  }
  if (description !== undefined && typeof description !== 'string') {
    throw new TypeError(
      `Expected \`description\` of tool "${name}" to be a string, got ${describe(description)}`,
    );
  }
  if (typeof (input as Partial<z.ZodType> | undefined)?.safeParse !== 'function') {
    throw new TypeError(
      `Expected \`input\` of tool "${name}" to be a zod schema such as z.object({ query: z.string() }), got ${describe(input)}`,
    );
  }
  if (typeof parallel !== 'boolean') {
    throw new TypeError(`Expected \`parallel\` of tool "${name}" to be a boolean, got ${describe(parallel)}`);
  }
  expectNumber('durationHint', durationHint, 0);
  expectFunction('run', run);
  return Object.freeze({
    name,
    ...(description === undefined ? {} : { description }),
    input: input as z.ZodType<z.output<S>>,
    parallel,
    durationHint,
    run,
  });
}

/**
 * Runs a tool as an Observable of exactly one value (or an error). The signal aborts when the subscriber
 * leaves before the run has ended, so cancellation reaches fetches and SDK calls inside the tool.
 */
export function runTool(tool: Tool, args: unknown): Observable<unknown> {
  return withSignal((signal) => {
    const output = tool.run(args, { signal });
    if (!isStream(output)) return of(output);
    // An agent run's deltas and usage are progress; its `done` text is the result.
    return from(output).pipe(
      reduce<unknown, unknown>((last, value) => {
        if (!isAgentEvent(value)) return value;
        return value.type === 'done' ? value.text : last;
      }, undefined),
    );
  });
}

// Strings and arrays are ObservableInput too, but a tool returning one means the value itself.
function isStream(value: unknown): value is ObservableInput<unknown> {
  if (isObservable(value)) return true;
  if (typeof value !== 'object' || value === null) return false;
  return (
    typeof (value as { then?: unknown }).then === 'function' ||
    typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
  );
}

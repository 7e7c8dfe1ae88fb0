import { z } from 'zod';
import { RxAgentError, type ErrorFields } from './rx-agent-error.js';

/** The `info` of a {@link DuplicateIdError}. */
export interface DuplicateIdInfo {
  /** What kind of id: a task's, a plan node's, or a tool call's. */
  readonly kind: 'task' | 'node' | 'tool-call';
  /** The id used twice (the first of them, when the gateway refused several at once). */
  readonly id: string;
  /** `toRedisStream`: the task entries that reused the id. */
  readonly entries?: readonly string[];
  /** `toRedisStream`: the results-stream entry that already holds a result for the id. */
  readonly resultId?: string;
  /** `toRedisStream`: the task entries that result came from. */
  readonly firstEntries?: readonly string[];
  /** `fromJsonl`: the line that reused the id. */
  readonly line?: number;
  /** `fromJsonl`: the line that used the id first, and keeps it. */
  readonly firstLine?: number;
}

/** @internal What `errorFromJSON` checks a duplicate id's `info` against. */
export const DuplicateIdInfoSchema: z.ZodType<DuplicateIdInfo> = z.object({
  kind: z.enum(['task', 'node', 'tool-call']),
  id: z.string(),
  entries: z.array(z.string()).exactOptional(),
  resultId: z.string().exactOptional(),
  firstEntries: z.array(z.string()).exactOptional(),
  line: z.number().exactOptional(),
  firstLine: z.number().exactOptional(),
});

const FIRST: { readonly [K in DuplicateIdInfo['kind']]: (info: DuplicateIdInfo) => string } = {
  task: ({ id, line, firstLine }) =>
    line === undefined || firstLine === undefined
      ? `Task id "${id}" is already in use`
      : `Task id "${id}" (line ${line}) is already used by line ${firstLine}; the line was not run`,
  node: ({ id }) => `Duplicate plan node id "${id}"; the first node keeps it`,
  'tool-call': ({ id }) => `Duplicate tool call id "${id}"`,
};

/**
 * An id already in use: a plan node or tool call reusing an earlier one's id (the later one is rejected), a
 * task id still pending in an `AgentPool`, active in the gateway, or with a live result in `toRedisStream`, or
 * a line of a `fromJsonl` file reusing an earlier line's id (the later line is not run).
 *
 * @example
 * if (error instanceof DuplicateIdError) console.log(`${error.info.kind} id ${error.info.id} used twice`);
 */
export class DuplicateIdError extends RxAgentError<DuplicateIdInfo> {
  override readonly name = 'DuplicateIdError';
  override readonly code = 'E_DUPLICATE_ID';
  constructor({ message, cause, ...info }: DuplicateIdInfo & ErrorFields) {
    super({ info, message: message ?? FIRST[info.kind](info), cause, retryable: false });
  }
}

import { RxAgentError } from '../core/errors.js';

// Info shapes are type aliases, not interfaces, so they fit `RxAgentError`'s default `Record<string, unknown>`.

/** The `info` of a {@link DependencyFailedError}. */
export type DependencyFailedInfo = {
  /** The node that was skipped. */
  readonly nodeId: string;
  /** Its direct dependency that did not fulfil. */
  readonly dependency: string;
  /** The node whose own failure started the chain (equal to `dependency` for a direct failure). */
  readonly failed: string;
};

/**
 * A plan node was not run because a node it depends on failed.
 *
 * @example
 * if (result.status === 'rejected' && result.error instanceof DependencyFailedError) {
 *   console.log(`${result.error.info.nodeId} skipped: ${result.error.info.failed} failed`);
 * }
 */
export class DependencyFailedError extends RxAgentError<DependencyFailedInfo> {
  override readonly name = 'DependencyFailedError';
  constructor(message: string, info: DependencyFailedInfo, cause?: unknown) {
    super('E_DEPENDENCY_FAILED', message, { info, cause });
  }
}

/** The `info` of a {@link CycleError}. */
export type CycleInfo = {
  /** The node rejected. */
  readonly nodeId: string;
  /** Every node of the cycle (a strongly connected group), in arrival order. */
  readonly cycle: readonly string[];
};

/**
 * A plan node depends on itself, directly or through other nodes; nothing in the cycle runs.
 *
 * @example
 * if (error instanceof CycleError) console.log(`cycle: ${error.info.cycle.join(' → ')}`);
 */
export class CycleError extends RxAgentError<CycleInfo> {
  override readonly name = 'CycleError';
  constructor(message: string, info: CycleInfo) {
    super('E_CYCLE', message, { info });
  }
}

/** The `info` of a {@link MissingDependencyError}. */
export type MissingDependencyInfo = {
  /** The node rejected. */
  readonly nodeId: string;
  /** Ids the node refers to that never arrived before the plan completed. */
  readonly missing: readonly string[];
};

/**
 * A plan node refers to ids that are not in the plan.
 *
 * @example
 * if (error instanceof MissingDependencyError) console.log(`missing: ${error.info.missing.join(', ')}`);
 */
export class MissingDependencyError extends RxAgentError<MissingDependencyInfo> {
  override readonly name = 'MissingDependencyError';
  constructor(message: string, info: MissingDependencyInfo) {
    super('E_MISSING_DEPENDENCY', message, { info });
  }
}

/** The `info` of a {@link DuplicateIdError}. */
export type DuplicateIdInfo = {
  /** The id used twice. */
  readonly nodeId: string;
};

/**
 * A plan node reused an id that an earlier node already has; the later node is the one rejected.
 *
 * @example
 * if (error instanceof DuplicateIdError) console.log(`id ${error.info.nodeId} used twice`);
 */
export class DuplicateIdError extends RxAgentError<DuplicateIdInfo> {
  override readonly name = 'DuplicateIdError';
  constructor(message: string, info: DuplicateIdInfo) {
    super('E_DUPLICATE_ID', message, { info });
  }
}

/** The `info` of an {@link UnknownToolError}. */
export type UnknownToolInfo = {
  /** The node rejected. */
  readonly nodeId: string;
  /** The tool name it asked for. */
  readonly tool: string;
  /** The tool names that were available. */
  readonly known: readonly string[];
};

/**
 * A plan node (or a model's tool call) names a tool that was not given.
 *
 * @example
 * if (error instanceof UnknownToolError) {
 *   console.log(`no tool ${error.info.tool}; known: ${error.info.known.join(', ')}`);
 * }
 */
export class UnknownToolError extends RxAgentError<UnknownToolInfo> {
  override readonly name = 'UnknownToolError';
  constructor(message: string, info: UnknownToolInfo) {
    super('E_UNKNOWN_TOOL', message, { info });
  }
}

/** The `info` of a {@link MaxStepsError}. */
export type MaxStepsInfo = {
  /** The task the loop ran. */
  readonly taskId: string;
  /** The limit that was reached. */
  readonly maxSteps: number;
  /** The tools the model still asked for in its last step. */
  readonly pendingTools: readonly string[];
};

/**
 * `agentLoop` reached `maxSteps` model calls without a final answer.
 *
 * @example
 * if (error instanceof MaxStepsError) console.log(`still wanted ${error.info.pendingTools.join(', ')}`);
 */
export class MaxStepsError extends RxAgentError<MaxStepsInfo> {
  override readonly name = 'MaxStepsError';
  constructor(message: string, info: MaxStepsInfo) {
    super('E_MAX_STEPS', message, { info });
  }
}

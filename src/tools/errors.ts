import { RxAgentError } from '../core/errors.js';

// Info shapes are type aliases, not interfaces, so they fit `RxAgentError`'s default `Record<string, unknown>`.

export type DependencyFailedInfo = {
  /** The node that was skipped. */
  readonly nodeId: string;
  /** Its direct dependency that did not fulfil. */
  readonly dependency: string;
  /** The node whose own failure started the chain (equal to `dependency` for a direct failure). */
  readonly failed: string;
};

/** A plan node was not run because a node it depends on failed. */
export class DependencyFailedError extends RxAgentError<DependencyFailedInfo> {
  override readonly name = 'DependencyFailedError';
  constructor(message: string, info: DependencyFailedInfo, cause?: unknown) {
    super('E_DEPENDENCY_FAILED', message, { info, cause });
  }
}

export type CycleInfo = {
  readonly nodeId: string;
  /** Every node of the cycle (a strongly connected group), in arrival order. */
  readonly cycle: readonly string[];
};

/** A plan node depends on itself, directly or through other nodes; nothing in the cycle runs. */
export class CycleError extends RxAgentError<CycleInfo> {
  override readonly name = 'CycleError';
  constructor(message: string, info: CycleInfo) {
    super('E_CYCLE', message, { info });
  }
}

export type MissingDependencyInfo = {
  readonly nodeId: string;
  /** Ids the node refers to that never arrived before the plan completed. */
  readonly missing: readonly string[];
};

/** A plan node refers to ids that are not in the plan. */
export class MissingDependencyError extends RxAgentError<MissingDependencyInfo> {
  override readonly name = 'MissingDependencyError';
  constructor(message: string, info: MissingDependencyInfo) {
    super('E_MISSING_DEPENDENCY', message, { info });
  }
}

export type DuplicateIdInfo = {
  readonly nodeId: string;
};

/** A plan node reused an id that an earlier node already has; the later node is the one rejected. */
export class DuplicateIdError extends RxAgentError<DuplicateIdInfo> {
  override readonly name = 'DuplicateIdError';
  constructor(message: string, info: DuplicateIdInfo) {
    super('E_DUPLICATE_ID', message, { info });
  }
}

export type UnknownToolInfo = {
  readonly nodeId: string;
  readonly tool: string;
  /** The tool names that were available. */
  readonly known: readonly string[];
};

/** A plan node (or a model's tool call) names a tool that was not given. */
export class UnknownToolError extends RxAgentError<UnknownToolInfo> {
  override readonly name = 'UnknownToolError';
  constructor(message: string, info: UnknownToolInfo) {
    super('E_UNKNOWN_TOOL', message, { info });
  }
}

export type MaxStepsInfo = {
  readonly taskId: string;
  readonly maxSteps: number;
  /** The tools the model still asked for in its last step. */
  readonly pendingTools: readonly string[];
};

/** `agentLoop` reached `maxSteps` model calls without a final answer. */
export class MaxStepsError extends RxAgentError<MaxStepsInfo> {
  override readonly name = 'MaxStepsError';
  constructor(message: string, info: MaxStepsInfo) {
    super('E_MAX_STEPS', message, { info });
  }
}

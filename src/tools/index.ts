export { defineTool } from './define-tool.js';
export type { Tool, ToolContext, ToolDefinition } from './define-tool.js';
export { PlanNodeSchema, parsePlan } from './plan.js';
export type { PlanNode } from './plan.js';
export {
  CycleError,
  DependencyFailedError,
  DuplicateIdError,
  MaxStepsError,
  MissingDependencyError,
  UnknownToolError,
} from './errors.js';
export type {
  CycleInfo,
  DependencyFailedInfo,
  DuplicateIdInfo,
  MaxStepsInfo,
  MissingDependencyInfo,
  UnknownToolInfo,
} from './errors.js';

export { defineTool } from './define-tool.js';
export type { Tool, ToolContext, ToolDefinition } from './define-tool.js';
export { PlanNodeSchema, parsePlan } from './plan.js';
export type { PlanNode } from './plan.js';

export { openaiModel } from './openai.js';
export type { OpenAIModelConfig } from './openai.js';
export { DEFAULT_ANTHROPIC_MODEL, DEFAULT_OPENAI_MODEL, defaultAgent } from './default-agent.js';
export type {
  AnthropicChoice,
  DefaultAgent,
  DefaultAgentOptions,
  OpenAIChoice,
  SimulatedChoice,
} from './default-agent.js';
export { openaiBatch } from './openai-batch.js';
export type { OpenAIBatchConfig } from './openai-batch.js';
export { openaiBatchStatus } from './batch-status.js';
export type { BatchReport, OpenAIBatchStatusConfig } from './batch-status.js';

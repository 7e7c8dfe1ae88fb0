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

export { anthropicModel, DEFAULT_ANTHROPIC_MAX_TOKENS } from './anthropic.js';
export type { AnthropicModelConfig } from './anthropic.js';

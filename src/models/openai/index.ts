export { openaiModel } from './openai.js';
export type { OpenAIModelConfig } from './openai.js';
export { DEFAULT_OPENAI_MODEL, defaultAgent } from './default-agent.js';
export type { DefaultAgent, DefaultAgentOptions, OpenAIChoice, SimulatedChoice } from './default-agent.js';

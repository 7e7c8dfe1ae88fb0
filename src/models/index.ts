export { DEFAULT_OPENAI_MODEL, defaultAgent } from './default-agent.js';
export type { DefaultAgent, DefaultAgentOptions, OpenAIChoice, SimulatedChoice } from './default-agent.js';
export { openaiModel } from './openai.js';
export type { OpenAIModelConfig } from './openai.js';
export { simulatedModel } from './simulated.js';
export type {
  AdmittedRequest,
  SimulatedAgent,
  SimulatedFailures,
  SimulatedFault,
  SimulatedLatency,
  SimulatedModelConfig,
  SimulatedRateLimit,
  SimulatedStats,
  SimulatedToolScript,
} from './simulated.js';

export { aiSdkModel } from './ai-sdk.js';
export type { AiSdkAgent, AiSdkLanguageModel, AiSdkModelConfig } from './ai-sdk.js';

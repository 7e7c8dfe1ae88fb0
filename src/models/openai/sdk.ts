import type * as OpenAISdk from 'openai';
import type * as OpenAIErrors from './openai-errors.js';

/** The `openai` SDK (an optional peer dependency) and the error mapping that needs its classes at run time. */
export interface Sdk {
  readonly OpenAI: typeof OpenAISdk.OpenAI;
  readonly APIError: typeof OpenAISdk.APIError;
  readonly toFile: typeof OpenAISdk.toFile;
  readonly errors: typeof OpenAIErrors;
}

let loading: Promise<Sdk> | undefined;

/**
 * Loads the SDK on the first run of any `openaiModel`, so that importing `rxagent/openai` (and the CLI's
 * offline commands) costs nothing when no run reaches a provider. Imported, not required: the SDK ships
 * separate CommonJS and ESM builds, and its error classes must be the ones the caller's client throws.
 */
export function loadSdk(): Promise<Sdk> {
  loading ??= Promise.all([import('openai'), import('./openai-errors.js')]).then(([sdk, errors]) => ({
    OpenAI: sdk.OpenAI,
    APIError: sdk.APIError,
    toFile: sdk.toFile,
    errors,
  }));
  return loading;
}

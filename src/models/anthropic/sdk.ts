import type * as AnthropicSdk from '@anthropic-ai/sdk';
import type * as AnthropicErrors from './anthropic-errors.js';

/** `@anthropic-ai/sdk` (an optional peer dependency) and the error mapping that needs its classes at run time. */
export interface Sdk {
  readonly Anthropic: typeof AnthropicSdk.Anthropic;
  readonly APIError: typeof AnthropicSdk.APIError;
  readonly errors: typeof AnthropicErrors;
}

let loading: Promise<Sdk> | undefined;

/**
 * Loads the SDK on the first run of any `anthropicModel`, so that importing `rxagent/anthropic` costs nothing
 * when no run reaches the provider. Imported, not required: the SDK ships separate CommonJS and ESM builds,
 * and its error classes must be the ones the caller's client throws.
 */
export function loadSdk(): Promise<Sdk> {
  loading ??= Promise.all([import('@anthropic-ai/sdk'), import('./anthropic-errors.js')]).then(
    ([sdk, errors]) => ({ Anthropic: sdk.Anthropic, APIError: sdk.APIError, errors }),
  );
  return loading;
}

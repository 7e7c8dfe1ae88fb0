import { ProviderError } from '../core/errors/index.js';

// The failures every streaming model meets the same way, whichever SDK reads the stream: a connection that
// could not be made or timed out, a chunk that is not JSON, a stream cut or ended early. This file loads no
// SDK, so each model's error mapping keeps only what its SDK says differently.

/** What a run had seen when it failed, so the error can say what was received. */
export interface StreamProgress {
  /** Chunks (or events, or parts) received before the failure. */
  readonly chunks: number;
  /** Text streamed before the failure. */
  readonly partialText: string;
}

/** `12 chunks (340 characters of text)`, naming what the stream is made of. */
export function received(progress: StreamProgress, unit = 'chunk'): string {
  return `${progress.chunks} ${unit}${progress.chunks === 1 ? '' : 's'} (${progress.partialText.length} characters of text)`;
}

/** An error's message with its causes': undici hides the useful part ("other side closed", ECONNRESET) there. */
export function connectionMessage(error: Error): string {
  const cause = error.cause instanceof Error ? error.cause : undefined;
  const deeper = cause?.cause instanceof Error ? cause.cause : undefined;
  return [error.message, cause?.message, deeper?.message].filter((m) => m !== undefined).join(': ');
}

/** A request that timed out or could not reach the provider: retryable, keeping what streamed before. */
export function transportError(
  kind: 'timeout' | 'connection',
  error: Error,
  progress: StreamProgress,
): ProviderError {
  return new ProviderError({
    type: kind,
    ...(progress.chunks > 0 ? { partialText: progress.partialText } : {}),
    message:
      kind === 'timeout'
        ? `Provider request timed out: ${error.message}`
        : `Could not reach the provider: ${connectionMessage(error)}`,
    cause: error,
  });
}

/**
 * A stream that broke while being read: a chunk that is not JSON (`malformed_chunk`), else a cut connection
 * (`stream_interrupted`, as undici's bare `TypeError: terminated`); both retryable, keeping the partial text.
 */
export function streamError(error: unknown, progress: StreamProgress, unit = 'chunk'): ProviderError {
  if (error instanceof SyntaxError) {
    return new ProviderError({
      type: 'malformed_chunk',
      chunks: progress.chunks,
      partialText: progress.partialText,
      message: `Provider sent a malformed stream ${unit} after ${received(progress, unit)}: ${error.message}`,
      cause: error,
    });
  }
  const message = error instanceof Error ? connectionMessage(error) : String(error);
  return new ProviderError({
    type: 'stream_interrupted',
    chunks: progress.chunks,
    partialText: progress.partialText,
    message: `Provider stream broke after ${received(progress, unit)}: ${message}`,
    cause: error,
  });
}

/** A stream that ended, without a network error, before the model said it had finished (`missing` names how). */
export function incompleteStreamError(
  progress: StreamProgress,
  missing: string,
  unit = 'chunk',
): ProviderError {
  return new ProviderError({
    type: 'incomplete_stream',
    chunks: progress.chunks,
    partialText: progress.partialText,
    message: `Provider stream ended without ${missing} after ${received(progress, unit)}`,
  });
}

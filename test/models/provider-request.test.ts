// One controller per provider request: aborted by the run's signal or an early unsubscribe, never after the
// request ended on its own.
import { describe, expect, it } from 'vitest';
import { providerRequest } from '../../src/models/provider-request.js';

describe('providerRequest', () => {
  it('leaves the signal of a request that ended alone, and aborts one stopped early or by the run', () => {
    const signals: AbortSignal[] = [];
    const run = new AbortController();
    const completing = providerRequest(run, (signal, sink) => {
      signals.push(signal);
      sink.next({ type: 'done', text: 'ok', finishReason: 'stop' });
      sink.complete();
    });
    const seen: string[] = [];
    completing.subscribe({ next: (event) => seen.push(event.type), complete: () => seen.push('complete') });
    expect(seen).toEqual(['done', 'complete']);
    expect(signals[0]?.aborted).toBe(false);

    const hanging = providerRequest(run, (signal) => {
      signals.push(signal);
    });
    hanging.subscribe().unsubscribe();
    expect(signals[1]?.aborted).toBe(true);

    hanging.subscribe();
    run.abort('run cancelled');
    expect(signals[2]?.reason).toBe('run cancelled');
    // A run already aborted starts its request aborted.
    hanging.subscribe();
    expect(signals[3]?.aborted).toBe(true);
  });
});

import type { RunContext } from './types.js';

/**
 * Where a run's request stands: `'waiting'` while the run holds it back (for a budget's grant, for a
 * deployment to come back from a cooldown), `'sent'` once it goes out to the provider.
 *
 * @internal
 */
export type RequestPhase = 'waiting' | 'sent';

// Keyed by the context a run was given, so the public `RunContext` stays `{ signal }`: only code that both
// ends of a run belong to (the pool's hedging, `runAgents`' worker, the router) speaks this.
const listeners = new WeakMap<RunContext, (phase: RequestPhase) => void>();

/**
 * Listens to what the run given `context` reports of its request, so that a caller timing the provider (the
 * pool's hedge delay) leaves out the time a request waited before it went out.
 *
 * @internal
 */
export function onRequestPhase(context: RunContext, listener: (phase: RequestPhase) => void): void {
  listeners.set(context, listener);
}

/**
 * Reports a phase of the request of the run given `context`; nothing happens when nobody listens.
 *
 * @internal
 */
export function requestPhase(context: RunContext, phase: RequestPhase): void {
  listeners.get(context)?.(phase);
}

// What a model's run emitted, collected the two ways the model tests read it.
import { lastValueFrom, toArray, type Observable } from 'rxjs';
import type { AgentEvent } from '../../src/core/types.js';

/** Every event of a run that completes. */
export function all(events$: Observable<AgentEvent>): Promise<AgentEvent[]> {
  return lastValueFrom(events$.pipe(toArray()));
}

/** The events of a run that must fail, and its error; a run that completes fails the test. */
export function failure(events$: Observable<AgentEvent>): Promise<{ events: AgentEvent[]; error: unknown }> {
  const events: AgentEvent[] = [];
  return new Promise((resolve, reject) => {
    events$.subscribe({
      next: (event) => events.push(event),
      error: (error: unknown) => {
        resolve({ events, error });
      },
      complete: () => {
        reject(new Error(`expected an error, got ${JSON.stringify(events)}`));
      },
    });
  });
}

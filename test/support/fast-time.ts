import { Subscription, asyncScheduler, type SchedulerAction, type SchedulerLike } from 'rxjs';

/**
 * Real time sped up `factor` times, so a provider's minute passes in a fraction of a second. A test server's
 * clock and a budget's scheduler can share it, so every figure in the headers means the same on both sides.
 * `origin` moves the clock's zero, for headers that carry dates rather than durations.
 *
 * @example
 * const time = fastTime(100);
 * createBudget({ requestsPerMinute: 10, scheduler: time.scheduler }); // a minute passes in 0.6 s
 */
export function fastTime(factor: number, origin = 0): { now: () => number; scheduler: SchedulerLike } {
  const now = (): number => origin + performance.now() * factor;
  const scheduler: SchedulerLike = {
    now,
    schedule<T>(work: (this: SchedulerAction<T>, state?: T) => void, delay = 0, state?: T): Subscription {
      const all = new Subscription();
      const plan = (current: T | undefined, after: number): Subscription => {
        const action = new Subscription() as SchedulerAction<T>;
        action.schedule = (next?: T, nextDelay = 0) => plan(next, nextDelay);
        const timer = asyncScheduler.schedule(() => {
          all.remove(action);
          work.call(action, current);
        }, after / factor);
        action.add(timer);
        all.add(action);
        return action;
      };
      plan(state, delay);
      return all;
    },
  };
  return { now, scheduler };
}

// Every Redis key rxagent writes is named here: the budget store's keys under its prefix, and the done-marker
// the results sink keeps beside a results stream.

/** The prefix of `redisStore`'s keys when its config names none. */
export const DEFAULT_BUDGET_PREFIX = 'rxagent:budget:';

/**
 * The keys of one budget, in the order its scripts take them (`KEYS[1..9]`): state hash, open runs hash,
 * audit stream, the sliding logs of tokens, requests and cost, the hash of what each reservation holds in
 * those logs, and the sliding logs of input and output tokens. The budget key is a hash tag (`{key}`), so
 * one budget's keys share a cluster slot.
 */
export function budgetKeys(
  prefix: string,
  key: string,
): readonly [
  state: string,
  open: string,
  audit: string,
  tokens: string,
  requests: string,
  cost: string,
  held: string,
  inputTokens: string,
  outputTokens: string,
] {
  const base = `${prefix}{${key}}`;
  return [
    `${base}:state`,
    `${base}:open`,
    `${base}:audit`,
    `${base}:log:tokens`,
    `${base}:log:requests`,
    `${base}:log:cost`,
    `${base}:held`,
    `${base}:log:inputTokens`,
    `${base}:log:outputTokens`,
  ];
}

/** The hash that marks task `taskId` done on results stream `stream` (fields `result`, `from`, `refused`). */
export function doneMarkerKey(stream: string, taskId: string): string {
  return `${stream}:done:${taskId}`;
}

import type { AgentEvent, Task } from './types.js';

const AGENT_EVENT_TYPES = new Set([
  'delta',
  'tool-calls',
  'usage',
  'rate-limits',
  'retry',
  'route',
  'admitted',
  'done',
]);

/**
 * Tells an `AgentEvent` from any other value a worker may emit, by its `type`.
 *
 * @example
 * worker$.pipe(filter((value) => !isAgentEvent(value)));
 */
export function isAgentEvent(value: unknown): value is AgentEvent {
  return (
    typeof value === 'object' &&
    value !== null &&
    AGENT_EVENT_TYPES.has((value as { type?: unknown }).type as string)
  );
}

/**
 * The text of a task's input: the prompt, or the conversation's messages joined by newlines.
 *
 * @example
 * textOf({ input: 'Hi' }); // 'Hi'
 * textOf({ input: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }] });
 * // 'Be brief.\nHi'
 */
export function textOf(task: Pick<Task, 'input'>): string {
  return typeof task.input === 'string' ? task.input : task.input.map((m) => m.content).join('\n');
}

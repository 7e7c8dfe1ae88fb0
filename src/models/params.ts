import { ValidationError } from '../core/errors/index.js';
import type { Task, TaskParams } from '../core/types.js';

/** The names of the per-task parameters, for models to say which they honour. */
export type ParamName = keyof TaskParams;

/**
 * The `ValidationError` for a task whose `params` ask for something the model cannot honour, or
 * `undefined` when it can honour all of them: a parameter is never silently dropped.
 *
 * @example
 * const refused = unsupportedParams(task, ['model', 'temperature'], 'simulatedModel');
 * if (refused !== undefined) return throwError(() => refused);
 */
export function unsupportedParams(
  task: Task,
  supported: readonly ParamName[],
  model: string,
): ValidationError | undefined {
  const params = task.params;
  if (params === undefined) return undefined;
  const refused = (Object.keys(params) as ParamName[]).filter(
    (name) => params[name] !== undefined && !supported.includes(name),
  );
  if (refused.length === 0) return undefined;
  const list = refused.map((name) => `\`${name}\``).join(', ');
  return new ValidationError({
    issues: refused.map((name) => ({
      code: 'custom',
      path: ['params', name],
      message: `${model} cannot honour \`params.${name}\``,
    })),
    source: model,
    message: `Task "${task.id}" asks for ${list}, which ${model} cannot honour; it supports ${supported.map((n) => `\`${n}\``).join(', ') || 'no parameters'}`,
  });
}

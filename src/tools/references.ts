import type { core } from 'zod';

// `$id` as a whole string, and `${id}` / `${id.path.0}` / `${id.items[0]}` anywhere in a string.
const WHOLE = /^\$([\w-]+)$/;
const TEMPLATE = /\$\{([\w-]+)((?:\.[\w-]+|\[\d+\])*)\}/g;
const EXACT_TEMPLATE = /^\$\{([\w-]+)((?:\.[\w-]+|\[\d+\])*)\}$/;

/** The ids that `args` refers to with `$id` or `${id.path}`, searched deeply through arrays and objects. */
export function findReferences(args: unknown, into: Set<string> = new Set()): Set<string> {
  if (typeof args === 'string') {
    const whole = WHOLE.exec(args);
    if (whole !== null) into.add(whole[1] as string);
    for (const match of args.matchAll(TEMPLATE)) into.add(match[1] as string);
  } else if (Array.isArray(args)) {
    for (const item of args) findReferences(item, into);
  } else if (isPlainObject(args)) {
    for (const value of Object.values(args)) findReferences(value, into);
  }
  return into;
}

export type Substituted =
  | { readonly success: true; readonly data: unknown }
  | { readonly success: false; readonly issues: core.$ZodIssue[] };

/**
 * Replaces references in `args` with the results of the nodes they name: `$id` and an exact `${id.path}` by
 * the value itself, `${id.path}` inside a longer string by its text (JSON for objects). A path that leads
 * nowhere is an issue rather than `undefined`, so a typo in a plan is reported, not passed to a tool.
 */
export function substitute(args: unknown, results: ReadonlyMap<string, unknown>): Substituted {
  const issues: core.$ZodIssue[] = [];
  const data = walk(args, [], results, issues);
  return issues.length === 0 ? { success: true, data } : { success: false, issues };
}

function walk(
  value: unknown,
  path: PropertyKey[],
  results: ReadonlyMap<string, unknown>,
  issues: core.$ZodIssue[],
): unknown {
  if (typeof value === 'string') return replaceString(value, path, results, issues);
  if (Array.isArray(value)) return value.map((item, i) => walk(item, [...path, i], results, issues));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = walk(item, [...path, key], results, issues);
    return out;
  }
  return value;
}

function replaceString(
  text: string,
  path: PropertyKey[],
  results: ReadonlyMap<string, unknown>,
  issues: core.$ZodIssue[],
): unknown {
  const whole = WHOLE.exec(text) ?? EXACT_TEMPLATE.exec(text);
  if (whole !== null) return lookUp(text, whole[1] as string, whole[2] ?? '', path, results, issues);
  return text.replace(TEMPLATE, (match, id: string, segments: string) => {
    const found = lookUp(match, id, segments, path, results, issues);
    return typeof found === 'string' ? found : JSON.stringify(found);
  });
}

function lookUp(
  reference: string,
  id: string,
  segments: string,
  path: PropertyKey[],
  results: ReadonlyMap<string, unknown>,
  issues: core.$ZodIssue[],
): unknown {
  let current = results.get(id);
  for (const key of segments.match(/[\w-]+/g) ?? []) {
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, key)) {
      issues.push({
        code: 'custom',
        path,
        input: reference,
        message: `\`${reference}\` leads nowhere: the result of "${id}" has no \`${key}\` at that point`,
      });
      return undefined;
    }
    current = (current as Record<string, unknown>)[key];
  }
  if (current === undefined) {
    issues.push({
      code: 'custom',
      path,
      input: reference,
      message: `\`${reference}\` is undefined: node "${id}" produced no value`,
    });
  }
  return current;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

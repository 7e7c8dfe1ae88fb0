import { z } from 'zod';
import type { core } from 'zod';
import { ValidationError } from '../core/errors/index.js';
import { describe } from '../core/validate.js';
import type { ParseResult } from '../core/schemas.js';
import type { Tool } from './define-tool.js';

/**
 * One call in a plan. It depends on the ids in `dependsOn` and on every id its `args` refer to: a string
 * that is exactly `$id` becomes that node's result, an exact `${id.path}` the value at the path, and
 * `${id.path}` inside a longer string is replaced by its text (JSON for objects). Referable ids are made of
 * letters, digits, `_` and `-`; other ids can still be depended on through `dependsOn`.
 */
export interface PlanNode {
  /** Names the node in events and in other nodes' references; unique within a plan. */
  readonly id: string;
  /** The name of the tool that runs it. */
  readonly tool: string;
  /** The tool's arguments, references included; checked by the tool's schema once they are replaced. */
  readonly args: Readonly<Record<string, unknown>>;
  /** Ids to wait for besides those `args` refer to. @defaultValue none: only the references */
  readonly dependsOn?: readonly string[];
}

/** A plan node arriving from outside (model output, JSON). Unknown keys are refused, so `depends_on` is caught. */
export const PlanNodeSchema = z.strictObject({
  id: z.string().min(1).max(256),
  tool: z.string().min(1),
  args: z.record(z.string(), z.unknown()),
  dependsOn: z.array(z.string().min(1)).exactOptional(),
});

type Assignable<A extends B, B> = A;
export type _PlanNodeMatches = Assignable<z.infer<typeof PlanNodeSchema>, PlanNode>;

/**
 * Parses an LLMCompiler-style numbered plan into nodes:
 * `1. search("a")`, `2. search(query="b")`, `3. summarize($1, $2)`. Ids are the numbers; `$1` (also inside
 * string literals) refers to a result; literals are strings (double or single quotes), numbers, `true` /
 * `false` / `null` (also `True` / `False` / `None`), lists and JSON objects. An argument list that cannot be
 * read that way and does not start like one (a quote, `[`, `{` or `name=`) is bare text, as LLMCompiler's own
 * planner examples write it (`5. search(Austin Powers International Man of Mystery)`): as LLMCompiler does,
 * the whole text, commas included, becomes one string argument, `$1` in it a reference as in a string
 * literal; its parentheses and brackets must still balance. With `tools`, positional arguments take the keys
 * of each tool's `z.object` schema in order and unknown tools are reported; without, they are keyed `'0'`,
 * `'1'`, …. A closing `join()` is LLMCompiler's "hand back to the model" marker, so it is dropped unless a
 * tool named `join` is given. Lines that do not start with a number (thoughts, prose,
 * `<END_OF_PLAN>`) are skipped. Malformed calls are an expected outcome: the result is
 * `{ success: false, error: ValidationError }` with one issue per bad line.
 *
 * @example
 * const parsed = parsePlan('1. search("a")\n2. search("b")\n3. summarize($1, $2)', [search, summarize]);
 * if (parsed.success) runPlan(parsed.data, [search, summarize]).subscribe(console.log);
 */
export function parsePlan(text: string, tools?: readonly Tool[]): ParseResult<PlanNode[]> {
  if (typeof text !== 'string') {
    throw new TypeError(`Expected \`text\` to be the plan as a string, got ${describe(text)}`);
  }
  const byName = tools === undefined ? undefined : new Map(tools.map((t) => [t.name, t]));
  const nodes: PlanNode[] = [];
  const issues: core.$ZodIssue[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.replace(/<END_OF_PLAN>/g, '').trim();
    const head = /^\$?(\d+)\s*[.):=]?\s*/.exec(line);
    if (head === null) return;
    const fail = (message: string): void => {
      issues.push({ code: 'custom', path: [index], input: raw, message: `line ${index + 1}: ${message}` });
    };
    const id = head[1] as string;
    const call = /^([A-Za-z_][\w.-]*)\s*\(([\s\S]*)$/.exec(line.slice(head[0].length));
    if (call === null) {
      fail(`expected a call like \`${id}. search("a")\`, got \`${line}\``);
      return;
    }
    const inside = /^([\s\S]*)\)\s*$/.exec(call[2] as string);
    if (inside === null) {
      fail(`unbalanced parentheses: \`${line}\` does not end with \`)\``);
      return;
    }
    const name = call[1] as string;
    const tool = byName?.get(name);
    if (name === 'join' && tool === undefined) return;
    if (byName !== undefined && tool === undefined) {
      fail(`unknown tool "${name}" (known: ${[...byName.keys()].join(', ')})`);
      return;
    }
    let parsed: ParsedArgs;
    try {
      parsed = readArguments(inside[1] as string);
    } catch (error) {
      fail((error as Error).message);
      return;
    }
    const keys = tool === undefined ? undefined : objectKeys(tool);
    const args: Record<string, unknown> = {};
    for (const [i, value] of parsed.positional.entries()) {
      const key = keys === undefined ? String(i) : keys[i];
      if (key === undefined) {
        fail(`${name} takes ${keys?.length ?? 0} argument(s), got ${parsed.positional.length}`);
        return;
      }
      args[key] = value;
    }
    Object.assign(args, parsed.named);
    nodes.push({ id, tool: name, args });
  });
  if (issues.length === 0) return { success: true, data: nodes };
  return {
    success: false,
    error: new ValidationError({
      issues,
      message: `Invalid plan: ${issues.map((i) => i.message).join('; ')}`,
    }),
  };
}

function objectKeys(tool: Tool): readonly string[] | undefined {
  const shape = (tool.input as { shape?: unknown }).shape;
  return typeof shape === 'object' && shape !== null ? Object.keys(shape) : undefined;
}

interface ParsedArgs {
  readonly positional: unknown[];
  readonly named: Record<string, unknown>;
}

/** The argument list as literals if it reads as such, else as one bare string; throws for the issue. */
function readArguments(source: string): ParsedArgs {
  try {
    return parseArguments(source);
  } catch (error) {
    const text = source.trim();
    // Text that starts like a literal or a keyword argument was meant as one: its error is the useful one.
    if (/^["'[{]/.test(text) || /^[A-Za-z_]\w*\s*=(?!=)/.test(text)) throw error;
    const unbalanced = unbalancedBracket(text);
    if (unbalanced !== undefined) throw new Error(`unbalanced \`${unbalanced}\` in \`${text}\``);
    return { positional: [interpolate(text)], named: {} };
  }
}

/**
 * The first bracket of bare text that is not matched, if any. Quotes are not tracked: in bare text they are
 * as likely apostrophes (`Ocean's Eleven`) as string delimiters.
 */
function unbalancedBracket(text: string): string | undefined {
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  const open: string[] = [];
  for (const char of text) {
    if (char === '(' || char === '[' || char === '{') open.push(char);
    else if (char in pairs && open.pop() !== pairs[char]) return char;
  }
  return open[0];
}

// A small recursive-descent reader for the argument list; it throws Error with a message for the issue.
function parseArguments(source: string): ParsedArgs {
  let at = 0;
  const positional: unknown[] = [];
  const named: Record<string, unknown> = {};
  const skip = (): void => {
    while (at < source.length && /\s/.test(source.charAt(at))) at++;
  };
  const expect = (char: string): void => {
    skip();
    if (source.charAt(at) !== char)
      throw new Error(`expected \`${char}\` at column ${at + 1} of \`${source}\``);
    at++;
  };
  const list = (close: string, item: () => void): void => {
    skip();
    if (source.charAt(at) === close) return;
    for (;;) {
      item();
      skip();
      if (source.charAt(at) !== ',') return;
      at++;
      skip();
      if (source.charAt(at) === close) return;
    }
  };
  const value = (): unknown => {
    skip();
    const rest = source.slice(at);
    const char = source.charAt(at);
    if (char === '"' || char === "'") return interpolate(quoted(char));
    if (char === '[') {
      at++;
      const items: unknown[] = [];
      list(']', () => items.push(value()));
      expect(']');
      return items;
    }
    if (char === '{') {
      at++;
      const object: Record<string, unknown> = {};
      list('}', () => {
        skip();
        const key =
          source.charAt(at) === '"' || source.charAt(at) === "'" ? quoted(source.charAt(at)) : word();
        expect(':');
        object[key] = value();
      });
      expect('}');
      return object;
    }
    const token =
      /^(?:\$\{\w+\}|\$\w+|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null|True|False|None)/.exec(rest);
    if (token === null) throw new Error(`cannot read a value at \`${rest}\``);
    at += token[0].length;
    const literals: Record<string, unknown> = { true: true, True: true, false: false, False: false };
    if (token[0] in literals) return literals[token[0]];
    if (token[0] === 'null' || token[0] === 'None') return null;
    if (token[0].startsWith('$')) return token[0].startsWith('${') ? `$${token[0].slice(2, -1)}` : token[0];
    return Number(token[0]);
  };
  const word = (): string => {
    const match = /^[A-Za-z_]\w*/.exec(source.slice(at));
    if (match === null) throw new Error(`expected a name at \`${source.slice(at)}\``);
    at += match[0].length;
    return match[0];
  };
  const quoted = (quote: string): string => {
    let out = '';
    at++;
    while (at < source.length && source.charAt(at) !== quote) {
      if (source.charAt(at) === '\\') {
        at++;
        const escaped = source.charAt(at);
        out += ({ n: '\n', t: '\t', r: '\r' } as Record<string, string>)[escaped] ?? escaped;
      } else {
        out += source.charAt(at);
      }
      at++;
    }
    if (at >= source.length) throw new Error(`unterminated string in \`${source}\``);
    at++;
    return out;
  };
  list('\u0000', () => {
    skip();
    const keyword = /^([A-Za-z_]\w*)\s*=(?!=)/.exec(source.slice(at));
    if (keyword === null) {
      positional.push(value());
      return;
    }
    at += keyword[0].length;
    named[keyword[1] as string] = value();
  });
  skip();
  if (at < source.length) throw new Error(`unexpected \`${source.slice(at)}\` in the arguments`);
  return { positional, named };
}

// LLMCompiler writes `"about $1"`; dag interpolates `${1}`. A string that is only `$1` stays whole.
function interpolate(text: string): string {
  return /^\$\d+$/.test(text) ? text : text.replace(/\$(\d+)\b/g, '$${$1}');
}

// The layers of src/ point one way (DESIGN §9): core ← budget, models, tools, wire ← operators, sources, sinks,
// redis ← router, server ← cli. This test reads every import of src/ with the TypeScript parser and fails on one
// that points the wrong way, or on an SDK imported outside the one folder that may use it.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const src = join(root, 'src');

type Area =
  | 'core'
  | 'budget'
  | 'models'
  | 'tools'
  | 'wire'
  | 'operators'
  | 'sources'
  | 'sinks'
  | 'redis'
  | 'router'
  | 'server'
  | 'testing'
  | 'cli';

/** What each area may import besides itself. Production code never imports `testing`. */
const MAY_IMPORT: Readonly<Record<Area, readonly Area[]>> = {
  core: [],
  budget: ['core'],
  models: ['core'],
  tools: ['core'],
  wire: ['core'],
  operators: ['core', 'budget', 'tools'],
  sources: ['core', 'wire'],
  sinks: ['core', 'wire'],
  redis: ['core', 'budget'],
  router: ['core', 'budget', 'operators'],
  server: ['core', 'budget', 'tools', 'wire', 'operators', 'sources', 'sinks'],
  testing: ['core'],
  cli: ['core', 'budget', 'models', 'tools', 'wire', 'operators', 'sources', 'sinks', 'router', 'server'],
};

/** Packages only some folders may import: optional peers stay behind their entry point. */
const PACKAGE_HOMES: Readonly<Record<string, readonly string[]>> = {
  openai: ['models/openai/'],
  '@anthropic-ai/sdk': ['models/anthropic/'],
  '@ai-sdk/provider': ['models/ai-sdk/'],
  ioredis: ['redis/'],
  ws: ['wire/', 'server/', 'sources/from-web-socket.ts', 'sinks/to-web-socket.ts'],
  commander: ['cli/'],
  vitest: ['testing/'],
  'gpt-tokenizer': ['budget/estimate.ts'],
  '@pydantic/genai-prices': ['budget/prices.ts'],
  // src/ imports its own files; by its package name it would reach the build in dist/.
  rxagent: [],
};

/** Each provider's SDK and folder: an entry point loads none but its own. */
const PROVIDERS = [
  'openai',
  '@anthropic-ai/sdk',
  '@ai-sdk/provider',
  'models/openai/',
  'models/anthropic/',
  'models/ai-sdk/',
];
const others = (...own: string[]): string[] => PROVIDERS.filter((p) => !own.includes(p));

/** The entry points of package.json `exports`, and what importing each must not load. */
const ENTRIES: Readonly<Record<string, readonly string[]>> = {
  'index.ts': [...PROVIDERS, 'ioredis', 'ws', 'commander', 'server/', 'redis/', 'cli/'],
  // defaultAgent may choose anthropicModel, whose SDK still loads only on its first run.
  'models/openai/index.ts': [
    ...others('models/openai/', 'models/anthropic/'),
    'ioredis',
    'ws',
    'server/',
    'redis/',
  ],
  'models/anthropic/index.ts': [...others('models/anthropic/'), 'ioredis', 'ws', 'server/', 'redis/'],
  'models/ai-sdk/index.ts': [...others('models/ai-sdk/'), 'ioredis', 'ws', 'server/', 'redis/'],
  'server/index.ts': [...PROVIDERS, 'ioredis', 'redis/'],
  'redis/index.ts': [...PROVIDERS, 'ioredis', 'ws', 'server/'],
  'testing/index.ts': [...PROVIDERS, 'ioredis', 'ws', 'server/', 'redis/'],
};

interface Import {
  /** The importing file, relative to src/ with forward slashes. */
  readonly from: string;
  /** A file relative to src/ for a relative import, else the package name. */
  readonly to: string;
  readonly relative: boolean;
  /** False for what is erased from the JavaScript (`import type`, `export type`) or loaded lazily (`import()`). */
  readonly eager: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => file.split(sep).join('/'));
}

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

function importsOf(file: string): Import[] {
  const text = readFileSync(join(src, file), 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const found: Import[] = [];
  const add = (specifier: string, eager: boolean): void => {
    const isRelative = specifier.startsWith('.');
    const to = isRelative
      ? relative(src, resolve(dirname(join(src, file)), specifier.replace(/\.js$/, '.ts')))
          .split(sep)
          .join('/')
      : packageName(specifier);
    found.push({ from: file, to, relative: isRelative, eager });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      // With verbatimModuleSyntax only `import type` is erased; `import { type X }` still loads the module.
      add(node.moduleSpecifier.text, node.importClause?.phaseModifier !== ts.SyntaxKind.TypeKeyword);
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier !== undefined &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      add(node.moduleSpecifier.text, !node.isTypeOnly);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      add(node.arguments[0].text, false);
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      add(node.argument.literal.text, false);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function areaOf(file: string): Area | undefined {
  const top = file.split('/')[0] ?? '';
  return Object.hasOwn(MAY_IMPORT, top) ? (top as Area) : undefined;
}

const files = sourceFiles(src);
const imports = files.flatMap(importsOf);

/** Every violation of the rules, one line each, for `imports` (the real ones, or a test's). */
function violations(list: readonly Import[]): string[] {
  const problems: string[] = [];
  for (const edge of list) {
    const from = areaOf(edge.from);
    if (edge.relative) {
      const to = areaOf(edge.to);
      // src/index.ts and other files outside an area are entry points; they may gather any area.
      if (from === undefined || to === undefined || to === from) continue;
      if (!MAY_IMPORT[from].includes(to)) {
        const allowed = MAY_IMPORT[from].join(', ') || 'nothing outside itself';
        problems.push(`src/${edge.from} imports src/${edge.to}: ${from} may import ${allowed}`);
      }
    } else {
      const homes = PACKAGE_HOMES[edge.to];
      if (homes !== undefined && !homes.some((home) => edge.from.startsWith(home))) {
        const where = homes.length === 0 ? 'no file of src/' : `only ${homes.join(', ')}`;
        problems.push(`src/${edge.from} imports '${edge.to}', which ${where} may import`);
      }
    }
  }
  return problems;
}

/** The files (relative to src/) and packages loaded by importing `entry`: its imports that stay in the JavaScript, and theirs. */
function loadedBy(entry: string): Set<string> {
  const loaded = new Set<string>([entry]);
  const pending = [entry];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    for (const edge of imports) {
      if (edge.from !== file || !edge.eager || loaded.has(edge.to)) continue;
      loaded.add(edge.to);
      if (edge.relative) pending.push(edge.to);
    }
  }
  return loaded;
}

describe('layers of src/', () => {
  it('knows every folder of src/', () => {
    const folders = new Set(files.filter((f) => f.includes('/')).map((f) => f.split('/')[0]));
    expect([...folders].filter((folder) => areaOf(`${folder}/x.ts`) === undefined)).toEqual([]);
  });

  it('reads the imports, type-only and lazy ones included', () => {
    expect(imports.length).toBeGreaterThan(200);
    expect(imports.some((i) => !i.eager)).toBe(true);
  });

  it('has every import point down the layers, and each SDK only where it may be used', () => {
    expect(violations(imports)).toEqual([]);
  });

  it.each(Object.entries(ENTRIES))('loads nothing heavy that %s does not need', (entry, forbidden) => {
    const loaded = [...loadedBy(entry)];
    expect(loaded.length).toBeGreaterThan(1);
    expect(loaded.filter((name) => forbidden.some((f) => name === f || name.startsWith(f)))).toEqual([]);
  });

  it('fails on an import against the layers or an SDK out of its home', () => {
    const bad: Import[] = [
      { from: 'core/types.ts', to: 'budget/store.ts', relative: true, eager: false },
      { from: 'operators/pool.ts', to: 'models/simulated.ts', relative: true, eager: true },
      { from: 'sinks/to-jsonl.ts', to: 'server/serve.ts', relative: true, eager: true },
      { from: 'server/serve.ts', to: 'cli/main.ts', relative: true, eager: true },
      { from: 'operators/pool.ts', to: 'testing/marble-agent.ts', relative: true, eager: true },
      { from: 'budget/create-budget.ts', to: 'ioredis', relative: false, eager: true },
    ];
    expect(violations(bad)).toHaveLength(bad.length);
  });
});

// What `npm pack` would publish, built afresh: dist/ with every entry point and the bin, the README, the
// LICENSE, and nothing that points at a file left out (a source map naming src/ that is not shipped).
import { execFileSync, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

interface Manifest {
  readonly dependencies: Record<string, string>;
  readonly exports: Record<string, { readonly types: string; readonly default: string } | string>;
  readonly bin: Record<string, string>;
  readonly license: string;
  readonly version: string;
}

const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Manifest;
let shipped = new Set<string>();

/** A package path without its leading `./`, as `npm pack` lists it. */
const packed = (path: string): string => posix.normalize(path.replace(/^\.\//, ''));

beforeAll(() => {
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'pipe' });
  // The build just ran; `--ignore-scripts` keeps `prepack` from running it again.
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: root,
    encoding: 'utf8',
  });
  const [report] = JSON.parse(out) as [{ files: { path: string }[] }];
  shipped = new Set(report.files.map((file) => file.path));
}, 120_000);

describe('the published package', () => {
  it('holds dist/, the README, package.json and an MIT LICENSE, and nothing else', () => {
    const outside = [...shipped].filter((path) => !path.startsWith('dist/'));
    expect(outside.sort()).toEqual(['LICENSE', 'README.md', 'package.json']);
    const license = readFileSync(join(root, 'LICENSE'), 'utf8');
    expect(manifest.license).toBe('MIT');
    expect(license).toMatch(/^MIT License\n\nCopyright \(c\) 2026 rxagent contributors\n/);
  });

  it('ships the JavaScript and the declarations of every entry point, and the bin', () => {
    const targets = Object.values(manifest.exports).flatMap((target) =>
      typeof target === 'string' ? [target] : [target.types, target.default],
    );
    const missing = [...targets, ...Object.values(manifest.bin)].map(packed).filter((p) => !shipped.has(p));
    expect(missing).toEqual([]);
  });

  it('has no source map, or declaration map, that points at a file it does not ship', () => {
    const dangling: string[] = [];
    for (const path of shipped) {
      if (!/\.(js|d\.ts)$/.test(path)) continue;
      const text = readFileSync(join(root, path), 'utf8');
      const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(text)?.[1];
      if (url === undefined) continue;
      const map = posix.join(dirname(path), url);
      if (!shipped.has(map)) {
        dangling.push(`${path} → ${map}`);
        continue;
      }
      const { sources } = JSON.parse(readFileSync(join(root, map), 'utf8')) as { sources: string[] };
      for (const source of sources) {
        const file = posix.join(dirname(map), source);
        if (!shipped.has(file)) dangling.push(`${map} → ${file}`);
      }
    }
    expect(dangling).toEqual([]);
  });

  it('ships no test, source or benchmark file', () => {
    expect([...shipped].filter((path) => /^(src|test|bench|examples)\//.test(path))).toEqual([]);
    expect(existsSync(join(root, 'dist', 'index.js'))).toBe(true);
  });

  it('loads every entry point by its package name, and runs the bin', () => {
    // rxagent/testing imports vitest's `expect`, which only works inside a vitest run.
    const names = Object.keys(manifest.exports)
      .filter((name) => name !== './package.json' && name !== './testing')
      .map((name) => `rxagent${name.slice(1)}`);
    const script = `for (const name of ${JSON.stringify(names)}) await import(name);`;
    execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root });
    const bin = packed(Object.values(manifest.bin)[0] ?? '');
    const version = execFileSync(process.execPath, [join(root, bin), '--version'], { encoding: 'utf8' });
    expect(version.trim()).toBe(manifest.version);
  });
});

describe('the published package without its optional peers', () => {
  // An application that installed rxagent alone: its dependencies, but no provider SDK nor ioredis.
  let app = '';
  const run = (script: string): { status: number | null; stdout: string; stderr: string } =>
    spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: app,
      encoding: 'utf8',
      env: { ...process.env, OPENAI_API_KEY: '', OPENAI_BASE_URL: '' },
    });

  beforeAll(() => {
    app = mkdtempSync(join(tmpdir(), 'rxagent-app-'));
    const installed = join(app, 'node_modules', 'rxagent');
    mkdirSync(installed, { recursive: true });
    for (const file of shipped) {
      mkdirSync(dirname(join(installed, file)), { recursive: true });
      cpSync(join(root, file), join(installed, file));
    }
    for (const name of Object.keys(manifest.dependencies)) {
      mkdirSync(dirname(join(app, 'node_modules', name)), { recursive: true });
      symlinkSync(join(root, 'node_modules', name), join(app, 'node_modules', name), 'dir');
    }
    writeFileSync(join(app, 'prompts.jsonl'), '{"id":"a","input":"Name a colour"}\n');
  });
  afterAll(() => {
    if (app !== '') rmSync(app, { recursive: true, force: true });
  });

  it('imports every entry point, and runs offline', () => {
    const result = run(
      "import { defaultAgent } from 'rxagent/openai'; await import('rxagent/anthropic'); await import('rxagent/redis'); await import('rxagent/server');" +
        'console.log(defaultAgent().kind);',
    );
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe('simulated');
  });

  it('names the package to install when a helper needs a missing one', () => {
    const openai = run(
      "import { openaiModel } from 'rxagent/openai'; openaiModel({ model: 'm', apiKey: 'k' });",
    );
    expect(openai.status).not.toBe(0);
    expect(openai.stderr).toContain(
      'openaiModel needs the package `openai`, which is not installed. It is an optional peer dependency of ' +
        'rxagent: install it beside rxagent with `npm install openai`.',
    );
    const anthropic = run(
      "import { anthropicModel } from 'rxagent/anthropic'; anthropicModel({ model: 'm', apiKey: 'k' });",
    );
    expect(anthropic.status).not.toBe(0);
    expect(anthropic.stderr).toContain(
      'anthropicModel needs the package `@anthropic-ai/sdk`, which is not installed.',
    );
    expect(anthropic.stderr).toContain('`npm install @anthropic-ai/sdk`');
    const redis = run(
      "import { redisStore } from 'rxagent/redis'; redisStore({ url: 'redis://127.0.0.1:1' });",
    );
    expect(redis.stderr).toContain('redisStore needs the package `ioredis`');
    expect(redis.stderr).toContain('`npm install ioredis`');
  });

  it('runs the CLI on the simulated model', () => {
    const bin = join(app, 'node_modules', 'rxagent', packed(Object.values(manifest.bin)[0] ?? ''));
    const cli = spawnSync(process.execPath, [bin, 'run', 'prompts.jsonl', '--out', 'results.jsonl'], {
      cwd: app,
      encoding: 'utf8',
      env: { ...process.env, OPENAI_API_KEY: '', OPENAI_BASE_URL: '' },
      timeout: 60_000,
    });
    expect(cli.stderr).toContain('simulated');
    expect(cli.status).toBe(0);
    expect(readFileSync(join(app, 'results.jsonl'), 'utf8')).toContain('"status":"fulfilled"');
  }, 60_000);
});

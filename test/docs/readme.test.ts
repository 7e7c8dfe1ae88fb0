// Every TypeScript snippet in the README is type-checked against the sources, and snippets fenced as
// ```ts run are also executed, so the user's door cannot rot.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const dir = join(root, 'test', '.readme-snippets');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
// Named after the README line the block starts on, so a type error points straight at it.
const snippets = [...readme.matchAll(/```ts( run)?\n([\s\S]*?)```/g)].map((m, i) => ({
  name: `snippet-${i + 1}-line-${readme.slice(0, m.index).split('\n').length + 1}.ts`,
  run: m[1] !== undefined,
  code: m[2]!,
}));

describe('README', () => {
  beforeAll(() => {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    for (const s of snippets) writeFileSync(join(dir, s.name), `${s.code}\nexport {};\n`);
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: '../../tsconfig.json',
        compilerOptions: {
          noEmit: true,
          paths: {
            rxagent: ['../../src/index.ts'],
            'rxagent/openai': ['../../src/models/openai/index.ts'],
            'rxagent/anthropic': ['../../src/models/anthropic/index.ts'],
            'rxagent/ai-sdk': ['../../src/models/ai-sdk/index.ts'],
            'rxagent/server': ['../../src/server/index.ts'],
            'rxagent/redis': ['../../src/redis/index.ts'],
            'rxagent/testing': ['../../src/testing/index.ts'],
          },
        },
        include: ['*.ts'],
        // The root config excludes this very directory; an inherited exclude would leave tsc no inputs.
        exclude: [],
      }),
    );
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('has TypeScript snippets, some of them run', () => {
    expect(snippets.length).toBeGreaterThan(0);
    expect(snippets.filter((s) => s.run).length).toBeGreaterThanOrEqual(3);
  });

  it('lists every example in examples/README.md', () => {
    const index = readFileSync(join(root, 'examples', 'README.md'), 'utf8');
    const examples = readdirSync(join(root, 'examples'), { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.ts'))
      .map((file) => `examples/${file.split(sep).join('/')}`);
    expect(examples.length).toBeGreaterThan(0);
    expect(examples.filter((file) => !index.includes(file))).toEqual([]);
  });

  it('type-checks every snippet', () => {
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    try {
      execFileSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8' });
    } catch (error) {
      throw new Error(`README snippets do not type-check:\n${(error as { stdout: string }).stdout}`);
    }
  }, 120_000);

  it.each(snippets.filter((s) => s.run).map((s) => [s.name, s] as const))(
    'runs %s',
    (_name, s) => {
      const output = execFileSync(process.execPath, ['--import', 'tsx', join(dir, s.name)], {
        cwd: dir,
        encoding: 'utf8',
        env: {
          ...process.env,
          OPENAI_API_KEY: '',
          OPENAI_BASE_URL: '',
          TSX_TSCONFIG_PATH: join(dir, 'tsconfig.json'),
        },
        timeout: 60_000,
      });
      expect(output).toBeDefined();
    },
    90_000,
  );
});

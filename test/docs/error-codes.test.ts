// The README's "Error codes" table is checked against the error classes, so neither can drift from the other.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CLASSES } from '../../src/core/errors/error-from-json.js';
import * as rxagent from '../../src/index.js';

const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
const section = readme.slice(
  readme.indexOf('## Error codes'),
  readme.indexOf('\n## ', readme.indexOf('## Error codes') + 1),
);
const rows = [...section.matchAll(/^\| `(E_[A-Z_]+)` +\| `(\w+)` +\|/gm)].map((m) => ({
  code: m[1]!,
  name: m[2]!,
}));
const exported = rxagent as Record<string, unknown>;

describe('README error codes', () => {
  it('has one row for every code', () => {
    expect(rows.map((row) => row.code).sort()).toEqual(Object.keys(ERROR_CLASSES).sort());
  });

  it.each(rows.map((row) => [row.code, row.name] as const))(
    '%s names %s, exported with that code',
    (code, name) => {
      const exportedClass = exported[name];
      expect(exportedClass).toBeTypeOf('function');
      expect(exportedClass).toBe(ERROR_CLASSES[code as keyof typeof ERROR_CLASSES]);
    },
  );
});

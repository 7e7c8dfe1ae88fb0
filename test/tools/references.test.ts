import { describe, expect, it } from 'vitest';
import { findReferences, substitute } from '../../src/tools/references.js';

describe('findReferences', () => {
  it('finds `$id` and `${id.path}` anywhere in nested arguments', () => {
    const args = {
      a: '$s1',
      b: ['x ${s2.top} ${s3}', { deep: '${s4.items[0].title}' }],
      c: 3,
      d: 'cost $5 total',
    };
    expect([...findReferences(args)].sort()).toEqual(['s1', 's2', 's3', 's4']);
  });
});

describe('substitute', () => {
  const results = new Map<string, unknown>([
    ['s1', { top: 'solid', items: [{ title: 'T' }], n: 2 }],
    ['s2', 'sodium'],
  ]);

  it('uses the whole value for `$id` and an exact `${id.path}`, text inside longer strings', () => {
    expect(
      substitute(
        {
          whole: '$s1',
          path: '${s1.items[0]}',
          dotted: '${s1.items.0.title}',
          number: '${s1.n}',
          text: '${s1.top} vs ${s2} (${s1.items})',
          nested: ['$s2'],
          other: 7,
        },
        results,
      ),
    ).toEqual({
      success: true,
      data: {
        whole: results.get('s1'),
        path: { title: 'T' },
        dotted: 'T',
        number: 2,
        text: 'solid vs sodium ([{"title":"T"}])',
        nested: ['sodium'],
        other: 7,
      },
    });
  });

  it('reports a path that leads nowhere as an issue at the argument path', () => {
    const result = substitute({ q: ['${s1.missing}'] }, results);
    expect(result.success).toBe(false);
    if (result.success) return;
    expect(result.issues[0]).toMatchObject({ code: 'custom', path: ['q', 0], input: '${s1.missing}' });
    expect(result.issues[0]?.message).toContain('has no `missing`');
  });
});

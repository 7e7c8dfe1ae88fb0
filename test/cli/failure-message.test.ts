import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { failureMessage } from '../../src/cli/main.js';
import { ProviderError } from '../../src/core/errors/index.js';

describe('failureMessage', () => {
  it('prints one line for a system error, such as a file that vanished mid-read', async () => {
    const error = await readFile('/no/such/prompts.jsonl').catch((e: unknown) => e);
    expect(failureMessage(error)).toBe(
      "rxagent: ENOENT: no such file or directory, open '/no/such/prompts.jsonl'\n",
    );
  });

  it('prints one line for a typed error, and a stack only for a real bug', () => {
    expect(failureMessage(new ProviderError({ status: 503, message: 'upstream down' }))).toBe(
      'rxagent: E_PROVIDER: upstream down\n',
    );
    const bug = failureMessage(new TypeError('x is undefined'));
    expect(bug).toMatch(/^rxagent: unexpected failure, please report it:\nTypeError: x is undefined\n\s+at /);
  });
});

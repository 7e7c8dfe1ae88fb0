import { describe, it } from 'vitest';
import { expectKnownKeys } from '../../src/core/validate.js';

interface Config {
  readonly concurrency?: number;
  readonly scheduler?: object;
}

describe('expectKnownKeys', () => {
  it('compiles only with a list that names every option of the config', () => {
    const config: Config = {};
    expectKnownKeys('op', config, ['concurrency', 'scheduler'] as const);
    // @ts-expect-error `scheduler` is left out of the unknown-key check
    expectKnownKeys('op', config, ['concurrency'] as const);
  });
});

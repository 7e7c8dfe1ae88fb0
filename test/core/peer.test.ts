import { describe, expect, it } from 'vitest';
import { expectPeer, requirePeer } from '../../src/core/peer.js';

describe('optional peer dependencies', () => {
  it('names the missing package and the command that installs it', () => {
    expect(() => {
      expectPeer('rxagent-no-such-package', 'openaiModel');
    }).toThrow(
      'openaiModel needs the package `rxagent-no-such-package`, which is not installed. It is an optional peer ' +
        'dependency of rxagent: install it beside rxagent with `npm install rxagent-no-such-package`.',
    );
  });

  it('keeps the resolution error as the cause', () => {
    try {
      requirePeer('rxagent-no-such-package', 'rxagent/redis');
      expect.unreachable();
    } catch (error) {
      expect((error as Error).cause).toMatchObject({ code: 'MODULE_NOT_FOUND' });
    }
  });

  it('loads an installed package', () => {
    expect(() => {
      expectPeer('ioredis', 'rxagent/redis');
    }).not.toThrow();
    expect(requirePeer('ioredis', 'rxagent/redis')).toHaveProperty('Redis');
  });
});

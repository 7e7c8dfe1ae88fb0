import { createRequire } from 'node:module';

// Resolved from rxagent's own folder, as an import in its files would be.
const require = createRequire(import.meta.url);

/**
 * Checks that the optional peer dependency `name` is installed, so that what needs it fails when it is
 * created, with the command that fixes it, rather than on its first use.
 *
 * @param user - What needs the package, for the message: `'openaiModel'`.
 */
export function expectPeer(name: string, user: string): void {
  try {
    require.resolve(name);
  } catch (error) {
    throw missingPeer(name, user, error);
  }
}

/**
 * Loads the optional peer dependency `name` synchronously, for a CommonJS package that is needed the moment a
 * helper is created (`ioredis` for a connection from a URL). Node caches it, so later calls cost a lookup.
 */
export function requirePeer(name: string, user: string): unknown {
  expectPeer(name, user);
  return require(name);
}

function missingPeer(name: string, user: string, cause: unknown): unknown {
  if ((cause as { code?: unknown } | null)?.code !== 'MODULE_NOT_FOUND') return cause;
  return new Error(
    `${user} needs the package \`${name}\`, which is not installed. It is an optional peer dependency of ` +
      `rxagent: install it beside rxagent with \`npm install ${name}\`.`,
    { cause },
  );
}

import { existsSync } from 'node:fs';
import { describe, it } from 'vitest';

/** Flags for headless Chromium in containers and CI: no sandbox, GPU, QUIC or background traffic. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];

/** The Chromium executable to drive, or `undefined` when none is installed. */
export function findChromium(): string | undefined {
  return CANDIDATES.find((path): path is string => path !== undefined && path !== '' && existsSync(path));
}

/**
 * A `describe` block that needs Chromium: skipped with a printed reason when it is absent, but failing
 * when `CI` is set, since CI installs it and a silent skip there would hide a broken setup.
 */
export function describeWithChromium(name: string, body: (executablePath: string) => void): void {
  const executablePath = findChromium();
  if (executablePath !== undefined) {
    describe(name, () => {
      body(executablePath);
    });
    return;
  }
  const reason = `Chromium not found (looked at ${CANDIDATES.filter(Boolean).join(', ')}); install it with \`apt-get install chromium\``;
  if (process.env.CI !== undefined && process.env.CI !== '') {
    describe(name, () => {
      it('has Chromium installed', () => {
        throw new Error(`${reason}. Browser tests may not be skipped in CI.`);
      });
    });
    return;
  }
  console.warn(`Skipping "${name}": ${reason}.`);
  describe.skip(name, () => {
    body('');
  });
}

import type { ProgressStream } from '../sinks/progress.js';

/** Where a command reads its environment and writes: injectable, so tests can drive commands in-process. */
export interface CommandIo {
  readonly stdout: { write(text: string): unknown };
  /** Messages and the progress bar; control characters are written only when it is a terminal. */
  readonly stderr: ProgressStream;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** What `-` reads as the prompts file. @defaultValue process.stdin */
  readonly stdin?: AsyncIterable<Uint8Array | string>;
  /** Subscribes to interrupts (Ctrl-C); returns the unsubscribe. */
  readonly onInterrupt: (handler: () => void) => () => void;
}

/** The real process: its streams, its environment and its SIGINT. */
export const processIo: CommandIo = {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  stdin: process.stdin,
  onInterrupt: (handler) => {
    process.on('SIGINT', handler);
    return () => {
      process.off('SIGINT', handler);
    };
  },
};

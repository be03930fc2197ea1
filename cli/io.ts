/**
 * What a `tend` verb may touch of the outside world, passed in so that tests can capture it.
 */
import { readFileSync } from 'node:fs';

/** Output lines and standard input for a verb. */
export interface CliIo {
  /** Write one line to standard output. */
  out(line: string): void;
  /** Write one line to standard error. */
  err(line: string): void;
  /** All of standard input, for `-f -`. */
  readStdin(): string;
  /** Present when standard output is a terminal: raw writes, for lines redrawn in place. */
  readonly terminal?: { write(text: string): void };
}

/** The real terminal: process.stdout, process.stderr and file descriptor 0. */
export const processIo: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  readStdin: () => readFileSync(0, 'utf8'),
  ...(process.stdout.isTTY ? { terminal: { write: (text: string) => process.stdout.write(text) } } : {}),
};

/** Exit codes shared by every verb. */
export const EXIT = { ok: 0, invalid: 1, usage: 2 } as const;

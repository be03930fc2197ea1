/** Integration setup file: when a test fails, print the tail of every server's log under it. */
import { readFileSync } from 'node:fs';
import { beforeEach } from 'vitest';
import { testEnv } from './context.js';

const LINES = 30;

beforeEach(({ onTestFailed }) => {
  onTestFailed(() => {
    for (const [name, file] of Object.entries(testEnv().logs)) {
      let tail = '';
      try {
        tail = readFileSync(file, 'utf8').trimEnd().split('\n').slice(-LINES).join('\n');
      } catch (err) {
        tail = `(cannot read ${file}: ${(err as Error).message})`;
      }
      console.error(`\n── last ${LINES} lines of ${name} (${file}) ──\n${tail}`);
    }
  });
});

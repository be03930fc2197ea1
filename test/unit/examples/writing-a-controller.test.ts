/** docs/writing-a-controller.md quotes examples/custom-controller.ts: its excerpts must stay the program's lines. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../../..');
const guide = readFileSync(join(root, 'docs/writing-a-controller.md'), 'utf8');
const program = new Set(readFileSync(join(root, 'examples/custom-controller.ts'), 'utf8').split('\n').map((line) => line.trim()));
const excerpts = [...guide.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);

describe('docs/writing-a-controller.md', () => {
  it('has excerpts of the example', () => {
    expect(excerpts.length).toBeGreaterThanOrEqual(8);
  });

  it.each(excerpts.map((text, i) => [i + 1, text] as const))('excerpt %i is lines of examples/custom-controller.ts', (_, text) => {
    const missing = text.split('\n').map((line) => line.trim()).filter((line) => line !== '' && !program.has(line));
    expect(missing).toEqual([]);
  });
});

import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { InstanceLogs, MAX_LINE_BYTES } from '../../../../../agents/node/runtime/instance-logs.js';
import type { LogChunk, LogPosition } from '../../../../../agents/node/runtime/runtime.js';
import { StateDir } from '../../../../../agents/node/runtime/state-dir.js';

const logger = pino({ level: 'silent' });
const LIMITS = { perInstanceBytes: 1 << 20, totalBytes: 1 << 22 };
const ID = 'a.web-1';

function setup(maxBytes = 1 << 20, forceFactor?: number) {
  const stateDir = new StateDir(mkdtempSync(join(tmpdir(), 'tend-logs-')));
  const logs = new InstanceLogs({ stateDir, maxBytes, logger, now: () => 1_000, ...(forceFactor ? { forceFactor } : {}) });
  const write = (text: string) => appendFileSync(stateDir.logPath(ID), text);
  /** take + stored: what a successful shipment would store. */
  const ship = () => {
    const chunks = logs.take(LIMITS);
    logs.stored(chunks);
    return chunks;
  };
  return { stateDir, logs, write, ship };
}

const texts = (chunks: readonly LogChunk[]) => chunks.map((c) => `${c.run}:${c.text}`);

describe('InstanceLogs', () => {
  it('reads nothing and holds nothing until someone resumes, and rotates by size alone meanwhile', () => {
    const { stateDir, logs, write } = setup(100);
    const log = stateDir.logPath(ID);
    logs.runStarting(ID, 'r1');
    write('x'.repeat(100));
    expect(logs.take(LIMITS)).toEqual([]);
    expect(logs.rotate(ID, undefined)).toBe(false); // at the cap, not past it
    write('first\n');
    expect(logs.rotate(ID, undefined)).toBe(true);
    expect(statSync(log).size).toBe(0);
    expect(readFileSync(`${log}.1`, 'utf8')).toBe(`${'x'.repeat(100)}first\n`);
    write('y'.repeat(101));
    expect(logs.rotate(ID, undefined)).toBe(true);
    expect(readFileSync(`${log}.1`, 'utf8')).toBe('y'.repeat(101)); // one older file only
    expect(readdirSync(stateDir.path).sort()).toEqual([`${ID}.log`, `${ID}.log.1`]);
  });

  it('hands out whole lines by run, the start of each run first; an unfinished line waits, and is closed when its run ends', () => {
    const { logs, write, ship } = setup();
    logs.resume(new Map());
    expect(logs.runStarting(ID, 'r1')).toBe(0);
    write('one\ntw');
    expect(texts(ship())).toEqual(['r1:', 'r1:one\n']);
    write('o\nthr');
    expect(texts(ship())).toEqual(['r1:two\n']);
    write('ee');
    expect(logs.runStarting(ID, 'r2')).toBe(13);
    write('again\n');
    expect(texts(ship())).toEqual(['r1:three\n', 'r2:', 'r2:again\n']);
    expect(ship()).toEqual([]);
  });

  it('hands out the same chunks again until they are marked stored', () => {
    const { logs, write } = setup();
    logs.resume(new Map());
    logs.runStarting(ID, 'r1');
    write('a\n');
    const first = logs.take(LIMITS);
    write('b\n');
    const second = logs.take(LIMITS);
    expect(texts(second)).toEqual(['r1:', 'r1:a\n', 'r1:b\n']);
    expect(second.slice(0, 2)).toEqual(first);
    logs.stored(first);
    expect(texts(logs.take(LIMITS))).toEqual(['r1:b\n']);
  });

  it('reads at most perInstanceBytes of new output per take, and cuts a line longer than 16 KiB', () => {
    const { logs, write } = setup();
    logs.resume(new Map());
    logs.runStarting(ID, 'r1');
    write(`${'z'.repeat(MAX_LINE_BYTES * 2 + 10)}\nend\n`);
    const chunks = logs.take({ perInstanceBytes: MAX_LINE_BYTES * 4, totalBytes: 1 << 22 });
    const lines = chunks.map((c) => c.text).join('').split('\n');
    expect(lines.map((l) => l.length)).toEqual([MAX_LINE_BYTES, MAX_LINE_BYTES, 10, 3, 0]);
    expect(chunks.reduce((n, c) => n + c.lines, 0)).toBe(4);
    const { logs: slow, write: more } = setup();
    slow.resume(new Map());
    slow.runStarting(ID, 'r1');
    more('0123456789\n'.repeat(10));
    const part = slow.take({ perInstanceBytes: 25, totalBytes: 1 << 22 });
    expect(part.map((c) => c.text).join('')).toBe('0123456789\n0123456789\n');
  });

  it('a rotated log loses nothing: what is left to read is read before the truncation, and reading goes on in the new log', () => {
    const { stateDir, logs, write, ship } = setup(50);
    logs.resume(new Map());
    logs.runStarting(ID, 'r1');
    write('line 1\n');
    ship();
    write('line 2\n'.repeat(10)); // past the cap, not read yet
    expect(logs.rotate(ID, undefined)).toBe(true);
    expect(statSync(stateDir.logPath(ID)).size).toBe(0);
    write('line 3\n');
    const chunks = ship();
    expect(chunks.map((c) => c.text).join('')).toBe(`${'line 2\n'.repeat(10)}line 3\n`);
    expect(chunks.at(-1)?.offset).toBe(7); // in the new log
  });

  it('waits to rotate while reading is far behind, then past 4 × the cap rotates and says how much was not stored', () => {
    const { logs, write, ship } = setup(100);
    logs.resume(new Map());
    logs.runStarting(ID, 'r1');
    write('x\n'.repeat(2 ** 20)); // 2 MiB unread
    expect(logs.rotate(ID, undefined)).toBe(true); // 2 MiB is more than 4 × 100 bytes: forced
    const note = ship().map((c) => c.text).join('');
    expect(note).toMatch(/^\[tend: 2097152 bytes of this instance's output were not stored/);
    const { logs: behind, write: more } = setup(2 ** 20);
    behind.resume(new Map());
    behind.runStarting(ID, 'r1');
    more('y\n'.repeat(2 ** 20 - 1000)); // past the cap and about 2 MiB behind, not yet 4 × the cap
    expect(behind.rotate(ID, undefined)).toBe(false);
  });

  it('resumes after an agent restart from the stored position, splitting a run whose start was never stored', () => {
    const { stateDir, logs, write, ship } = setup();
    logs.resume(new Map());
    logs.runStarting(ID, 'r1');
    write('before\n');
    const stored = ship();
    const position = (chunks: LogChunk[]): LogPosition => ({ run: chunks.at(-1)!.run, offset: chunks.at(-1)!.offset });
    write('unstored\n');
    const offset = logs.runStarting(ID, 'r2');
    write('new run\n');
    // A new runtime on the same folder: the record names run r2 and where it began.
    const next = new InstanceLogs({ stateDir, maxBytes: 1 << 20, logger });
    next.adopted(ID, 'r2', offset);
    next.resume(new Map([[ID, position(stored)]]));
    expect(texts(next.take(LIMITS)).map((t) => t.replace(/^r2:$/, 'r2:(start)'))).toEqual(['r1:unstored\n', 'r2:(start)', 'r2:new run\n']);
    // Same run: straight on from its offset.
    const again = new InstanceLogs({ stateDir, maxBytes: 1 << 20, logger });
    again.adopted(ID, 'r2', offset);
    write('more\n');
    again.resume(new Map([[ID, { run: 'r2', offset: offset + 'new run\n'.length }]]));
    expect(texts(again.take(LIMITS))).toEqual(['r2:more\n']);
    // Nothing stored ever: all of the log, as the adopted run's.
    const fresh = new InstanceLogs({ stateDir, maxBytes: 1 << 20, logger });
    fresh.adopted(ID, 'r2', undefined);
    fresh.resume(new Map());
    expect(fresh.take(LIMITS).map((c) => c.text).join('')).toBe(readFileSync(stateDir.logPath(ID), 'utf8'));
    expect(existsSync(`${stateDir.logPath(ID)}.1`)).toBe(false);
  });

  it('property: whatever is written, with restarts, rotations and failed shipments between, every run\'s lines are handed out once, in order', () => {
    const op = fc.oneof(
      fc.record({ op: fc.constant('write' as const), text: fc.array(fc.constantFrom('a', 'bc', '\n', 'é', 'def\n'), { maxLength: 12 }).map((a) => a.join('')) }),
      fc.constant({ op: 'restart' as const }),
      fc.constant({ op: 'ship' as const }),
      fc.constant({ op: 'take' as const }),
      fc.constant({ op: 'rotate' as const }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        // Never forced: a forced rotation drops what was not read, on purpose (tested above).
        const { logs, write, ship } = setup(10, Infinity);
        logs.resume(new Map());
        let run = 0;
        logs.runStarting(ID, `r${run}`);
        const written = new Map<string, string>([['r0', '']]);
        const got = new Map<string, string>();
        const keep = (chunks: LogChunk[]) => {
          for (const c of chunks) got.set(c.run, (got.get(c.run) ?? '') + c.text);
        };
        for (const o of ops) {
          if (o.op === 'write') {
            write(o.text);
            written.set(`r${run}`, written.get(`r${run}`)! + o.text);
          } else if (o.op === 'restart') {
            logs.runStarting(ID, `r${++run}`);
            written.set(`r${run}`, '');
          } else if (o.op === 'ship') keep(ship());
          else if (o.op === 'take') logs.take(LIMITS); // a failed shipment: nothing marked stored
          else logs.rotate(ID, undefined);
        }
        logs.runStarting(ID, 'end'); // ends the last run, so its unfinished line is handed out
        keep(ship());
        for (const [name, text] of written) {
          const expected = text === '' || text.endsWith('\n') ? text : `${text}\n`;
          expect(got.get(name) ?? '', name).toBe(expected);
        }
      }),
      { numRuns: 300 },
    );
  });
});

import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StateDir, type InstanceRecord } from '../../../../../agents/node/runtime/state-dir.js';

const record = (id: string): InstanceRecord => ({
  version: 1, id, pid: 4242, startTime: 987_654, specHash: 'abc', port: 20_001, restarts: 2, startedAt: '2026-01-01T00:00:00.000Z',
  spec: { id, command: ['node', 'server.js'], env: { SECRET: 'x' }, port: 20_001, memoryBytes: 2 ** 28, cpuMillis: 100 },
});

describe('StateDir', () => {
  it('reads back what it wrote, one file per instance readable by the agent alone', () => {
    const dir = new StateDir(join(mkdtempSync(join(tmpdir(), 'tend-state-')), 'nested'));
    dir.write(record('a.web-1'));
    dir.write(record('b.web-1'));
    dir.write({ ...record('a.web-1'), pid: 4343 });

    expect(dir.readAll()).toEqual({ records: [{ ...record('a.web-1'), pid: 4343 }, record('b.web-1')], unreadable: [] });
    expect(readdirSync(dir.path).sort()).toEqual(['a.web-1.instance.json', 'b.web-1.instance.json']);
    expect(statSync(join(dir.path, 'a.web-1.instance.json')).mode & 0o077).toBe(0);
    expect(dir.logPath('a.web-1')).toBe(join(dir.path, 'a.web-1.log'));
  });

  it('forgets a removed instance and ignores removing one it never had', () => {
    const dir = new StateDir(mkdtempSync(join(tmpdir(), 'tend-state-')));
    dir.write(record('a.web-1'));
    dir.remove('a.web-1');
    dir.remove('never');
    expect(dir.readAll().records).toEqual([]);
  });

  it('reports files it cannot read instead of failing, and skips files that are not records', () => {
    const dir = new StateDir(mkdtempSync(join(tmpdir(), 'tend-state-')));
    dir.write(record('good'));
    writeFileSync(join(dir.path, 'torn.instance.json'), '{"version":1,"id":"to');
    writeFileSync(join(dir.path, 'renamed.instance.json'), JSON.stringify(record('other')));
    writeFileSync(join(dir.path, 'good.log'), 'hello\n');

    const { records, unreadable } = dir.readAll();

    expect(records.map((r) => r.id)).toEqual(['good']);
    expect(unreadable.map((u) => u.file).sort()).toEqual([join(dir.path, 'renamed.instance.json'), join(dir.path, 'torn.instance.json')]);
  });

  it('makes its folder 0700 even when it existed with a wider mode, and deletes env scripts a crash left', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'tend-state-')), 'agent');
    mkdirSync(path, { mode: 0o755 });
    chmodSync(path, 0o755);
    writeFileSync(join(path, 'a.web-1.env.sh'), "export SECRET='x'\n");
    const dir = new StateDir(path);
    expect(statSync(path).mode & 0o777).toBe(0o700);
    expect(readdirSync(path)).toEqual([]);
    expect(dir.envScriptPath('a.web-1')).toBe(join(path, 'a.web-1.env.sh'));
  });

  it('removes an instance log and its rotated copy with the instance', () => {
    const dir = new StateDir(mkdtempSync(join(tmpdir(), 'tend-state-')));
    const log = dir.logPath('a.web-1');
    appendFileSync(log, 'x\n');
    appendFileSync(`${log}.1`, 'y\n');
    dir.removeLogs('a.web-1');
    expect(existsSync(log) || existsSync(`${log}.1`)).toBe(false);
  });
});

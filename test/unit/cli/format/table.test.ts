import { describe, expect, it } from 'vitest';
import { formatAge, humanDuration, renderTable, type TableObject } from '../../../../cli/format/table.js';

const now = new Date('2025-03-01T12:00:00Z');
const ago = (ms: number) => new Date(now.getTime() - ms).toISOString();
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const ready = (status: string, reason: string) => [{ type: 'Ready', status, reason }];

const web = {
  metadata: { name: 'web', namespace: 'shop', creationTimestamp: ago(3 * MINUTE + 20 * SECOND) },
  spec: { replicas: 3 },
  status: { readyReplicas: 3, revision: '5d8c7f', conditions: ready('True', 'AllReplicasReady') },
};
const api = { metadata: { name: 'api', namespace: 'shop', creationTimestamp: ago(45 * SECOND) }, spec: { replicas: 2 } };

/** Cells of each line, cut at the positions where the header's columns start. */
function cells(lines: readonly string[]): Record<string, string>[] {
  const [header = '', ...rows] = lines;
  const starts = [...header.matchAll(/\S+/g)].map((m) => ({ name: m[0], at: m.index }));
  return rows.map((row) =>
    Object.fromEntries(starts.map(({ name, at }, i) => [name, row.slice(at, starts[i + 1]?.at).trim()])),
  );
}

/** An App with one field changed, for checking how one cell is printed. */
function appWith(status: Record<string, unknown>, creationTimestamp?: unknown): TableObject {
  return { metadata: { name: 'web', namespace: 'shop', ...(creationTimestamp === undefined ? {} : { creationTimestamp }) }, spec: { replicas: 1 }, status } as TableObject;
}

describe('renderTable', () => {
  it('prints NAME and the printer columns, padded to the widest cell plus 3 spaces, like kubectl get', () => {
    expect(renderTable('App', [web, api], { now, namespaced: true })).toEqual([
      'NAME   READY   DESIRED   HEALTHY   REVISION   REASON             AGE',
      'web    True    3         3         5d8c7f     AllReplicasReady   3m20s',
      'api' + ' '.repeat(12) + '2' + ' '.repeat(49) + '45s',
    ]);
  });

  it('puts NAMESPACE first when listing all namespaces of a namespaced kind', () => {
    const storefront = {
      metadata: { name: 'storefront', namespace: 'shop', creationTimestamp: ago(5 * HOUR) },
      spec: { host: 'shop.example.com', pathPrefix: '/', app: 'web' },
      status: { conditions: ready('True', 'Admitted') },
    };
    const hello = {
      metadata: { name: 'hello', namespace: 'default', creationTimestamp: ago(3 * DAY + 4 * HOUR) },
      spec: { host: 'hello.local', app: 'hello' },
    };
    expect(renderTable('Route', [storefront, hello], { now, namespaced: true, allNamespaces: true })).toEqual([
      'NAMESPACE   NAME         READY   HOST               APP     REASON     AGE',
      'shop        storefront   True    shop.example.com   web     Admitted   5h',
      'default     hello                hello.local        hello              3d4h',
    ]);
  });

  it('never prints NAMESPACE for a cluster-scoped kind', () => {
    const node = { metadata: { name: 'n1', creationTimestamp: ago(10 * DAY) }, spec: { address: '10.0.0.5:7070' } };
    const [header] = renderTable('Node', [node], { now, namespaced: false, allNamespaces: true });
    expect(header?.split(/\s+/)).toEqual(['NAME', 'READY', 'ADDRESS', 'ALLOCATABLE-MEMORY', 'INSTANCES', 'REASON', 'AGE']);
  });

  it('adds the priority 1 columns with wide', () => {
    const route = { metadata: { name: 'storefront', namespace: 'shop' }, spec: { host: 'shop.example.com', pathPrefix: '/api', app: 'web' } };
    expect(cells(renderTable('Route', [route], { now, namespaced: true }))[0]).not.toHaveProperty('PATH');
    expect(cells(renderTable('Route', [route], { now, namespaced: true, wide: true }))[0]).toMatchObject({ HOST: 'shop.example.com', PATH: '/api', APP: 'web' });
  });

  it('prints nothing for an empty list (kubectl prints no header either)', () => {
    expect(renderTable('App', [], { now, namespaced: true })).toEqual([]);
  });

  it('keeps the order of the list', () => {
    expect(cells(renderTable('App', [api, web], { now, namespaced: true })).map((row) => row.NAME)).toEqual(['api', 'web']);
  });

  it('prints booleans and integers as Go does, and nothing for a missing or mistyped value', () => {
    const tenant = (spec: Record<string, unknown>, status: Record<string, unknown>) => ({ metadata: { name: 'acme' }, spec, status });
    const rows = cells(
      renderTable(
        'Tenant',
        [tenant({ suspended: false }, { usage: { memory: '4Gi', apps: 12 } }), tenant({ suspended: true }, { usage: { apps: 2.7 } }), tenant({}, { usage: { apps: '3' } })],
        { now, namespaced: false, wide: true },
      ),
    );
    expect(rows.map((r) => [r.SUSPENDED, r.MEMORY, r.APPS])).toEqual([
      ['false', '4Gi', '12'],
      ['true', '', '2'],
      ['', '', ''],
    ]);
  });

  it('prints the text of any JSON value in a string column, and <no value> for null', () => {
    const revision = (value: unknown) => cells(renderTable('App', [appWith({ revision: value })], { now, namespaced: true }))[0]?.REVISION;
    expect(revision(null)).toBe('<no value>');
    expect(revision(42)).toBe('42');
    expect(revision(1.5)).toBe('1.5');
    expect(revision(1234567.5)).toBe('1.2345675e+06');
    expect(revision(0.00001)).toBe('1e-05');
    expect(revision(true)).toBe('true');
    expect(revision({ b: 1, a: 'x' })).toBe('{"a":"x","b":1}');
  });

  it('shows dates as ages and bad dates as the API server does', () => {
    const age = (timestamp: unknown) => cells(renderTable('App', [appWith({}, timestamp)], { now, namespaced: true }))[0]?.AGE;
    expect(age(undefined)).toBe('');
    expect(age('')).toBe('<unknown>');
    expect(age('0001-01-01T00:00:00Z')).toBe('<unknown>');
    expect(age('yesterday')).toBe('<invalid>');
    expect(age('2025-02-30T00:00:00Z')).toBe('<invalid>');
    expect(age('2025-13-01T00:00:00Z')).toBe('<invalid>');
    expect(age('2025-03-00T00:00:00Z')).toBe('<invalid>');
    expect(age('2025-03-01T24:00:00Z')).toBe('<invalid>');
    expect(age('2025-03-01 11:00:00Z')).toBe('<invalid>');
    expect(age(1740826800000)).toBe('');
    expect(age('2025-03-01T13:00:00+02:00')).toBe('60m');
    expect(age('2025-03-01T11:59:58.5Z')).toBe('1s');
    expect(age('2025-03-01T12:00:05Z')).toBe('<invalid>');
  });

  it('cuts a cell at its first line break and shows escape characters', () => {
    const row = cells(renderTable('App', [appWith({ revision: '\x1b[31mred', conditions: ready('False', 'CrashLoop\nexit code 1') })], { now, namespaced: true }))[0];
    expect(row).toMatchObject({ REVISION: '^[[31mred', REASON: 'CrashLoop...' });
  });

  it('measures width in code points, as Go does', () => {
    const lines = renderTable('App', [appWith({ revision: '🚀🚀' }), appWith({ revision: 'abcd' })], { now, namespaced: true });
    const reasonAt = lines[0]?.indexOf('REASON') ?? -1;
    expect([...(lines[1] ?? '')].length).toBe([...(lines[2] ?? '')].length);
    expect((lines[2] ?? '').slice(0, reasonAt).endsWith('abcd       ')).toBe(true);
  });

  it('throws for a kind tend does not have', () => {
    expect(() => renderTable('Pod', [web], { now, namespaced: true })).toThrow('unknown kind Pod');
  });
});

describe('humanDuration', () => {
  it.each([
    [-2 * SECOND, '<invalid>'],
    [-1.5 * SECOND, '0s'],
    [-500, '0s'],
    [0, '0s'],
    [1 * SECOND, '1s'],
    [70 * SECOND, '70s'],
    [119 * SECOND + 999, '119s'],
    [2 * MINUTE, '2m'],
    [190 * SECOND, '3m10s'],
    [9 * MINUTE + 59 * SECOND, '9m59s'],
    [10 * MINUTE + 30 * SECOND, '10m'],
    [70 * MINUTE, '70m'],
    [179 * MINUTE + 59 * SECOND, '179m'],
    [3 * HOUR, '3h'],
    [3 * HOUR + 5 * MINUTE, '3h5m'],
    [7 * HOUR + 59 * MINUTE, '7h59m'],
    [8 * HOUR + 30 * MINUTE, '8h'],
    [47 * HOUR + 59 * MINUTE, '47h'],
    [48 * HOUR, '2d'],
    [49 * HOUR, '2d1h'],
    [7 * DAY + 23 * HOUR, '7d23h'],
    [8 * DAY + 2 * HOUR, '8d'],
    [367 * DAY, '367d'],
    [729 * DAY + 23 * HOUR, '729d'],
    [730 * DAY, '2y'],
    [730 * DAY + 25 * HOUR, '2y1d'],
    [8 * 365 * DAY - HOUR, '7y364d'],
    [8 * 365 * DAY + 2 * HOUR, '8y'],
    [20 * 365 * DAY + 100 * DAY, '20y'],
  ])('%d ms is %s', (ms, text) => {
    expect(humanDuration(ms)).toBe(text);
  });
});

describe('formatAge', () => {
  it('is the human duration from creation to now', () => {
    expect(formatAge(new Date('2025-03-01T11:56:40Z'), now)).toBe('3m20s');
    expect(formatAge(new Date('2025-02-26T07:00:00Z'), now)).toBe('3d5h');
  });
});

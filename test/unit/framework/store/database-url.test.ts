import { describe, expect, it } from 'vitest';
import { DatabaseUrlError, describeHosts, parseDatabaseUrl, sessionRefusal, withLogin } from '../../../../framework/store/index.js';

describe('parseDatabaseUrl', () => {
  it('splits a host list into one single-host URL per server, in order, without target_session_attrs', () => {
    const t = parseDatabaseUrl('postgres://tend:secret@db1:5432,db2:5433/tend?target_session_attrs=read-write&sslmode=disable');
    expect(t.hosts).toEqual([{ host: 'db1', port: 5432 }, { host: 'db2', port: 5433 }]);
    expect(t.targetSessionAttrs).toBe('read-write');
    expect(t.hostUrls).toEqual(['postgres://tend:secret@db1:5432/tend?sslmode=disable', 'postgres://tend:secret@db2:5433/tend?sslmode=disable']);
    expect([t.user, t.password, t.database]).toEqual(['tend', 'secret', 'tend']);
    expect(describeHosts(t)).toBe('db1:5432, db2:5433');
  });

  it('gives a host without a port the default port 5432', () => {
    const t = parseDatabaseUrl('postgresql://a,b:6000,c/db?target_session_attrs=primary');
    expect(t.hosts).toEqual([{ host: 'a', port: 5432 }, { host: 'b', port: 6000 }, { host: 'c', port: 5432 }]);
    expect(t.hostUrls).toEqual(['postgresql://a:5432/db', 'postgresql://b:6000/db', 'postgresql://c:5432/db']);
    expect(t.targetSessionAttrs).toBe('primary');
  });

  it('reads IPv6 addresses in brackets, with and without a port', () => {
    const t = parseDatabaseUrl('postgres://u@[::1]:5433,[fe80::2]/db?target_session_attrs=read-write');
    expect(t.hosts).toEqual([{ host: '::1', port: 5433 }, { host: 'fe80::2', port: 5432 }]);
    expect(t.hostUrls).toEqual(['postgres://u@[::1]:5433/db', 'postgres://u@[fe80::2]:5432/db']);
    expect(describeHosts(t)).toBe('[::1]:5433, [fe80::2]:5432');
  });

  it('decodes percent-encoded login, host and database, and passes them on still encoded', () => {
    const t = parseDatabaseUrl('postgres://us%40er:p%40ss%2Fw:rd@h%2Dx:1,h2:2/my%20db?target_session_attrs=any&application_name=a%20b');
    expect([t.user, t.password, t.database]).toEqual(['us@er', 'p@ss/w:rd', 'my db']);
    expect(t.hosts[0]).toEqual({ host: 'h-x', port: 1 });
    expect(t.hostUrls[0]).toBe('postgres://us%40er:p%40ss%2Fw:rd@h%2Dx:1/my%20db?application_name=a%20b');
  });

  it('takes the last @ of the authority as the end of the login', () => {
    expect(parseDatabaseUrl('postgres://u:p@ss@h1,h2/db').password).toBe('p@ss');
  });

  it('leaves a single-host URL without target_session_attrs exactly as written', () => {
    const url = 'postgres://tend:pw@127.0.0.1:5432/tend?sslmode=require';
    const t = parseDatabaseUrl(url);
    expect(t.hostUrls).toEqual([url]);
    expect(t.hosts).toEqual([{ host: '127.0.0.1', port: 5432 }]);
    expect(t.targetSessionAttrs).toBe('any');
    expect(parseDatabaseUrl('/var/run/postgresql').hostUrls).toEqual(['/var/run/postgresql']);
  });

  it('checks a single host too when target_session_attrs asks', () => {
    const t = parseDatabaseUrl('postgres://h/db?target_session_attrs=read-write');
    expect(t.targetSessionAttrs).toBe('read-write');
    expect(t.hostUrls).toEqual(['postgres://h:5432/db']);
  });

  it('without target_session_attrs takes any session, as libpq does', () => {
    expect(parseDatabaseUrl('postgres://h1,h2/db').targetSessionAttrs).toBe('any');
  });

  it('refuses target_session_attrs values that seek a standby, naming what to use', () => {
    for (const value of ['read-only', 'standby', 'prefer-standby']) {
      expect(() => parseDatabaseUrl(`postgres://h1,h2/db?target_session_attrs=${value}`)).toThrow(
        new DatabaseUrlError(`target_session_attrs=${value} is not supported: tend writes, so its sessions must go to the primary (use read-write or primary)`),
      );
    }
    expect(() => parseDatabaseUrl('postgres://h1/db?target_session_attrs=readwrite')).toThrow('database URL: target_session_attrs must be any, read-write or primary, got "readwrite"');
    expect(() => parseDatabaseUrl('postgres://h1/db?target_session_attrs=any&target_session_attrs=primary')).toThrow(/more than once/);
  });

  it('refuses malformed host lists with the host named', () => {
    expect(() => parseDatabaseUrl('postgres://h1,,h3/db')).toThrow('database URL: host 2 is empty: name every host (postgres://h1:5432,h2:5432/db)');
    expect(() => parseDatabaseUrl('postgres://h1:99999,h2/db')).toThrow('database URL: host 1: the port must be a number from 1 to 65535, got "99999"');
    expect(() => parseDatabaseUrl('postgres://h1,h2:x/db')).toThrow(/host 2: the port must be a number/);
    expect(() => parseDatabaseUrl('postgres://h1,::1/db')).toThrow('database URL: host 2: an IPv6 address must be written in brackets ([::1]:5432)');
    expect(() => parseDatabaseUrl('postgres://h1,[::1/db')).toThrow(/host 2: an IPv6 address opened with \[ is not closed/);
    expect(() => parseDatabaseUrl('postgres://h1,[::1]x/db')).toThrow(/only :PORT may follow/);
    expect(() => parseDatabaseUrl('postgres://h1,h%zz/db')).toThrow(/host 2's name has a malformed percent-encoding/);
  });

  it('refuses, with several hosts, parameters that would give pg one host or port for all', () => {
    expect(() => parseDatabaseUrl('postgres://h1,h2/db?port=5433')).toThrow(/give each its port in the host list .* not the port parameter/);
    expect(() => parseDatabaseUrl('postgres://h1,h2/db?host=h3')).toThrow(/not the host parameter/);
    expect(() => parseDatabaseUrl('postgres://h1,h2/db?load_balance_hosts=random')).toThrow('database URL: load_balance_hosts=random is not supported: hosts are tried in the order given');
    expect(parseDatabaseUrl('postgres://h1,h2/db?load_balance_hosts=disable').hostUrls).toHaveLength(2);
  });

  it('never puts the URL (or its password) in an error', () => {
    try {
      parseDatabaseUrl('postgres://u:hunter2@h1,[::1/db');
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).not.toContain('hunter2');
    }
  });
});

describe('withLogin', () => {
  it('replaces the login and keeps the host list', () => {
    expect(withLogin('postgres://admin:old@h1:5432,h2:5433/tend?target_session_attrs=read-write&user=x&password=y', { user: 'tend_node_a', password: 'n/w@p' }))
      .toBe('postgres://tend_node_a:n%2Fw%40p@h1:5432,h2:5433/tend?target_session_attrs=read-write');
    expect(withLogin('postgres://admin:old@h1,h2/tend', { password: '***' })).toBe('postgres://admin:***@h1,h2/tend');
    expect(withLogin('postgres://h1/tend', { user: 'u' })).toBe('postgres://u@h1/tend');
  });
});

describe('sessionRefusal', () => {
  it('follows libpq: read-write wants no recovery and writable sessions, primary only no recovery', () => {
    const primary = { in_recovery: false, read_only: 'off' };
    const standby = { in_recovery: true, read_only: 'on' };
    const readOnlyPrimary = { in_recovery: false, read_only: 'on' };
    expect([primary, standby, readOnlyPrimary].map((f) => sessionRefusal('read-write', f))).toEqual([undefined, 'in recovery (a standby)', 'sessions are read-only (default_transaction_read_only)']);
    expect([primary, standby, readOnlyPrimary].map((f) => sessionRefusal('primary', f))).toEqual([undefined, 'in recovery (a standby)', undefined]);
    expect([primary, standby, readOnlyPrimary].map((f) => sessionRefusal('any', f))).toEqual([undefined, undefined, undefined]);
  });
});

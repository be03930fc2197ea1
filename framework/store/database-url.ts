/**
 * Database URLs as libpq reads them, host lists included: `postgres://h1:5432,h2:5433/tend?target_session_attrs=read-write`
 * names a primary and its standby, and a session goes to whichever of them takes writes
 * (libpq "Multiple hosts", 34.1.1.3). node-postgres reads only one host (brianc/node-postgres#2308),
 * so the URL is split here into one single-host URL per server, each given to pg unchanged
 * otherwise (its sslmode, options and other parameters keep pg's meaning); `connect.ts` tries
 * them in order. Pure: no I/O, unit-tested.
 *
 * Supported: hosts with optional ports (5432 when absent), IPv6 addresses in brackets,
 * percent-encoding, and `target_session_attrs` = `any` (the first host that answers, libpq's
 * default), `read-write` (not in recovery and `transaction_read_only` off) or `primary` (not in
 * recovery). Refused with a `DatabaseUrlError`: the standby-seeking values (tend writes), and, with
 * several hosts, `host`/`hostaddr`/`port` query parameters and `load_balance_hosts=random`.
 */
import { DatabaseUrlError } from './database-url-error.js';

/** What a session must be for tend to keep it; libpq's `target_session_attrs` values that can write. */
export type TargetSessionAttrs = 'any' | 'read-write' | 'primary';

/** One server of a database URL. */
export interface DatabaseHost {
  /** Percent-decoded; an IPv6 address without its brackets. */
  readonly host: string;
  readonly port: number;
}

/** A database URL taken apart. */
export interface DatabaseTarget {
  /** The servers in the order given; empty for a string that is not a URL (passed to pg as it is). */
  readonly hosts: readonly DatabaseHost[];
  readonly targetSessionAttrs: TargetSessionAttrs;
  /** One connection string per host, same order, without `target_session_attrs`: what pg is given. */
  readonly hostUrls: readonly string[];
  /** Percent-decoded parts of the login, when the URL has them (in its user info). */
  readonly user: string | undefined;
  readonly password: string | undefined;
  readonly database: string | undefined;
}

const DEFAULT_PORT = 5432;
const SESSION_ATTRS: readonly TargetSessionAttrs[] = ['any', 'read-write', 'primary'];
// libpq's values that ask for a server that cannot take writes.
const READ_ONLY_ATTRS = ['read-only', 'standby', 'prefer-standby'];
// With a host list, these would give pg one host or one port for all, behind the list's back.
const SINGLE_HOST_PARAMS = ['host', 'hostaddr', 'port'];

/** Takes `url` apart; throws `DatabaseUrlError` when it is malformed or asks for what tend does not support. */
export function parseDatabaseUrl(url: string): DatabaseTarget {
  const parts = splitUrl(url);
  if (!parts) {
    // Not a URL (a socket path): pg reads it; it can carry no host list.
    if (/target_session_attrs/i.test(url)) throw new DatabaseUrlError('target_session_attrs needs the URL form: postgres://h1:5432,h2:5432/db?target_session_attrs=read-write');
    return { hosts: [], targetSessionAttrs: 'any', hostUrls: [url], user: undefined, password: undefined, database: undefined };
  }
  const params = parseQuery(parts.query);
  const attrs = sessionAttrs(params);
  const hostSpecs = parts.hosts.split(',');
  const login = parseUserInfo(parts.userInfo);
  const database = parts.path.length > 1 ? decode(parts.path.slice(1), 'the database name') : undefined;
  // One host and nothing to strip: pg gets the very string it got before host lists existed.
  if (hostSpecs.length === 1 && !params.some((p) => p.key === 'target_session_attrs')) {
    const hosts = parts.hosts === '' ? [] : [parseHost(hostSpecs[0]!, 1)];
    return { hosts, targetSessionAttrs: attrs, hostUrls: [url], ...login, database };
  }
  if (hostSpecs.length > 1) {
    for (const p of params) {
      if (SINGLE_HOST_PARAMS.includes(p.key)) throw new DatabaseUrlError(`with several hosts, give each its port in the host list (postgres://h1:5432,h2:5433/db), not the ${p.key} parameter`);
      if (p.key === 'load_balance_hosts' && p.value !== 'disable') throw new DatabaseUrlError(`load_balance_hosts=${p.value} is not supported: hosts are tried in the order given`);
    }
  }
  const hosts = hostSpecs.map((spec, i) => parseHost(spec, hostSpecs.length > 1 ? i + 1 : 1));
  const query = params.filter((p) => p.key !== 'target_session_attrs').map((p) => p.raw).join('&');
  const tail = `${parts.path}${query ? `?${query}` : ''}${parts.fragment}`;
  const userInfo = parts.userInfo === undefined ? '' : `${parts.userInfo}@`;
  const hostUrls = hosts.map((h, i) => `${parts.scheme}://${userInfo}${hostSpecs[i]!.startsWith('[') ? `[${h.host}]` : rawHost(hostSpecs[i]!)}:${h.port}${tail}`);
  return { hosts, targetSessionAttrs: attrs, hostUrls, ...login, database };
}

/**
 * `url` with its login replaced: `user` and/or `password` (percent-encoded here) in the user info,
 * and the `user`/`password` query parameters they replace removed. The host list and everything
 * else stay as written. For a string that is not a URL, `url` itself.
 */
export function withLogin(url: string, login: { readonly user?: string; readonly password?: string }): string {
  const parts = splitUrl(url);
  if (!parts) return url;
  const current = parts.userInfo ?? '';
  const colon = current.indexOf(':');
  const user = login.user !== undefined ? encodeURIComponent(login.user) : colon === -1 ? current : current.slice(0, colon);
  const password = login.password !== undefined ? encodeURIComponent(login.password) : colon === -1 ? undefined : current.slice(colon + 1);
  const replaced = [...(login.user !== undefined ? ['user'] : []), ...(login.password !== undefined ? ['password'] : [])];
  const query = parseQuery(parts.query).filter((p) => !replaced.includes(p.key)).map((p) => p.raw).join('&');
  const userInfo = user === '' && password === undefined ? '' : `${user}${password === undefined ? '' : `:${password}`}@`;
  return `${parts.scheme}://${userInfo}${parts.hosts}${parts.path}${query ? `?${query}` : ''}${parts.fragment}`;
}

/** `host:port, host:port` of a target, for messages (never the login). */
export function describeHosts(target: DatabaseTarget): string {
  return target.hosts.length === 0 ? 'the server of the connection string' : target.hosts.map(hostName).join(', ');
}

/** `host:port`, IPv6 in brackets. */
export function hostName(host: DatabaseHost): string {
  return host.host.includes(':') ? `[${host.host}]:${host.port}` : `${host.host}:${host.port}`;
}

interface UrlParts {
  readonly scheme: string;
  /** Raw (still percent-encoded), without the `@`; undefined when there is none. */
  readonly userInfo: string | undefined;
  /** Raw host list: `h1:5432,[::1]:5433`. */
  readonly hosts: string;
  /** `/db` or ''. */
  readonly path: string;
  /** Without the `?`. */
  readonly query: string;
  /** With its `#`, or ''. */
  readonly fragment: string;
}

interface QueryParam {
  readonly key: string;
  readonly value: string;
  /** As written, to pass on unchanged. */
  readonly raw: string;
}

/** Splits a `postgres://` or `postgresql://` URL into its parts; undefined for anything else. */
function splitUrl(url: string): UrlParts | undefined {
  const scheme = /^(postgres(?:ql)?):\/\//i.exec(url);
  if (!scheme) return undefined;
  let rest = url.slice(scheme[0].length);
  const hash = rest.indexOf('#');
  const fragment = hash === -1 ? '' : rest.slice(hash);
  if (hash !== -1) rest = rest.slice(0, hash);
  // The authority ends at the first / or ?, as in a WHATWG URL; in it the user info ends at the last @.
  const end = rest.search(/[/?]/);
  const authority = end === -1 ? rest : rest.slice(0, end);
  const afterAuthority = end === -1 ? '' : rest.slice(end);
  const at = authority.lastIndexOf('@');
  const question = afterAuthority.indexOf('?');
  return {
    scheme: scheme[1]!,
    userInfo: at === -1 ? undefined : authority.slice(0, at),
    hosts: authority.slice(at + 1),
    path: question === -1 ? afterAuthority : afterAuthority.slice(0, question),
    query: question === -1 ? '' : afterAuthority.slice(question + 1),
    fragment,
  };
}

function parseQuery(query: string): QueryParam[] {
  if (query === '') return [];
  return query.split('&').filter((raw) => raw !== '').map((raw) => {
    const eq = raw.indexOf('=');
    const key = decode(eq === -1 ? raw : raw.slice(0, eq), 'a query parameter');
    return { key, value: eq === -1 ? '' : decode(raw.slice(eq + 1), `the ${key} parameter`), raw };
  });
}

function sessionAttrs(params: readonly QueryParam[]): TargetSessionAttrs {
  const given = params.filter((p) => p.key === 'target_session_attrs');
  if (given.length === 0) return 'any';
  if (given.length > 1) throw new DatabaseUrlError('target_session_attrs is given more than once');
  const value = given[0]!.value;
  if (READ_ONLY_ATTRS.includes(value)) {
    throw new DatabaseUrlError(`target_session_attrs=${value} is not supported: tend writes, so its sessions must go to the primary (use read-write or primary)`);
  }
  if (!(SESSION_ATTRS as readonly string[]).includes(value)) throw new DatabaseUrlError(`target_session_attrs must be any, read-write or primary, got ${JSON.stringify(value)}`);
  return value as TargetSessionAttrs;
}

/** `host`, `host:port`, `[v6]` or `[v6]:port`; `position` (1-based) names it in errors. */
function parseHost(spec: string, position: number): DatabaseHost {
  const which = `host ${position}`;
  let host: string;
  let port: string | undefined;
  if (spec.startsWith('[')) {
    const close = spec.indexOf(']');
    if (close === -1) throw new DatabaseUrlError(`${which}: an IPv6 address opened with [ is not closed with ]`);
    host = spec.slice(1, close);
    const after = spec.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) throw new DatabaseUrlError(`${which}: only :PORT may follow an IPv6 address in brackets`);
    port = after === '' ? undefined : after.slice(1);
    if (!/^[0-9a-f:.]+(%.+)?$/i.test(host) || !host.includes(':')) throw new DatabaseUrlError(`${which}: not an IPv6 address: ${JSON.stringify(host)}`);
  } else {
    const pieces = spec.split(':');
    if (pieces.length > 2) throw new DatabaseUrlError(`${which}: an IPv6 address must be written in brackets ([::1]:5432)`);
    host = decode(pieces[0]!, `${which}'s name`);
    port = pieces[1];
  }
  if (host === '') throw new DatabaseUrlError(`${which} is empty: name every host (postgres://h1:5432,h2:5432/db)`);
  if (port === undefined || port === '') return { host, port: DEFAULT_PORT };
  const n = Number(port);
  if (!/^\d+$/.test(port) || n < 1 || n > 65535) throw new DatabaseUrlError(`${which}: the port must be a number from 1 to 65535, got ${JSON.stringify(port)}`);
  return { host, port: n };
}

/** The host part of `host[:port]` as written (still encoded). */
function rawHost(spec: string): string {
  const colon = spec.indexOf(':');
  return colon === -1 ? spec : spec.slice(0, colon);
}

function parseUserInfo(userInfo: string | undefined): { user: string | undefined; password: string | undefined } {
  if (userInfo === undefined) return { user: undefined, password: undefined };
  const colon = userInfo.indexOf(':');
  const user = colon === -1 ? userInfo : userInfo.slice(0, colon);
  return {
    user: user === '' ? undefined : decode(user, 'the user name'),
    password: colon === -1 ? undefined : decode(userInfo.slice(colon + 1), 'the password'),
  };
}

function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new DatabaseUrlError(`${what} has a malformed percent-encoding (% must be followed by two hex digits)`);
  }
}

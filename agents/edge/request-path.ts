/**
 * The request target as the edge matches and forwards it, normalised the way Envoy's
 * `normalize_path` does (RFC 3986 §6.2.2): percent-encoded unreserved characters decoded, the
 * other escapes' hex in upper case, dot segments resolved. Matching the raw target while the
 * backend resolves it would let `/public/../admin` pass a `/public` route and reach the backend as
 * `/admin`; so the prefix is matched on the normalised path and exactly that path is forwarded.
 *
 * Refused with 400, because a backend may read them differently from the edge: a path that climbs
 * above the root, an encoded slash or backslash (`%2F`, `%5C`: Envoy's `REJECT_REQUEST` choice),
 * a raw backslash (WHATWG URL parsers treat it as `/`), an encoded NUL, malformed escapes, a dot
 * segment with `;` parameters (`..;` is `..` to Tomcat), and targets that are no path at all
 * (`*`, authority form). Repeated slashes are kept, as Envoy does by default. Pure.
 */

/** A target the edge accepts. */
export interface NormalisedTarget {
  readonly ok: true;
  /** Starts with `/`; no dot segments; what routing matches. */
  readonly path: string;
  /** `?…` as the client sent it, or empty. */
  readonly query: string;
  /** For an absolute-form target (`GET http://host/p`), its authority: it replaces Host (RFC 9112 §3.2.2). */
  readonly authority?: string;
}

/** A target the edge refuses with 400, and why (for the access log and the page). */
export interface RefusedTarget {
  readonly ok: false;
  readonly reason: string;
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** Normalises a request line's target; see the module notes for what is refused. */
export function normaliseRequestTarget(target: string): NormalisedTarget | RefusedTarget {
  let rest = target;
  let authority: string | undefined;
  if (!rest.startsWith('/')) {
    const absolute = /^https?:\/\/([^/?#]*)/i.exec(rest);
    if (!absolute) return refused('the request target is not a path');
    authority = absolute[1]!;
    rest = rest.slice(absolute[0].length) || '/';
    if (!rest.startsWith('/')) rest = `/${rest}`;
  }
  const hash = rest.indexOf('#');
  if (hash !== -1) rest = rest.slice(0, hash); // a fragment is never sent to a server; dropped
  const q = rest.indexOf('?');
  const rawPath = q === -1 ? rest : rest.slice(0, q);
  const query = q === -1 ? '' : rest.slice(q);
  if (rawPath.includes('\\')) return refused('the path holds a backslash');

  const decoded = decodeUnreserved(rawPath);
  if (!decoded.ok) return decoded;
  const resolved = removeDotSegments(decoded.path);
  if (!resolved.ok) return resolved;
  return { ok: true, path: resolved.path, query, ...(authority !== undefined ? { authority } : {}) };
}

function decodeUnreserved(path: string): { ok: true; path: string } | RefusedTarget {
  if (!path.includes('%')) return { ok: true, path };
  let out = '';
  for (let i = 0; i < path.length; i++) {
    const c = path[i]!;
    if (c !== '%') {
      out += c;
      continue;
    }
    const hex = path.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return refused('the path holds a malformed percent-encoding');
    const code = parseInt(hex, 16);
    if (code === 0) return refused('the path holds an encoded NUL (%00)');
    if (code === 0x2f || code === 0x5c) return refused('the path holds an encoded slash or backslash (%2F, %5C)');
    const char = String.fromCharCode(code);
    out += UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
    i += 2;
  }
  return { ok: true, path: out };
}

/** RFC 3986 §5.2.4 on an absolute path, except that climbing above the root is refused. */
function removeDotSegments(path: string): { ok: true; path: string } | RefusedTarget {
  const segments = path.slice(1).split('/');
  if (!segments.some((s) => s.startsWith('.'))) return { ok: true, path };
  const out: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    const last = i === segments.length - 1;
    if (/^\.\.?;/.test(segment)) return refused('the path holds a dot segment with parameters');
    if (segment === '.' || segment === '..') {
      if (segment === '..' && out.pop() === undefined) return refused('the path climbs above the root');
      if (last) out.push(''); // `/a/b/..` is `/a/`: a directory
      continue;
    }
    out.push(segment);
  }
  return { ok: true, path: `/${out.join('/')}` };
}

function refused(reason: string): RefusedTarget {
  return { ok: false, reason };
}

/**
 * Host name patterns of Tenants (spec.allowedHostnames) across tenants. Pure.
 *
 * Two tenants' patterns overlap when some host matches both (`*.example` and `shop.example`, or
 * the same name twice). The more specific pattern wins the hosts it covers: an exact name beats
 * any wildcard, and `*.shop.example` beats `*.example`. A host is open to the tenants whose best
 * pattern for it is the most specific one around; when that is a tie (the same pattern on two
 * tenants), the host goes to whichever claims it first (reconcilers/host-claims.ts).
 *
 * `patternKeys` / `overlapKeys` / `hostKeys` let a cache index the patterns of every Tenant so
 * that finding the candidates costs a few lookups, not a pass over all tenants.
 */
import type { Tenant } from '../api/types/tenant.js';
import type { ConditionUpdate } from '../framework/index.js';

/** A parsed pattern: `shop.example` (exact) or `*.example` (wildcard, name `example`). */
interface Pattern {
  readonly wild: boolean;
  readonly name: string;
}

function parse(pattern: string): Pattern {
  const p = pattern.toLowerCase();
  return p.startsWith('*.') ? { wild: true, name: p.slice(2) } : { wild: false, name: p };
}

/** The proper parent domains of `name`: `a.b.c` → `b.c`, `c`. */
function parents(name: string): string[] {
  const out: string[] = [];
  for (let i = name.indexOf('.'); i !== -1; i = name.indexOf('.', i + 1)) out.push(name.slice(i + 1));
  return out;
}

const under = (name: string, domain: string) => name.endsWith(`.${domain}`);

/** Whether `host` matches `pattern` (`*.example` matches any name below example, not example itself). */
export function patternMatches(pattern: string, host: string): boolean {
  const p = parse(pattern);
  const h = host.toLowerCase();
  return p.wild ? under(h, p.name) : h === p.name;
}

/** Whether some host matches both patterns. */
export function patternsOverlap(a: string, b: string): boolean {
  const [p, q] = [parse(a), parse(b)];
  if (!p.wild && !q.wild) return p.name === q.name;
  if (p.wild && !q.wild) return under(q.name, p.name);
  if (!p.wild && q.wild) return under(p.name, q.name);
  return p.name === q.name || under(p.name, q.name) || under(q.name, p.name);
}

/** How specific a pattern is: an exact name beats every wildcard; a deeper wildcard beats a shallower one. */
export function specificity(pattern: string): number {
  const p = parse(pattern);
  return p.wild ? p.name.split('.').length : Number.POSITIVE_INFINITY;
}

/** The most specific of `patterns` that matches `host`, if one does. */
export function bestPattern(host: string, patterns: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const p of patterns) if (patternMatches(p, host) && (best === undefined || specificity(p) > specificity(best))) best = p;
  return best;
}

/** Index keys of one pattern (see `overlapKeys` and `hostKeys` for the lookups). */
export function patternKeys(pattern: string): string[] {
  const p = parse(pattern);
  return [`n:${p.name}`, ...parents(p.name).map((a) => `a:${a}`), ...(p.wild ? [`w:${p.name}`] : [])];
}

/** Keys under which every pattern that may overlap `pattern` is indexed (a superset: filter with patternsOverlap). */
export function overlapKeys(pattern: string): string[] {
  const p = parse(pattern);
  return [`n:${p.name}`, ...(p.wild ? [`a:${p.name}`] : []), ...parents(p.name).map((a) => `w:${a}`)];
}

/** Keys under which every pattern that may match `host` is indexed (a superset: filter with patternMatches). */
export function hostKeys(host: string): string[] {
  const h = host.toLowerCase();
  return [`n:${h}`, ...parents(h).map((a) => `w:${a}`)];
}

/** One overlap of a tenant's pattern with another tenant's, and which one takes the shared hosts. */
export interface HostnameOverlap {
  readonly pattern: string;
  readonly tenant: string;
  readonly otherPattern: string;
  /** `ours`, `theirs`, or `first-claim` when both are as specific (the same pattern). */
  readonly winner: 'ours' | 'theirs' | 'first-claim';
}

/** Every overlap between `tenant`'s patterns and those of `others` (other tenants; itself is skipped), sorted. */
export function hostnameOverlaps(tenant: Tenant, others: readonly Tenant[]): HostnameOverlap[] {
  const out: HostnameOverlap[] = [];
  const seen = new Set<string>();
  for (const other of others) {
    if (other.metadata.name === tenant.metadata.name || seen.has(other.metadata.name)) continue;
    seen.add(other.metadata.name);
    for (const pattern of tenant.spec?.allowedHostnames ?? []) {
      for (const otherPattern of other.spec?.allowedHostnames ?? []) {
        if (!patternsOverlap(pattern, otherPattern)) continue;
        const [s, o] = [specificity(pattern), specificity(otherPattern)];
        out.push({ pattern, tenant: other.metadata.name, otherPattern, winner: s > o ? 'ours' : s < o ? 'theirs' : 'first-claim' });
      }
    }
  }
  return out.sort((a, b) => (a.pattern + a.tenant + a.otherPattern < b.pattern + b.tenant + b.otherPattern ? -1 : 1));
}

/**
 * Whether `tenant` may serve `host` as far as other tenants are concerned: its best pattern for
 * the host is at least as specific as every other tenant's (`others`: the tenants with a pattern
 * that may match). Returns the other tenant's winning pattern when it may not.
 */
export function moreSpecificElsewhere(host: string, tenant: Tenant, others: readonly Tenant[]): string | undefined {
  const ours = bestPattern(host, tenant.spec?.allowedHostnames ?? []);
  if (ours === undefined) return undefined;
  let winner: string | undefined;
  for (const other of others) {
    if (other.metadata.name === tenant.metadata.name) continue;
    const theirs = bestPattern(host, other.spec?.allowedHostnames ?? []);
    if (theirs !== undefined && specificity(theirs) > specificity(winner ?? ours)) winner = theirs;
  }
  return winner;
}

/** Keys (of hosts indexed by `patternKeys`) under which every host `pattern` matches is found (exact for a wildcard: below its name only). */
export function matchedKeys(pattern: string): string[] {
  const p = parse(pattern);
  return [p.wild ? `a:${p.name}` : `n:${p.name}`];
}

/** How many overlaps a condition message lists before "and N more". */
const LISTED_OVERLAPS = 5;

/**
 * The HostnamesExclusive condition of `tenant` given the Tenants whose patterns may overlap its
 * own: True, or False with reason HostnamesOverlap naming each overlap and which side takes the
 * shared hosts. Reported on both tenants; it does not make the tenant not Ready.
 */
export function hostnamesCondition(tenant: Tenant, others: readonly Tenant[]): ConditionUpdate {
  const overlaps = hostnameOverlaps(tenant, others);
  if (overlaps.length === 0) return { type: 'HostnamesExclusive', status: 'True', reason: 'Exclusive', message: '' };
  const say = (o: HostnameOverlap) =>
    o.winner === 'first-claim'
      ? `${o.pattern} is also allowed to tenant ${o.tenant}: each host it matches goes to the tenant whose Route claims it first`
      : `${o.pattern} overlaps ${o.otherPattern} of tenant ${o.tenant}: ${o.winner === 'ours' ? o.pattern : o.otherPattern} is more specific and takes the hosts it covers`;
  const more = overlaps.length - LISTED_OVERLAPS;
  return {
    type: 'HostnamesExclusive',
    status: 'False',
    reason: 'HostnamesOverlap',
    message: overlaps.slice(0, LISTED_OVERLAPS).map(say).join('; ') + (more > 0 ? `; and ${more} more` : ''),
  };
}

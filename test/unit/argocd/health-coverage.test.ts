/**
 * Every condition reason tend writes has an Argo CD health case captured from a real run
 * (test/integration/argocd/health-capture.test.ts), or is named below with why it has none yet;
 * and every reason a health check can meet is one its script knows.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { healthCheckDir } from '../../../api/argocd-cm.js';
import { schemasDir } from '../../../api/load-schema.js';
import { MISSING_REASON } from '../../../framework/conditions/index.js';

const root = dirname(schemasDir());

/** The files whose `reason: '…'` literals (and reason unions) end up in each kind's conditions. */
const SOURCES = {
  App: ['reconcilers/app.ts', 'reconcilers/app-secrets.ts', 'reconcilers/no-tenant.ts', 'reconcilers/app-tenancy.ts', 'reconcilers/app-placement.ts', 'reconcilers/app-volumes.ts', 'reconcilers/volume-claims.ts', 'controllers/app-secrets.ts', 'reconcilers/scheduler.ts', 'agents/node/plan.ts', 'agents/node/sealed-env.ts'],
  Tenant: ['reconcilers/tenant.ts', 'reconcilers/hostnames.ts'],
  Route: ['reconcilers/route.ts', 'reconcilers/route-tls.ts'],
  Volume: ['reconcilers/volume.ts'],
  Node: ['reconcilers/node.ts'],
} as const;
type Kind = keyof typeof SOURCES;

/** Reasons in those files that are no condition's. */
const NOT_CONDITIONS: Partial<Record<Kind, readonly string[]>> = {
  App: ['CPUQuotaExceeded', 'Error'], // a placement warning (logged), and an instance's exit reason
};

/** Reasons with no captured case yet, and why: what it takes to reach them in a test. */
const NOT_CAPTURED: Record<Kind, Record<string, string>> = {
  App: {
    SizeExceeded: 'a volume over its spec.size needs data written past it and a usage report',
    InvalidCommand: 'the CRD rejects an empty command; only an older object could carry one',
    InvalidSpec: 'the CRD rejects every spec the agent would refuse as invalid',
    RuntimeError: 'the process runtime failing to start a valid command',
    SecretUnavailable: 'a node whose sealing key changed under an instance',
  },
  Tenant: {},
  Route: {
    NoCertificatesKey: 'a database where no certificates key was ever published (the capture run publishes one)',
    Issuing: 'the moment between planning an issue and writing it: the next reconcile follows at once',
    CertificatePending: 'a Route sharing a host whose older Route with spec.tls has no certificate yet: as brief as Issuing',
  },
  Volume: {
    RestoreNotAllowed: 'restoring from backups another tenant made: the namespace must change hands',
    Restoring: 'a restore in progress: needs a backup first',
    ProvisioningFailed: 'the agent failing to create the folder',
    SizeExceeded: 'data written past spec.size and a usage report',
    BackupOverdue: 'two scheduled backups missed: hours with a real schedule',
    InvalidSchedule: 'the CRD rejects a schedule that does not parse',
    BackedUp: 'a backup having run (BackedUp=True; no effect on health)',
    Deleting: 'the moment the agent removes the data',
  },
  Node: {
    SandboxUnavailable: 'an agent on a machine without namespaces (this one has them)',
  },
};

function producedReasons(kind: Kind): Set<string> {
  const reasons = new Set<string>();
  for (const file of SOURCES[kind]) {
    const text = readFileSync(join(root, file), 'utf8');
    // `reason: 'X'`, and `reason: cond ? 'X' : 'Y'`
    for (const m of text.matchAll(/reason: ([^,}\n]*)/g)) for (const r of m[1]!.matchAll(/'([A-Z]\w+)'/g)) reasons.add(r[1]!);
    for (const m of text.matchAll(/(?:reason\??: |Reason = )((?:'[A-Z]\w+'\s*\|\s*)+'[A-Z]\w+')/g)) {
      for (const r of m[1]!.matchAll(/'(\w+)'/g)) reasons.add(r[1]!);
    }
  }
  if (kind !== 'Route') reasons.add('AsExpected'); // readySummary's Ready when every condition it summarises is True
  for (const r of NOT_CONDITIONS[kind] ?? []) reasons.delete(r);
  return reasons;
}

function capturedReasons(kind: Kind): Map<string, Set<string>> {
  const dir = join(root, healthCheckDir(kind), 'testdata');
  const byReason = new Map<string, Set<string>>();
  for (const file of readdirSync(dir)) {
    const text = readFileSync(join(dir, file), 'utf8');
    expect(text.startsWith('# captured from a real run by test/integration/argocd/health-capture.test.ts'), `${kind}/testdata/${file} was not captured`).toBe(true);
    const obj = parse(text) as { metadata: { uid?: string; resourceVersion?: string }; status?: { conditions?: { reason: string; status: string }[] } };
    expect(obj.metadata.uid, `${kind}/testdata/${file}: an object the API server stored has a uid`).toMatch(/^[0-9a-f-]{36}$/);
    for (const c of obj.status?.conditions ?? []) byReason.set(c.reason, (byReason.get(c.reason) ?? new Set()).add(c.status));
  }
  return byReason;
}

describe.each(Object.keys(SOURCES) as Kind[])('%s health cases', (kind) => {
  it('cover every reason tend writes, but the ones named as not captured yet', () => {
    const captured = capturedReasons(kind);
    const missing = [...producedReasons(kind)].filter((r) => !captured.has(r)).sort();
    expect(missing).toEqual(Object.keys(NOT_CAPTURED[kind]).sort());
  });

  it('come with a script that knows every reason it can meet that is not always True', () => {
    const script = readFileSync(join(root, healthCheckDir(kind), 'health.lua'), 'utf8');
    const captured = capturedReasons(kind);
    const judged = [...producedReasons(kind)].filter((r) => r !== 'AsExpected' && r !== MISSING_REASON && !(captured.has(r) && [...captured.get(r)!].every((s) => s === 'True')));
    expect(judged.filter((r) => !new RegExp(`\\b${r}\\b`).test(script))).toEqual([]);
  });
});

describe('the source scan', () => {
  it('finds every reason the schemas document (kubectl explain), so none escapes the cases above', () => {
    const found = new Set((Object.keys(SOURCES) as Kind[]).flatMap((k) => [...producedReasons(k)]));
    const documented = readdirSync(schemasDir())
      .filter((f) => f.endsWith('.schema.json'))
      .flatMap((f) => [...readFileSync(join(schemasDir(), f), 'utf8').matchAll(/reason ([A-Z]\w+)/g)].map((m) => m[1]!));
    expect(documented.length).toBeGreaterThan(10);
    expect([...new Set(documented)].filter((r) => !found.has(r))).toEqual([]);
  });
});

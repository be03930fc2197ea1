/**
 * The kube-apiserver's audit log of one user: what it asked for, verb by resource, read from the
 * JSON lines the server writes (`--audit-log-path`) under a policy that records only that user.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';

/** One request as the audit log records it (stage ResponseComplete, or ResponseStarted for a watch). */
export interface AuditedRequest {
  readonly verb: string;
  /** `group/resource[/subresource]`, the core group as ''. Absent for non-resource URLs. */
  readonly resource?: string;
  readonly requestURI: string;
  readonly code: number;
}

/** Writes an audit policy recording `user`'s requests (metadata only) into `dir`; returns the kube-apiserver flags. */
export function auditFlags(dir: string, user: string): { readonly args: string[]; readonly logFile: string } {
  const policy = join(dir, 'audit-policy.yaml');
  const logFile = join(dir, 'audit.log');
  writeFileSync(policy, stringify({
    apiVersion: 'audit.k8s.io/v1',
    kind: 'Policy',
    omitStages: ['RequestReceived'],
    rules: [{ level: 'Metadata', users: [user] }, { level: 'None' }],
  }));
  // The blocking backend writes each event before the request returns: the file is complete.
  return { args: [`--audit-policy-file=${policy}`, `--audit-log-path=${logFile}`, '--audit-log-format=json', '--audit-log-mode=blocking'], logFile };
}

/** Every request in `logFile`, once each (a watch logs ResponseStarted and ResponseComplete). */
export function auditedRequests(logFile: string): AuditedRequest[] {
  const byId = new Map<string, AuditedRequest>();
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    if (!line) continue;
    const e = JSON.parse(line) as {
      auditID: string; verb: string; requestURI: string; responseStatus?: { code?: number };
      objectRef?: { apiGroup?: string; resource?: string; subresource?: string };
    };
    const ref = e.objectRef;
    byId.set(e.auditID, {
      verb: e.verb,
      requestURI: e.requestURI,
      code: e.responseStatus?.code ?? 0,
      ...(ref?.resource ? { resource: `${ref.apiGroup ?? ''}/${ref.resource}${ref.subresource ? `/${ref.subresource}` : ''}` } : {}),
    });
  }
  return [...byId.values()];
}

import { describe, expect, it } from 'vitest';
import type { App, AppEnvVar } from '../../../api/types/app.js';
import { findCondition } from '../../../framework/conditions/index.js';
import { appStatus, planApp, templateOf, type AppInstance } from '../../../reconcilers/app.js';
import { describeSecretRef, resolveSecrets, secretEnvTooLarge, secretRefsOf, type ObservedSecret } from '../../../reconcilers/app-secrets.js';

const now = new Date('2026-01-02T03:04:05Z');

function app(env: AppEnvVar[], replicas = 2): App {
  return { apiVersion: 'tend.dev/v1alpha1', kind: 'App', metadata: { name: 'web', namespace: 'acme', generation: 1 }, spec: { replicas, command: ['node', 'server.mjs'], resources: { memory: '64Mi' }, env } };
}
const ref = (name: string, secret: string, key: string): AppEnvVar => ({ name, value: '', valueFrom: { secretKeyRef: { name: secret, key } } });
const withDb = app([{ name: 'LOG', value: 'info' }, ref('DB_PASSWORD', 'db', 'password'), ref('DB_USER', 'db', 'user')]);
const lookup = (secrets: Record<string, ObservedSecret>) => (name: string) => secrets[name];

describe('an App env from Secrets', () => {
  it('resolves when every Secret and key exists, with the Secrets\' versions', () => {
    const resolved = resolveSecrets(withDb, lookup({ db: { keys: ['password', 'user'], version: 'v1' } }));
    expect(resolved).toEqual({ versions: { db: 'v1' } });
    expect(secretRefsOf(withDb)).toEqual([
      { env: 'DB_PASSWORD', secret: 'db', key: 'password' },
      { env: 'DB_USER', secret: 'db', key: 'user' },
    ]);
  });

  it('is SecretNotFound naming the Secret, or the key and the keys there are, never a value', () => {
    expect(resolveSecrets(withDb, lookup({})).blocked).toEqual({
      reason: 'SecretNotFound',
      message: 'env DB_PASSWORD: secret acme/db not found; env DB_USER: secret acme/db not found: no instance of this revision starts until it exists (what runs keeps running)',
    });
    expect(resolveSecrets(withDb, lookup({ db: { keys: ['user', 'host'], version: 'v1' } })).blocked?.message).toBe(
      'env DB_PASSWORD: secret acme/db has no key password (its keys: host, user): no instance of this revision starts until it exists (what runs keeps running)',
    );
    expect(resolveSecrets(withDb, lookup({ db: { keys: ['password', 'user'], version: 'v1', problem: 'sealed to key abc' } })).blocked?.message).toContain('env DB_PASSWORD: secret acme/db key password cannot be used: sealed to key abc');
    expect(describeSecretRef('acme', { secret: 'db', key: 'password' })).toBe('secret acme/db key password');
  });

  it('keeps values out of the template: only names of variables, Secrets and keys', () => {
    const { template } = templateOf(withDb, { db: 'v1' });
    expect(template.env).toEqual({ LOG: 'info' });
    expect(template.secretEnv).toEqual([
      { name: 'DB_PASSWORD', secret: 'acme/db', key: 'password' },
      { name: 'DB_USER', secret: 'acme/db', key: 'user' },
    ]);
  });

  it('is a new revision when a referenced Secret\'s version changes, and the same one when it does not', () => {
    const v1 = templateOf(withDb, { db: 'v1' }).revision;
    expect(templateOf(withDb, { db: 'v1' }).revision).toBe(v1);
    expect(templateOf(withDb, { db: 'v2' }).revision).not.toBe(v1);
    expect(templateOf(withDb, { db: 'v1', other: 'x' }).revision).toBe(v1); // an unreferenced Secret is no part of it
    // An App without Secrets keeps the revision it always had.
    const plain = app([{ name: 'LOG', value: 'info' }]);
    expect(templateOf(plain, { db: 'v9' }).revision).toBe(templateOf(plain).revision);
    expect(templateOf(plain).template).not.toHaveProperty('secretEnv');
  });

  it('rolls out when the Secret changes: new instances of the new revision, old ones stop as they become ready', () => {
    const v1 = templateOf(withDb, { db: 'v1' }).revision;
    const old: AppInstance[] = [1, 2].map((n) => ({ id: `i${n}`, revision: v1, node: 'n1', desired: 'running', phase: 'running', ready: true, createdAt: now }));
    const plan = planApp(withDb, old, { now, secretVersions: { db: 'v2' } });
    expect(plan.revision).not.toBe(v1);
    expect(plan.steps).toContainEqual({ op: 'place', revision: plan.revision, count: 1 });
  });

  it('while a Secret is missing places nothing and stops nothing, and the App says Ready=False with reason SecretNotFound', () => {
    const resolved = resolveSecrets(withDb, lookup({}));
    const running: AppInstance[] = [{ id: 'i1', revision: 'older', node: 'n1', desired: 'running', phase: 'running', ready: true, createdAt: now }];
    const env = { now, tenantBlocked: { ...resolved.blocked!, stop: false }, secretVersions: resolved.versions };
    const plan = planApp(withDb, running, env);
    expect(plan.steps).toEqual([]);
    expect(plan.requeueAfterMs).toBeUndefined(); // the Secret's watch brings it back
    const status = appStatus(withDb, running, plan, { placed: 0 }, env);
    expect(findCondition(status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'SecretNotFound' });
    expect(findCondition(status.conditions, 'Scheduled')?.message).toContain('secret acme/db not found');
  });

  it('replaces an instance sealed to a key its node no longer has', () => {
    const rev = templateOf(withDb, { db: 'v1' }).revision;
    const stale: AppInstance = { id: 'i1', revision: rev, node: 'n1', desired: 'running', phase: 'failed', ready: false, createdAt: now, sealedStale: true };
    const fine: AppInstance = { id: 'i2', revision: rev, node: 'n2', desired: 'running', phase: 'running', ready: true, createdAt: now };
    const plan = planApp(withDb, [stale, fine], { now, secretVersions: { db: 'v1' } });
    expect(plan.steps).toContainEqual({ op: 'place', revision: rev, count: 1 });
    expect(plan.steps).toContainEqual({ op: 'stop', id: 'i1', why: 'its environment is sealed to a key node n1 no longer has' });
  });

  it('bounds what one instance takes from Secrets in all, so a tenant cannot make rows of megabytes', () => {
    expect(secretEnvTooLarge({ A: 'x'.repeat(30_000), B: 'y'.repeat(30_000) })).toBeUndefined();
    const many = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`V${i}`, 'z'.repeat(32_768)]));
    expect(secretEnvTooLarge(many)).toMatchObject({ reason: 'SecretNotFound', message: expect.stringContaining('an instance takes at most 262144') });
  });
});

import { describe, expect, it } from 'vitest';
import { applyDefaults } from '../../../api/defaults.js';
import { loadSchema } from '../../../api/load-schema.js';

describe('applyDefaults', () => {
  const app = loadSchema('app.schema.json');

  it('fills defaults and continues inside defaulted objects, as the API server does', () => {
    const object = applyDefaults({ spec: { command: ['x'], resources: { memory: '1Mi' } } }, app);
    expect(object.spec).toMatchObject({
      replicas: 1,
      placement: { strategy: 'binpack' },
      rollout: { maxSurge: '25%', maxUnavailable: '25%', progressDeadlineSeconds: 600 },
    });
  });

  it('keeps values that are set', () => {
    const object = applyDefaults({ spec: { replicas: 0, rollout: { maxSurge: 0 } } }, app);
    expect(object.spec).toMatchObject({ replicas: 0, rollout: { maxSurge: 0, maxUnavailable: '25%' } });
  });

  it('defaults inside list items', () => {
    const object = applyDefaults({ spec: { env: [{ name: 'A' }] } }, app);
    expect(object.spec.env).toEqual([{ name: 'A', value: '' }]);
  });

  it('replaces null by the default and drops a null that has none', () => {
    const object = applyDefaults({ spec: { replicas: null, port: null } }, app) as { spec: Record<string, unknown> };
    expect(object.spec.replicas).toBe(1);
    expect('port' in object.spec).toBe(false);
  });

  it('leaves objects that are absent alone', () => {
    const object = applyDefaults({ spec: { command: ['x'] } }, app) as { spec: Record<string, unknown> };
    expect(object.spec.healthCheck).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { openSealedEnv, type SealedRow } from '../../../../agents/node/sealed-env.js';
import { instanceEnvContext } from '../../../../secrets/instance-env.js';
import { generateSealingKey, seal } from '../../../../secrets/seal.js';

const node = generateSealingKey();
const other = generateSealingKey();
const spec = { command: ['node', 'x.mjs'], env: { LOG: 'info' }, secretEnv: [{ name: 'DB_PASSWORD', secret: 'acme/db', key: 'password' }] };
const row = (id: string, sealedEnv: string | null, s: SealedRow['spec'] = spec): SealedRow => ({ id, spec: s, sealedEnv });

describe('opening an instance\'s sealed environment on its node', () => {
  it('adds the values to the environment just before the start', () => {
    const { rows, refused } = openSealedEnv([row('i1', seal(JSON.stringify({ DB_PASSWORD: 'hunter2' }), node.publicKey, instanceEnvContext('i1')))], node);
    expect(refused.size).toBe(0);
    expect(rows[0]!.spec.env).toEqual({ LOG: 'info', DB_PASSWORD: 'hunter2' });
  });

  it('leaves an instance without Secrets as it is', () => {
    const plain = row('p', null, { command: ['node'], env: { A: 'b' } });
    expect(openSealedEnv([plain], node)).toEqual({ rows: [plain], refused: new Map() });
  });

  it('refuses, never starting with part of the environment: another node\'s key, another instance\'s row, a missing variable, no sealed values', () => {
    const forOther = seal(JSON.stringify({ DB_PASSWORD: 'hunter2' }), other.publicKey, instanceEnvContext('i1'));
    const forI2 = seal(JSON.stringify({ DB_PASSWORD: 'hunter2' }), node.publicKey, instanceEnvContext('i2'));
    const partial = seal(JSON.stringify({}), node.publicKey, instanceEnvContext('i3'));
    const { rows, refused } = openSealedEnv([row('i1', forOther), row('i1b', forI2), row('i3', partial), row('i4', null)], node);
    expect([...refused.keys()]).toEqual(['i1', 'i1b', 'i3', 'i4']);
    for (const r of refused.values()) {
      expect(r.reason).toBe('SecretUnavailable');
      expect(r.message).not.toContain('hunter2');
    }
    expect(refused.get('i3')!.message).toContain('no sealed value for DB_PASSWORD');
    expect(refused.get('i4')!.message).toContain('placed without its sealed values');
    for (const r of rows) expect(r.spec.env).toEqual({ LOG: 'info' });
  });
});

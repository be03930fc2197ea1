import { describe, expect, it } from 'vitest';
import { INSTANCE_ID_MAX, instanceId } from '../../../controllers/place-instances.js';

describe('instanceId', () => {
  it('keeps a short app key whole: namespace.name-revision-random', () => {
    expect(instanceId('default/web', 'abcdef0123', 'a1b2c3')).toBe('default.web-abcdef0123-a1b2c3');
  });

  it('bounds the id of the longest names to 63 characters, with a hash that keeps apps apart', () => {
    const ns = 'n'.repeat(63);
    const a = instanceId(`${ns}/${'x'.repeat(253)}`, 'abcdef0123', 'a1b2c3');
    const b = instanceId(`${ns}/${'x'.repeat(252)}y`, 'abcdef0123', 'a1b2c3');
    expect(a.length).toBeLessThanOrEqual(INSTANCE_ID_MAX);
    expect(b.length).toBeLessThanOrEqual(INSTANCE_ID_MAX);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^n+-[0-9a-f]{8}-abcdef0123-a1b2c3$/);
  });

  it('never leaves a dot or dash before the hash when the cut falls on one', () => {
    const id = instanceId(`${'a'.repeat(35)}/${'b'.repeat(40)}`, 'abcdef0123', 'a1b2c3');
    expect(id.length).toBeLessThanOrEqual(INSTANCE_ID_MAX);
    expect(id).toMatch(/^a{35}-[0-9a-f]{8}-abcdef0123-a1b2c3$/);
  });
});

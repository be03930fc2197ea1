import { describe, expect, it } from 'vitest';
import { Quantity } from '../../../api/quantity.js';
import { formatQuantity } from '../../../api/quantity-format.js';

const f = (q: string | number, style: 'binary' | 'decimal') => formatQuantity(Quantity.parse(q), style);

describe('formatQuantity', () => {
  it('uses the largest binary suffix that divides memory exactly', () => {
    expect(f('1792Mi', 'binary')).toBe('1792Mi');
    expect(f('2048Mi', 'binary')).toBe('2Gi');
    expect(f(1000, 'binary')).toBe('1000');
    expect(f('1k', 'binary')).toBe('1000');
  });

  it('writes CPU in cores or millicores', () => {
    expect(f('850m', 'decimal')).toBe('850m');
    expect(f('2000m', 'decimal')).toBe('2');
    expect(f('1500m', 'decimal')).toBe('1500m');
  });

  it('writes zero and negative amounts plainly', () => {
    expect(f(0, 'binary')).toBe('0');
    expect(f('-512Mi', 'binary')).toBe('-512Mi');
  });
});

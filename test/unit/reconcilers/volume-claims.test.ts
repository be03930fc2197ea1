import { describe, expect, it } from 'vitest';
import { volumeClaimVerdict, volumeInUseMessage } from '../../../reconcilers/volume-claims.js';

describe('volumeClaimVerdict', () => {
  it('claims every free volume of an App, and nothing it already holds', () => {
    expect(volumeClaimVerdict('acme/db', ['acme/a', 'acme/b'], [])).toEqual({ claim: ['acme/a', 'acme/b'] });
    expect(volumeClaimVerdict('acme/db', ['acme/a', 'acme/b'], [{ volume: 'acme/a', app: 'acme/db' }])).toEqual({ claim: ['acme/b'] });
    expect(volumeClaimVerdict('acme/db', ['acme/a'], [{ volume: 'acme/a', app: 'acme/db' }])).toEqual({ claim: [] });
  });

  it('claims none while another App holds one of them, and names that App', () => {
    expect(volumeClaimVerdict('acme/db', ['acme/a', 'acme/b'], [{ volume: 'acme/b', app: 'acme/web' }])).toEqual({
      reason: 'VolumeInUse',
      message: 'volume acme/b is single-writer and mounted by App web: no instance starts until web stops mounting it (remove it from its spec.volumes or delete it)',
      volumes: ['acme/b'],
    });
  });

  it('names a holder in another namespace with its namespace', () => {
    expect(volumeInUseMessage('acme/a', 'other/web')).toMatch(/^volume acme\/a is single-writer and mounted by App other\/web: no instance starts until other\/web stops/);
  });
});

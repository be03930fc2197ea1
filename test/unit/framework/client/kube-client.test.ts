import { describe, expect, it } from 'vitest';
import { GoneError } from '../../../../framework/client/index.js';
import { toApiError } from '../../../../framework/client/kube-client.js';

describe('toApiError', () => {
  it('makes a watch refused outright with 410 a GoneError, so the informer lists again', () => {
    // client-node's Watch rejects a non-200 answer with a plain Error carrying statusCode.
    const err = toApiError('watch apps', Object.assign(new Error('Gone'), { statusCode: 410 }));
    expect(err).toBeInstanceOf(GoneError);
    expect(err.message).toBe('watch apps: Gone');
  });
});

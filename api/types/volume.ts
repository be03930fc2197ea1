import type { Resource } from '../../framework/client/index.js';
import type { QuantityValue } from './tenant.js';

/** The parts of schemas/volume.schema.json the controllers read so far. */
export interface VolumeSpec {
  size: QuantityValue;
  node?: string;
}

export type Volume = Resource<VolumeSpec>;

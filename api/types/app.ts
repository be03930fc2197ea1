import type { Resource } from '../../framework/client/index.js';
import type { Condition } from '../../framework/conditions/index.js';
import type { QuantityValue } from './tenant.js';

/** The parts of schemas/app.schema.json the controllers read so far. */
export interface AppSpec {
  replicas?: number;
  resources: { memory: QuantityValue; cpu?: QuantityValue };
  volumes?: { volume: string; mountPath: string }[];
}

export interface AppStatus {
  replicas?: number;
  readyReplicas?: number;
  conditions?: Condition[];
  observedGeneration?: number;
}

export type App = Resource<AppSpec, AppStatus>;

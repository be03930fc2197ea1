import type { Condition, Resource } from '../../framework/index.js';
import type { QuantityValue } from './tenant.js';

/** One spec.env entry: a value, or one key of a Secret in the App's namespace. */
export interface AppEnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef: { name: string; key: string } };
}

/** schemas/app.schema.json's spec. */
export interface AppSpec {
  replicas?: number;
  command?: string[];
  args?: string[];
  env?: AppEnvVar[];
  image?: string;
  port?: number;
  resources: { memory: QuantityValue; cpu?: QuantityValue };
  healthCheck?: { httpGet: { path: string }; periodSeconds?: number; timeoutSeconds?: number; failureThreshold?: number };
  volumes?: { volume: string; mountPath: string }[];
  placement?: { nodeSelector?: Record<string, string>; strategy?: 'binpack' | 'spread' };
  rollout?: { maxSurge?: number | string; maxUnavailable?: number | string; progressDeadlineSeconds?: number; autoRollback?: boolean };
}

export interface AppStatus {
  replicas?: number;
  readyReplicas?: number;
  updatedReplicas?: number;
  revision?: string;
  conditions?: Condition[];
  observedGeneration?: number;
}

export type App = Resource<AppSpec, AppStatus>;

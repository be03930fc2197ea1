import type { Condition, Resource } from '../../framework/index.js';
import type { RateLimit } from './route.js';

/** Quantities as the API accepts them: `512Mi`, `250m`, or a plain number. */
export type QuantityValue = string | number;

export interface TenantQuota {
  memory?: QuantityValue;
  cpu?: QuantityValue;
  apps?: number;
  instances?: number;
  volumes?: number;
  storage?: QuantityValue;
  routes?: number;
}

export interface TenantSpec {
  namespaces?: string[];
  quota?: TenantQuota;
  allowedHostnames?: string[];
  /** Each Route's limit when it has no spec.rateLimit. */
  defaultRateLimit?: RateLimit;
  suspended?: boolean;
}

export interface TenantUsage {
  memory?: string;
  cpu?: string;
  instances?: number;
  apps?: number;
  volumes?: number;
  storage?: string;
  routes?: number;
}

export interface TenantStatus {
  usage?: TenantUsage;
  conditions?: Condition[];
  observedGeneration?: number;
}

/** schemas/tenant.schema.json as a TypeScript type. */
export type Tenant = Resource<TenantSpec, TenantStatus>;

import type { Condition, Resource } from '../../framework/index.js';

/** schemas/route.schema.json's spec. */
export interface RouteSpec {
  host: string;
  pathPrefix?: string;
  app: string;
  port?: number;
  tls?: RouteTls;
  rateLimit?: RateLimit;
}

/** schemas/common.schema.json's rateLimit: a token bucket for all edges together. */
export interface RateLimit {
  requestsPerSecond: number;
  /** Absent: requestsPerSecond. */
  burst?: number;
}

/** status.rateLimit: the limit in force, burst resolved, and where it comes from. */
export interface RouteRateLimitStatus {
  requestsPerSecond: number;
  burst: number;
  source: 'Route' | 'Tenant';
}

/** schemas/route.schema.json's spec.tls: exactly one of secretName and issuer. */
export interface RouteTls {
  secretName?: string;
  issuer?: string;
  redirect?: boolean;
}

export interface RouteStatus {
  url?: string;
  backends?: string[];
  rateLimit?: RouteRateLimitStatus;
  conditions?: Condition[];
  observedGeneration?: number;
}

export type Route = Resource<RouteSpec, RouteStatus>;

import type { Condition, Resource } from '../../framework/index.js';

/** schemas/route.schema.json's spec. */
export interface RouteSpec {
  host: string;
  pathPrefix?: string;
  app: string;
  port?: number;
  tls?: RouteTls;
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
  conditions?: Condition[];
  observedGeneration?: number;
}

export type Route = Resource<RouteSpec, RouteStatus>;

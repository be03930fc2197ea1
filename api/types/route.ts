import type { Resource } from '../../framework/client/index.js';

/** The parts of schemas/route.schema.json the controllers read so far. */
export interface RouteSpec {
  host: string;
  pathPrefix?: string;
  app: string;
  port?: number;
}

export type Route = Resource<RouteSpec>;

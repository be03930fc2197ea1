import type { ResourceType } from '../framework/index.js';
import { GROUP, KINDS, VERSION } from './kinds.js';

/** The framework's view of tend's kinds (group, version, plural, scope), by kind name. */
export const RESOURCE_TYPES: Readonly<Record<string, ResourceType>> = Object.fromEntries(
  KINDS.map((k) => [k.kind, { group: GROUP, version: VERSION, kind: k.kind, plural: k.plural, namespaced: k.scope === 'Namespaced' }]),
);

/** The ResourceType of one of tend's kinds; throws for an unknown kind (a programming error). */
export function resourceType(kind: 'Tenant' | 'App' | 'Route' | 'Volume' | 'Node'): ResourceType {
  const type = RESOURCE_TYPES[kind];
  if (!type) throw new Error(`unknown kind ${kind}`);
  return type;
}

import { createHash } from 'node:crypto';
import type { InstanceSpec } from './runtime.js';

/** Instance ids end up in file names and cgroup names, so they stay boring. */
const ID = /^[a-z0-9][a-z0-9.-]{0,199}$/;

/** A spec the runtime cannot run as given; thrown by `ensure`, never from a timer. */
export class InvalidInstanceSpecError extends Error {
  override readonly name = 'InvalidInstanceSpecError';
}

/** Throws InvalidInstanceSpecError naming the first field that is wrong. */
export function checkInstanceSpec(spec: InstanceSpec): void {
  const fail = (message: string): never => {
    throw new InvalidInstanceSpecError(`instance ${JSON.stringify(spec.id)}: ${message}`);
  };
  if (!ID.test(spec.id)) fail('id must match [a-z0-9][a-z0-9.-]* (at most 200 characters)');
  if (spec.command.length === 0 || spec.command[0] === '') fail('command must name a program');
  if (!Number.isInteger(spec.port) || spec.port < 1 || spec.port > 65_535) fail(`port ${spec.port} is not in 1..65535`);
  if (!(spec.memoryBytes > 0)) fail(`memoryBytes ${spec.memoryBytes} must be positive`);
  if (!(spec.cpuMillis >= 0)) fail(`cpuMillis ${spec.cpuMillis} must not be negative`);
  if (spec.stopGraceMs !== undefined && !(spec.stopGraceMs >= 0)) fail(`stopGraceMs ${spec.stopGraceMs} must not be negative`);
  const health = spec.healthCheck;
  if (health) {
    if (!health.path.startsWith('/')) fail(`healthCheck.path ${JSON.stringify(health.path)} must start with /`);
    if (!(health.periodMs > 0) || !(health.timeoutMs > 0)) fail('healthCheck.periodMs and timeoutMs must be positive');
    if (!Number.isInteger(health.failureThreshold) || health.failureThreshold < 1) fail('healthCheck.failureThreshold must be a positive integer');
  }
}

/** Stable hash of a spec: key order does not matter, every value does. */
export function specHash(spec: InstanceSpec): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex').slice(0, 16);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

import { randomBytes } from 'node:crypto';

/**
 * A label that keeps one test file's control plane to its own objects: test files share one API
 * server, and a platform built with `selector` never reconciles another file's Tenants or Nodes.
 */
export function testShard(name: string): { readonly labels: Record<string, string>; readonly selector: string } {
  const value = `${name}-${randomBytes(3).toString('hex')}`;
  return { labels: { 'tend.dev/test': value }, selector: `tend.dev/test=${value}` };
}

/** tend's own gauges beside controller-runtime's: membership and the database pool. */
import { Gauge, type Registry } from 'prom-client';
import type { Store } from '../store/index.js';

export interface TendMetricSources {
  /** Members owning keys now, this replica included when active. */
  readonly activeMembers?: () => number;
  /** 1 while this replica owns keys. */
  readonly selfActive?: () => boolean;
  readonly store?: Store;
}

/** Registers tend_* gauges read at scrape time. */
export function registerTendMetrics(registry: Registry, sources: TendMetricSources): void {
  const registers = [registry];
  const { activeMembers, selfActive, store } = sources;
  if (activeMembers) {
    new Gauge({ name: 'tend_members_active', help: 'Replicas currently owning keys, as this replica sees them', registers, collect() { this.set(activeMembers()); } });
  }
  if (selfActive) {
    new Gauge({ name: 'tend_member_active', help: '1 while this replica holds a live membership and owns keys', registers, collect() { this.set(selfActive() ? 1 : 0); } });
  }
  if (store) {
    new Gauge({
      name: 'tend_db_pool_connections',
      help: 'PostgreSQL pool connections by state (total, idle, waiting = callers queued for one)',
      labelNames: ['state'],
      registers,
      collect() {
        const stats = store.stats();
        this.set({ state: 'total' }, stats.total);
        this.set({ state: 'idle' }, stats.idle);
        this.set({ state: 'waiting' }, stats.waiting);
      },
    });
  }
}

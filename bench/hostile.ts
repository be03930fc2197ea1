/**
 * `npm run bench:hostile [-- --apps 300 --quota 2000 --rounds 3]`: what a hostile tenant costs the
 * others. A private etcd + kube-apiserver + PostgreSQL, one `tend run` replica as a process, a real
 * node with its agent, a simulated node for the hostile instances (test/env/hostile-platform.ts).
 *
 * Quiet, then while the hostile tenant applies `--apps` of the worst Apps the schema admits
 * (largest replicas, smallest memory and CPU, longest names) under an instance quota of `--quota`:
 * another tenant's App apply→Ready (median of `--rounds`), the replica's event-loop lag p99
 * (prom-client's nodejs_eventloop_lag_p99_seconds over the phase), /readyz p99, App list p99, and
 * the replica's RSS.
 */
import { parseArgs } from 'node:util';
import {
  Sampler,
  applyHostileApps,
  goodAppToReady,
  hostileUsage,
  listProbe,
  readyzProbe,
  replicaRssMb,
  sample,
  scrape,
  startHostilePlatform,
  type HostilePlatform,
} from '../test/env/hostile-platform.js';

const { values } = parseArgs({ options: { apps: { type: 'string', default: '300' }, quota: { type: 'string', default: '2000' }, rounds: { type: 'string', default: '3' } } });
const apps = Number(values.apps);
const quota = Number(values.quota);
const rounds = Number(values.rounds);

interface Phase {
  readyMs: number;
  lagP99Ms: number;
  readyzP99Ms: number;
  listP99Ms: number;
  rssMb: number;
  failures: number;
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Runs `load` (if any) while measuring; good Apps go Ready one after another meanwhile. */
async function phase(platform: HostilePlatform, label: string, load?: () => Promise<void>): Promise<Phase> {
  await scrape(platform); // resets the lag histogram: the p99 read at the end covers this phase only
  const readyz = new Sampler(readyzProbe(platform), { gapMs: 100, timeoutMs: 10_000 });
  const list = new Sampler(listProbe(platform), { gapMs: 250, timeoutMs: 30_000 });
  const loading = load?.();
  const times: number[] = [];
  let peakRss = replicaRssMb(platform);
  for (let i = 0; i < rounds; i++) {
    times.push(await goodAppToReady(platform, `${label}-${i}`, 120_000));
    peakRss = Math.max(peakRss, replicaRssMb(platform));
  }
  await loading;
  const lag = sample(await scrape(platform), 'nodejs_eventloop_lag_p99_seconds') * 1000;
  await Promise.all([readyz.stop(), list.stop()]);
  return {
    readyMs: median(times),
    lagP99Ms: lag,
    readyzP99Ms: readyz.percentile(99),
    listP99Ms: list.percentile(99),
    rssMb: Math.max(peakRss, replicaRssMb(platform)),
    failures: readyz.failures.length + list.failures.length,
  };
}

const platform = await startHostilePlatform({ hostileInstanceQuota: quota });
try {
  const quiet = await phase(platform, 'quiet');
  const started = Date.now();
  const hostile = await phase(platform, 'hostile', async () => {
    await applyHostileApps(platform, apps);
  });
  const usage = await hostileUsage(platform);
  const f = (n: number) => (Number.isFinite(n) ? String(Math.round(n)) : '–');
  console.log(`bench:hostile — ${apps} hostile Apps (${JSON.stringify(platform.worst)}), instance quota ${quota}; hostile phase ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(`hostile tenant: ${usage.placed} instances placed (at most ${usage.mostOnANode} on a node), status.usage.instances ${usage.status ?? '–'}`);
  console.log('                                   quiet    hostile');
  const row = (name: string, a: number, b: number, unit: string) => console.log(`${name.padEnd(32)} ${f(a).padStart(7)} ${f(b).padStart(9)}  ${unit}`);
  row("other tenant's App apply→Ready", quiet.readyMs, hostile.readyMs, 'ms (median)');
  row('event-loop lag p99', quiet.lagP99Ms, hostile.lagP99Ms, 'ms');
  row('/readyz p99', quiet.readyzP99Ms, hostile.readyzP99Ms, 'ms');
  row('App list p99', quiet.listP99Ms, hostile.listP99Ms, 'ms');
  row('replica RSS (peak seen)', quiet.rssMb, hostile.rssMb, 'MiB');
  row('probe failures', quiet.failures, hostile.failures, '');
} finally {
  await platform.stop();
}

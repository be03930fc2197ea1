/**
 * `npm run bench:outage [-- --minutes N]`: PostgreSQL stopped for N minutes (default 2) under a
 * serving platform with tend's default timings (heartbeat 5 s, lost after 15 s, grace 30 s,
 * membership 10 s). Prints the table of test/env/postgres-outage.ts; exits 1 when a request failed
 * or anything was stopped, replaced or restarted.
 */
import { parseArgs } from 'node:util';
import { outageTable, runPostgresOutage } from '../test/env/postgres-outage.js';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '2' } } });
const outageMs = Math.round(Number(values.minutes) * 60_000);
if (!(outageMs > 0)) throw new Error(`bench:outage: --minutes must be a positive number, got ${values.minutes}`);
const s = await runPostgresOutage({ outageMs, log: (line) => console.error(`[${new Date().toISOString()}] ${line}`) });
console.log(outageTable(s));
const failed = s.edge1.filter((a) => !s.healthy.includes(a));
const changed = JSON.stringify(s.instances.after) !== JSON.stringify(s.instances.before) || JSON.stringify(s.processes.after) !== JSON.stringify(s.processes.before);
if (failed.length > 0 || changed || s.edge2.fromSnapshot !== 1 || s.edge2.answers.includes(s.unhealthy)) {
  console.error(JSON.stringify({ failed: failed.slice(0, 10), instances: s.instances, processes: s.processes }, null, 2));
  process.exitCode = 1;
}

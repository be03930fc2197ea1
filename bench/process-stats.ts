/** What the benchmarks read about a process from /proc. */
import { readdirSync, readFileSync } from 'node:fs';

/** CPU seconds a process has used (user + system); with `children`, its live child processes too. */
export function cpuSeconds(pid: number, children = false): number {
  const stat = (p: number) => readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const own = (fields: string[]) => (Number(fields[11]) + Number(fields[12])) / 100;
  let total = own(stat(pid));
  if (children) {
    for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
      try {
        const fields = stat(Number(entry));
        if (Number(fields[1]) === pid) total += own(fields);
      } catch {
        // the process ended meanwhile
      }
    }
  }
  return total;
}

/** Peak resident memory of a process, in MiB. */
export function rssMb(pid: number): number {
  return statusMb(pid, 'VmHWM');
}

/** Resident memory of a process now, in MiB. */
export function currentRssMb(pid: number): number {
  return statusMb(pid, 'VmRSS');
}

function statusMb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024;
}

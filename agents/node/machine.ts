import { statfsSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';

/** What this machine offers: CPU in millicores, memory and the state folder's disk in bytes. */
export function measureMachine(stateDir: string): { cpu: number; memory: number; disk: number } {
  const fs = statfsSync(stateDir);
  return { cpu: availableParallelism() * 1000, memory: totalmem(), disk: Number(fs.blocks) * Number(fs.bsize) };
}

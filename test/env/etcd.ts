import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { ServerProcess, restartable, waitForServer, type RestartableServer } from './server-process.js';

/** A running etcd; `restart()` brings it back on the same port and data folder. */
export interface Etcd extends RestartableServer {
  readonly url: string;
  readonly logFile: string;
}

/** Starts a single-member etcd on free loopback ports, data under `dir`. */
export async function startEtcd(binary: string, dir: string): Promise<Etcd> {
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${clientPort}`;
  const dataDir = join(dir, 'etcd-data');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const logFile = join(dir, 'etcd.log');
  const launch = async (): Promise<ServerProcess> => {
    const server = ServerProcess.start({
      name: 'etcd',
      command: binary,
      logFile,
      args: [
        `--data-dir=${dataDir}`,
        `--listen-client-urls=${url}`,
        `--advertise-client-urls=${url}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
        // Tests throw the data away; fsync would only cost time on a shared 2-core machine.
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
    });
    await waitForServer(server, 'healthy /health', async () => {
      const res = await fetch(`${url}/health`);
      return res.ok && ((await res.json()) as { health?: string }).health === 'true' ? true : undefined;
    });
    return server;
  };
  const server = await restartable(launch);
  return Object.assign(server, { url, logFile });
}

/** etcd's current revision (the newest resourceVersion any object can have), through its v3 JSON gateway. */
export async function etcdRevision(url: string): Promise<number> {
  // A range over one key that need not exist: the header carries the store's revision.
  const res = await fetch(`${url}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('tend-test/revision').toString('base64') }) });
  if (!res.ok) throw new Error(`etcd range: ${res.status} ${await res.text()}`);
  return Number(((await res.json()) as { header: { revision: string } }).header.revision);
}

/**
 * Compacts etcd's history up to its current revision, as the API server does every 5 minutes:
 * a watch or list from any older resourceVersion then fails with 410 Gone. Returns the revision.
 */
export async function compactEtcd(url: string): Promise<number> {
  const revision = await etcdRevision(url);
  const res = await fetch(`${url}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision: String(revision), physical: true }) });
  if (!res.ok) throw new Error(`etcd compaction at ${revision}: ${res.status} ${await res.text()}`);
  return revision;
}

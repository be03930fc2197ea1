/** Node and edge logins for tests, made as `tend node enroll` makes them (cli/enroll.ts). */
import { join } from 'node:path';
import pino from 'pino';
import { enroll } from '../../cli/enroll.js';
import { writeCredentialsFile, type Credentials } from '../../cli/credentials.js';
import { Store } from '../../framework/store/index.js';

/** Enrolls `name` in the database of `databaseUrl` and writes its credentials file into `dir`; returns the file. */
export async function enrolledCredentials(databaseUrl: string, kind: Credentials['kind'], name: string, dir: string): Promise<string> {
  const store = new Store({ connectionString: databaseUrl, logger: pino({ level: 'silent' }), poolSize: 1 });
  try {
    const file = join(dir, `${kind}-${name}.credentials.json`);
    writeCredentialsFile(file, { kind, name, databaseUrl: await enroll(store, kind, name, databaseUrl) });
    return file;
  } finally {
    await store.close();
  }
}

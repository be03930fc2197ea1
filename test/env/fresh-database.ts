/** Per-test-file PostgreSQL databases on the shared test server, dropped when the file ends. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { testEnv } from './context.js';
import { dropDatabaseAndRoles } from './drop-database.js';

/** Creates empty databases and drops them all (with force) on `dropAll()`. */
export class FreshDatabases {
  private readonly names: string[] = [];

  constructor(private readonly prefix: string) {}

  /** Creates an empty database and returns its URL. */
  async create(): Promise<string> {
    const name = `${this.prefix}_${randomBytes(4).toString('hex')}`;
    await this.admin((client) => client.query(`create database ${client.escapeIdentifier(name)}`));
    this.names.push(name);
    const url = new URL(testEnv().adminDatabaseUrl);
    url.pathname = `/${name}`;
    return url.toString();
  }

  /** Drops every database this object created. */
  async dropAll(): Promise<void> {
    const names = this.names.splice(0);
    await this.admin(async (client) => {
      for (const name of names) await dropDatabaseAndRoles(client, name);
    });
  }

  private async admin(fn: (client: pg.Client) => Promise<unknown>): Promise<void> {
    const client = new pg.Client({ connectionString: testEnv().adminDatabaseUrl });
    await client.connect();
    try {
      await fn(client);
    } finally {
      await client.end();
    }
  }
}


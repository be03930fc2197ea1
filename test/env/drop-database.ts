import type pg from 'pg';

/**
 * Drops a database and the roles its migrations made (migrations/000009: `<database>_…`); roles
 * belong to the whole server, so they would outlive the database on a server the tests reuse.
 */
export async function dropDatabaseAndRoles(client: pg.Client, name: string): Promise<void> {
  await client.query(`drop database if exists ${client.escapeIdentifier(name)} with (force)`);
  // With the database gone, its grants are gone; what remains are role memberships, granted by the
  // role that created the others (a CREATEROLE owner): newest first, so a grantor goes last.
  const { rows } = await client.query<{ rolname: string }>('select rolname from pg_roles where starts_with(rolname, $1) order by oid desc', [`${name}_`]);
  for (const { rolname } of rows) await client.query(`drop role if exists ${client.escapeIdentifier(rolname)}`);
}

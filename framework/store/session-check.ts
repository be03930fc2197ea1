/**
 * Whether a new session is one `target_session_attrs` accepts — libpq's check, made after
 * connecting, before the connection is used: `read-write` wants a server not in recovery whose
 * sessions are not read-only by default (`default_transaction_read_only`), `primary` only a server
 * not in recovery, `any` everything (no query then).
 */
import type pg from 'pg';
import type { TargetSessionAttrs } from './database-url.js';

/** The one round trip the check costs; plain text so the heartbeat thread can send it too. */
export const SESSION_CHECK_SQL = "select pg_is_in_recovery() as in_recovery, current_setting('transaction_read_only') as read_only";

/** What the check query returns. */
export interface SessionFacts {
  readonly in_recovery: boolean;
  readonly read_only: string;
}

/** Why `facts` do not meet `attrs`, or undefined when the session is acceptable. Pure. */
export function sessionRefusal(attrs: TargetSessionAttrs, facts: SessionFacts): string | undefined {
  if (attrs === 'any') return undefined;
  if (facts.in_recovery) return 'in recovery (a standby)';
  if (attrs === 'read-write' && facts.read_only === 'on') return 'sessions are read-only (default_transaction_read_only)';
  return undefined;
}

/** Rejects with the reason when the session on `client` is not what `attrs` asks for. */
export async function checkSession(client: pg.ClientBase, attrs: TargetSessionAttrs): Promise<void> {
  if (attrs === 'any') return;
  const { rows } = await client.query<SessionFacts>(SESSION_CHECK_SQL);
  const refusal = sessionRefusal(attrs, rows[0]!);
  if (refusal) throw new SessionRefusedError(refusal);
}

/** The server answered, but its session is not the kind asked for. */
export class SessionRefusedError extends Error {
  override readonly name = 'SessionRefusedError';
}

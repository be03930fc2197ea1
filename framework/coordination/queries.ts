import type { NamedQuery } from '../store/index.js';

/** Registers a replica; it owns keys from now + $2 ms until now + $3 ms unless it heartbeats. */
export const joinMembers: NamedQuery = {
  name: 'tend.members_join',
  text: `insert into tend.members (name, active_at, expires_at)
         values ($1, now() + $2 * interval '1 millisecond', now() + $3 * interval '1 millisecond')
         returning id::text as id`,
};

/** Extends a live member's expiry; no row back means it had already expired (rejoin). */
export const heartbeatMember: NamedQuery = {
  name: 'tend.members_heartbeat',
  text: `update tend.members set heartbeat_at = now(), expires_at = now() + $2 * interval '1 millisecond'
         where id = $1 and expires_at > now()
         returning id::text as id`,
};

/** The live members and the database's clock, which every replica judges activation and expiry by. */
export const liveMembers: NamedQuery = {
  name: 'tend.members_live',
  text: `select id::text as id, name,
                extract(epoch from active_at) * 1000 as active_ms,
                extract(epoch from expires_at) * 1000 as expires_ms,
                extract(epoch from now()) * 1000 as now_ms
         from tend.members where expires_at > now()
         union all
         select null, null, null, null, extract(epoch from now()) * 1000`,
};

/** A graceful leave: the others take over this member's keys at their next heartbeat. */
export const leaveMembers: NamedQuery = {
  name: 'tend.members_leave',
  text: 'delete from tend.members where id = $1',
};

/** Housekeeping by any replica: rows of members long dead. */
export const reapMembers: NamedQuery = {
  name: 'tend.members_reap',
  text: `delete from tend.members where expires_at < now() - interval '10 minutes'`,
};

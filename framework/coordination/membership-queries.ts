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

/**
 * One row: the database's clock, the stored view (epoch and members), the members that are active
 * now (when they differ from the view's, the view is moved on), and every live member's times.
 */
export const membershipState: NamedQuery = {
  name: 'tend.membership_state',
  text: `select extract(epoch from now()) * 1000 as now_ms,
                v.epoch::text as epoch,
                v.members::text[] as view,
                array(select id::text from tend.members where active_at <= now() and expires_at > now() order by id) as active,
                coalesce((select json_agg(json_build_object('id', id::text,
                                                            'activeMs', extract(epoch from active_at) * 1000,
                                                            'expiresMs', extract(epoch from expires_at) * 1000))
                          from tend.members where expires_at > now()), '[]'::json) as members
         from tend.membership_view v`,
};

/** Moves the view to the members active now (a new epoch) if they differ; returns the view. $1: lock timeout in ms. */
export const advanceView: NamedQuery = {
  name: 'tend.membership_view_advance',
  text: 'select epoch::text as epoch, members::text[] as members from tend.advance_membership_view($1)',
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

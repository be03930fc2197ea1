-- Fencing on what was true when the work was handed out (docs/coordination.md). Ownership follows
-- one stored view of the member set; its epoch moves with every change of that set, and every
-- fenced write names the epoch under which its replica owned the key: a write carrying any other
-- epoch is refused, however alive its writer is. Steady state writes nothing here: the view row
-- changes only when a member comes or goes.
create table tend.membership_view (
  one boolean primary key default true check (one),
  epoch bigint not null,
  -- The active members (tend.members ids, ascending) that keys are shared among under this epoch.
  members bigint[] not null,
  changed_at timestamptz not null
);

insert into tend.membership_view (epoch, members, changed_at)
select 1, array(select id from tend.members where active_at <= now() and expires_at > now() order by id), now();

-- Guards a write: true when `token` is the current epoch (0: a single replica without membership),
-- else raises SQLSTATE TF001 (the framework's isFenced()). The shared lock is held to the end of the
-- transaction, so the view cannot move between this check and the commit: every write of an epoch
-- commits before the next epoch exists, and whoever reads under the next one sees it. Volatile, so
-- the epoch is read with a fresh snapshot taken after the lock, not the calling statement's.
create function tend.fenced(token bigint) returns boolean
language plpgsql volatile as $$
begin
  if token = 0 then
    return true;
  end if;
  perform pg_advisory_xact_lock_shared(hashtextextended('tend.membership_view', 0));
  if not exists (select 1 from tend.membership_view where epoch = token) then
    raise exception 'fenced: ownership epoch % is no longer current; another replica may own the key now', token
      using errcode = 'TF001';
  end if;
  return true;
end $$;

-- Moves the view to the members active now, if they differ, and returns the view. The exclusive
-- lock waits for fenced writes in flight (and, the lock queue being fair, holds new ones back)
-- for at most `lock_timeout_ms`; past that it fails with 55P03 and the caller tries again.
create function tend.advance_membership_view(lock_timeout_ms integer)
returns table (epoch bigint, members bigint[])
language plpgsql volatile as $$
declare
  at timestamptz;
  active bigint[];
begin
  perform set_config('lock_timeout', lock_timeout_ms || 'ms', true);
  perform pg_advisory_xact_lock(hashtextextended('tend.membership_view', 0));
  at := clock_timestamp();
  active := array(select m.id from tend.members m where m.active_at <= at and m.expires_at > at order by m.id);
  return query
    update tend.membership_view v set epoch = v.epoch + 1, members = active, changed_at = at
    where v.members is distinct from active
    returning v.epoch, v.members;
  if not found then
    return query select v.epoch, v.members from tend.membership_view v;
  end if;
end $$;

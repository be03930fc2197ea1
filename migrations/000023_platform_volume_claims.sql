-- Volume claims: a volume is single-writer, so one App at a time runs instances on it — the first
-- whose controller claimed it (reconcilers/volume-claims.ts). One row per claimed volume, naming
-- its holder; claims are made under one advisory lock (an App claims all its volumes or none).
-- The holder's controller removes the row once the App no longer mounts the volume and none of
-- its instances does; a deleted App's rows go with its finalizer (or the orphan sweep). Another
-- App mounting a held volume places nothing: Scheduled=False VolumeInUse.
create table platform.volume_claims (
  volume text primary key,      -- namespace/name
  app text not null,            -- namespace/name of the App holding it
  claimed_at timestamptz not null default now()
);
create index volume_claims_app on platform.volume_claims (app);

-- What runs today keeps its volume: each mounted volume goes to the App with its oldest instance.
-- (Another App's instances on it are stopped by that App's next reconcile.)
insert into platform.volume_claims (volume, app, claimed_at)
select distinct on (m.volume) m.volume, i.app, i.created_at
from platform.instances i,
     jsonb_array_elements(case when jsonb_typeof(i.spec -> 'volumes') = 'array' then i.spec -> 'volumes' else '[]'::jsonb end) as e(v),
     lateral (select e.v ->> 'volume' as volume) m
where m.volume is not null
order by m.volume, i.created_at, i.app;

-- A claim let go concerns the Apps waiting for the volume and the Volume (its deletion may wait
-- for it): LISTEN tend_volumes, payload "namespace/name " (no node: agents pass it over).
create function platform.notify_volume_claim_released() returns trigger language plpgsql as $$
begin
  perform pg_notify('tend_volumes', old.volume || ' ');
  return null;
end $$;
create trigger volume_claims_notify after delete on platform.volume_claims
  for each row execute function platform.notify_volume_claim_released();

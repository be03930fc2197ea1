-- A revoked node's open sessions end also when the migrations' role is not a superuser (hosted
-- PostgreSQL gives CREATEROLE, not superuser): pg_terminate_backend needs the privileges of the
-- session's role, which its creator holds only as ADMIN, not as a member. revoke_identity now makes
-- itself a member of the login first (it owns every table the login can reach: nothing is gained).
create or replace function platform.revoke_identity(kind text, name text) returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  login text;
begin
  update platform.identities i set revoked_at = now()
  where i.kind = revoke_identity.kind and i.name = revoke_identity.name and i.revoked_at is null
  returning i.role into login;
  if login is null then
    return false;
  end if;
  if exists (select 1 from pg_roles where rolname = login) then
    execute format('alter role %I nologin', login);
    if not pg_has_role(current_user, login, 'usage') then
      begin
        execute format('grant %I to %I', login, current_user);
      exception when insufficient_privilege or invalid_grant_operation then
        null; -- the terminate below may then be refused: the sessions stay, seeing nothing
      end;
    end if;
  end if;
  begin
    perform pg_terminate_backend(a.pid) from pg_stat_activity a where a.usename = login;
  exception when insufficient_privilege then
    -- Not allowed to signal its sessions: they stay open but see and change nothing any more.
    null;
  end;
  return true;
end $$;
revoke execute on function platform.revoke_identity(text, text) from public;

-- TLS on the edge (issue 19 §1): certificates kept centrally, so that every edge serves every
-- host without shared files. The Route controller writes them (from a Route's spec.tls: a
-- kubernetes.io/tls Secret, or an issuer); the edges read them whole at start, on
-- NOTIFY tend_certificates and when the version moves, and swap their SNI table in one step.

-- The public half of the certificates key: the private half is held by the edges alone (a 0600
-- file of tend edge --certificates-key-file, or tend up's .tend/edge/certificates.key), so
-- PostgreSQL, its backups and the controllers' role hold private keys only sealed
-- (secrets/seal.ts). Written by whoever made the key with the controllers' connection (tend edge
-- keygen, tend up); the newest is the one private keys are sealed to.
create table platform.certificate_keys (
  key_id text primary key,
  public_key text not null unique,
  published_at timestamptz not null default now()
);

-- One row per host served over HTTPS: the certificate chain in clear (it is public) and its
-- private key sealed to a certificates key, for context 'certificate HOST' (a sealed key copied to
-- another host's row does not open). Only certificates the controller checked are written: it
-- parses, matches the key and covers the host; a missing or invalid one has no row, so the host's
-- handshake fails rather than showing a wrong certificate.
create table platform.certificates (
  host text primary key,             -- a Route's spec.host, lower case (Routes name no wildcard)
  route text not null,               -- namespace/name of the Route whose spec.tls it is
  source text not null,              -- 'secret NS/NAME' or 'issuer NAME': where it came from
  certificate text not null,         -- PEM, the leaf first, then intermediates
  sealed_key text not null,          -- the private key's PEM, sealed (tend-seal-v1.…)
  key_id text not null,              -- the certificates key it is sealed to
  fingerprint text not null,         -- SHA-256 of the leaf's DER, hex
  not_before timestamptz not null,
  not_after timestamptz not null,
  updated_at timestamptz not null default now()
);
create index certificates_route on platform.certificates (route);

-- Bumped by every change of platform.certificates, like platform.routing_version.
create table platform.certificates_version (
  id boolean primary key default true check (id),
  version bigint not null
);
insert into platform.certificates_version (version) values (0);

create function platform.certificates_changed() returns trigger language plpgsql as $$
declare v bigint;
begin
  update platform.certificates_version set version = version + 1 returning version into v;
  perform pg_notify('tend_certificates', v::text);
  return null;
end $$;
create trigger certificates_changed after insert or update or delete on platform.certificates
  for each row execute function platform.certificates_changed();

-- A Route with spec.tls.redirect answers plain HTTP with 308 to https, once its host has a
-- certificate (the controller sets it only then: a redirect to a handshake that fails is an outage).
alter table platform.routing add column https_redirect boolean not null default false;

-- The edge reads what it serves and nothing else: not where a certificate came from, nor the
-- public keys (it holds its own). The controllers own these tables.
select platform.grant_to('edge', 'select', 'platform.certificates',
  array['host', 'route', 'certificate', 'sealed_key', 'key_id', 'fingerprint', 'not_after']);
select platform.grant_to('edge', 'select', 'platform.certificates_version');

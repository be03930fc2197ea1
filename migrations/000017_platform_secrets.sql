-- Secrets delivery (secrets/seal.ts): PostgreSQL holds secret values only sealed, to a key whose
-- private half is not in the database.

-- Each node agent's public sealing key (X25519, base64url), published by the agent itself at its
-- first heartbeat; the private key never leaves the host (0600 in the agent's state folder).
-- Row-level security already lets a node's login write only its own row.
alter table platform.node_agents add column sealing_key text;
select platform.grant_to('node_agent', 'insert', 'platform.node_agents', array['sealing_key']);
select platform.grant_to('node_agent', 'update', 'platform.node_agents', array['sealing_key']);

-- An instance's environment from Secrets, sealed by the controller to its node's key (bound to
-- the instance's id), and that key: when the node's key changes (a new state folder), the
-- instance cannot be opened there any more and is replaced. Only the controllers write them.
alter table platform.instances add column sealed_env text, add column sealed_to text;

-- Standalone mode: the public keys of the control plane (tend up's `.tend/secrets.key`), to which
-- `tend secret create` and `tend apply` seal the Secrets they store in tend.resources. Readable by
-- the controllers only: a client seals with it, the control plane opens with the private half.
create table platform.secrets_keys (
  key_id text primary key,
  public_key text not null unique,
  published_at timestamptz not null default now()
);

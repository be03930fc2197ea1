import type { NamedQuery } from '../framework/index.js';

/** The control plane's public sealing key, published at start (standalone mode); idempotent. */
export const publishSecretsKey: NamedQuery = {
  name: 'secrets.publish_key',
  text: `insert into platform.secrets_keys (key_id, public_key) values ($1, $2)
         on conflict (key_id) do update set published_at = now()`,
};

/** The key clients seal stored Secrets to: the most recently published. */
export const currentSecretsKey: NamedQuery = {
  name: 'secrets.current_key',
  text: `select public_key as "publicKey" from platform.secrets_keys order by published_at desc, key_id limit 1`,
};

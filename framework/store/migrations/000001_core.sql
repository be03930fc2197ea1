-- The framework's own schema. Every framework table lives in it, next to tend.migrations.
-- The coordination tables (membership, leases with fencing epochs) come in 000002.
create schema if not exists tend;

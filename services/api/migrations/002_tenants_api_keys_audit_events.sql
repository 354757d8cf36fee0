-- Tenants and API keys (ADR 034). `seq` grows on every change, so each api replica reloads only
-- what changed since its last look; `last_used_at` is telemetry and does not bump it.
CREATE SEQUENCE {schema}.identity_seq;

CREATE TABLE {schema}.tenants (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    id_key     text NOT NULL,
    created_at timestamptz NOT NULL,
    seq        bigint NOT NULL DEFAULT nextval('{schema}.identity_seq')
);
CREATE INDEX tenants_seq ON {schema}.tenants (seq);

CREATE TABLE {schema}.api_keys (
    key_id               text PRIMARY KEY,
    tenant_id            text NOT NULL,
    name                 text NOT NULL,
    roles                text[] NOT NULL,
    fleets               uuid[] NOT NULL,
    digest               text NOT NULL,
    previous_digest      text,
    previous_valid_until timestamptz,
    expires_at           timestamptz,
    created_by           text NOT NULL,
    created_at           timestamptz NOT NULL,
    rotated_at           timestamptz,
    revoked_at           timestamptz,
    last_used_at         timestamptz,
    seq                  bigint NOT NULL DEFAULT nextval('{schema}.identity_seq')
);
CREATE INDEX api_keys_seq ON {schema}.api_keys (seq);
CREATE INDEX api_keys_by_tenant ON {schema}.api_keys (tenant_id, created_at, key_id);

-- The audit log's read model, projected from the `<NS>_AUDIT` stream (one row per message).
CREATE TABLE {schema}.audit_events (
    id           uuid PRIMARY KEY,
    seq          bigserial UNIQUE,
    tenant_id    text NOT NULL,
    at           timestamptz NOT NULL,
    actor        text NOT NULL,
    credential   text NOT NULL,
    roles        text[] NOT NULL,
    request_id   text NOT NULL,
    method       text NOT NULL,
    route        text NOT NULL,
    path         text NOT NULL,
    target_ids   text[] NOT NULL,
    status       integer NOT NULL,
    outcome      text NOT NULL
);
CREATE INDEX audit_events_by_tenant ON {schema}.audit_events (tenant_id, seq);
CREATE INDEX audit_events_by_target ON {schema}.audit_events USING gin (target_ids);

-- NATS credentials on the integrator plane (ADR 043): which user (public nkey) reads which tenant's
-- stream, made by whom, valid until when. The JWT and its seed are answered once, never stored.
CREATE TABLE {schema}.nats_credentials (
    seq         bigserial NOT NULL UNIQUE,
    id          uuid PRIMARY KEY,
    tenant_id   text NOT NULL,
    name        text NOT NULL,
    public_key  text NOT NULL UNIQUE,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX nats_credentials_by_tenant ON {schema}.nats_credentials (tenant_id, seq);

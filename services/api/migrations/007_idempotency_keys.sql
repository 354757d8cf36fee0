-- `Idempotency-Key` on every POST (ADR 039): each tenant's keys and the answer of the request that
-- first used one, kept 24 hours. `status` is null while that request runs.
CREATE TABLE {schema}.idempotency_keys (
    tenant_id    text NOT NULL,
    key          text NOT NULL,
    fingerprint  bytea NOT NULL,
    started_at   timestamptz NOT NULL,
    status       int,
    location     text,
    content_type text,
    body         bytea,
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX idempotency_keys_by_age ON {schema}.idempotency_keys (started_at);

-- Outbound webhooks (ADR 040): integrators' endpoints, one delivery per (endpoint, event), the
-- events' JSON bodies (once per event, so every attempt and redelivery sends the same bytes) and
-- the log of every attempt.

-- `seq` is the list's cursor. `secret` signs every delivery; after a rotation `previous_secret`
-- signs beside it until `previous_secret_expires_at`. `failing_since` is the first failed attempt
-- since the endpoint's last success: once it is older than the disable window, the endpoint is
-- disabled (`disabled_reason`, `disabled_at`).
CREATE TABLE {schema}.endpoints (
    seq                        bigserial NOT NULL UNIQUE,
    id                         uuid PRIMARY KEY,
    tenant_id                  text NOT NULL,
    url                        text NOT NULL,
    event_types                text[] NOT NULL,
    description                text NOT NULL DEFAULT '',
    enabled                    boolean NOT NULL DEFAULT true,
    secret                     text NOT NULL,
    previous_secret            text,
    previous_secret_expires_at timestamptz,
    failing_since              timestamptz,
    disabled_reason            text NOT NULL DEFAULT '',
    disabled_at                timestamptz,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX endpoints_by_tenant ON {schema}.endpoints (tenant_id, seq);

CREATE TABLE {schema}.event_bodies (
    event_id   text PRIMARY KEY,
    event_type text NOT NULL,
    body       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- `first_attempt_at` starts the retry window (a redelivery starts a new one); `next_attempt_at`
-- is when a pending delivery is due, pushed ahead by a worker while it sends (its lease).
CREATE TABLE {schema}.deliveries (
    seq              bigserial PRIMARY KEY,
    id               uuid NOT NULL UNIQUE,
    endpoint_id      uuid NOT NULL REFERENCES {schema}.endpoints (id) ON DELETE CASCADE,
    event_id         text NOT NULL REFERENCES {schema}.event_bodies (event_id),
    event_type       text NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    first_attempt_at timestamptz,
    last_attempt_at  timestamptz,
    last_status_code integer,
    last_error       text NOT NULL DEFAULT '',
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX deliveries_due ON {schema}.deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_by_endpoint ON {schema}.deliveries (endpoint_id, seq);

CREATE TABLE {schema}.attempts (
    id           bigserial PRIMARY KEY,
    delivery_id  uuid NOT NULL REFERENCES {schema}.deliveries (id) ON DELETE CASCADE,
    attempted_at timestamptz NOT NULL,
    status_code  integer,
    error        text NOT NULL DEFAULT '',
    duration_ms  bigint NOT NULL
);
CREATE INDEX attempts_by_delivery ON {schema}.attempts (delivery_id, id);

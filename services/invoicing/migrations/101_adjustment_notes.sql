CREATE TABLE {schema}.adjustment_notes (
    id             uuid PRIMARY KEY,
    tenant_id      text NOT NULL,
    number         text NOT NULL,
    year           int NOT NULL,
    sequence       bigint NOT NULL,
    account_id     text NOT NULL,
    currency       text NOT NULL,
    session_id     text NOT NULL,
    adjustment_id  text NOT NULL UNIQUE,
    reason         text NOT NULL,
    lines          jsonb NOT NULL,
    total_excl_vat numeric NOT NULL,
    total_vat      numeric NOT NULL,
    total_incl_vat numeric NOT NULL,
    issued_at      timestamptz NOT NULL,
    UNIQUE (tenant_id, year, sequence)
);
CREATE INDEX adjustment_notes_by_session ON {schema}.adjustment_notes (session_id);

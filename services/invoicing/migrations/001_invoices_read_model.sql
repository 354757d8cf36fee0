CREATE TABLE {schema}.invoices (
    id             uuid PRIMARY KEY,
    tenant_id      text NOT NULL,
    number         text NOT NULL,
    year           int NOT NULL,
    sequence       bigint NOT NULL,
    status         text NOT NULL,
    -- Empty when pricing knew no account (the invoice is then flagged `no_account`).
    account_id     text NOT NULL,
    currency       text NOT NULL,
    lines          jsonb NOT NULL,
    total_excl_vat numeric NOT NULL,
    total_vat      numeric NOT NULL,
    total_incl_vat numeric NOT NULL,
    session_ids    text[] NOT NULL,
    flags          text[] NOT NULL,
    issued_at      timestamptz NOT NULL,
    -- The series already guarantees this; the constraint makes a breach stop the relay loudly.
    UNIQUE (tenant_id, year, sequence),
    UNIQUE (tenant_id, number)
);
CREATE INDEX invoices_by_account ON {schema}.invoices (tenant_id, account_id, year, sequence);

CREATE TABLE {schema}.postings (
    entry_id    uuid NOT NULL,
    line        int NOT NULL,
    tenant_id   text NOT NULL,
    account     text NOT NULL,
    currency    text NOT NULL,
    debit       numeric NOT NULL CHECK (debit >= 0),
    credit      numeric NOT NULL CHECK (credit >= 0),
    posted_at   timestamptz NOT NULL,
    source_type text NOT NULL,
    source_id   text NOT NULL,
    PRIMARY KEY (entry_id, line)
);
CREATE INDEX postings_by_account ON {schema}.postings (tenant_id, account, currency, posted_at);
CREATE TABLE {schema}.balances (
    tenant_id text NOT NULL,
    account   text NOT NULL,
    currency  text NOT NULL,
    debit     numeric NOT NULL,
    credit    numeric NOT NULL,
    PRIMARY KEY (tenant_id, account, currency)
);

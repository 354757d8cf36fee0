-- A customer account's transactions (issue 13, `GET /v1/transactions`): one row per journal entry
-- that concerns a customer (a charge, credit or debit note, payment, refund or wallet movement), in
-- the order the ledger recorded them (`seq`, the list's cursor). Entries posted before this table
-- existed named no customer and are not listed.
CREATE TABLE {schema}.account_transactions (
    seq         bigserial PRIMARY KEY,
    entry_id    uuid NOT NULL UNIQUE,
    tenant_id   text NOT NULL,
    account_id  uuid NOT NULL,
    kind        text NOT NULL,
    amount      numeric NOT NULL CHECK (amount >= 0),
    currency    text NOT NULL,
    source_type text NOT NULL,
    source_id   text NOT NULL,
    session_id  uuid,
    description text NOT NULL,
    occurred_at timestamptz NOT NULL
);
CREATE INDEX account_transactions_by_account ON {schema}.account_transactions (tenant_id, account_id, seq);
CREATE INDEX account_transactions_by_tenant ON {schema}.account_transactions (tenant_id, seq);

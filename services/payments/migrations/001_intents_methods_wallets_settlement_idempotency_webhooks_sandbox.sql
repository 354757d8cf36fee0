CREATE TABLE {schema}.accounts (
    account_id uuid PRIMARY KEY,
    tenant_id  text NOT NULL,
    currency   text NOT NULL
);
CREATE TABLE {schema}.session_decisions (
    session_id uuid PRIMARY KEY,
    decision   text NOT NULL CHECK (decision IN ('hold', 'pay_later')),
    decided_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE {schema}.intents (
    id                uuid PRIMARY KEY,
    seq               bigserial UNIQUE,
    tenant_id         text NOT NULL,
    session_id        uuid,
    order_id          text,
    account_id        uuid NOT NULL,
    provider          text NOT NULL,
    kind              text NOT NULL,
    purpose           text NOT NULL,
    payment_method_id uuid NOT NULL,
    status            text NOT NULL,
    currency          text NOT NULL,
    amount_authorized numeric NOT NULL DEFAULT 0,
    amount_captured   numeric NOT NULL DEFAULT 0,
    amount_refunded   numeric NOT NULL DEFAULT 0,
    failure_code      text NOT NULL DEFAULT '',
    failure_message   text NOT NULL DEFAULT '',
    pending_op        text,
    next_capture_at   timestamptz,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX intents_by_session ON {schema}.intents (tenant_id, session_id);
CREATE INDEX intents_by_account ON {schema}.intents (tenant_id, account_id, seq);
CREATE INDEX intents_pending ON {schema}.intents (updated_at) WHERE pending_op IS NOT NULL;
CREATE INDEX intents_capture_due ON {schema}.intents (next_capture_at) WHERE next_capture_at IS NOT NULL;
CREATE TABLE {schema}.intent_events (
    intent_id   uuid NOT NULL,
    sequence    bigint NOT NULL,
    type        text NOT NULL,
    amount      numeric,
    detail      text NOT NULL,
    occurred_at timestamptz NOT NULL,
    PRIMARY KEY (intent_id, sequence)
);
CREATE INDEX intent_events_by_detail ON {schema}.intent_events (detail) WHERE type IN ('PaymentAuthorized', 'HoldExtended');
CREATE TABLE {schema}.methods (
    id         uuid PRIMARY KEY,
    tenant_id  text NOT NULL,
    account_id uuid NOT NULL,
    provider   text NOT NULL,
    kind       text NOT NULL,
    brand      text NOT NULL,
    last4      text NOT NULL,
    exp_month  int NOT NULL,
    exp_year   int NOT NULL,
    is_default boolean NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX methods_by_account ON {schema}.methods (account_id);
CREATE TABLE {schema}.wallets (
    id         uuid PRIMARY KEY,
    tenant_id  text NOT NULL,
    account_id uuid NOT NULL,
    currency   text NOT NULL,
    balance    numeric NOT NULL,
    held       numeric NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE {schema}.wallet_transactions (
    wallet_id   uuid NOT NULL,
    sequence    bigint NOT NULL,
    type        text NOT NULL,
    amount      numeric NOT NULL,
    balance     numeric NOT NULL,
    held        numeric NOT NULL,
    reference   text NOT NULL,
    occurred_at timestamptz NOT NULL,
    PRIMARY KEY (wallet_id, sequence)
);
CREATE TABLE {schema}.settlement_lines (
    id               uuid PRIMARY KEY,
    tenant_id        text NOT NULL,
    provider         text NOT NULL,
    transaction_id   text NOT NULL,
    category         text NOT NULL,
    currency         text NOT NULL,
    gross            numeric NOT NULL,
    fee              numeric NOT NULL,
    net              numeric NOT NULL,
    intent_reference text NOT NULL,
    intent_id        text,
    payout_id        text NOT NULL,
    occurred_at      timestamptz NOT NULL
);
-- The API's idempotency keys: who claimed a key, for which request, and the answer given.
CREATE TABLE {schema}.idempotency (
    scope        text NOT NULL,
    key          text NOT NULL,
    request_hash text NOT NULL,
    state        text NOT NULL CHECK (state IN ('running', 'done')),
    code         int,
    message      text NOT NULL DEFAULT '',
    response     bytea,
    lease_until  timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE TABLE {schema}.webhook_events (
    provider    text NOT NULL,
    event_id    text NOT NULL,
    type        text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, event_id)
);
-- The sandbox provider's books: they stand for the provider's side, in transactions of their own.
CREATE TABLE {schema}.sandbox_calls (
    idempotency_key text PRIMARY KEY,
    operation       text NOT NULL,
    answer          jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE {schema}.sandbox_holds (
    reference  text PRIMARY KEY,
    token      text NOT NULL,
    customer   text NOT NULL,
    currency   text NOT NULL,
    amount     numeric NOT NULL,
    captured   numeric NOT NULL,
    refunded   numeric NOT NULL,
    status     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sandbox_holds_active ON {schema}.sandbox_holds (customer, token) WHERE status = 'authorized';

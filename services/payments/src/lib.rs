//! Payments: holds money against a charging session's cost, captures exactly the priced amount,
//! refunds, and never moves money twice.
//!
//! Owns the `payments` schema: the [`intent::PaymentIntent`] aggregate (one per session or order),
//! [`methods::AccountMethods`] (saved provider tokens and the default per account),
//! [`wallet::Wallet`] (prepaid balances) and [`settlement::SettlementRecord`] (provider settlement
//! lines), their read tables, the API's idempotency keys, the webhook log, and the sandbox provider's
//! books. Consumes REGISTRY (account currencies; chargers' tariffs for [`quote`]d holds), SESSION
//! (`session.*.started`: place the hold) and PRICING (`pricing.*.priced`: capture;
//! `pricing.*.cost_updated`: the hold follows the running cost, [`live_cost`]); publishes PAYMENT
//! (`payment.<id>.<kind>`) through its outbox relay; asks the gateway to stop a charge whose hold is
//! exhausted; serves `joule.v1.PaymentsService`; optionally listens for provider webhooks. Providers sit
//! behind [`provider::Provider`]: the sandbox, Stripe and the wallet. What it does not own: accounts
//! (the api's registry), prices (pricing), receivables and their ledger postings (invoicing, ledger).

// Values from outside (requests, events, provider answers) never reach an operator that can panic
// on overflow: checked operations that turn overflow into a refusal, or saturating ones with the
// reason beside them (ADR 024). Tests may use plain arithmetic.
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub mod amounts;
pub mod consumers;
pub mod engine;
pub mod flow;
pub mod grpc;
pub mod idempotency;
pub mod ids;
pub mod intent;
pub mod live_cost;
pub mod methods;
pub mod outbox;
pub mod provider;
pub mod quote;
pub mod settlement;
pub mod store;
pub mod views;
pub mod wallet;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use joule_bus::{ConsumerSpec, Domain, OnPark};
use joule_proto::v1::payments_service_server::{PaymentsServiceServer, SERVICE_NAME};
use joule_proto::v1::tariff_service_client::TariffServiceClient;
use joule_runtime::{BoxError, Context, ServiceDef, Started, Task};
use joule_store::{CommandMeta, Migration, Relay};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::amounts::{DefaultHolds, HoldRule, SettingsHoldAmount};
use crate::engine::Engine;
use crate::flow::Flow;
use crate::ids::IntentId;
use crate::intent::{PaymentIntent, ProviderKind, RetryPolicy};
use crate::provider::Providers;
use crate::store::Aggregates;

pub const SCHEMA: &str = "payments";

pub const SERVICE: ServiceDef = ServiceDef {
    name: "payments",
    start: |ctx| Box::pin(start(ctx)),
};

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "intents, methods, wallets, settlement, idempotency, webhooks, sandbox",
        sql: r#"
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
"#,
    },
    Migration {
        version: 2,
        name: "the running cost followed per session",
        sql: r#"
-- The highest SessionCostUpdated.sequence acted on per session: older and repeated ones are ignored.
CREATE TABLE {schema}.cost_updates (
    session_id uuid PRIMARY KEY,
    sequence   bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
"#,
    },
    Migration {
        version: 3,
        name: "chargers' registry tariffs, for hold quotes",
        sql: r#"
CREATE TABLE {schema}.chargers (
    charger_id text PRIMARY KEY,
    tariff_id  text NOT NULL,
    time_zone  text NOT NULL
);
"#,
    },
    Migration {
        version: 4,
        name: "a session's hold decision commits with its intent's opening",
        sql: r#"
-- A session is decided for a hold in the transaction that opens its intent (one commit, not two). A
-- session already decided to pay later (priced before its start was seen) refuses the opening.
CREATE FUNCTION {schema}.decide_session_hold() RETURNS trigger AS $$
DECLARE
    session uuid := (NEW.payload->'IntentOpened'->'context'->>'session_id')::uuid;
    decided text;
BEGIN
    IF session IS NULL THEN
        RETURN NEW;
    END IF;
    INSERT INTO {schema}.session_decisions (session_id, decision) VALUES (session, 'hold')
        ON CONFLICT (session_id) DO NOTHING;
    IF NOT FOUND THEN
        SELECT decision INTO decided FROM {schema}.session_decisions WHERE session_id = session;
        IF decided <> 'hold' THEN
            RAISE EXCEPTION 'session % is settled by invoice', session;
        END IF;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER events_session_decision AFTER INSERT ON {schema}.events
    FOR EACH ROW WHEN (NEW.aggregate_type = 'PaymentIntent' AND NEW.event_type = 'IntentOpened')
    EXECUTE FUNCTION {schema}.decide_session_hold();
"#,
    },
    Migration {
        version: 5,
        name: "the sandbox provider answers a call in one statement",
        sql: SANDBOX_BOOKS,
    },
    Migration {
        version: 6,
        name: "the relay projects a batch of intent events in one statement",
        sql: INTENT_PROJECTION,
    },
];

/// The `intents` read table and its history lines, projected by the relay from a batch of intent
/// events in ONE statement (`outbox::PaymentsOutbox`): a JSON array of events in commit order, each
/// with the history line (`id`, `at`, `sequence`, `type`, `amount`, `detail`) and the values its
/// change of the row needs. The relay runs this for every event, so a round trip saved here is saved
/// on every event (it was one statement per event; two before that).
const INTENT_PROJECTION: &str = r#"
CREATE FUNCTION {schema}.project_intent_events(batch jsonb) RETURNS void AS $$
DECLARE
    e jsonb;
    v_id uuid;
    v_at timestamptz;
BEGIN
    FOR e IN SELECT value FROM jsonb_array_elements(batch) LOOP
        v_id := (e->>'id')::uuid;
        v_at := (e->>'at')::timestamptz;
        CASE e->>'type'
        WHEN 'IntentOpened' THEN
            INSERT INTO {schema}.intents (id, tenant_id, session_id, order_id, account_id, provider,
                kind, purpose, payment_method_id, status, currency, pending_op, created_at, updated_at)
            VALUES (v_id, e->>'tenant_id', (e->>'session_id')::uuid, e->>'order_id',
                (e->>'account_id')::uuid, e->>'provider', e->>'kind', e->>'purpose',
                (e->>'method_id')::uuid, 'pending', e->>'currency', 'authorize', v_at, v_at)
            ON CONFLICT (id) DO NOTHING;
        WHEN 'AuthorizationRequested' THEN
            UPDATE {schema}.intents SET pending_op = 'authorize', updated_at = v_at WHERE id = v_id;
        WHEN 'PaymentAuthorized' THEN
            UPDATE {schema}.intents SET status = 'authorized',
                amount_authorized = amount_authorized + (e->>'value')::numeric, pending_op = NULL,
                failure_code = '', failure_message = '', updated_at = v_at
            WHERE id = v_id;
        WHEN 'PaymentFailed' THEN
            UPDATE {schema}.intents SET status = 'failed', pending_op = NULL,
                failure_code = e->>'code', failure_message = e->>'message', updated_at = v_at
            WHERE id = v_id;
        WHEN 'ExtensionRequested' THEN
            UPDATE {schema}.intents SET pending_op = 'extend', updated_at = v_at WHERE id = v_id;
        WHEN 'HoldExtended' THEN
            UPDATE {schema}.intents SET amount_authorized = (e->>'value')::numeric, pending_op = NULL,
                updated_at = v_at
            WHERE id = v_id;
        WHEN 'HoldExhausted' THEN
            UPDATE {schema}.intents SET pending_op = NULL, failure_code = e->>'code',
                failure_message = e->>'message', updated_at = v_at
            WHERE id = v_id;
        WHEN 'CaptureRequested' THEN
            UPDATE {schema}.intents SET pending_op = 'capture', next_capture_at = NULL, updated_at = v_at
            WHERE id = v_id;
        WHEN 'PaymentCaptured' THEN
            UPDATE {schema}.intents SET status = 'captured', amount_captured = (e->>'value')::numeric,
                pending_op = NULL, next_capture_at = NULL, failure_code = '', failure_message = '',
                updated_at = v_at
            WHERE id = v_id;
        WHEN 'CaptureFailed' THEN
            UPDATE {schema}.intents SET pending_op = NULL, next_capture_at = (e->>'next_at')::timestamptz,
                failure_code = e->>'code', failure_message = e->>'message', updated_at = v_at
            WHERE id = v_id;
        WHEN 'DunningStarted' THEN
            UPDATE {schema}.intents SET status = 'dunning', pending_op = NULL, next_capture_at = NULL,
                failure_code = e->>'code', failure_message = 'capture failed; collected by dunning',
                updated_at = v_at
            WHERE id = v_id;
        WHEN 'VoidRequested' THEN
            UPDATE {schema}.intents SET pending_op = 'void', updated_at = v_at WHERE id = v_id;
        WHEN 'PaymentVoided' THEN
            -- A hold released after dunning keeps the dunning status.
            UPDATE {schema}.intents SET pending_op = NULL, updated_at = v_at,
                status = CASE WHEN (e->>'keep_status')::boolean THEN status ELSE 'voided' END
            WHERE id = v_id;
        WHEN 'RefundRequested' THEN
            UPDATE {schema}.intents SET pending_op = 'refund', updated_at = v_at WHERE id = v_id;
        WHEN 'PaymentRefunded' THEN
            UPDATE {schema}.intents SET amount_refunded = (e->>'value')::numeric, pending_op = NULL,
                status = CASE WHEN (e->>'value')::numeric >= amount_captured
                              THEN 'refunded' ELSE 'partially_refunded' END,
                updated_at = v_at
            WHERE id = v_id;
        WHEN 'RefundFailed' THEN
            UPDATE {schema}.intents SET pending_op = NULL, updated_at = v_at WHERE id = v_id;
        ELSE
            -- Only in the history (ChargeStopRequested): the status and amounts do not change.
            NULL;
        END CASE;
        INSERT INTO {schema}.intent_events (intent_id, sequence, type, amount, detail, occurred_at)
        VALUES (v_id, (e->>'sequence')::bigint, e->>'type', (e->>'amount')::numeric, e->>'detail', v_at)
        ON CONFLICT DO NOTHING;
    END LOOP;
END
$$ LANGUAGE plpgsql;
"#;

/// The sandbox provider's book-keeping (`provider::sandbox`): one call is one statement, as one call
/// to a remote provider is one request. `sandbox_call` runs an operation once per idempotency key and
/// returns its answer (`{"ok": ...}` or `{"err": {kind, code, message}}`), the first answer again for
/// a key it has seen. A card's behaviour is decided by the Rust side and recorded on its hold.
const SANDBOX_BOOKS: &str = r#"
ALTER TABLE {schema}.sandbox_holds
    ADD COLUMN incremental   boolean NOT NULL DEFAULT true,
    ADD COLUMN capture_fails boolean NOT NULL DEFAULT false;

CREATE FUNCTION {schema}.sandbox_err(kind text, code text, message text) RETURNS jsonb AS $$
    SELECT jsonb_build_object('err', jsonb_build_object('kind', kind, 'code', code, 'message', message))
$$ LANGUAGE sql IMMUTABLE;

-- What a customer holds on a card now, under the card's lock (held until the call commits).
CREATE FUNCTION {schema}.sandbox_held(who text, card text) RETURNS numeric AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('sandbox-card/' || who || '/' || card));
    RETURN coalesce((SELECT sum(amount) FROM {schema}.sandbox_holds
                     WHERE customer = who AND token = card AND status = 'authorized'), 0);
END
$$ LANGUAGE plpgsql;

CREATE FUNCTION {schema}.sandbox_run(operation text, args jsonb) RETURNS jsonb AS $$
DECLARE
    v_amount numeric := (args->>'amount')::numeric;
    v_limit numeric := (args->>'limit')::numeric;
    h {schema}.sandbox_holds%ROWTYPE;
BEGIN
    IF operation = 'authorize' THEN
        IF args->>'decline_code' IS NOT NULL THEN
            RETURN {schema}.sandbox_err('declined', args->>'decline_code', args->>'decline_message');
        END IF;
        IF {schema}.sandbox_held(args->>'customer', args->>'token') + v_amount > v_limit THEN
            RETURN {schema}.sandbox_err('declined', 'insufficient_funds', 'Your card has insufficient funds.');
        END IF;
        INSERT INTO {schema}.sandbox_holds
            (reference, token, customer, currency, amount, captured, refunded, status, incremental, capture_fails)
        VALUES (args->>'reference', args->>'token', args->>'customer', args->>'currency', v_amount, 0, 0,
                'authorized', (args->>'incremental')::boolean, (args->>'capture_fails')::boolean);
        RETURN jsonb_build_object('ok', jsonb_build_object(
            'reference', args->>'reference', 'amount', v_amount::text,
            'incremental', (args->>'incremental')::boolean));
    END IF;

    SELECT * INTO h FROM {schema}.sandbox_holds WHERE reference = args->>'reference' FOR UPDATE;
    IF NOT FOUND THEN
        RETURN {schema}.sandbox_err('invalid', 'resource_missing', 'no hold ' || (args->>'reference'));
    END IF;
    CASE operation
    WHEN 'increment' THEN
        IF NOT h.incremental THEN
            RETURN {schema}.sandbox_err('unsupported', 'not_supported',
                'this card does not support incremental authorisation');
        END IF;
        IF h.status <> 'authorized' OR h.currency <> args->>'currency' THEN
            RETURN {schema}.sandbox_err('invalid', 'payment_intent_unexpected_state', 'the hold is ' || h.status);
        END IF;
        IF {schema}.sandbox_held(h.customer, h.token) - h.amount + v_amount > v_limit THEN
            RETURN {schema}.sandbox_err('declined', 'insufficient_funds', 'Your card has insufficient funds.');
        END IF;
        UPDATE {schema}.sandbox_holds SET amount = v_amount WHERE reference = h.reference;
        RETURN jsonb_build_object('ok', jsonb_build_object('amount', v_amount::text));
    WHEN 'capture' THEN
        IF h.capture_fails THEN
            RETURN {schema}.sandbox_err('declined', 'processing_error',
                'An error occurred while processing the capture.');
        END IF;
        -- Capturing a captured hold again with the same amount is answered as done, like a provider
        -- that keys captures on the hold.
        IF h.status = 'captured' AND h.captured = v_amount THEN
            RETURN jsonb_build_object('ok', jsonb_build_object('captured', h.captured::text));
        END IF;
        IF h.status <> 'authorized' THEN
            RETURN {schema}.sandbox_err('invalid', 'payment_intent_unexpected_state', 'the hold is ' || h.status);
        END IF;
        IF v_amount > h.amount THEN
            RETURN {schema}.sandbox_err('invalid', 'amount_too_large',
                v_amount::text || ' is more than the ' || h.amount::text || ' held');
        END IF;
        UPDATE {schema}.sandbox_holds SET captured = v_amount, status = 'captured' WHERE reference = h.reference;
        RETURN jsonb_build_object('ok', jsonb_build_object('captured', v_amount::text));
    WHEN 'cancel' THEN
        IF h.status = 'authorized' THEN
            UPDATE {schema}.sandbox_holds SET status = 'canceled' WHERE reference = h.reference;
        END IF;
        RETURN jsonb_build_object('ok', jsonb_build_object('status', 'canceled'));
    WHEN 'refund' THEN
        IF h.status <> 'captured' OR h.refunded + v_amount > h.captured THEN
            RETURN {schema}.sandbox_err('invalid', 'charge_already_refunded',
                v_amount::text || ' is more than the ' || (h.captured - h.refunded)::text || ' left to refund');
        END IF;
        UPDATE {schema}.sandbox_holds SET refunded = refunded + v_amount WHERE reference = h.reference;
        RETURN jsonb_build_object('ok', jsonb_build_object('refund', args->>'refund'));
    ELSE
        RAISE EXCEPTION 'unknown sandbox operation %', operation;
    END CASE;
END
$$ LANGUAGE plpgsql;

-- The books stand for a remote provider: they must survive Joule's process dying (the call commits
-- before it returns), not a PostgreSQL crash, so a call does not wait for the WAL flush.
CREATE FUNCTION {schema}.sandbox_call(call_key text, operation text, args jsonb) RETURNS jsonb AS $$
DECLARE
    answer jsonb;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM pg_advisory_xact_lock(hashtext('sandbox/' || call_key));
    SELECT c.answer INTO answer FROM {schema}.sandbox_calls c WHERE c.idempotency_key = call_key;
    IF FOUND THEN
        RETURN answer;
    END IF;
    answer := {schema}.sandbox_run(operation, args);
    INSERT INTO {schema}.sandbox_calls (idempotency_key, operation, answer) VALUES (call_key, operation, answer);
    RETURN answer;
END
$$ LANGUAGE plpgsql;
"#;

/// How often the sweeper looks for failed captures due again and operations left pending.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// An operation pending this long was left by a crash or an outage, not by a running call.
const STALE_PENDING_SECS: f64 = 15.0;

pub async fn start(ctx: Context) -> Result<Started, BoxError> {
    joule_store::migrate(&ctx.pool, SCHEMA, MIGRATIONS).await?;
    let settings = ctx.settings.clone();
    let default_tenant = settings.tenant.clone();
    let holds = DefaultHolds::parse(&settings.payments_default_holds)
        .map_err(|e| format!("JOULE_PAYMENTS_DEFAULT_HOLDS: {e}"))?;
    let hold_rule = HoldRule::parse(&settings.payments_hold_extension)
        .map_err(|e| format!("JOULE_PAYMENTS_HOLD_EXTENSION: {e}"))?;
    let quoted = quote::QuotedSession::parse(&settings.payments_hold_quote)
        .map_err(|e| format!("JOULE_PAYMENTS_HOLD_QUOTE: {e}"))?;

    let wallets = Arc::new(Aggregates::new(ctx.pool.clone(), SCHEMA));
    let mut providers = Providers::default()
        .with(
            ProviderKind::Sandbox,
            Arc::new(provider::sandbox::Sandbox::new(ctx.pool.clone(), SCHEMA)),
        )
        .with(
            ProviderKind::Wallet,
            Arc::new(provider::wallet::WalletProvider::new(wallets.clone())),
        );
    if !settings.payments_stripe_secret_key.is_empty() {
        let stripe = provider::stripe::Stripe::new(
            &settings.payments_stripe_api_base,
            settings.payments_stripe_secret_key.expose(),
            Duration::from_secs(settings.payments_provider_timeout_secs.max(1)),
        )?;
        providers = providers.with(ProviderKind::Stripe, Arc::new(stripe));
    }
    let policy = RetryPolicy {
        max_attempts: settings.payments_capture_max_attempts.max(1),
        first_delay: chrono::Duration::seconds(settings.payments_capture_retry_secs as i64),
    };
    let engine = Arc::new(Engine::new(
        Aggregates::committing(ctx.pool.clone(), SCHEMA, PaymentIntent::REQUEST_EVENTS),
        Aggregates::new(ctx.pool.clone(), SCHEMA),
        wallets.clone(),
        providers,
        policy,
    ));
    let flow = Arc::new(Flow {
        engine: engine.clone(),
        pool: ctx.pool.clone(),
        schema: SCHEMA.into(),
        holds: match quoted {
            Some(session) => Arc::new(quote::QuoteHoldAmount {
                pricing: TariffServiceClient::new(ctx.grpc_channel(&settings.pricing_grpc_url)?),
                pool: ctx.pool.clone(),
                schema: SCHEMA.into(),
                session,
                tenant_id: default_tenant.clone(),
                configured: SettingsHoldAmount(holds),
            }),
            None => Arc::new(SettingsHoldAmount(holds)),
        },
    });

    let mut tasks = Vec::new();
    let consumer = |domain, durable: &str, filter: &str, on_park| ConsumerSpec {
        domain,
        durable: durable.into(),
        filter: Some(filter.into()),
        on_park,
    };
    let handler = consumers::AccountsHandler {
        pool: ctx.pool.clone(),
        schema: SCHEMA.into(),
        default_tenant: default_tenant.clone(),
    };
    // A projection: an account's later change waits for its earlier one, or a replay would regress it.
    let spec = consumer(
        Domain::Registry,
        "payments-accounts",
        "registry.account.*",
        OnPark::HoldAggregate,
    );
    tasks.push(ctx.consumer(spec, handler));
    let handler = quote::ChargersHandler {
        pool: ctx.pool.clone(),
        schema: SCHEMA.into(),
    };
    // A projection, as for accounts.
    let spec = consumer(
        Domain::Registry,
        "payments-chargers",
        "registry.charger.*",
        OnPark::HoldAggregate,
    );
    tasks.push(ctx.consumer(spec, handler));
    let handler = consumers::SessionsHandler {
        flow: flow.clone(),
        default_tenant: default_tenant.clone(),
    };
    // Money: a session's card hold is placed before anything else happens to it.
    let spec = consumer(
        Domain::Session,
        "payments-sessions",
        "session.*.started",
        OnPark::HoldAggregate,
    );
    tasks.push(ctx.consumer(spec, handler));
    let handler = consumers::PricedHandler {
        flow: flow.clone(),
        default_tenant: default_tenant.clone(),
    };
    // Money: a session's capture and re-rating captures in their order, none skipped.
    let spec = consumer(
        Domain::Pricing,
        "payments-priced",
        "pricing.*.priced",
        OnPark::HoldAggregate,
    );
    tasks.push(ctx.consumer(spec, handler));
    let handler = live_cost::CostUpdatedHandler {
        engine: engine.clone(),
        pool: ctx.pool.clone(),
        schema: SCHEMA.into(),
        rule: hold_rule,
        stopper: live_cost::GatewayStopper::new(ctx.grpc_channel(&settings.gateway_grpc_url)?),
        default_tenant: default_tenant.clone(),
    };
    // Each update carries the whole running cost: the next one supersedes a parked one.
    let spec = consumer(
        Domain::Pricing,
        "payments-cost",
        "pricing.*.cost_updated",
        OnPark::Skip,
    );
    tasks.push(ctx.consumer(spec, handler));

    let relay = Relay::new(
        ctx.pool.clone(),
        SCHEMA,
        ctx.bus.clone(),
        outbox::PaymentsOutbox::new(SCHEMA),
    )?
    // Safe to lose in a PostgreSQL crash: the batch is relayed again (see `with_async_commit`).
    .with_async_commit();
    tasks.push(ctx.relay("payments-relay", relay));
    let (sweep_engine, pool, tenant, shutdown) = (
        engine.clone(),
        ctx.pool.clone(),
        default_tenant.clone(),
        ctx.shutdown.clone(),
    );
    tasks.push(Task::restartable("payments-sweeper", move || {
        sweep(
            sweep_engine.clone(),
            pool.clone(),
            tenant.clone(),
            shutdown.clone(),
        )
    }));

    if !settings.payments_webhook_addr.is_empty() {
        let listener = ctx
            .bind("payments-webhooks", &settings.payments_webhook_addr)
            .await?;
        let app = webhooks::router(webhooks::WebhookState {
            engine: engine.clone(),
            pool: ctx.pool.clone(),
            schema: SCHEMA.into(),
            secret: settings.payments_stripe_webhook_secret.expose().to_owned(),
            default_tenant: default_tenant.clone(),
        });
        // Limits (README "Transport limits"): the body limit, the request timeout, the connection cap and
        // the header read timeout.
        let body_limit =
            usize::try_from(settings.payments_webhook_body_limit_bytes).unwrap_or(usize::MAX);
        let app = joule_runtime::http::request_timeout(
            app.layer(axum::extract::DefaultBodyLimit::max(body_limit)),
            Duration::from_secs(settings.http_request_timeout_secs),
            || {
                axum::response::IntoResponse::into_response(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                )
            },
        );
        tasks.push(Task::new(
            "payments-webhooks",
            joule_runtime::http::serve(
                "payments-webhooks",
                listener,
                None,
                app,
                joule_runtime::http::Limits::from_settings(
                    &settings,
                    settings.payments_webhook_max_connections,
                ),
                ctx.shutdown.clone(),
            ),
        ));
    }

    let grpc = grpc::PaymentsGrpc {
        flow,
        wallets,
        settlements: Aggregates::new(ctx.pool.clone(), SCHEMA),
        idempotency: idempotency::IdempotencyStore::new(ctx.pool.clone(), SCHEMA),
        pool: ctx.pool.clone(),
        schema: SCHEMA.into(),
        default_tenant,
    };
    // Built on a router without a fallback, so `joule run --all` can merge it (see the ledger).
    let routes = tonic::service::Routes::from(tonic::service::AxumRouter::new())
        .add_service(PaymentsServiceServer::new(grpc));
    Ok(Started {
        tasks,
        grpc: Some((routes, vec![SERVICE_NAME])),
    })
}

/// Retries failed captures whose time has come and resumes operations a crash or an outage left
/// pending (with the same idempotency keys, so nothing happens twice).
async fn sweep(
    engine: Arc<Engine>,
    pool: PgPool,
    tenant: String,
    shutdown: CancellationToken,
) -> Result<(), BoxError> {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(SWEEP_EVERY) => {}
        }
        let due: Vec<(Uuid, bool)> = match sqlx::query_as(&format!(
            "SELECT id, pending_op IS NULL FROM {SCHEMA}.intents
             WHERE (next_capture_at <= now() AND status = 'authorized' AND pending_op IS NULL)
                OR (pending_op IS NOT NULL AND updated_at < now() - make_interval(secs => $1))
             ORDER BY updated_at LIMIT 100"
        ))
        .bind(STALE_PENDING_SECS)
        .fetch_all(&pool)
        .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "sweep query failed");
                continue;
            }
        };
        for (id, retry) in due {
            let id = IntentId::from(id);
            let meta = CommandMeta {
                tenant_id: tenant.clone(),
                correlation_id: Uuid::new_v4().to_string(),
                causation_id: String::new(),
            };
            let result = if retry {
                engine.retry_capture(id, &meta).await
            } else {
                engine.resume(id, &meta).await
            };
            if let Err(e) = result {
                tracing::warn!(intent = %id, error = %e, "sweep could not finish an intent; next sweep retries");
            }
        }
    }
}

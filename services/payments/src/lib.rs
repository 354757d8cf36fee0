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

use joule_bus::{ConsumerSpec, Domain};
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
use crate::intent::{ProviderKind, RetryPolicy};
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
];

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
            &settings.payments_stripe_secret_key,
            Duration::from_secs(settings.payments_provider_timeout_secs.max(1)),
        )?;
        providers = providers.with(ProviderKind::Stripe, Arc::new(stripe));
    }
    let policy = RetryPolicy {
        max_attempts: settings.payments_capture_max_attempts.max(1),
        first_delay: chrono::Duration::seconds(settings.payments_capture_retry_secs as i64),
    };
    let engine = Arc::new(Engine::new(
        Aggregates::new(ctx.pool.clone(), SCHEMA),
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
    let consumer = |domain, durable: &str, filter: &str| ConsumerSpec {
        domain,
        durable: durable.into(),
        filter: Some(filter.into()),
    };
    let (bus, shutdown) = (ctx.bus.clone(), ctx.shutdown.clone());
    let handler = consumers::AccountsHandler {
        pool: ctx.pool.clone(),
        schema: SCHEMA.into(),
        default_tenant: default_tenant.clone(),
    };
    let spec = consumer(Domain::Registry, "payments-accounts", "registry.account.*");
    tasks.push(Task::new("payments-accounts", async move {
        bus.run_consumer(spec, handler, shutdown).await
    }));
    let (bus, shutdown) = (ctx.bus.clone(), ctx.shutdown.clone());
    let handler = quote::ChargersHandler {
        pool: ctx.pool.clone(),
        schema: SCHEMA.into(),
    };
    let spec = consumer(Domain::Registry, "payments-chargers", "registry.charger.*");
    tasks.push(Task::new("payments-chargers", async move {
        bus.run_consumer(spec, handler, shutdown).await
    }));
    let (bus, shutdown) = (ctx.bus.clone(), ctx.shutdown.clone());
    let handler = consumers::SessionsHandler {
        flow: flow.clone(),
        default_tenant: default_tenant.clone(),
    };
    let spec = consumer(Domain::Session, "payments-sessions", "session.*.started");
    tasks.push(Task::new("payments-sessions", async move {
        bus.run_consumer(spec, handler, shutdown).await
    }));
    let (bus, shutdown) = (ctx.bus.clone(), ctx.shutdown.clone());
    let handler = consumers::PricedHandler {
        flow: flow.clone(),
        default_tenant: default_tenant.clone(),
    };
    let spec = consumer(Domain::Pricing, "payments-priced", "pricing.*.priced");
    tasks.push(Task::new("payments-priced", async move {
        bus.run_consumer(spec, handler, shutdown).await
    }));
    let (bus, shutdown) = (ctx.bus.clone(), ctx.shutdown.clone());
    let handler = live_cost::CostUpdatedHandler {
        engine: engine.clone(),
        pool: ctx.pool.clone(),
        schema: SCHEMA.into(),
        rule: hold_rule,
        stopper: live_cost::GatewayStopper::new(ctx.grpc_channel(&settings.gateway_grpc_url)?),
        default_tenant: default_tenant.clone(),
    };
    let spec = consumer(Domain::Pricing, "payments-cost", "pricing.*.cost_updated");
    tasks.push(Task::new("payments-cost", async move {
        bus.run_consumer(spec, handler, shutdown).await
    }));

    let relay = Relay::new(
        ctx.pool.clone(),
        SCHEMA,
        ctx.bus.clone(),
        outbox::PaymentsOutbox::new(SCHEMA),
    )?
    // Safe to lose in a PostgreSQL crash: the batch is relayed again (see `with_async_commit`).
    .with_async_commit();
    tasks.push(Task::new("payments-relay", relay.run(ctx.shutdown.clone())));
    tasks.push(Task::new(
        "payments-sweeper",
        sweep(
            engine.clone(),
            ctx.pool.clone(),
            default_tenant.clone(),
            ctx.shutdown.clone(),
        ),
    ));

    if !settings.payments_webhook_addr.is_empty() {
        let listener = ctx
            .bind("payments-webhooks", &settings.payments_webhook_addr)
            .await?;
        let app = webhooks::router(webhooks::WebhookState {
            engine: engine.clone(),
            pool: ctx.pool.clone(),
            schema: SCHEMA.into(),
            secret: settings.payments_stripe_webhook_secret.clone(),
            default_tenant: default_tenant.clone(),
        });
        let shutdown = ctx.shutdown.clone();
        tasks.push(Task::new("payments-webhooks", async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await
        }));
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

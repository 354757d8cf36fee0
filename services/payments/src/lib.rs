//! Payments: holds money against a charging session's cost, captures exactly the priced amount,
//! refunds, and never moves money twice.
//!
//! - **Owns** the `payments` schema: the aggregates in [`domain`] ([`domain::intent::PaymentIntent`],
//!   one per session or order; [`domain::methods::AccountMethods`], saved provider tokens and the
//!   default per account; [`domain::wallet::Wallet`], prepaid balances;
//!   [`domain::settlement::SettlementRecord`], provider settlement lines), their read tables
//!   ([`projections`]), the API's idempotency keys, the webhook log, and the sandbox provider's books.
//! - **Consumes** ([`consumers`]) REGISTRY (`registry.account.*`: account currencies;
//!   `registry.charger.*`: chargers' tariffs for [`quote`]d holds), SESSION (`session.*.started`:
//!   place the hold) and PRICING (`pricing.*.priced`: capture; `pricing.*.cost_updated`: the hold
//!   follows the running cost).
//! - **Publishes** PAYMENT (`payment.<id>.<kind>`, mapped in [`wire`]) through its outbox relay.
//! - **Serves** `joule.v1.PaymentsService` ([`grpc`]) and, when configured, provider [`webhooks`];
//!   **calls** pricing (quotes) and the gateway (stopping a charge whose hold is exhausted).
//!
//! Providers sit behind [`provider::Provider`]: the sandbox, Stripe and the wallet; the [`engine`]
//! runs an intent's operations against them, the [`flow`] decides a session's hold and capture, and
//! the [`sweeper`] resumes what a crash or an outage left. What it does not own: accounts (the api's
//! registry), prices (pricing), receivables and their ledger postings (invoicing, ledger).

// Values from outside (requests, events, provider answers) never reach an operator that can panic
// on overflow: checked operations that turn overflow into a refusal, or saturating ones with the
// reason beside them (ADR 024). Tests may use plain arithmetic.
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub mod amounts;
pub mod consumers;
pub mod domain;
pub mod engine;
pub mod flow;
pub mod grpc;
pub mod ids;
pub mod projections;
pub mod provider;
pub mod quote;
pub mod store;
pub mod sweeper;
pub mod webhooks;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use joule_bus::{ConsumerSpec, Domain, OnPark};
use joule_domain::TenantId;
use joule_proto::v1::payments_service_server::{PaymentsServiceServer, SERVICE_NAME};
use joule_proto::v1::tariff_service_client::TariffServiceClient;
use joule_runtime::{BoxError, Context, ServiceDef, Started, Task};
use joule_store::{Migration, Relay};

use crate::amounts::{DefaultHolds, HoldRule, SettingsHoldAmount};
use crate::consumers::{accounts, chargers, cost_updated, session_priced, session_started};
use crate::domain::intent::{PaymentIntent, ProviderKind, RetryPolicy};
use crate::engine::Engine;
use crate::flow::Flow;
use crate::provider::Providers;
use crate::store::Aggregates;

pub const SCHEMA: &str = "payments";

pub const SERVICE: ServiceDef = ServiceDef {
    name: "payments",
    start: |ctx| Box::pin(start(ctx)),
};

const MIGRATIONS: &[Migration] = joule_store::migrations![
    1 => "001_intents_methods_wallets_settlement_idempotency_webhooks_sandbox",
    2 => "002_the_running_cost_followed_per_session",
    3 => "003_chargers_registry_tariffs_for_hold_quotes",
    4 => "004_a_session_s_hold_decision_commits_with_its_intent_s_opening",
    5 => "005_the_sandbox_provider_answers_a_call_in_one_statement",
    6 => "006_the_relay_projects_a_batch_of_intent_events_in_one_statement",
    7 => "007_payment_methods_and_wallets_are_listed_by_cursor",
];

pub async fn start(ctx: Context) -> Result<Started, BoxError> {
    joule_store::migrate(&ctx.pool, SCHEMA, MIGRATIONS).await?;
    let settings = ctx.settings.clone();
    let default_tenant: TenantId = settings
        .tenant
        .parse()
        .map_err(|e| format!("JOULE_TENANT {:?}: {e}", settings.tenant))?;
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
                pricing: TariffServiceClient::new(
                    ctx.grpc_channel("pricing", &settings.pricing_grpc_url)?,
                ),
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
    let handler = accounts::AccountsHandler {
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
    let handler = chargers::ChargersHandler {
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
    let handler = session_started::SessionsHandler {
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
    let handler = session_priced::PricedHandler {
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
    let handler = cost_updated::CostUpdatedHandler {
        engine: engine.clone(),
        pool: ctx.pool.clone(),
        schema: SCHEMA.into(),
        rule: hold_rule,
        stopper: cost_updated::GatewayStopper::new(
            ctx.grpc_channel("gateway", &settings.gateway_grpc_url)?,
        ),
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
        projections::outbox::PaymentsOutbox::new(SCHEMA),
    )?
    .with_upcasters(domain::UPCASTERS.as_slice())
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
        sweeper::sweep(
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
        idempotency: grpc::idempotency::IdempotencyStore::new(ctx.pool.clone(), SCHEMA),
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

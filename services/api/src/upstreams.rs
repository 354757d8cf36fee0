//! gRPC clients of the services the api reads and commands through: pricing (tariffs, quotes,
//! re-ratings), sessions, invoicing (receipts and adjustment notes), ledger, payments (intents,
//! methods, wallets, settlements), the gateway (commands to chargers) and webhooks (endpoints and
//! their delivery logs). Channels connect lazily, so
//! the api starts even when a service is not up yet; a call to a service that is down fails with
//! `Unavailable`, which the problem module turns into a 503. An empty URL means "this process" and is
//! refused at start for a service the process does not run.

use joule_proto::v1::charger_commands_client::ChargerCommandsClient;
use joule_proto::v1::invoicing_service_client::InvoicingServiceClient;
use joule_proto::v1::ledger_service_client::LedgerServiceClient;
use joule_proto::v1::payments_service_client::PaymentsServiceClient;
use joule_proto::v1::sessions_service_client::SessionsServiceClient;
use joule_proto::v1::tariff_service_client::TariffServiceClient;
use joule_proto::v1::webhooks_service_client::WebhooksServiceClient;
use joule_runtime::GrpcChannel;
use joule_runtime::{BoxError, Context};
use joule_telemetry::TracePropagation;
use tonic::service::interceptor::InterceptedService;

/// A client with the caller's trace context on every call.
pub type Traced = InterceptedService<GrpcChannel, TracePropagation>;

/// Cheap to clone: the clients share their channels.
#[derive(Clone)]
pub struct Upstreams {
    pub tariffs: TariffServiceClient<Traced>,
    pub sessions: SessionsServiceClient<Traced>,
    pub invoicing: InvoicingServiceClient<Traced>,
    pub ledger: LedgerServiceClient<Traced>,
    pub payments: PaymentsServiceClient<Traced>,
    pub commands: ChargerCommandsClient<Traced>,
    pub webhooks: WebhooksServiceClient<Traced>,
}

impl Upstreams {
    pub fn new(ctx: &Context) -> Result<Self, BoxError> {
        let s = &ctx.settings;
        Ok(Self {
            tariffs: TariffServiceClient::with_interceptor(
                ctx.grpc_channel("pricing", &s.pricing_grpc_url)?,
                TracePropagation,
            ),
            sessions: SessionsServiceClient::with_interceptor(
                ctx.grpc_channel("sessions", &s.sessions_grpc_url)?,
                TracePropagation,
            ),
            invoicing: InvoicingServiceClient::with_interceptor(
                ctx.grpc_channel("invoicing", &s.invoicing_grpc_url)?,
                TracePropagation,
            ),
            ledger: LedgerServiceClient::with_interceptor(
                ctx.grpc_channel("ledger", &s.ledger_grpc_url)?,
                TracePropagation,
            ),
            payments: PaymentsServiceClient::with_interceptor(
                ctx.grpc_channel("payments", &s.payments_grpc_url)?,
                TracePropagation,
            ),
            commands: ChargerCommandsClient::with_interceptor(
                ctx.grpc_channel("gateway", &s.gateway_grpc_url)?,
                TracePropagation,
            ),
            webhooks: WebhooksServiceClient::with_interceptor(
                ctx.grpc_channel("webhooks", &s.webhooks_grpc_url)?,
                TracePropagation,
            ),
        })
    }
}

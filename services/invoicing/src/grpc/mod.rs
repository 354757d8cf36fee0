//! The gRPC API, `joule.v1.InvoicingService`: reads of the receipts' read model ([`invoices`]);
//! errors become statuses in [`status`].

mod invoices;
mod status;

use joule_domain::TenantId;
use joule_proto::v1::invoicing_service_server::{InvoicingServiceServer, SERVICE_NAME};
use sqlx::PgPool;
use tonic::service::Routes;

pub struct InvoicingGrpc {
    pool: PgPool,
    schema: String,
    default_tenant: TenantId,
}

impl InvoicingGrpc {
    pub fn new(pool: PgPool, schema: &str, default_tenant: TenantId) -> Self {
        Self {
            pool,
            schema: schema.to_owned(),
            default_tenant,
        }
    }

    /// The service's routes and name, as the runtime serves them.
    pub fn routes(self) -> (Routes, Vec<&'static str>) {
        (
            Routes::new(InvoicingServiceServer::new(self)),
            vec![SERVICE_NAME],
        )
    }
}

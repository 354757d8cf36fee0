//! The gRPC API: `joule.v1.SessionsService` (the session read model, [`sessions`]) and
//! `joule.v1.SessionEvidenceService` (the signed meter values of a session, byte-exact, for tying
//! to invoice lines, [`evidence`]); errors become statuses in [`status`].
//!
//! Every read is within the request's tenant (`tenant_id`; empty: the deployment's): another
//! tenant's session is NOT_FOUND and never listed (ADR 032).

mod evidence;
mod sessions;
mod status;

use joule_domain::TenantId;
use joule_proto::v1::session_evidence_service_server::SessionEvidenceServiceServer;
use joule_proto::v1::sessions_service_server::SessionsServiceServer;
use sqlx::PgPool;
use tonic::server::NamedService;
use tonic::service::Routes;

use self::status::ReadError;

pub struct SessionsGrpc {
    pub pool: PgPool,
    pub default_tenant: TenantId,
}

pub struct SessionEvidenceGrpc {
    pub pool: PgPool,
    pub default_tenant: TenantId,
}

/// The request's tenant; the deployment's when it names none.
fn tenant(default: &TenantId, given: &str) -> Result<TenantId, ReadError> {
    match given {
        "" => Ok(default.clone()),
        given => given.parse().map_err(|_| ReadError::InvalidArgument {
            field: "tenant_id",
            reason: "not a tenant id",
        }),
    }
}

/// Both services' routes and names, as the runtime serves them.
pub fn routes(pool: &PgPool, default_tenant: &TenantId) -> (Routes, Vec<&'static str>) {
    let sessions = SessionsServiceServer::new(SessionsGrpc {
        pool: pool.clone(),
        default_tenant: default_tenant.clone(),
    });
    let evidence = SessionEvidenceServiceServer::new(SessionEvidenceGrpc {
        pool: pool.clone(),
        default_tenant: default_tenant.clone(),
    });
    let names = vec![
        <SessionsServiceServer<SessionsGrpc> as NamedService>::NAME,
        <SessionEvidenceServiceServer<SessionEvidenceGrpc> as NamedService>::NAME,
    ];
    (Routes::new(sessions).add_service(evidence), names)
}

//! The gRPC API: `joule.v1.SessionsService` (the session read model, [`sessions`]) and
//! `joule.v1.SessionEvidenceService` (the signed meter values of a session, byte-exact, for tying
//! to invoice lines, [`evidence`]); errors become statuses in [`status`].

mod evidence;
mod sessions;
mod status;

use joule_proto::v1::session_evidence_service_server::SessionEvidenceServiceServer;
use joule_proto::v1::sessions_service_server::SessionsServiceServer;
use sqlx::PgPool;
use tonic::server::NamedService;
use tonic::service::Routes;

pub struct SessionsGrpc {
    pub pool: PgPool,
}

pub struct SessionEvidenceGrpc {
    pub pool: PgPool,
}

/// Both services' routes and names, as the runtime serves them.
pub fn routes(pool: &PgPool) -> (Routes, Vec<&'static str>) {
    let sessions = SessionsServiceServer::new(SessionsGrpc { pool: pool.clone() });
    let evidence = SessionEvidenceServiceServer::new(SessionEvidenceGrpc { pool: pool.clone() });
    let names = vec![
        <SessionsServiceServer<SessionsGrpc> as NamedService>::NAME,
        <SessionEvidenceServiceServer<SessionEvidenceGrpc> as NamedService>::NAME,
    ];
    (Routes::new(sessions).add_service(evidence), names)
}

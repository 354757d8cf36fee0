//! gRPC channels to the other services (ADR 044): a connection to another process, or, for a
//! service this process runs, a call straight into this process's gRPC router, without TLS,
//! HTTP/2 framing or a loopback socket. Both speak the same gRPC over `http` types, so a client
//! does not know which it has. An in-process call is this process calling: it is allowed what the
//! process's own certificate is (ADR 029), as over mTLS.

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tonic::body::Body;
use tonic::transport::Channel;
use tower::{Service, ServiceExt};

use crate::BoxError;
use crate::authz::{self, Caller};

/// The gRPC router of this process, set once every service has started.
pub(crate) type LocalRouter = Arc<OnceLock<axum::Router>>;

/// A gRPC channel: cheap to clone, connects lazily (remote) or calls in (local).
#[derive(Clone)]
pub enum GrpcChannel {
    Remote(Channel),
    Local(LocalGrpc),
}

#[derive(Clone)]
pub struct LocalGrpc {
    router: LocalRouter,
    /// Who this process is, when gRPC runs with mutual TLS; `None`: plain h2c, no identities.
    caller: Option<Caller>,
}

impl LocalGrpc {
    pub(crate) fn new(router: LocalRouter, caller: Option<Caller>) -> Self {
        Self { router, caller }
    }

    async fn call(self, request: axum::http::Request<Body>) -> axum::http::Response<Body> {
        let Some(router) = self.router.get() else {
            return tonic::Status::unavailable("this process's services are still starting")
                .into_http();
        };
        if let Some(caller) = &self.caller {
            let (service, method) = authz::grpc_path(request.uri().path());
            if !caller.may_call(service) {
                tracing::warn!(%caller, grpc.service = service, grpc.method = method, "in-process gRPC call refused: the process may not call this service (ADR 029)");
                return tonic::Status::permission_denied(format!(
                    "{caller} may not call {service} (ADR 029)"
                ))
                .into_http();
            }
        }
        let answer: Result<_, Infallible> = router.clone().oneshot(request).await;
        match answer {
            Ok(response) => response.map(Body::new),
        }
    }
}

impl Service<axum::http::Request<Body>> for GrpcChannel {
    type Response = axum::http::Response<Body>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self {
            GrpcChannel::Remote(channel) => channel.poll_ready(cx).map_err(Into::into),
            GrpcChannel::Local(_) => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, request: axum::http::Request<Body>) -> Self::Future {
        match self {
            GrpcChannel::Remote(channel) => {
                let call = channel.call(request);
                Box::pin(async move { call.await.map_err(Into::into) })
            }
            GrpcChannel::Local(local) => {
                let local = local.clone();
                Box::pin(async move { Ok(local.call(request).await) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    use super::*;
    use crate::DevCa;

    fn caller(process: &str) -> Caller {
        let ca = DevCa::new("test CA").unwrap();
        Caller::of_pem(ca.issue(process, &[]).unwrap().cert_pem.as_bytes()).unwrap()
    }

    fn local(router: &LocalRouter, caller: Option<Caller>) -> GrpcChannel {
        GrpcChannel::Local(LocalGrpc::new(router.clone(), caller))
    }

    #[tokio::test]
    async fn an_in_process_call_is_answered_once_the_router_is_set() {
        let router = LocalRouter::default();
        let mut before = HealthClient::new(local(&router, None));
        let refused = before
            .check(HealthCheckRequest::default())
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unavailable);

        let (reporter, health) = tonic_health::server::health_reporter();
        reporter
            .set_service_status("", tonic_health::ServingStatus::Serving)
            .await;
        let _ = router.set(tonic::service::Routes::new(health).into_axum_router());
        let mut client = HealthClient::new(local(&router, Some(caller("pricing"))));
        let answer = client.check(HealthCheckRequest::default()).await.unwrap();
        assert_eq!(answer.into_inner().status, 1, "SERVING");
    }

    #[tokio::test]
    async fn an_in_process_call_is_allowed_what_the_process_certificate_is() {
        let router = LocalRouter::default();
        let _ = router.set(axum::Router::new());
        // Ledger may not call payments (ADR 029): refused before the router sees it.
        let mut channel = local(&router, Some(caller("ledger")));
        let request = axum::http::Request::post("/joule.v1.PaymentsService/GetIntent")
            .body(Body::empty())
            .unwrap();
        let response = channel.call(request).await.unwrap();
        let status = tonic::Status::from_header_map(response.headers()).expect("a gRPC status");
        assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
        // The api may: the router answers (here with axum's 404, no gRPC status).
        let mut channel = local(&router, Some(caller("api")));
        let request = axum::http::Request::post("/joule.v1.PaymentsService/GetIntent")
            .body(Body::empty())
            .unwrap();
        let response = channel.call(request).await.unwrap();
        assert!(tonic::Status::from_header_map(response.headers()).is_none());
    }
}

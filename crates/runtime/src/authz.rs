//! Per-caller gRPC authorisation (ADR 029). With mutual TLS on, every gRPC request passes
//! [`authorize`] before it reaches a service. The caller is the set of Joule services its client
//! certificate names: DNS names `joule-<service>`, the names `k8s/` dials services by and
//! `joule certs dev` issues. The gRPC service in the request path (`/joule.v1.TariffService/Quote`)
//! must list one of them in [`GRANTS`], or be served by one of them (a process calling itself);
//! anything else is answered `PERMISSION_DENIED` and logged.
//!
//! Without TLS (`joule run --all`, plain h2c on loopback) there is no caller identity and no check.

use std::fmt;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

/// The Joule services, as certificates name them (`joule-<service>`).
pub const SERVICES: &[&str] = &[
    "api",
    "gateway",
    "sessions",
    "pricing",
    "invoicing",
    "ledger",
    "payments",
    "webhooks",
];

/// Who may call one gRPC service.
#[derive(Debug, Clone, Copy)]
pub struct Grant {
    /// The fully qualified gRPC service name, the first segment of its request paths.
    pub service: &'static str,
    /// The Joule service that serves it. It may always call it: several services in one process
    /// reach each other through the process's own listener.
    pub owner: &'static str,
    /// The other Joule services whose clients call it.
    pub callers: &'static [&'static str],
}

/// The call graph: every gRPC service Joule serves and the services whose clients call it (the
/// `ctx.grpc_channel(..)` clients; ADR 029 has it as a table).
pub const GRANTS: &[Grant] = &[
    // api: tariffs, quotes, CDRs, re-rating, running costs; gateway: a running session's cost
    // estimate for the charger (`totalCost`); payments: the quote a session's card hold is sized by.
    Grant {
        service: "joule.v1.TariffService",
        owner: "pricing",
        callers: &["api", "gateway", "payments"],
    },
    Grant {
        service: "joule.v1.SessionsService",
        owner: "sessions",
        callers: &["api"],
    },
    // Signed meter values: no other service reads them yet.
    Grant {
        service: "joule.v1.SessionEvidenceService",
        owner: "sessions",
        callers: &[],
    },
    Grant {
        service: "joule.v1.InvoicingService",
        owner: "invoicing",
        callers: &["api"],
    },
    Grant {
        service: "joule.v1.LedgerService",
        owner: "ledger",
        callers: &["api"],
    },
    // api: payment methods, payments, refunds, wallets, settlement reports; gateway: the card hold
    // checked before a charge starts.
    Grant {
        service: "joule.v1.PaymentsService",
        owner: "payments",
        callers: &["api", "gateway"],
    },
    // api: operator commands; payments: stopping a charge whose cost outgrew its hold.
    Grant {
        service: "joule.v1.ChargerCommands",
        owner: "gateway",
        callers: &["api", "payments"],
    },
    // api: integrators' webhook endpoints and their deliveries (ADR 040).
    Grant {
        service: "joule.v1.WebhooksService",
        owner: "webhooks",
        callers: &["api"],
    },
];

/// gRPC services every caller with a certificate from the CA may call: the runtime's health
/// service (no reflection service is served).
pub const OPEN: &[&str] = &["grpc.health.v1.Health"];

/// The Joule services a certificate names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(Vec<&'static str>);

impl Caller {
    /// The services whose `joule-<service>` DNS name `cert` holds (subject alternative names only,
    /// as in TLS name checks; the common name is not read).
    pub fn of(cert: &CertificateDer<'_>) -> Result<Self, String> {
        let cert = webpki::EndEntityCert::try_from(cert)
            .map_err(|e| format!("unreadable certificate: {e}"))?;
        Ok(Self(
            SERVICES
                .iter()
                .copied()
                .filter(|service| {
                    ServerName::try_from(format!("joule-{service}"))
                        .is_ok_and(|name| cert.verify_is_valid_for_subject_name(&name).is_ok())
                })
                .collect(),
        ))
    }

    /// The first certificate of a PEM chain (a process's own `JOULE_GRPC_TLS_CERT`).
    pub fn of_pem(pem: &[u8]) -> Result<Self, String> {
        let leaf = CertificateDer::pem_slice_iter(pem)
            .next()
            .ok_or("no certificate in the PEM file")?
            .map_err(|e| format!("unreadable PEM: {e}"))?;
        Self::of(&leaf)
    }

    pub fn services(&self) -> &[&'static str] {
        &self.0
    }

    /// Whether this caller may call `grpc_service` (see the module docs).
    pub fn may_call(&self, grpc_service: &str) -> bool {
        OPEN.contains(&grpc_service)
            || grant(grpc_service).is_some_and(|g| {
                self.0
                    .iter()
                    .any(|c| *c == g.owner || g.callers.contains(c))
            })
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("a certificate naming no Joule service");
        }
        let names: Vec<String> = self.0.iter().map(|s| format!("joule-{s}")).collect();
        f.write_str(&names.join("+"))
    }
}

fn grant(grpc_service: &str) -> Option<&'static Grant> {
    GRANTS.iter().find(|g| g.service == grpc_service)
}

/// Refuses a gRPC service that has no line in [`GRANTS`], or one served by another service than
/// the line says: with TLS on, every call to it would be refused.
pub(crate) fn check_served(service: &str, grpc_services: &[&str]) -> Result<(), String> {
    for name in grpc_services {
        match grant(name) {
            Some(g) if g.owner == service => {}
            Some(g) => {
                return Err(format!(
                    "{service} serves {name}, which crates/runtime/src/authz.rs GRANTS gives to {}",
                    g.owner
                ));
            }
            None => {
                return Err(format!(
                    "{service} serves {name}, which has no line in crates/runtime/src/authz.rs \
                     GRANTS: say which services may call it (ADR 029)"
                ));
            }
        }
    }
    Ok(())
}

/// Refuses a process certificate that does not name every service the process runs: their
/// clients present it, and their servers are dialled by those names.
pub(crate) fn check_own_certificate(caller: &Caller, services: &[&str]) -> Result<(), String> {
    match services.iter().find(|s| !caller.0.contains(*s)) {
        None => Ok(()),
        Some(missing) => Err(format!(
            "JOULE_GRPC_TLS_CERT is {caller}, but this process runs {missing}: a process's \
             certificate names every service it runs as `joule-<service>` (its calls present it; \
             `joule certs dev --services {}` makes one; ADR 029)",
            services.join("+")
        )),
    }
}

/// The gRPC service and method of a request path, `/<service>/<method>`.
pub(crate) fn grpc_path(path: &str) -> (&str, &str) {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    (parts.next().unwrap_or(""), parts.next().unwrap_or(""))
}

/// Middleware around the gRPC router when TLS is on: lets through only callers [`Caller::may_call`]
/// the request's service.
pub(crate) async fn authorize(request: Request, next: Next) -> Response {
    let (service, method) = grpc_path(request.uri().path());
    let info = request.extensions().get::<TlsConnectInfo<TcpConnectInfo>>();
    let peer = info.and_then(|i| i.get_ref().remote_addr());
    let leaf = info.and_then(TlsConnectInfo::peer_certs);
    let caller = match leaf.as_deref().and_then(|chain| chain.first()) {
        Some(cert) => Caller::of(cert),
        None => Err("no client certificate".to_owned()),
    };
    let refusal = match caller {
        Ok(caller) if caller.may_call(service) => return next.run(request).await,
        Ok(caller) => {
            tracing::warn!(%caller, grpc.service = service, grpc.method = method, ?peer, "gRPC call refused: the caller may not call this service (ADR 029)");
            tonic::Status::permission_denied(format!("{caller} may not call {service} (ADR 029)"))
        }
        Err(reason) => {
            tracing::warn!(%reason, grpc.service = service, grpc.method = method, ?peer, "gRPC call refused: no caller identity");
            tonic::Status::unauthenticated(format!("{reason}: no caller identity for {service}"))
        }
    };
    refusal.into_http()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DevCa;

    fn caller(process: &str, extra_names: &[String]) -> Caller {
        let ca = DevCa::new("test CA").unwrap();
        let issued = ca.issue(process, extra_names).unwrap();
        Caller::of_pem(issued.cert_pem.as_bytes()).unwrap()
    }

    #[test]
    fn a_certificate_names_the_services_of_its_process() {
        assert_eq!(caller("pricing", &[]).services(), ["pricing"]);
        assert_eq!(
            caller("api+pricing", &[]).services(),
            ["api", "pricing"],
            "one certificate for a process that runs two services"
        );
        assert_eq!(
            caller("tool", &["tool.example".into()]).services(),
            [] as [&str; 0],
            "localhost, 127.0.0.1 and other names are no identity"
        );
        assert_eq!(
            caller("invoicing", &[]).to_string(),
            "joule-invoicing",
            "as the refusal names it"
        );
        assert!(Caller::of_pem(b"not a certificate").is_err());
    }

    #[test]
    fn each_service_is_called_only_by_its_callers_and_itself() {
        let of = |services: &[&'static str]| Caller(services.to_vec());
        assert!(of(&["api"]).may_call("joule.v1.TariffService"));
        assert!(of(&["gateway"]).may_call("joule.v1.TariffService"));
        assert!(of(&["payments"]).may_call("joule.v1.TariffService"));
        assert!(of(&["pricing"]).may_call("joule.v1.TariffService"));
        assert!(!of(&["invoicing"]).may_call("joule.v1.TariffService"));
        assert!(!of(&["ledger"]).may_call("joule.v1.PaymentsService"));
        assert!(of(&["gateway"]).may_call("joule.v1.PaymentsService"));
        assert!(!of(&["gateway"]).may_call("joule.v1.LedgerService"));
        assert!(of(&["payments"]).may_call("joule.v1.ChargerCommands"));
        assert!(!of(&["sessions"]).may_call("joule.v1.ChargerCommands"));
        assert!(of(&["api"]).may_call("joule.v1.WebhooksService"));
        assert!(!of(&["gateway"]).may_call("joule.v1.WebhooksService"));
        assert!(!of(&["api"]).may_call("joule.v1.SessionEvidenceService"));
        assert!(of(&["sessions"]).may_call("joule.v1.SessionEvidenceService"));
        assert!(of(&["invoicing", "sessions"]).may_call("joule.v1.SessionsService"));
        // Health is open to every certificate from the CA; an unknown service to none.
        assert!(of(&[]).may_call("grpc.health.v1.Health"));
        assert!(!of(&[]).may_call("joule.v1.TariffService"));
        assert!(!of(SERVICES).may_call("joule.v1.Unknown"));
    }

    #[test]
    fn the_grants_name_known_services_once_each() {
        let mut seen = std::collections::HashSet::new();
        for g in GRANTS {
            assert!(seen.insert(g.service), "{} twice", g.service);
            assert!(SERVICES.contains(&g.owner), "{}", g.owner);
            for c in g.callers {
                assert!(SERVICES.contains(c), "{c}");
                assert_ne!(*c, g.owner, "the owner is allowed anyway");
            }
        }
    }

    #[test]
    fn a_served_service_needs_its_grant_and_a_process_certificate_its_services() {
        assert!(check_served("pricing", &["joule.v1.TariffService"]).is_ok());
        let other = check_served("api", &["joule.v1.TariffService"]).unwrap_err();
        assert!(other.contains("gives to pricing"), "{other}");
        let missing = check_served("pricing", &["joule.v1.New"]).unwrap_err();
        assert!(missing.contains("no line"), "{missing}");

        let both = Caller(vec!["api", "pricing"]);
        assert!(check_own_certificate(&both, &["pricing", "api"]).is_ok());
        let error =
            check_own_certificate(&Caller(vec!["pricing"]), &["api", "pricing"]).unwrap_err();
        assert!(error.contains("runs api"), "{error}");
        assert!(error.contains("--services api+pricing"), "{error}");
    }

    #[test]
    fn request_paths_name_service_and_method() {
        assert_eq!(
            grpc_path("/joule.v1.TariffService/Quote"),
            ("joule.v1.TariffService", "Quote")
        );
        assert_eq!(grpc_path("/"), ("", ""));
    }
}

//! The service under test, a receiving HTTP endpoint that checks signatures, and publishing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use joule_bus::Bus;
use joule_config::Settings;
use joule_domain::{InvoiceId, SessionId};
use joule_proto::v1;
use joule_proto::v1::webhooks_service_client::WebhooksServiceClient;
use joule_runtime::Running;
use joule_testkit::{TestEnv, eventually};
use sha2::Sha256;
use tonic::transport::Channel;

pub type Client = WebhooksServiceClient<Channel>;

/// Settings with short waits, so retries and disabling happen within a test.
pub fn settings(env: &TestEnv) -> Settings {
    Settings {
        webhooks_backoff_base_ms: 200,
        webhooks_backoff_max_ms: 800,
        webhooks_timeout_ms: 1000,
        webhooks_poll_interval_ms: 100,
        ..env.settings_running(&["webhooks"])
    }
}

pub struct Service {
    pub running: Running,
    pub client: Client,
}

pub async fn start(settings: Settings) -> Service {
    let running = joule_runtime::spawn(settings, &[joule_webhooks::SERVICE])
        .await
        .expect("the webhooks service starts");
    let addr = running.addr("grpc").expect("grpc address");
    let client = WebhooksServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect gRPC");
    Service { running, client }
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Hit {
    pub headers: HeaderMap,
    pub body: String,
}

impl Hit {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    /// The `v1` signatures of `Joule-Signature`.
    pub fn signatures(&self) -> Vec<String> {
        self.header("Joule-Signature")
            .split(',')
            .filter_map(|p| p.strip_prefix("v1="))
            .map(str::to_owned)
            .collect()
    }

    /// Whether one `v1` of `Joule-Signature` is the HMAC-SHA256 of `"<t>.<body>"` under `secret`,
    /// computed here independently of the service.
    pub fn signed_by(&self, secret: &str) -> bool {
        let header = self.header("Joule-Signature");
        let Some(t) = header.split(',').find_map(|p| p.strip_prefix("t=")) else {
            return false;
        };
        self.signatures().iter().any(|v1| {
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
                return false;
            };
            mac.update(format!("{t}.{}", self.body).as_bytes());
            let expected: String = mac
                .finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            *v1 == expected
        })
    }
}

/// How the receiver answers.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    Ok,
    Status(u16),
    Hang(Duration),
}

#[derive(Default)]
struct ReceiverState {
    hits: Vec<Hit>,
    /// Answers 500 to this many requests first.
    fail_first: u32,
    mode: Option<Mode>,
}

/// A real HTTP endpoint on 127.0.0.1 that records every request.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    state: Arc<Mutex<ReceiverState>>,
}

impl Receiver {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, state }
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().expect("lock").mode = Some(mode);
    }

    pub fn fail_first(&self, n: u32) {
        self.state.lock().expect("lock").fail_first = n;
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.state.lock().expect("lock").hits.clone()
    }

    /// The requests so far once there are at least `n`.
    pub async fn wait_for(&self, n: usize) -> Vec<Hit> {
        eventually(&format!("{n} requests at {}", self.url), || async {
            let hits = self.hits();
            (hits.len() >= n).then_some(hits)
        })
        .await
    }
}

async fn hook(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mode = {
        let mut state = state.lock().expect("lock");
        state.hits.push(Hit {
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        if state.fail_first > 0 {
            state.fail_first -= 1;
            Mode::Status(500)
        } else {
            state.mode.unwrap_or(Mode::Ok)
        }
    };
    match mode {
        Mode::Ok => StatusCode::OK,
        Mode::Status(code) => {
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        }
        Mode::Hang(wait) => {
            tokio::time::sleep(wait).await;
            StatusCode::OK
        }
    }
}

pub async fn create(
    client: &mut Client,
    tenant: &str,
    url: &str,
    types: &[&str],
) -> (v1::WebhookEndpoint, String) {
    let created = client
        .create_endpoint(v1::CreateWebhookEndpointRequest {
            tenant_id: tenant.into(),
            url: url.into(),
            event_types: types.iter().map(|t| t.to_string()).collect(),
            description: "test".into(),
            enabled: None,
        })
        .await
        .expect("create endpoint")
        .into_inner();
    (created.endpoint.expect("an endpoint"), created.secret)
}

pub async fn deliveries(
    client: &mut Client,
    tenant: &str,
    endpoint: &str,
) -> Vec<v1::WebhookDelivery> {
    client
        .list_deliveries(v1::ListWebhookDeliveriesRequest {
            tenant_id: tenant.into(),
            endpoint_id: endpoint.into(),
            page_size: 0,
            cursor: String::new(),
        })
        .await
        .expect("list deliveries")
        .into_inner()
        .deliveries
}

/// The endpoint's only delivery once `done` holds for it.
pub async fn wait_delivery(
    client: &Client,
    tenant: &str,
    endpoint: &str,
    what: &str,
    done: impl Fn(&v1::WebhookDelivery) -> bool,
) -> v1::WebhookDelivery {
    eventually(what, || async {
        let mut client = client.clone();
        let list = deliveries(&mut client, tenant, endpoint).await;
        list.into_iter().next().filter(|d| done(d))
    })
    .await
}

/// The envelope metadata of an event of `tenant` whose id derives from `key`.
fn meta(key: &str, tenant: &str, aggregate_type: &str) -> joule_bus::EventMeta {
    let mut meta = joule_testkit::publish::meta(key, aggregate_type, key, 1);
    meta.tenant_id = tenant.into();
    meta
}

/// Publishes a `SessionCompleted` of `tenant` as sessions does; its event id.
pub async fn session_completed(bus: &Bus, tenant: &str, key: &str) -> String {
    let session = SessionId::derived(key).to_string();
    let message = v1::SessionCompleted {
        session_id: session.clone(),
        charge_point_id: "CP-1".into(),
        energy_wh: "7300".into(),
        ..Default::default()
    };
    let meta = meta(key, tenant, "ChargingSession");
    let id = meta.event_id.clone();
    joule_testkit::publish::publish(bus, format!("session.{session}.completed"), meta, &message)
        .await;
    id
}

/// Publishes an `InvoiceIssued` of `tenant` as invoicing does; its event id.
pub async fn invoice_issued(bus: &Bus, tenant: &str, key: &str) -> String {
    let invoice = InvoiceId::derived(key).to_string();
    let message = v1::InvoiceIssued {
        invoice: Some(v1::Invoice {
            id: invoice.clone(),
            number: format!("R-{key}"),
            currency: "EUR".into(),
            total_incl_vat: "11.90".into(),
            ..Default::default()
        }),
    };
    let meta = meta(key, tenant, "Invoice");
    let id = meta.event_id.clone();
    joule_testkit::publish::publish(bus, format!("invoice.{invoice}.issued"), meta, &message).await;
    id
}

//! A registry with one charger and one token, the gateway running on it, a WebSocket charger, and
//! a reader of the CHARGER stream. Each test binary uses part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use joule_bus::{Bus, Domain, EventMeta, Outgoing};
use joule_domain::{AccountId, ChargerId, EventId, SiteId, TariffId, TokenId};
use joule_proto::EventName;
use joule_proto::v1::{
    ChargerCredentialsSet, ChargerRegistered, Envelope, SiteRegistered, TokenIssued,
};
use joule_runtime::Running;
use joule_testkit::{TestEnv, eventually};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const CP: &str = "CP-1";
pub const KNOWN_TAG: &str = "04A2B3C4";
pub const DEADLINE: Duration = Duration::from_secs(20);

pub struct Harness {
    pub env: TestEnv,
    pub bus: Bus,
    pub running: Option<Running>,
    pub addr: SocketAddr,
    pub charger_id: ChargerId,
    pub account_id: AccountId,
}

impl Harness {
    /// A registry with one charger (`CP-1`) and one token, and the gateway running on it.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Like [`Harness::start`], with adjusted settings.
    pub async fn start_with(adjust: impl FnOnce(&mut joule_config::Settings)) -> Self {
        Self::start_services(adjust, &[joule_gateway::SERVICE]).await
    }

    /// Like [`Harness::start_with`], running `services` (the gateway among them) in one process.
    pub async fn start_services(
        adjust: impl FnOnce(&mut joule_config::Settings),
        services: &[joule_runtime::ServiceDef],
    ) -> Self {
        let env = TestEnv::new().await;
        let bus = env.bus().await;
        let charger_id = ChargerId::new();
        let account_id = AccountId::new();
        // A site first: the projection must ack and skip registry events it does not need.
        let site_id = SiteId::new();
        publish_registry(
            &bus,
            &format!("registry.site.{site_id}"),
            &SiteRegistered {
                site_id: site_id.to_string(),
                name: "Depot".into(),
                country: "DE".into(),
                time_zone: "Europe/Berlin".into(),
            },
        )
        .await;
        publish_registry(
            &bus,
            &format!("registry.charger.{charger_id}"),
            &ChargerRegistered {
                charger_id: charger_id.to_string(),
                charge_point_id: CP.into(),
                site_id: site_id.to_string(),
                tariff_id: TariffId::new().to_string(),
                time_zone: "Europe/Berlin".into(),
            },
        )
        .await;
        let token_id = TokenId::new();
        publish_registry(
            &bus,
            &format!("registry.token.{token_id}"),
            &TokenIssued {
                token_id: token_id.to_string(),
                uid: KNOWN_TAG.into(),
                account_id: account_id.to_string(),
            },
        )
        .await;

        let mut settings = env.settings();
        adjust(&mut settings);
        let running = joule_runtime::spawn(settings, services)
            .await
            .expect("gateway starts");
        let addr = running.addr("ocpp").expect("ocpp listener");
        wait_for_row(&env, "the projection knows the charger", CHARGER_SQL, CP).await;
        wait_for_row(&env, "the projection knows the token", TOKEN_SQL, KNOWN_TAG).await;
        Self {
            env,
            bus,
            running: Some(running),
            addr,
            charger_id,
            account_id,
        }
    }

    pub async fn connect(&self, charge_point_id: &str) -> Charger {
        self.try_connect(charge_point_id, Some("ocpp1.6"))
            .await
            .expect("upgrade accepted")
    }

    pub async fn connect_201(&self, charge_point_id: &str) -> Charger {
        let charger = self
            .try_connect(charge_point_id, Some("ocpp2.0.1"))
            .await
            .expect("upgrade accepted");
        assert_eq!(charger.protocol, "ocpp2.0.1");
        charger
    }

    pub async fn try_connect(
        &self,
        charge_point_id: &str,
        subprotocol: Option<&str>,
    ) -> Result<Charger, tungstenite::Error> {
        self.try_connect_as(charge_point_id, subprotocol, None)
            .await
    }

    /// Connects with HTTP Basic credentials (security profile 1).
    pub async fn try_connect_as(
        &self,
        charge_point_id: &str,
        subprotocol: Option<&str>,
        basic: Option<(&str, &str)>,
    ) -> Result<Charger, tungstenite::Error> {
        self.try_connect_path(charge_point_id, subprotocol, basic)
            .await
    }

    /// Connects to `/ocpp/{path}`: a charge point id (the deployment's tenant) or
    /// `{tenant}/{charge point id}`.
    pub async fn try_connect_path(
        &self,
        path: &str,
        subprotocol: Option<&str>,
        basic: Option<(&str, &str)>,
    ) -> Result<Charger, tungstenite::Error> {
        let mut request = format!("ws://{}/ocpp/{path}", self.addr)
            .into_client_request()
            .unwrap();
        if let Some(p) = subprotocol {
            request
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", p.parse().unwrap());
        }
        if let Some((user, password)) = basic {
            use base64::Engine;
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            request
                .headers_mut()
                .insert("Authorization", format!("Basic {token}").parse().unwrap());
        }
        let (ws, response) = tokio_tungstenite::connect_async(request).await?;
        let protocol = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Ok(Charger {
            ws,
            next_id: 0,
            protocol,
        })
    }

    /// Registers another charger with the gateway, as the api would.
    pub async fn register_charger(&self, charge_point_id: &str) -> ChargerId {
        let charger_id = ChargerId::new();
        publish_registry(
            &self.bus,
            &format!("registry.charger.{charger_id}"),
            &ChargerRegistered {
                charger_id: charger_id.to_string(),
                charge_point_id: charge_point_id.into(),
                site_id: SiteId::new().to_string(),
                tariff_id: TariffId::new().to_string(),
                time_zone: "Europe/Berlin".into(),
            },
        )
        .await;
        let what = "the projection knows the charger";
        wait_for_row(&self.env, what, CHARGER_SQL, charge_point_id).await;
        charger_id
    }

    /// Registers a charger in `tenant`, as the api does for a caller of that tenant.
    pub async fn register_charger_in(&self, tenant: &str, charge_point_id: &str) -> ChargerId {
        let charger_id = ChargerId::new();
        let subject = format!("registry.charger.{charger_id}");
        let message = ChargerRegistered {
            charger_id: charger_id.to_string(),
            charge_point_id: charge_point_id.into(),
            site_id: SiteId::new().to_string(),
            tariff_id: TariffId::new().to_string(),
            time_zone: "Europe/Berlin".into(),
        };
        publish_in(&self.bus, tenant, "Registry", &subject, &subject, &message).await;
        let what = "the projection knows the charger in its tenant";
        let sql =
            "SELECT count(*) FROM gateway.chargers WHERE tenant_id = $2 AND charge_point_id = $1";
        wait_for_row_in(&self.env, what, sql, charge_point_id, tenant).await;
        charger_id
    }

    /// Issues a token on a new account of `tenant`, as the api would; returns the account.
    pub async fn issue_token_in(&self, tenant: &str, uid: &str) -> AccountId {
        let account_id = AccountId::new();
        let token_id = TokenId::new();
        let subject = format!("registry.token.{token_id}");
        let message = TokenIssued {
            token_id: token_id.to_string(),
            uid: uid.into(),
            account_id: account_id.to_string(),
        };
        publish_in(&self.bus, tenant, "Registry", &subject, &subject, &message).await;
        let what = "the projection knows the token in its tenant";
        let sql = "SELECT count(*) FROM gateway.tokens WHERE tenant_id = $2 AND uid = $1";
        wait_for_row_in(&self.env, what, sql, uid, tenant).await;
        account_id
    }

    /// Issues another token on a new account, as the api would; returns the account.
    pub async fn issue_token(&self, uid: &str) -> AccountId {
        let account_id = AccountId::new();
        let token_id = TokenId::new();
        publish_registry(
            &self.bus,
            &format!("registry.token.{token_id}"),
            &TokenIssued {
                token_id: token_id.to_string(),
                uid: uid.into(),
                account_id: account_id.to_string(),
            },
        )
        .await;
        wait_for_row(&self.env, "the projection knows the token", TOKEN_SQL, uid).await;
        account_id
    }

    /// The in-process gRPC server's address.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.running
            .as_ref()
            .and_then(|r| r.addr("grpc"))
            .expect("grpc listener")
    }

    /// Publishes an event as another service would (subject relative to the namespace).
    pub async fn publish_as<M: joule_proto::Message + EventName>(
        &self,
        subject: &str,
        key: &str,
        message: &M,
    ) {
        publish(&self.bus, "Test", subject, key, message).await;
    }

    /// Sets a charger's password hash, as the api publishes it.
    pub async fn set_password(&self, charger_id: ChargerId, charge_point_id: &str, password: &str) {
        let hash = joule_gateway::edge::credentials::hash_password(password).unwrap();
        publish_registry(
            &self.bus,
            &format!("registry.credentials.{charger_id}"),
            &ChargerCredentialsSet {
                charger_id: charger_id.to_string(),
                charge_point_id: charge_point_id.into(),
                password_hash: hash,
            },
        )
        .await;
        let what = "the projection knows the password";
        wait_for_row(&self.env, what, PASSWORD_SQL, charge_point_id).await;
    }

    /// Everything on this namespace's CHARGER stream, in stream order.
    pub async fn charger_events(&self) -> Vec<Stored> {
        let stored = self.bus.read_stream_messages(Domain::Charger).await;
        stored
            .expect("read the CHARGER stream")
            .into_iter()
            .map(|m| Stored {
                subject: m.subject,
                msg_id: m.headers.get("Nats-Msg-Id").cloned().unwrap_or_default(),
                headers: m.headers,
                envelope: m.envelope,
            })
            .collect()
    }

    pub fn subject(&self, kind: &str) -> String {
        format!("{}.charger.{CP}.{kind}", self.env.namespace)
    }

    pub async fn stop(mut self) {
        self.stop_running().await;
    }

    /// Stops the gateway and waits until it has drained, keeping the environment for inspection.
    pub async fn stop_running(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("gateway stops cleanly");
        }
    }
}

pub struct Stored {
    pub subject: String,
    pub msg_id: String,
    pub headers: HashMap<String, String>,
    pub envelope: Envelope,
}

impl Stored {
    pub fn decode<M: joule_proto::Message + Default + EventName>(&self) -> M {
        joule_bus::decode_payload(&self.envelope).unwrap()
    }
}

pub fn of_type<'a>(events: &'a [Stored], name: &str) -> Vec<&'a Stored> {
    events
        .iter()
        .filter(|e| e.envelope.event_type == name)
        .collect()
}

pub struct Charger {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub next_id: u64,
    /// The subprotocol the gateway selected.
    pub protocol: String,
}

impl Charger {
    /// Sends a CALL and returns the answer frame.
    pub async fn call(&mut self, action: &str, payload: Value) -> Value {
        self.next_id += 1;
        let id = format!("m{}", self.next_id);
        let answer = self
            .send_raw(&json!([2, id, action, payload]).to_string())
            .await;
        assert_eq!(answer[1], id, "answer to {action} carries the message id");
        answer
    }

    /// A CALL that must succeed; returns its CALLRESULT payload.
    pub async fn ok(&mut self, action: &str, payload: Value) -> Value {
        let answer = self.call(action, payload).await;
        assert_eq!(answer[0], 3, "{action} answered {answer}");
        answer[2].clone()
    }

    pub async fn send_raw(&mut self, text: &str) -> Value {
        self.ws.send(Message::text(text)).await.unwrap();
        self.next_frame().await
    }

    /// The next text frame from the gateway (an answer, or a CALL of a command).
    pub async fn next_frame(&mut self) -> Value {
        loop {
            let next = tokio::time::timeout(DEADLINE, self.ws.next())
                .await
                .expect("an answer in time");
            match next.expect("connection open").unwrap() {
                Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// Waits for the gateway to close the connection; returns the close code.
    pub async fn closed_by_gateway(&mut self) -> Option<u16> {
        loop {
            let next = tokio::time::timeout(DEADLINE, self.ws.next())
                .await
                .expect("closed in time");
            match next {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }

    /// Answers a CALL from the gateway with a CALLRESULT.
    pub async fn answer(&mut self, id: &Value, payload: Value) {
        self.ws
            .send(Message::text(json!([3, id, payload]).to_string()))
            .await
            .unwrap();
    }

    /// Answers a CALL from the gateway with a CALLERROR.
    pub async fn answer_error(&mut self, id: &Value, code: &str, description: &str) {
        self.ws
            .send(Message::text(
                json!([4, id, code, description, {}]).to_string(),
            ))
            .await
            .unwrap();
    }

    pub async fn close(mut self) {
        self.ws.close(None).await.unwrap();
        while let Some(Ok(_)) = self.ws.next().await {}
    }
}

pub async fn publish_registry<M: joule_proto::Message + EventName>(
    bus: &Bus,
    subject: &str,
    message: &M,
) {
    publish(bus, "Registry", subject, subject, message).await;
}

/// Publishes `message` as another service would: its event id derived from `key`.
async fn publish<M: joule_proto::Message + EventName>(
    bus: &Bus,
    aggregate_type: &str,
    subject: &str,
    key: &str,
    message: &M,
) {
    publish_in(bus, "default", aggregate_type, subject, key, message).await;
}

/// Publishes `message` of `tenant` as another service would: its event id derived from `key`.
async fn publish_in<M: joule_proto::Message + EventName>(
    bus: &Bus,
    tenant: &str,
    aggregate_type: &str,
    subject: &str,
    key: &str,
    message: &M,
) {
    let event_id = EventId::derived(key).to_string();
    let meta = EventMeta {
        event_id: event_id.clone(),
        tenant_id: tenant.into(),
        aggregate_type: aggregate_type.into(),
        aggregate_id: key.into(),
        sequence: 1,
        occurred_at: chrono::Utc::now(),
        correlation_id: event_id,
        causation_id: String::new(),
    };
    let outgoing = Outgoing {
        subject: subject.into(),
        envelope: joule_bus::envelope(message, meta),
        trace_headers: Default::default(),
    };
    bus.publish(outgoing).await.expect("event published");
}

const CHARGER_SQL: &str = "SELECT count(*) FROM gateway.chargers WHERE charge_point_id = $1";
const TOKEN_SQL: &str = "SELECT count(*) FROM gateway.tokens WHERE uid = $1";
const PASSWORD_SQL: &str = "SELECT count(*) FROM gateway.charger_credentials WHERE charge_point_id = $1 AND password_hash <> ''";

/// Waits until `count_sql` (a count with one text parameter, `key`) counts one row.
async fn wait_for_row(env: &TestEnv, what: &str, count_sql: &str, key: &str) {
    let pool = env.pool().await;
    eventually(what, || async {
        let n: i64 = sqlx::query_scalar(count_sql)
            .bind(key)
            .fetch_one(&pool)
            .await
            .unwrap();
        (n == 1).then_some(())
    })
    .await;
    pool.close().await;
}

/// Waits until `count_sql` (a count with two text parameters, `key` and `tenant`) counts one row.
async fn wait_for_row_in(env: &TestEnv, what: &str, count_sql: &str, key: &str, tenant: &str) {
    let pool = env.pool().await;
    eventually(what, || async {
        let n: i64 = sqlx::query_scalar(count_sql)
            .bind(key)
            .bind(tenant)
            .fetch_one(&pool)
            .await
            .unwrap();
        (n == 1).then_some(())
    })
    .await;
    pool.close().await;
}

/// The event types of `events`, in order.
pub fn event_types(events: &[Stored]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e.envelope.event_type.as_str())
        .collect()
}

pub fn start_payload(connector: u32, id_tag: &str, meter_start: i64, timestamp: &str) -> Value {
    json!({"connectorId": connector, "idTag": id_tag, "meterStart": meter_start, "timestamp": timestamp})
}

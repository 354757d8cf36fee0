//! A charger simulator and load generator. It speaks OCPP-J over real WebSockets the way charge
//! points do and knows nothing about Joule's internals.
//!
//! - [`Charger`]: one OCPP 1.6 charge point driven step by step (the demo and end-to-end tests).
//! - [`fleet`]: thousands of chargers in one process (`joule sim`): 1.6 and 2.0.1, realistic sessions
//!   ([`plan`]), field faults ([`faults`]), rate limits ([`pace`]), and counts and latency
//!   histograms per action ([`stats`]), milestones such as "all reconnected" ([`monitor`]).
//! - [`ocpp`]: versions, actions and OCPP-J framing; [`link`]: one charger's connection.

pub mod faults;
pub mod fleet;
pub mod link;
pub mod monitor;
pub mod ocpp;
pub mod pace;
pub mod plan;
mod report;
pub mod stats;

pub use fleet::{FleetConfig, Mode, Summary};
/// Stops a fleet run early; re-exported so callers need no tokio-util of their own.
pub use tokio_util::sync::CancellationToken;

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("websocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("the gateway answered {action} with CallError {code}: {description}")]
    CallError {
        action: String,
        code: String,
        description: String,
    },
    #[error("unexpected answer to {action}: {detail}")]
    Protocol { action: String, detail: String },
    #[error("no answer to {0} within 30 s")]
    Timeout(String),
    #[error("connection closed")]
    Closed,
    #[error("configuration: {0}")]
    Config(String),
}

/// One simulated charge point with one open OCPP 1.6 connection.
pub struct Charger {
    pub charge_point_id: String,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// The energy register of connector 1, in Wh.
    pub register_wh: u64,
}

/// What one simulated session did.
#[derive(Debug, Clone)]
pub struct SessionRun {
    pub transaction_id: i64,
    pub id_tag_status: String,
    pub meter_start_wh: u64,
    pub meter_stop_wh: u64,
    pub started_at: DateTime<Utc>,
    pub stopped_at: DateTime<Utc>,
}

impl Charger {
    /// Connects to `<base_url>/<charge_point_id>` (for example `ws://127.0.0.1:9000/ocpp`).
    pub async fn connect(base_url: &str, charge_point_id: &str) -> Result<Self, SimError> {
        let mut request = format!("{}/{}", base_url.trim_end_matches('/'), charge_point_id)
            .into_client_request()?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "ocpp1.6".parse().expect("static header value"),
        );
        let (ws, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Self {
            charge_point_id: charge_point_id.to_owned(),
            ws,
            next_id: 1,
            register_wh: 0,
        })
    }

    /// Sends a CALL and waits for its CALLRESULT payload.
    pub async fn call(&mut self, action: &str, payload: Value) -> Result<Value, SimError> {
        let id = self.next_id.to_string();
        self.next_id += 1;
        self.ws
            .send(Message::text(json!([2, id, action, payload]).to_string()))
            .await?;
        let answer = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(frame) = self.ws.next().await {
                let text = match frame? {
                    Message::Text(t) => t,
                    Message::Close(_) => return Err(SimError::Closed),
                    _ => continue,
                };
                let value: Value = serde_json::from_str(&text).map_err(|e| SimError::Protocol {
                    action: action.into(),
                    detail: e.to_string(),
                })?;
                match value.as_array().map(Vec::as_slice) {
                    Some([t, rid, payload]) if t == 3 && rid == id.as_str() => {
                        return Ok(payload.clone());
                    }
                    Some([t, rid, code, description, ..]) if t == 4 && rid == id.as_str() => {
                        return Err(SimError::CallError {
                            action: action.into(),
                            code: code.as_str().unwrap_or_default().into(),
                            description: description.as_str().unwrap_or_default().into(),
                        });
                    }
                    // A CALL from the gateway: this simulator accepts nothing yet, so answer NotImplemented.
                    Some([t, rid, ..]) if t == 2 => {
                        let reply = json!([4, rid, "NotImplemented", "simulator", {}]);
                        self.ws.send(Message::text(reply.to_string())).await?;
                    }
                    _ => {}
                }
            }
            Err(SimError::Closed)
        })
        .await
        .map_err(|_| SimError::Timeout(action.into()))??;
        Ok(answer)
    }

    pub async fn boot(&mut self) -> Result<Value, SimError> {
        self.call(
            "BootNotification",
            json!({"chargePointVendor": "Joule", "chargePointModel": "Sim-1", "chargePointSerialNumber": self.charge_point_id}),
        )
        .await
    }

    /// Runs one whole session on connector 1: authorize, start, `samples` periodic meter values,
    /// stop. Charger timestamps are simulated: the session lasts `minutes` at `power_w`.
    pub async fn charge(
        &mut self,
        id_tag: &str,
        power_w: u64,
        minutes: u64,
        samples: u64,
    ) -> Result<SessionRun, SimError> {
        let authorized = self.call("Authorize", json!({"idTag": id_tag})).await?;
        let id_tag_status = authorized["idTagInfo"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let minutes = minutes.max(1);
        let started_at = Utc::now() - chrono::Duration::minutes(minutes as i64);
        let meter_start_wh = self.register_wh;
        let start = self
            .call(
                "StartTransaction",
                json!({"connectorId": 1, "idTag": id_tag, "meterStart": meter_start_wh, "timestamp": started_at.to_rfc3339()}),
            )
            .await?;
        let transaction_id = start["transactionId"]
            .as_i64()
            .ok_or_else(|| SimError::Protocol {
                action: "StartTransaction".into(),
                detail: start.to_string(),
            })?;
        let energy_wh = power_w * minutes / 60;
        for i in 1..=samples {
            let at =
                started_at + chrono::Duration::seconds((minutes * 60 * i / (samples + 1)) as i64);
            let register = meter_start_wh + energy_wh * i / (samples + 1);
            self.call(
                "MeterValues",
                json!({"connectorId": 1, "transactionId": transaction_id, "meterValue": [{
                    "timestamp": at.to_rfc3339(),
                    "sampledValue": [{"value": register.to_string(), "measurand": "Energy.Active.Import.Register", "unit": "Wh", "context": "Sample.Periodic"}]
                }]}),
            )
            .await?;
        }
        self.register_wh = meter_start_wh + energy_wh;
        let stopped_at = started_at + chrono::Duration::minutes(minutes as i64);
        self.call(
            "StopTransaction",
            json!({"transactionId": transaction_id, "idTag": id_tag, "meterStop": self.register_wh, "timestamp": stopped_at.to_rfc3339(), "reason": "Local"}),
        )
        .await?;
        Ok(SessionRun {
            transaction_id,
            id_tag_status,
            meter_start_wh,
            meter_stop_wh: self.register_wh,
            started_at,
            stopped_at,
        })
    }

    pub async fn close(mut self) -> Result<(), SimError> {
        self.ws.close(None).await?;
        Ok(())
    }
}

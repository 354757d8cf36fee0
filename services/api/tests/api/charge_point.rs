//! A charge point for the tests: a real OCPP 1.6 WebSocket connection to the gateway, answering the
//! gateway's ReserveNow with the status the test chooses and CancelReservation with `Accepted`, and
//! sending the CALLs the test asks for. What the gateway sent is kept for the test to read.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Call = (String, Value, oneshot::Sender<Value>);

pub struct ChargePoint {
    calls: mpsc::UnboundedSender<Call>,
    /// (action, payload) of each CALL the gateway sent.
    pub received: mpsc::UnboundedReceiver<(String, Value)>,
    task: tokio::task::JoinHandle<()>,
}

impl ChargePoint {
    /// Connects `charge_point_id` at `ocpp_base` (`ws://host:port/ocpp`) once the gateway knows
    /// it, and boots. ReserveNow is answered with `reserve_status`.
    pub async fn connect(ocpp_base: &str, charge_point_id: &str, reserve_status: &str) -> Self {
        let mut ws = None;
        for _ in 0..300 {
            let mut request = format!("{ocpp_base}/{charge_point_id}")
                .into_client_request()
                .unwrap();
            request
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", "ocpp1.6".parse().unwrap());
            if let Ok((socket, _)) = tokio_tungstenite::connect_async(request).await {
                ws = Some(socket);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut ws = ws.unwrap_or_else(|| panic!("the gateway never accepted {charge_point_id}"));
        let (calls, mut to_send) = mpsc::unbounded_channel::<Call>();
        let (seen, received) = mpsc::unbounded_channel();
        let reserve_status = reserve_status.to_owned();
        let task = tokio::spawn(async move {
            let mut next_id = 0u64;
            let mut pending: Vec<(String, oneshot::Sender<Value>)> = Vec::new();
            loop {
                tokio::select! {
                    call = to_send.recv() => {
                        let Some((action, payload, answer)) = call else { return };
                        next_id += 1;
                        let id = next_id.to_string();
                        let frame = json!([2, id, action, payload]).to_string();
                        if ws.send(Message::text(frame)).await.is_err() {
                            return;
                        }
                        pending.push((id, answer));
                    }
                    frame = ws.next() => {
                        let Some(Ok(Message::Text(text))) = frame else {
                            match frame {
                                Some(Ok(_)) => continue,
                                _ => return,
                            }
                        };
                        let value: Value = serde_json::from_str(text.as_str()).unwrap();
                        let items = value.as_array().unwrap();
                        match items[0].as_u64() {
                            Some(2) => {
                                let action = items[2].as_str().unwrap().to_owned();
                                let reply = match action.as_str() {
                                    "ReserveNow" => json!({"status": reserve_status}),
                                    _ => json!({"status": "Accepted"}),
                                };
                                let _ = seen.send((action, items[3].clone()));
                                let frame = json!([3, items[1], reply]).to_string();
                                if ws.send(Message::text(frame)).await.is_err() {
                                    return;
                                }
                            }
                            Some(3) => {
                                let id = items[1].as_str().unwrap_or_default();
                                if let Some(i) = pending.iter().position(|(p, _)| p == id) {
                                    let (_, answer) = pending.remove(i);
                                    let _ = answer.send(items[2].clone());
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
        });
        let charge_point = Self {
            calls,
            received,
            task,
        };
        charge_point
            .call(
                "BootNotification",
                json!({"chargePointVendor": "Joule", "chargePointModel": "Test-1"}),
            )
            .await;
        charge_point
    }

    /// Sends a CALL and returns the gateway's CALLRESULT payload.
    pub async fn call(&self, action: &str, payload: Value) -> Value {
        let (answer, answered) = oneshot::channel();
        self.calls
            .send((action.to_owned(), payload, answer))
            .expect("charge point running");
        tokio::time::timeout(Duration::from_secs(30), answered)
            .await
            .unwrap_or_else(|_| panic!("no answer to {action}"))
            .expect("charge point running")
    }

    /// The next CALL the gateway sent of `action`.
    pub async fn next_received(&mut self, action: &str) -> Value {
        loop {
            let (got, payload) =
                tokio::time::timeout(Duration::from_secs(10), self.received.recv())
                    .await
                    .unwrap_or_else(|_| panic!("no {action} from the gateway"))
                    .expect("charge point running");
            if got == action {
                return payload;
            }
        }
    }
}

impl Drop for ChargePoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

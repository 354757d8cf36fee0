//! Session plans: the CALLs one charging session consists of, in the order a charger sends them,
//! with its faults applied. Planning is pure (no I/O, the caller gives time and randomness), so the
//! frames are tested without a gateway; [`crate::fleet`] sends them.
//!
//! Energy is integer Wh throughout; kWh values are written from it as decimal text.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use rand::Rng;
use rand::seq::SliceRandom;
use serde_json::{Value, json};

use crate::faults::{Fault, FaultSet};
use crate::ocpp::{Action, Version};

/// One thing a charger does in a session.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Call {
        action: Action,
        payload: Value,
        tx: TxUse,
    },
    /// Close the connection and open a new one, then carry on.
    Reconnect,
}

/// How a 1.6 step relates to the CSMS-assigned transaction id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxUse {
    None,
    /// StartTransaction: the answer's `transactionId` is kept.
    Capture,
    /// `transactionId` is set to the kept id before sending.
    Fill,
}

/// What a session is: who, how much, when.
#[derive(Debug, Clone)]
pub struct SessionSpec {
    pub version: Version,
    pub charge_point_id: String,
    /// Unique per session and run; 2.0.1 uses it as the charger-assigned transactionId.
    pub transaction_ref: String,
    pub id_tag: String,
    pub connector_id: u32,
    pub meter_start_wh: u64,
    pub power_w: u64,
    pub minutes: u64,
    /// Periodic meter samples between start and stop.
    pub samples: u32,
    /// When the session ended by the charger's clock.
    pub ends_at: DateTime<Utc>,
    pub faults: FaultSet,
}

impl SessionSpec {
    /// A session drawn at random: 3.7–22 kW AC or 50–150 kW DC, 10–120 minutes, ending at `now`
    /// (or 1–48 hours earlier for an offline session).
    #[allow(clippy::too_many_arguments)]
    pub fn draw(
        rng: &mut impl Rng,
        version: Version,
        charge_point_id: &str,
        transaction_ref: String,
        id_tag: String,
        meter_start_wh: u64,
        samples: u32,
        now: DateTime<Utc>,
        faults: FaultSet,
    ) -> Self {
        let power_w = if rng.random_ratio(1, 5) {
            rng.random_range(50_000..=150_000)
        } else {
            rng.random_range(3_700..=22_000)
        };
        let minutes = rng.random_range(10..=120);
        let ends_at = if faults.has(Fault::Offline) {
            now - Duration::minutes(rng.random_range(60..=48 * 60))
        } else {
            now
        };
        Self {
            version,
            charge_point_id: charge_point_id.to_owned(),
            transaction_ref,
            id_tag,
            connector_id: 1,
            meter_start_wh,
            power_w,
            minutes,
            samples,
            ends_at,
            faults,
        }
    }

    pub fn starts_at(&self) -> DateTime<Utc> {
        self.ends_at - Duration::minutes(self.minutes as i64)
    }

    pub fn energy_wh(&self) -> u64 {
        self.power_w * self.minutes / 60
    }

    /// The register after the session, where the next session starts.
    pub fn meter_stop_wh(&self) -> u64 {
        self.meter_start_wh + self.energy_wh()
    }

    /// Time and register of periodic sample `i` (1-based).
    fn sample(&self, i: u32) -> (DateTime<Utc>, u64) {
        let parts = u64::from(self.samples) + 1;
        let secs = self.minutes * 60 * u64::from(i) / parts;
        let wh = self.meter_start_wh + self.energy_wh() * u64::from(i) / parts;
        (self.starts_at() + Duration::seconds(secs as i64), wh)
    }

    /// The stop register as sent: below the start when the meter regresses.
    fn sent_meter_stop_wh(&self) -> u64 {
        if self.faults.has(Fault::MeterRegression) {
            self.meter_start_wh
                .saturating_sub(1 + self.energy_wh() / 10)
        } else {
            self.meter_stop_wh()
        }
    }

    /// Periodic samples as sent: one dips below its predecessor when the meter regresses.
    fn sent_samples(&self) -> Vec<(DateTime<Utc>, u64)> {
        let mut samples: Vec<_> = (1..=self.samples).map(|i| self.sample(i)).collect();
        if self.faults.has(Fault::MeterRegression)
            && let Some(last) = samples.last_mut()
        {
            last.1 = self.meter_start_wh.saturating_sub(1);
        }
        samples
    }

    pub fn plan(&self, rng: &mut impl Rng) -> Vec<Step> {
        match self.version {
            Version::V16 => self.plan_v16(),
            Version::V201 => self.plan_v201(rng),
        }
    }

    fn plan_v16(&self) -> Vec<Step> {
        let f = self.faults;
        let online = !f.has(Fault::Offline);
        let negative = f.has(Fault::NegativeTransactionId);
        let mut steps = Vec::new();
        let (start, end) = (self.starts_at(), self.ends_at);
        if online {
            steps.push(call(
                Action::StatusNotification,
                self.status_v16("Preparing", start),
            ));
            steps.push(call(Action::Authorize, json!({ "idTag": self.id_tag })));
        }
        let start_tx = Step::Call {
            action: Action::StartTransaction,
            payload: json!({
                "connectorId": self.number(u64::from(self.connector_id)),
                "idTag": self.id_tag,
                "meterStart": self.number(self.meter_start_wh),
                "timestamp": ocpp_time(start),
            }),
            tx: if negative {
                TxUse::None
            } else {
                TxUse::Capture
            },
        };
        steps.push(start_tx.clone());
        if f.has(Fault::Duplicate) {
            steps.push(start_tx);
        }
        if online {
            steps.push(call(
                Action::StatusNotification,
                self.status_v16("Charging", start),
            ));
        }
        if f.has(Fault::Reconnect) {
            steps.push(Step::Reconnect);
        }
        let (tx_value, tx) = if negative {
            (json!(-1), TxUse::None)
        } else {
            (json!(0), TxUse::Fill)
        };
        let mut meter_steps: Vec<Step> = self
            .sent_samples()
            .into_iter()
            .map(|(at, wh)| Step::Call {
                action: Action::MeterValues,
                payload: json!({
                    "connectorId": self.number(u64::from(self.connector_id)),
                    "transactionId": tx_value,
                    "meterValue": [{
                        "timestamp": ocpp_time(at),
                        "sampledValue": [
                            self.energy_v16(wh, "Sample.Periodic"),
                            {"value": self.power_w.to_string(), "measurand": "Power.Active.Import", "unit": "W", "context": "Sample.Periodic"}
                        ]
                    }]
                }),
                tx,
            })
            .collect();
        if f.has(Fault::OutOfOrder) {
            meter_steps.reverse();
        }
        steps.extend(meter_steps);
        let stop = Step::Call {
            action: Action::StopTransaction,
            payload: json!({
                "transactionId": tx_value,
                "idTag": self.id_tag,
                "meterStop": self.number(self.sent_meter_stop_wh()),
                "timestamp": ocpp_time(end),
                "reason": "EVDisconnected",
                "transactionData": [
                    {"timestamp": ocpp_time(start), "sampledValue": [self.energy_v16(self.meter_start_wh, "Transaction.Begin")]},
                    {"timestamp": ocpp_time(end), "sampledValue": [self.energy_v16(self.sent_meter_stop_wh(), "Transaction.End")]}
                ]
            }),
            tx,
        };
        steps.push(stop.clone());
        if f.has(Fault::Duplicate) {
            steps.push(stop);
        }
        if online {
            steps.push(call(
                Action::StatusNotification,
                self.status_v16("Finishing", end),
            ));
            steps.push(call(
                Action::StatusNotification,
                self.status_v16("Available", end),
            ));
        }
        steps
    }

    fn plan_v201(&self, rng: &mut impl Rng) -> Vec<Step> {
        let f = self.faults;
        let online = !f.has(Fault::Offline);
        let (start, end) = (self.starts_at(), self.ends_at);
        let mut steps = Vec::new();
        if online {
            steps.push(call(
                Action::StatusNotification,
                self.status_v201("Occupied", start),
            ));
            steps.push(call(
                Action::Authorize,
                json!({ "idToken": self.id_token_v201() }),
            ));
        }
        let mut events = Vec::new();
        let mut started = self.event_v201("Started", 0, start, "Authorized", "Charging");
        started["idToken"] = self.id_token_v201();
        started["evse"] = json!({"id": 1, "connectorId": self.connector_id});
        started["meterValue"] = json!([{
            "timestamp": ocpp_time(start),
            "sampledValue": [self.energy_v201(self.meter_start_wh, "Transaction.Begin")]
        }]);
        events.push((Action::TransactionEventStarted, started));
        for (i, (at, wh)) in self.sent_samples().into_iter().enumerate() {
            let mut updated = self.event_v201(
                "Updated",
                i as u64 + 1,
                at,
                "MeterValuePeriodic",
                "Charging",
            );
            updated["meterValue"] = json!([{
                "timestamp": ocpp_time(at),
                "sampledValue": [
                    self.energy_v201(wh, "Sample.Periodic"),
                    {"value": self.power_w, "measurand": "Power.Active.Import", "context": "Sample.Periodic", "unitOfMeasure": {"unit": "W"}}
                ]
            }]);
            events.push((Action::TransactionEventUpdated, updated));
        }
        let seq_end = u64::from(self.samples) + 1;
        let mut ended = self.event_v201("Ended", seq_end, end, "EVCommunicationLost", "Idle");
        ended["transactionInfo"]["stoppedReason"] = json!("EVDisconnected");
        ended["meterValue"] = json!([{
            "timestamp": ocpp_time(end),
            "sampledValue": [self.energy_v201(self.sent_meter_stop_wh(), "Transaction.End")]
        }]);
        events.push((Action::TransactionEventEnded, ended));
        if f.has(Fault::OutOfOrder) {
            // The conformance case: Ended first; the rest arrive in any order.
            let ended = events.pop().expect("an Ended event");
            events.shuffle(rng);
            events.insert(0, ended);
        }
        // The reconnect comes after the first event, whatever it is.
        for (n, (action, payload)) in events.into_iter().enumerate() {
            let is_edge = matches!(
                action,
                Action::TransactionEventStarted | Action::TransactionEventEnded
            );
            steps.push(call(action, payload.clone()));
            if is_edge && f.has(Fault::Duplicate) {
                steps.push(call(action, payload));
            }
            if n == 0 && f.has(Fault::Reconnect) {
                steps.push(Step::Reconnect);
            }
        }
        if online {
            steps.push(call(
                Action::StatusNotification,
                self.status_v201("Available", end),
            ));
        }
        steps
    }

    fn status_v16(&self, status: &str, at: DateTime<Utc>) -> Value {
        json!({
            "connectorId": self.connector_id,
            "errorCode": "NoError",
            "status": status,
            "timestamp": ocpp_time(at),
        })
    }

    fn status_v201(&self, status: &str, at: DateTime<Utc>) -> Value {
        json!({
            "timestamp": ocpp_time(at),
            "connectorStatus": status,
            "evseId": 1,
            "connectorId": self.connector_id,
        })
    }

    fn id_token_v201(&self) -> Value {
        json!({ "idToken": self.id_tag, "type": "ISO14443" })
    }

    fn event_v201(
        &self,
        event_type: &str,
        seq_no: u64,
        at: DateTime<Utc>,
        trigger: &str,
        charging_state: &str,
    ) -> Value {
        let mut event = json!({
            "eventType": event_type,
            "timestamp": ocpp_time(at),
            "triggerReason": trigger,
            "seqNo": seq_no,
            "transactionInfo": {"transactionId": self.transaction_ref, "chargingState": charging_state},
        });
        if self.faults.has(Fault::Offline) {
            event["offline"] = json!(true);
        }
        event
    }

    /// A 1.6 energy register sample; `value` is a string in 1.6.
    fn energy_v16(&self, wh: u64, context: &str) -> Value {
        let (value, unit) = self.energy_text(wh);
        json!({"value": value, "measurand": "Energy.Active.Import.Register", "unit": unit, "context": context, "location": "Outlet"})
    }

    /// A 2.0.1 energy register sample; `value` is a JSON number in 2.0.1.
    fn energy_v201(&self, wh: u64, context: &str) -> Value {
        let (value, unit) = self.energy_text(wh);
        // The decimal text becomes a JSON number literal; it prints back as the same text.
        let number: Value = serde_json::from_str(&value).expect("decimal text is a JSON number");
        json!({"value": number, "measurand": "Energy.Active.Import.Register", "context": context, "unitOfMeasure": {"unit": unit}})
    }

    /// The register as text and its unit label, after the kWh faults.
    fn energy_text(&self, wh: u64) -> (String, &'static str) {
        let kwh = || format!("{}.{:03}", wh / 1000, wh % 1000);
        if self.faults.has(Fault::KwhAsWh) {
            (kwh(), "Wh")
        } else if self.faults.has(Fault::KwhUnit) {
            (kwh(), "kWh")
        } else {
            (wh.to_string(), "Wh")
        }
    }

    /// An integer field, as a string when the charger sends numbers as strings.
    fn number(&self, n: u64) -> Value {
        if self.faults.has(Fault::NumbersAsStrings) {
            json!(n.to_string())
        } else {
            json!(n)
        }
    }
}

fn call(action: Action, payload: Value) -> Step {
    Step::Call {
        action,
        payload,
        tx: TxUse::None,
    }
}

/// dateTime as chargers write it: UTC with milliseconds and `Z`.
pub fn ocpp_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The BootNotification payload.
pub fn boot(version: Version, charge_point_id: &str) -> Value {
    match version {
        Version::V16 => json!({
            "chargePointVendor": "Joule",
            "chargePointModel": "Sim-1",
            "chargePointSerialNumber": charge_point_id,
            "firmwareVersion": env!("CARGO_PKG_VERSION"),
        }),
        Version::V201 => json!({
            "reason": "PowerUp",
            "chargingStation": {
                "model": "Sim-2",
                "vendorName": "Joule",
                "serialNumber": charge_point_id,
                "firmwareVersion": env!("CARGO_PKG_VERSION"),
            }
        }),
    }
}

/// What a charger sends first after a reconnect (it did not reboot, so no BootNotification): the
/// state of its connector.
pub fn resync(version: Version, now: DateTime<Utc>) -> Value {
    match version {
        Version::V16 => json!({
            "connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": ocpp_time(now)
        }),
        Version::V201 => json!({
            "timestamp": ocpp_time(now), "connectorStatus": "Available", "evseId": 1, "connectorId": 1
        }),
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use super::*;

    fn spec(version: Version, faults: FaultSet) -> SessionSpec {
        SessionSpec {
            version,
            charge_point_id: "SIM-1".into(),
            transaction_ref: "run1-1-0".into(),
            id_tag: "SIMT1".into(),
            connector_id: 1,
            meter_start_wh: 100_000,
            power_w: 11_000,
            minutes: 60,
            samples: 3,
            ends_at: "2026-11-20T12:00:00Z".parse().unwrap(),
            faults,
        }
    }

    fn calls(steps: &[Step]) -> Vec<(Action, &Value, TxUse)> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Call {
                    action,
                    payload,
                    tx,
                } => Some((*action, payload, *tx)),
                Step::Reconnect => None,
            })
            .collect()
    }

    fn actions(steps: &[Step]) -> Vec<Action> {
        calls(steps).into_iter().map(|(a, _, _)| a).collect()
    }

    fn rng() -> SmallRng {
        SmallRng::seed_from_u64(1)
    }

    #[test]
    fn a_plain_16_session() {
        let s = spec(Version::V16, FaultSet::default());
        let steps = s.plan(&mut rng());
        use Action::*;
        assert_eq!(
            actions(&steps),
            [
                StatusNotification,
                Authorize,
                StartTransaction,
                StatusNotification,
                MeterValues,
                MeterValues,
                MeterValues,
                StopTransaction,
                StatusNotification,
                StatusNotification
            ]
        );
        let c = calls(&steps);
        assert_eq!(
            c[2].1,
            &json!({"connectorId": 1, "idTag": "SIMT1", "meterStart": 100000, "timestamp": "2026-11-20T11:00:00.000Z"})
        );
        assert_eq!(c[2].2, TxUse::Capture);
        // Registers climb evenly to the stop: 11 kWh over 4 parts.
        let registers: Vec<&str> = c[4..7]
            .iter()
            .map(|(_, p, _)| {
                p["meterValue"][0]["sampledValue"][0]["value"]
                    .as_str()
                    .unwrap()
            })
            .collect();
        assert_eq!(registers, ["102750", "105500", "108250"]);
        assert!(c[4..=7].iter().all(|(_, _, tx)| *tx == TxUse::Fill));
        assert_eq!(c[7].1["meterStop"], json!(111_000));
        assert_eq!(c[7].1["timestamp"], json!("2026-11-20T12:00:00.000Z"));
        assert_eq!(s.meter_stop_wh(), 111_000);
    }

    #[test]
    fn duplicates_repeat_start_and_stop_verbatim() {
        let s = spec(Version::V16, FaultSet::default().with(Fault::Duplicate));
        let steps = s.plan(&mut rng());
        let c = calls(&steps);
        let starts: Vec<_> = c
            .iter()
            .filter(|x| x.0 == Action::StartTransaction)
            .collect();
        let stops: Vec<_> = c
            .iter()
            .filter(|x| x.0 == Action::StopTransaction)
            .collect();
        assert_eq!((starts.len(), stops.len()), (2, 2));
        assert_eq!(starts[0].1, starts[1].1);
        assert_eq!(stops[0].1, stops[1].1);
    }

    #[test]
    fn an_offline_16_session_is_backdated_and_sends_only_transaction_messages() {
        let now: DateTime<Utc> = "2026-11-20T12:00:00Z".parse().unwrap();
        let faults = FaultSet::default().with(Fault::Offline);
        let s = SessionSpec::draw(
            &mut rng(),
            Version::V16,
            "SIM-1",
            "r".into(),
            "T".into(),
            0,
            2,
            now,
            faults,
        );
        assert!(s.ends_at <= now - Duration::hours(1));
        use Action::*;
        assert_eq!(
            actions(&s.plan(&mut rng())),
            [StartTransaction, MeterValues, MeterValues, StopTransaction]
        );
    }

    #[test]
    fn negative_transaction_ids_replace_the_assigned_one() {
        let s = spec(
            Version::V16,
            FaultSet::default().with(Fault::NegativeTransactionId),
        );
        let steps = s.plan(&mut rng());
        let c = calls(&steps);
        for (action, payload, tx) in c {
            assert_eq!(tx, TxUse::None, "{action:?}");
            if matches!(action, Action::MeterValues | Action::StopTransaction) {
                assert_eq!(payload["transactionId"], json!(-1));
            }
        }
    }

    #[test]
    fn a_regressing_meter_stops_below_its_start() {
        let s = spec(
            Version::V16,
            FaultSet::default().with(Fault::MeterRegression),
        );
        let steps = s.plan(&mut rng());
        let c = calls(&steps);
        let stop = c.iter().find(|x| x.0 == Action::StopTransaction).unwrap();
        assert!(stop.1["meterStop"].as_u64().unwrap() < 100_000);
        let meter: Vec<u64> = c
            .iter()
            .filter(|x| x.0 == Action::MeterValues)
            .map(|x| {
                x.1["meterValue"][0]["sampledValue"][0]["value"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        assert!(meter.windows(2).any(|w| w[1] < w[0]), "{meter:?}");
    }

    #[test]
    fn kilowatt_hours_are_labelled_right_or_wrong() {
        let right = spec(Version::V16, FaultSet::default().with(Fault::KwhUnit));
        let steps = right.plan(&mut rng());
        let c = calls(&steps);
        let sample = &c[4].1["meterValue"][0]["sampledValue"][0];
        assert_eq!(
            (sample["value"].as_str(), sample["unit"].as_str()),
            (Some("102.750"), Some("kWh"))
        );
        let wrong = spec(Version::V201, FaultSet::default().with(Fault::KwhAsWh));
        let steps = wrong.plan(&mut rng());
        let c = calls(&steps);
        let updated = c
            .iter()
            .find(|x| x.0 == Action::TransactionEventUpdated)
            .unwrap();
        let sample = &updated.1["meterValue"][0]["sampledValue"][0];
        assert_eq!(sample["value"].to_string(), "102.75");
        assert_eq!(sample["unitOfMeasure"]["unit"], json!("Wh"));
    }

    #[test]
    fn numbers_as_strings() {
        let s = spec(
            Version::V16,
            FaultSet::default().with(Fault::NumbersAsStrings),
        );
        let steps = s.plan(&mut rng());
        let c = calls(&steps);
        let start = c.iter().find(|x| x.0 == Action::StartTransaction).unwrap();
        assert_eq!(start.1["meterStart"], json!("100000"));
        assert_eq!(start.1["connectorId"], json!("1"));
    }

    #[test]
    fn a_201_session_numbers_its_events_from_zero() {
        let s = spec(Version::V201, FaultSet::default());
        let steps = s.plan(&mut rng());
        let c = calls(&steps);
        use Action::*;
        assert_eq!(
            c.iter().map(|x| x.0).collect::<Vec<_>>(),
            [
                StatusNotification,
                Authorize,
                TransactionEventStarted,
                TransactionEventUpdated,
                TransactionEventUpdated,
                TransactionEventUpdated,
                TransactionEventEnded,
                StatusNotification
            ]
        );
        let events: Vec<_> = c.iter().filter(|x| x.0.is_transaction()).collect();
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e.1["seqNo"], json!(i));
            assert_eq!(e.1["transactionInfo"]["transactionId"], json!("run1-1-0"));
            assert!(e.1.get("offline").is_none());
        }
        assert_eq!(events[0].1["idToken"]["idToken"], json!("SIMT1"));
        assert_eq!(
            events[0].1["meterValue"][0]["sampledValue"][0]["value"],
            json!(100000)
        );
        assert_eq!(
            events[4].1["meterValue"][0]["sampledValue"][0]["context"],
            json!("Transaction.End")
        );
        assert_eq!(
            events[4].1["transactionInfo"]["stoppedReason"],
            json!("EVDisconnected")
        );
        assert_eq!(c[0].1["connectorStatus"], json!("Occupied"));
    }

    #[test]
    fn out_of_order_201_events_start_with_ended_and_keep_every_seq_no() {
        let faults = FaultSet::default()
            .with(Fault::OutOfOrder)
            .with(Fault::Offline)
            .with(Fault::Reconnect);
        let s = spec(Version::V201, faults);
        let steps = s.plan(&mut rng());
        assert_eq!(steps[1], Step::Reconnect);
        let c = calls(&steps);
        assert_eq!(c[0].0, Action::TransactionEventEnded);
        let mut seq: Vec<u64> = c.iter().map(|x| x.1["seqNo"].as_u64().unwrap()).collect();
        seq.sort_unstable();
        assert_eq!(seq, [0, 1, 2, 3, 4]);
        assert!(c.iter().all(|x| x.1["offline"] == json!(true)));
    }

    #[test]
    fn boot_payloads_per_version() {
        assert_eq!(
            boot(Version::V16, "CP")["chargePointSerialNumber"],
            json!("CP")
        );
        assert_eq!(
            boot(Version::V201, "CP")["chargingStation"]["serialNumber"],
            json!("CP")
        );
        assert_eq!(boot(Version::V201, "CP")["reason"], json!("PowerUp"));
    }
}

//! What the sessions integration tests share: the charger events as the gateway publishes them,
//! and waiting for what the service publishes or projects.

// Each test file uses some of these.
#![allow(dead_code)]

use chrono::Utc;
use joule_bus::{Bus, Domain, EventMeta, Outgoing, envelope};
use joule_config::Settings;
use joule_proto::time::to_proto;
use joule_proto::v1;
use joule_runtime::Running;
use joule_testkit::{TestEnv, eventually, wait_for_events};

/// The sessions service alone on the test environment, with `configure` applied to its settings.
pub async fn spawn_sessions(env: &TestEnv, configure: impl FnOnce(&mut Settings)) -> Running {
    let mut settings = env.settings_running(&["sessions"]);
    configure(&mut settings);
    joule_runtime::spawn(settings, &[joule_sessions::SERVICE])
        .await
        .expect("start sessions")
}

/// Event metadata of a message published by `aggregate_type` `aggregate_id`, its id derived from
/// `key` (distinct keys: distinct messages, as a charger's retry with a new message id).
pub fn meta(key: &str, aggregate_type: &str, aggregate_id: &str, sequence: u64) -> EventMeta {
    joule_testkit::publish::meta(key, aggregate_type, aggregate_id, sequence)
}

/// A charger event as the gateway publishes it, on `charger.<charge point>.<KIND>`.
pub trait ChargerEvent: joule_proto::Message + joule_proto::EventName {
    const KIND: &'static str;
    fn charge_point_id(&self) -> &str;
}

impl ChargerEvent for v1::TransactionStarted {
    const KIND: &'static str = "started";
    fn charge_point_id(&self) -> &str {
        &self.charge_point_id
    }
}

impl ChargerEvent for v1::MeterValuesSampled {
    const KIND: &'static str = "meter";
    fn charge_point_id(&self) -> &str {
        &self.charge_point_id
    }
}

impl ChargerEvent for v1::TransactionStopped {
    const KIND: &'static str = "stopped";
    fn charge_point_id(&self) -> &str {
        &self.charge_point_id
    }
}

/// Publishes `message` as the gateway would; `key` tells messages apart (distinct keys: distinct
/// message ids, as a charger's retry with a new OCPP message id).
pub async fn publish<M: ChargerEvent>(bus: &Bus, key: &str, message: &M) {
    let cp = message.charge_point_id();
    bus.publish(Outgoing {
        subject: format!("charger.{cp}.{}", M::KIND),
        envelope: envelope(message, meta(key, "Charger", cp, 0)),
        trace_headers: Default::default(),
    })
    .await
    .expect("publish");
}

pub fn started(cp: &str, tx: &str, meter_start: &str) -> v1::TransactionStarted {
    v1::TransactionStarted {
        charger_id: "charger-1".into(),
        charge_point_id: cp.into(),
        connector_id: 1,
        transaction_id: tx.into(),
        id_tag: "TAG1".into(),
        account_id: "acc-1".into(),
        meter_start_wh: meter_start.into(),
        charger_time: Some(to_proto("2026-11-21T10:00:00Z".parse().unwrap())),
        received_at: Some(to_proto(Utc::now())),
        ..Default::default()
    }
}

pub fn stopped(cp: &str, tx: &str, meter_stop: &str) -> v1::TransactionStopped {
    v1::TransactionStopped {
        charger_id: "charger-1".into(),
        charge_point_id: cp.into(),
        transaction_id: tx.into(),
        meter_stop_wh: meter_stop.into(),
        id_tag: "TAG1".into(),
        reason: "Local".into(),
        charger_time: Some(to_proto("2026-11-21T11:00:00Z".parse().unwrap())),
        received_at: Some(to_proto(Utc::now())),
        transaction_data: vec![],
        ..Default::default()
    }
}

pub fn sample(at: &str, context: &str, wh: &str) -> v1::MeterSample {
    v1::MeterSample {
        charger_time: Some(to_proto(at.parse().unwrap())),
        measurand: "Energy.Active.Import.Register".into(),
        value: wh.into(),
        unit: "Wh".into(),
        context: context.into(),
        ..Default::default()
    }
}

pub fn meter(cp: &str, tx: &str, readings: &[(&str, &str)]) -> v1::MeterValuesSampled {
    v1::MeterValuesSampled {
        charger_id: "charger-1".into(),
        charge_point_id: cp.into(),
        connector_id: 1,
        transaction_id: tx.into(),
        samples: readings
            .iter()
            .map(|(at, wh)| sample(at, "Sample.Periodic", wh))
            .collect(),
        received_at: Some(to_proto(Utc::now())),
        ocpp_version: "1.6".into(),
        ..Default::default()
    }
}

pub fn started_on(
    cp: &str,
    tx: &str,
    connector: u32,
    id_tag: &str,
    meter: &str,
) -> v1::TransactionStarted {
    v1::TransactionStarted {
        connector_id: connector,
        id_tag: id_tag.into(),
        ocpp_version: "1.6".into(),
        ..started(cp, tx, meter)
    }
}

/// A 1.6 stop as the gateway publishes it when `transactionId` identifies nothing: keyed by its
/// own content, flagged `invalid_transaction_id`.
pub fn unusable_stop(cp: &str, id_tag: &str, meter_stop: &str, at: &str) -> v1::TransactionStopped {
    v1::TransactionStopped {
        transaction_id: "-1".into(),
        id_tag: id_tag.into(),
        charger_time: Some(to_proto(at.parse().unwrap())),
        session_key: format!("-1@{at}/{meter_stop}"),
        flags: vec!["invalid_transaction_id".into()],
        ocpp_version: "1.6".into(),
        ..stopped(cp, "-1", meter_stop)
    }
}

/// The session id of a transaction of tenant `default`.
pub fn session_id(cp: &str, tx: &str) -> String {
    joule_sessions::consumers::charger_events::session_id("default", cp, tx).to_string()
}

/// The `SessionCompleted` events published, once there are at least `want`.
pub async fn completed_sessions(bus: &Bus, want: usize) -> Vec<v1::SessionCompleted> {
    wait_for_events::<v1::SessionCompleted>(bus, Domain::Session, want)
        .await
        .into_iter()
        .map(|(_, m)| m)
        .collect()
}

/// The `M` events on SESSION so far, with their subjects and envelope sequences.
async fn published<M>(bus: &Bus) -> Vec<(String, u64, M)>
where
    M: joule_proto::Message + joule_proto::EventName + Default,
{
    bus.read_stream(Domain::Session)
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, e)| e.event_type == M::NAME)
        .map(|(subject, e)| (subject, e.sequence, joule_bus::decode_payload(&e).unwrap()))
        .collect()
}

/// The `M` events on SESSION with their subjects and envelope sequences, once there are at least
/// `want`.
pub async fn session_messages<M>(bus: &Bus, want: usize) -> Vec<(String, u64, M)>
where
    M: joule_proto::Message + joule_proto::EventName + Default,
{
    eventually(&format!("{want} {} on SESSION", M::NAME), || async {
        let found = published::<M>(bus).await;
        (found.len() >= want).then_some(found)
    })
    .await
}

/// Completions of the test's sessions, after a marker session (completed last) shows that every
/// charger event published before it was handled.
pub async fn completions_after_marker(bus: &Bus, marker: &str) -> Vec<v1::SessionCompleted> {
    publish(bus, &format!("{marker}-start"), &started(marker, "1", "0")).await;
    publish(bus, &format!("{marker}-stop"), &stopped(marker, "1", "1")).await;
    eventually(
        &format!("the marker session {marker} completed"),
        || async {
            let completed: Vec<v1::SessionCompleted> = published(bus)
                .await
                .into_iter()
                .map(|(_, _, m)| m)
                .collect();
            completed
                .iter()
                .any(|c| c.charge_point_id == marker)
                .then(|| {
                    completed
                        .into_iter()
                        .filter(|c| !c.charge_point_id.starts_with("MARK"))
                        .collect()
                })
        },
    )
    .await
}

/// The read model's flags of a session, once they contain `flag`.
pub async fn flags_once_containing(
    pool: &sqlx::PgPool,
    session_id: &str,
    flag: &str,
) -> Vec<String> {
    eventually(&format!("session {session_id} has flag {flag}"), || async {
        let flags: Vec<String> =
            sqlx::query_scalar("SELECT flags FROM sessions.session_view WHERE id = $1")
                .bind(session_id)
                .fetch_optional(pool)
                .await
                .unwrap()
                .unwrap_or_default();
        flags.iter().any(|f| f == flag).then_some(flags)
    })
    .await
}

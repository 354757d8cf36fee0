//! Given/when/then tests of the `ChargingSession` aggregate (no I/O), by behaviour; the helpers
//! here build the commands and events they share.

#![allow(
    clippy::arithmetic_side_effects,
    reason = "tests build their inputs with plain arithmetic"
)]

mod inactivity;
mod ocpp201;
mod readings;
mod starts_and_stops;
mod versions;

use super::*;
use cqrs_es::test::TestFramework;
use joule_domain::Energy;
use rust_decimal_macros::dec;

type Given = TestFramework<ChargingSession>;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn rules() -> SessionRules {
    SessionRules::default()
}

fn start(meter_wh: Decimal) -> StartDetails {
    StartDetails {
        charger_id: "c".into(),
        charge_point_id: "CP1".into(),
        connector_id: 1,
        transaction_id: "7".into(),
        token_uid: "TAG".into(),
        account_id: "acc".into(),
        meter_start: Some(Energy::from_wh(meter_wh)),
        started_at: t("2026-11-21T10:00:00Z"),
        received_at: t("2026-11-21T10:00:01Z"),
        seq_no: None,
        holder: None,
    }
}

fn stop(meter_wh: Decimal) -> StopDetails {
    StopDetails {
        charger_id: "c".into(),
        charge_point_id: "CP1".into(),
        transaction_id: "7".into(),
        meter_stop: Some(Energy::from_wh(meter_wh)),
        stopped_at: t("2026-11-21T11:00:00Z"),
        received_at: t("2026-11-21T11:00:01Z"),
        reason: "Local".into(),
        seq_no: None,
        token: None,
    }
}

fn token() -> Option<TokenRef> {
    Some(TokenRef {
        token_uid: "TAG".into(),
        account_id: "acc".into(),
    })
}

fn completed(
    start: Option<StartDetails>,
    stop: StopDetails,
    meter_start: Decimal,
    energy: Decimal,
    flags: &[&str],
) -> SessionEvent {
    let stop_register = stop.meter_stop;
    SessionEvent::SessionCompleted {
        started_at: start
            .as_ref()
            .map_or(t("2026-11-21T10:10:00Z"), |s| s.started_at),
        token: start.as_ref().map(|s| TokenRef {
            token_uid: s.token_uid.clone(),
            account_id: s.account_id.clone(),
        }),
        start,
        stop,
        meter_start: Energy::from_wh(meter_start),
        energy: Energy::from_wh(energy),
        flags: flags.iter().map(|f| f.to_string()).collect(),
        meter_stop: stop_register,
        samples: vec![],
        charging_ended_at: None,
    }
}

fn flagged(flag: &str, detail: &str) -> SessionEvent {
    SessionEvent::SessionFlagged {
        flag: flag.into(),
        detail: detail.into(),
    }
}

fn completion_of(events: &[SessionEvent]) -> (Energy, Vec<String>, Option<TokenRef>) {
    match events.last() {
        Some(SessionEvent::SessionCompleted {
            energy,
            flags,
            token,
            ..
        }) => {
            let mut flags = flags.clone();
            flags.sort();
            (*energy, flags, token.clone())
        }
        other => panic!("expected a completion, got {other:?}"),
    }
}

/// A 2.0.1 transaction: Started (seq 0, Begin 1000 Wh, no token), Updated (seq 1, the token, a
/// reading), Updated (seq 2, a reading), Ended (seq 3, End 13500 Wh).
fn transaction_201() -> Vec<SessionCommand> {
    let mut s = start(dec!(1000));
    s.seq_no = Some(0);
    s.token_uid = String::new();
    s.account_id = String::new();
    let reading = |at: &str, wh: Decimal| Extras {
        readings: vec![Reading {
            at: t(at),
            register: Energy::from_wh(wh),
        }],
        ..Default::default()
    };
    let mut e = stop(dec!(13500));
    e.seq_no = Some(3);
    vec![
        SessionCommand::Start(s, Extras::default()),
        SessionCommand::RecordReadings {
            seq_no: Some(1),
            token: token(),
            extras: reading("2026-11-21T10:20:00Z", dec!(5000)),
        },
        SessionCommand::RecordReadings {
            seq_no: Some(2),
            token: None,
            extras: reading("2026-11-21T10:40:00Z", dec!(9000)),
        },
        SessionCommand::Stop(e, Extras::default()),
    ]
}

fn run(commands: impl IntoIterator<Item = SessionCommand>) -> Vec<SessionEvent> {
    let mut session = ChargingSession::default();
    let mut all = Vec::new();
    for command in commands {
        for event in session.decide(command, &rules()) {
            session.apply(event.clone());
            all.push(event);
        }
    }
    all
}

fn reading(at: &str, wh: Decimal) -> Reading {
    Reading {
        at: t(at),
        register: Energy::from_wh(wh),
    }
}

fn with_readings(readings: Vec<Reading>) -> Extras {
    Extras {
        readings,
        ..Default::default()
    }
}

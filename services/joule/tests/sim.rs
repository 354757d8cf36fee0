//! `joule sim` against a real platform (every service, fresh database and NATS namespace): the
//! fleet registers through the REST API, runs its sessions over OCPP, every CALL is answered, and
//! the platform ends up with exactly the sessions the chargers ran (OCPP 1.6 and 2.0.1), however
//! often a start or a stop was sent.

use std::time::Duration;

use joule_cli::sim::{Registration, register};
use joule_sim::faults::FaultMix;
use joule_sim::{CancellationToken, FleetConfig, Mode};
use joule_testkit::TestEnv;
use serde_json::Value;

/// Charger 1 speaks OCPP 1.6, chargers 2 to 4 speak 2.0.1 (the mix spreads deterministically).
const CHARGERS: u64 = 4;
const SESSIONS: u64 = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_fleet_gets_every_call_answered_and_its_sessions_recorded() {
    let env = TestEnv::new().await;
    let settings = env.settings();
    let token = settings.admin_token.expose().to_owned();
    let running = joule_runtime::spawn(settings, &joule_cli::services::ALL)
        .await
        .expect("services start");
    let api = format!("http://{}", running.addr("api").expect("api bound"));
    let ocpp = format!("ws://{}/ocpp", running.addr("ocpp").expect("ocpp bound"));

    let prefix = format!("T{}", &env.namespace[1..7]).to_uppercase();
    let fleet = Registration {
        id_prefix: prefix.clone(),
        first_index: 1,
        chargers: CHARGERS,
        tokens: 2,
        concurrency: 4,
    };
    let registered = register(&api, &token, &fleet, false)
        .await
        .expect("registration");
    assert_eq!(registered.chargers_created, CHARGERS);

    let mut cfg = FleetConfig::new(ocpp, Mode::Load, CHARGERS);
    cfg.id_prefix = prefix;
    cfg.tokens = 2;
    cfg.sessions_per_charger = Some(SESSIONS);
    cfg.meter_samples = 2;
    cfg.versions = "1.6=1,2.0.1=1".parse().expect("version mix");
    // Retries of the start and the stop must not make more sessions.
    cfg.faults = "duplicate=1".parse::<FaultMix>().expect("fault mix");
    // An upper bound only: the run ends when every charger has run its sessions.
    cfg.duration = Duration::from_secs(120);
    // The gateway learns new chargers from the REGISTRY stream and refuses them until then.
    cfg.reconnect_min = Duration::from_millis(100);
    cfg.reconnect_random = Duration::from_millis(200);
    let summary = joule_sim::fleet::run_local(cfg, CancellationToken::new(), |_, _, _| {})
        .await
        .expect("fleet runs");

    let all = summary.counts.all_actions();
    assert!(all.sent > 0);
    assert_eq!(
        (all.answered, all.call_errors, all.timeouts),
        (all.sent, 0, 0),
        "{}",
        summary.render()
    );
    assert_eq!(summary.counts.sessions_completed, CHARGERS * SESSIONS);
    assert_eq!(summary.counts.sessions_aborted, 0);
    let sent = |label: &str| summary.counts.actions.get(label).map_or(0, |a| a.sent);
    assert_eq!(
        sent("StartTransaction"),
        2 * SESSIONS,
        "each 1.6 start sent twice"
    );
    assert_eq!(
        sent("TransactionEvent(Started)"),
        2 * (CHARGERS - 1) * SESSIONS,
        "each 2.0.1 Started sent twice"
    );

    // The platform has one completed session per simulated session, whatever was sent twice.
    let http = reqwest::Client::new();
    let url = format!(
        "{api}/v1/sessions?account_id={}&limit=100",
        registered.account_id
    );
    let mut completed = Vec::new();
    for _ in 0..300 {
        let listed: Value = http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .expect("list sessions")
            .json()
            .await
            .expect("sessions json");
        completed = listed["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter(|s| s["stopped_at"].is_string())
            .cloned()
            .collect();
        if completed.len() as u64 >= CHARGERS * SESSIONS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        completed.len() as u64,
        CHARGERS * SESSIONS,
        "{completed:#?}"
    );
    let mut transactions: Vec<_> = completed
        .iter()
        .map(|s| {
            (
                s["charge_point_id"].to_string(),
                s["transaction_id"].to_string(),
            )
        })
        .collect();
    transactions.sort();
    transactions.dedup();
    assert_eq!(transactions.len() as u64, CHARGERS * SESSIONS);
    running.stop().await.expect("services stop");
}

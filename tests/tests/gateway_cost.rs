//! Costs on the charger, end to end: the Python `ocpp` package plays an OCPP 2.0.1 charging station
//! against a running Joule. Its meter readings become pricing's running cost, which the gateway shows
//! with CostUpdated; the Ended answer carries the total cost pricing estimates for the stop.

use joule_e2e::{Joule, init_tracing, python_script};
use serde_json::json;

#[tokio::test]
async fn a_201_station_sees_its_running_cost_and_the_total_at_the_end() {
    init_tracing();
    let j = Joule::spawn().await;
    let fx = j.register("cost").await;

    // 1,000 Wh at the start (30 minutes ago), 4,000 Wh 15 minutes ago, 7,000 Wh now.
    let out = python_script(
        "cost_display_201.py",
        &[
            &j.ocpp,
            &fx.charge_point_id,
            &fx.token_uid,
            "1000",
            "4000",
            "7000",
            "--transaction-id",
            "py-cost-1",
        ],
    )
    .await
    .unwrap();
    assert_eq!(out["boot_status"], "Accepted");
    assert_eq!(out["start_status"], "Accepted", "{out}");
    let updates = out["cost_updates"].as_array().unwrap();
    assert!(!updates.is_empty(), "a j.running cost was shown: {out}");
    assert_eq!(updates[0]["transaction_id"], "py-cost-1");
    assert!(updates[0]["total_cost"].as_f64().unwrap() > 0.0, "{out}");

    // FLAT 0.50 + ENERGY 6 kWh x 0.40 + TIME 0.5 h x 1.20 = 3.50 net, 19 % VAT: 4.17.
    assert_eq!(out["ended_total_cost"], json!(4.17), "{out}");
    j.running.stop().await.unwrap();
}

//! Every OCPP call starts its own trace, and the events it publishes carry it (W3C `traceparent`),
//! so a charge can be followed from the charger's frame through every service. A separate test
//! binary: it installs the process-wide subscriber.

mod support;

use joule_proto::EventName;
use joule_proto::v1::{ChargerBooted, ConnectorStatusChanged};
use serde_json::json;
use support::{CP, Harness, of_type};

/// `00-<trace id>-<span id>-<flags>` → trace id.
fn trace_id(traceparent: &str) -> &str {
    traceparent.split('-').nth(1).expect("a W3C traceparent")
}

#[tokio::test]
async fn each_call_starts_a_trace_that_travels_with_its_event() {
    let _telemetry = joule_telemetry::init("gateway-test", None, joule_telemetry::LogFormat::Text)
        .expect("telemetry installs");
    let h = Harness::start().await;
    let mut charger = h.connect(CP).await;
    charger
        .ok(
            "BootNotification",
            json!({"chargePointVendor": "Joule", "chargePointModel": "T"}),
        )
        .await;
    charger
        .ok(
            "StatusNotification",
            json!({"connectorId": 0, "errorCode": "NoError", "status": "Available"}),
        )
        .await;

    let events = h.charger_events().await;
    let boot = of_type(&events, ChargerBooted::NAME)[0]
        .headers
        .get("traceparent")
        .expect("boot traced");
    let status = of_type(&events, ConnectorStatusChanged::NAME)[0]
        .headers
        .get("traceparent")
        .expect("status traced");
    assert_ne!(trace_id(boot), "00000000000000000000000000000000");
    assert_ne!(
        trace_id(boot),
        trace_id(status),
        "one trace per OCPP call, not per connection"
    );
    charger.close().await;
    h.stop().await;
}

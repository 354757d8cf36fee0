//! One real charge, end to end: the Python `ocpp` package plays an OCPP 1.6J charger against a running
//! Joule; the session is priced, invoiced and posted to a ledger that balances.

use joule_bus::Domain;
use joule_e2e::{CHARGE, Joule, init_tracing, python_charge_point};
use joule_testkit::TestEnv;
use serde_json::Value;

#[tokio::test]
async fn a_python_ocpp_charger_session_is_priced_invoiced_and_posted() {
    init_tracing();
    let j = Joule::spawn().await;
    let fx = j.register("flow").await;

    // 12.5 kWh in 45 minutes; the stop is sent twice and a malformed frame is thrown in.
    let out = python_charge_point(&fx.charge(
        &j.ocpp,
        CHARGE,
        &["--duplicate-stop", "--malformed-frame"],
    ))
    .await
    .unwrap();
    assert_eq!(out["boot_status"], "Accepted");
    assert_eq!(out["authorize_status"], "Accepted");
    assert_eq!(out["start_status"], "Accepted");
    assert_eq!(
        out["malformed_answer"][0], 4,
        "a malformed frame gets a CallError: {out}"
    );
    assert_eq!(
        out["stop_status"],
        serde_json::json!(["Accepted", "Accepted"])
    );

    let sessions = j
        .api
        .wait_for(&format!("/v1/sessions?charger_id={}", fx.charger_id), |v| {
            v["data"]
                .as_array()
                .is_some_and(|d| d.len() == 1 && d[0]["invoice_id"].is_string())
        })
        .await
        .unwrap();
    let session = &sessions["data"][0];
    assert_eq!(session["energy_kwh"], "12.5");
    assert_eq!(session["account_id"], fx.account_id.as_str());
    assert_eq!(session["status"], "completed");

    // FLAT 0.50 + ENERGY 12.5 kWh x 0.40 + TIME 0.75 h x 1.20 = 6.40 net;
    // VAT per line, rounded: 0.10 + 0.95 + 0.17 = 1.22.
    let invoices = j
        .api
        .get(&format!("/v1/invoices?account_id={}", fx.account_id))
        .await
        .unwrap();
    let invoices = invoices["data"].as_array().unwrap();
    assert_eq!(
        invoices.len(),
        1,
        "exactly one invoice for one session: {invoices:?}"
    );
    let invoice = &invoices[0];
    assert_eq!(invoice["total_excl_vat"], "6.40");
    assert_eq!(invoice["total_vat"], "1.22");
    assert_eq!(invoice["total_incl_vat"], "7.62");
    assert_eq!(invoice["id"], session["invoice_id"]);

    // The ledger posts the invoice after it was issued: wait for it.
    let tb = j
        .api
        .wait_for("/v1/ledger/trial-balance", |tb| tb["total_debit"] == "7.62")
        .await
        .unwrap();
    assert_eq!(
        tb["total_debit"], tb["total_credit"],
        "the ledger balances: {tb}"
    );
    assert_eq!(tb["total_debit"], "7.62");
    let row = |account: &str| -> Value {
        tb["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["account"] == account)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(row("accounts_receivable")["debit"], "7.62");
    assert_eq!(row("revenue_charging")["credit"], "6.40");
    assert_eq!(row("vat_payable")["credit"], "1.22");

    // One trace follows the charge from the StopTransaction frame through every NATS hop to the
    // ledger posting.
    let bus = j.env.bus().await;
    let trace_of = |messages: &[joule_bus::StoredMessage], event_type: &str| -> String {
        let m = messages
            .iter()
            .find(|m| m.envelope.event_type == event_type)
            .expect(event_type);
        m.trace_id()
            .unwrap_or_else(|| panic!("{event_type} carries no traceparent"))
            .to_owned()
    };
    let stop_trace = trace_of(
        &bus.read_stream_messages(Domain::Charger).await.unwrap(),
        "joule.v1.TransactionStopped",
    );
    for (domain, event_type) in [
        (Domain::Session, "joule.v1.SessionCompleted"),
        (Domain::Pricing, "joule.v1.SessionPriced"),
        (Domain::Invoice, "joule.v1.InvoiceIssued"),
        (Domain::Ledger, "joule.v1.JournalEntryPosted"),
    ] {
        let messages = bus.read_stream_messages(domain).await.unwrap();
        assert_eq!(
            trace_of(&messages, event_type),
            stop_trace,
            "{event_type} is on the stop's trace"
        );
    }

    j.running.stop().await.unwrap();
}

#[tokio::test]
async fn an_unknown_token_is_refused_at_authorize() {
    let j = Joule::spawn().await;
    let fx = j.register("unknown").await;

    let out = python_charge_point(&[
        &j.ocpp,
        &fx.charge_point_id,
        "NOT-A-TOKEN",
        "0",
        "1000",
        "10",
    ])
    .await
    .unwrap();
    assert_eq!(out["authorize_status"], "Invalid");
    assert_eq!(out["start_status"], "Invalid");
    // The energy still becomes a session, flagged for review, never lost.
    let sessions = j
        .api
        .wait_for(&format!("/v1/sessions?charger_id={}", fx.charger_id), |v| {
            v["data"]
                .as_array()
                .is_some_and(|d| d.len() == 1 && d[0]["status"] == "completed")
        })
        .await
        .unwrap();
    let flags = sessions["data"][0]["flags"].as_array().unwrap();
    assert!(flags.iter().any(|f| f == "unknown_token"), "{flags:?}");
    j.running.stop().await.unwrap();
}

#[tokio::test]
async fn every_service_reports_serving_on_grpc_health() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    let env = TestEnv::new().await;
    let running = joule_runtime::spawn(env.settings(), &joule_cli::services::ALL)
        .await
        .unwrap();
    let channel = tonic::transport::Endpoint::from_shared(format!(
        "http://{}",
        running.addr("grpc").unwrap()
    ))
    .unwrap()
    .connect()
    .await
    .unwrap();
    let mut health = HealthClient::new(channel);
    for service in [
        "",
        "joule.v1.SessionsService",
        "joule.v1.TariffService",
        "joule.v1.InvoicingService",
        "joule.v1.LedgerService",
    ] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|e| panic!("health of {service:?}: {e}"))
            .into_inner()
            .status;
        assert_eq!(
            status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service:?}"
        );
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "joule.v1.Nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    running.stop().await.unwrap();
}

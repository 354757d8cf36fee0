//! What real chargers send, end to end into priced, invoiced sessions: the Python `ocpp` package
//! plays OCPP 1.6J and 2.0.1 chargers with out-of-order and duplicated events, offline sessions sent
//! hours later, meter regressions, kWh values labelled Wh, and HTTP Basic auth.

use joule_e2e::{
    CHARGE, Joule, flags, invoice_total, invoiced_sessions, python_charge_point,
    python_charge_point_201, register, register_with_password, wait_until_charger_known,
    wait_until_password_known,
};
use joule_proto::v1;

#[tokio::test]
async fn a_201_charger_sending_ended_first_and_twice_is_billed_once_with_its_signed_value() {
    let j = Joule::spawn().await;
    let fx = j.register("201order").await;
    let out = python_charge_point_201(&fx.charge(
        &j.ocpp,
        CHARGE,
        &["--out-of-order", "--duplicate-end"],
    ))
    .await
    .unwrap();
    assert_eq!(out["subprotocol"], "ocpp2.0.1");
    assert_eq!(out["boot_status"], "Accepted");
    assert_eq!(out["authorize_status"], "Accepted");
    // Every TransactionEvent with an idToken is answered with its status. An Ended answer carries
    // pricing's totalCost when pricing already knew the session's start (events arrive out of order
    // here, so it may not): never another amount than the receipt's.
    for answer in out["transaction_answers"].as_array().unwrap() {
        let total = &answer["total_cost"];
        assert!(
            total.is_null() || *total == serde_json::json!(7.62),
            "{out}"
        );
    }
    assert_eq!(out["transaction_answers"][0]["id_token_status"], "Accepted");

    let sessions = invoiced_sessions(&j.api, &fx.charger_id, 1).await.unwrap();
    let session = &sessions[0];
    assert_eq!(session["energy_kwh"], "12.5");
    assert_eq!(session["transaction_id"], "py-201-tx-1");
    assert_eq!(session["account_id"], fx.account_id.as_str());
    assert!(flags(session).is_empty(), "{session}");
    // Same tariff, same charge as the 1.6 flow: 6.40 net, 7.62 with VAT.
    assert_eq!(invoice_total(&j.api, session).await, "7.62");
    let invoices = j
        .api
        .get(&format!("/v1/invoices?account_id={}", fx.account_id))
        .await
        .unwrap();
    assert_eq!(invoices["data"].as_array().unwrap().len(), 1);

    // The signed End value, byte-exact with its public key, tied to the session.
    let channel = tonic::transport::Endpoint::from_shared(format!(
        "http://{}",
        j.running.addr("grpc").unwrap()
    ))
    .unwrap()
    .connect()
    .await
    .unwrap();
    let mut evidence =
        v1::session_evidence_service_client::SessionEvidenceServiceClient::new(channel);
    let values = evidence
        .list_signed_meter_values(v1::ListSignedMeterValuesRequest {
            session_id: session["id"].as_str().unwrap().into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .values;
    assert_eq!(values.len(), 1);
    let signed = values[0].signed.as_ref().unwrap();
    assert_eq!(
        signed.signed_meter_data,
        out["signed_meter_data"].as_str().unwrap()
    );
    assert_eq!(signed.encoding_method, "OCMF");
    assert!(signed.public_key.starts_with("3059301306"));
    j.running.stop().await.unwrap();
}

#[tokio::test]
async fn offline_sessions_sent_hours_later_bill_at_the_charger_time() {
    let j = Joule::spawn().await;
    let fx16 = register(&j.api, "offline16").await.unwrap();
    let fx201 = register(&j.api, "offline201").await.unwrap();
    for fx in [&fx16, &fx201] {
        wait_until_charger_known(&j.ocpp, &fx.charge_point_id)
            .await
            .unwrap();
    }
    let now = chrono::Utc::now();
    python_charge_point(&fx16.charge(&j.ocpp, CHARGE, &["--hours-ago", "5"]))
        .await
        .unwrap();
    python_charge_point_201(&fx201.charge(&j.ocpp, CHARGE, &["--hours-ago", "3"]))
        .await
        .unwrap();
    for (fx, hours, expected_flag) in [(&fx16, 5, Some("late_delivery")), (&fx201, 3, None)] {
        let sessions = invoiced_sessions(&j.api, &fx.charger_id, 1).await.unwrap();
        let session = &sessions[0];
        assert_eq!(session["energy_kwh"], "12.5");
        let stopped: chrono::DateTime<chrono::Utc> =
            session["stopped_at"].as_str().unwrap().parse().unwrap();
        let hours_ago = (now - stopped).num_minutes() as f64 / 60.0;
        assert!(
            (hours_ago - f64::from(hours)).abs() < 0.1,
            "billed at the charger's time, {hours_ago} h ago"
        );
        let f = flags(session);
        match expected_flag {
            // 1.6 cannot say a message was queued: the late delivery is noted for review.
            Some(flag) => assert!(f.iter().any(|x| x == flag), "{f:?}"),
            // 2.0.1 says offline = true: nothing to review.
            None => assert!(f.is_empty(), "{f:?}"),
        }
        assert_eq!(invoice_total(&j.api, session).await, "7.62");
    }
    j.running.stop().await.unwrap();
}

#[tokio::test]
async fn meter_regressions_bill_nothing_and_kwh_labelled_wh_bills_right() {
    let j = Joule::spawn().await;
    let regress = register(&j.api, "regress").await.unwrap();
    let kwh16 = register(&j.api, "kwh16").await.unwrap();
    let kwh201 = register(&j.api, "kwh201").await.unwrap();
    for fx in [&regress, &kwh16, &kwh201] {
        wait_until_charger_known(&j.ocpp, &fx.charge_point_id)
            .await
            .unwrap();
    }
    // The meter ran backwards: 9000 Wh at the start, 8000 Wh at the stop.
    python_charge_point(&regress.charge(&j.ocpp, ["9000", "8000", "45"], &[]))
        .await
        .unwrap();
    python_charge_point(&kwh16.charge(&j.ocpp, CHARGE, &["--kwh-as-wh"]))
        .await
        .unwrap();
    python_charge_point_201(&kwh201.charge(&j.ocpp, CHARGE, &["--kwh-as-wh"]))
        .await
        .unwrap();

    let session = &invoiced_sessions(&j.api, &regress.charger_id, 1)
        .await
        .unwrap()[0];
    assert_eq!(session["energy_kwh"], "0", "never a negative bill");
    assert!(flags(session).contains(&"meter_regression".to_owned()));
    // FLAT 0.50 + TIME 0.75 h x 1.20 = 1.40 net; VAT 0.10 + 0.17.
    assert_eq!(invoice_total(&j.api, session).await, "1.67");
    for fx in [&kwh16, &kwh201] {
        let session = &invoiced_sessions(&j.api, &fx.charger_id, 1).await.unwrap()[0];
        assert_eq!(session["energy_kwh"], "12.5", "{session}");
        assert!(
            flags(session).contains(&"kwh_labelled_as_wh".to_owned()),
            "{session}"
        );
        assert_eq!(invoice_total(&j.api, session).await, "7.62");
    }
    j.running.stop().await.unwrap();
}

#[tokio::test]
async fn a_charger_with_a_password_connects_with_basic_auth_only() {
    const PASSWORD: &str = "py-charger-secret-0001";
    let j = Joule::spawn().await;
    let fx = register_with_password(&j.api, "basic", Some(PASSWORD))
        .await
        .unwrap();
    wait_until_password_known(&j.env, &fx.charge_point_id)
        .await
        .unwrap();
    let refused = python_charge_point_201(&fx.charge(
        &j.ocpp,
        ["0", "1000", "10"],
        &["--password", "not-the-password-0001"],
    ))
    .await
    .unwrap_err();
    assert!(refused.to_string().contains("401"), "{refused}");
    let out = python_charge_point_201(&fx.charge(
        &j.ocpp,
        ["0", "1000", "10"],
        &["--password", PASSWORD],
    ))
    .await
    .unwrap();
    assert_eq!(out["boot_status"], "Accepted");
    let sessions = invoiced_sessions(&j.api, &fx.charger_id, 1).await.unwrap();
    assert_eq!(sessions[0]["energy_kwh"], "1");
    // The password never left the api in clear.
    let bus = j.env.bus().await;
    for (_, envelope) in bus.read_stream(joule_bus::Domain::Registry).await.unwrap() {
        assert!(
            !String::from_utf8_lossy(&envelope.payload).contains(PASSWORD),
            "{}",
            envelope.event_type
        );
    }
    j.running.stop().await.unwrap();
}

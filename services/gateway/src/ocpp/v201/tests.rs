use super::*;
use rust_decimal::Decimal;

fn now() -> DateTime<Utc> {
    "2026-11-21T12:00:00Z".parse().unwrap()
}

#[test]
fn a_started_event_reads_token_evse_and_the_begin_register() {
    let req = TransactionEvent::parse(
        &json!({
            "eventType": "Started", "timestamp": "2026-11-21T10:00:00Z", "triggerReason": "Authorized",
            "seqNo": 0, "offline": false,
            "transactionInfo": {"transactionId": "f3b9-11"},
            "idToken": {"idToken": "04A2B3C4", "type": "ISO14443"},
            "evse": {"id": 1, "connectorId": 1},
            "meterValue": [{"timestamp": "2026-11-21T10:00:00Z", "sampledValue": [
                {"value": 1.5, "context": "Transaction.Begin", "measurand": "Energy.Active.Import.Register",
                 "unitOfMeasure": {"unit": "kWh"}}
            ]}]
        }),
        now(),
    )
    .unwrap();
    assert_eq!(req.event_type, EventType::Started);
    assert_eq!(req.seq_no, Some(0));
    assert_eq!(req.transaction_id.as_deref(), Some("f3b9-11"));
    assert_eq!(req.id_token.unwrap().id_token, "04A2B3C4");
    assert_eq!((req.evse_id, req.connector_id), (1, 1));
    let samples: Vec<_> = req.samples.iter().map(meter::normalise).collect();
    assert_eq!(
        meter::register_in_context(&samples, TRANSACTION_BEGIN),
        Some(Decimal::from(1500))
    );
    assert!(req.problems.is_empty());
}

#[test]
fn multipliers_strings_and_signed_values_are_read() {
    let req = TransactionEvent::parse(
        &json!({
            "eventType": "Ended", "timestamp": "2026-11-21T11:00:00Z", "triggerReason": "EVDeparted",
            "seqNo": "7", "offline": "true",
            "transactionInfo": {"transactionId": "T1", "stoppedReason": "EVDisconnected"},
            "meterValue": {"timestamp": "2026-11-21T11:00:00Z", "sampledValue": [
                {"value": "135", "context": "Transaction.End", "unitOfMeasure": {"unit": "Wh", "multiplier": 2},
                 "signedMeterValue": {"signedMeterData": "T0NNRnx7fXx7fQ==", "signingMethod": "ECDSA-secp256r1-SHA256",
                                      "encodingMethod": "OCMF", "publicKey": "3059301306"}}
            ]}
        }),
        now(),
    )
    .unwrap();
    assert_eq!(req.seq_no, Some(7));
    assert!(req.offline);
    assert_eq!(req.stopped_reason.as_deref(), Some("EVDisconnected"));
    let samples: Vec<_> = req.samples.iter().map(meter::normalise).collect();
    assert_eq!(
        meter::register_in_context(&samples, TRANSACTION_END),
        Some(Decimal::from(13500))
    );
    let signed = samples[0].signed.as_ref().unwrap();
    assert_eq!(signed.signed_meter_data, "T0NNRnx7fXx7fQ==");
    assert_eq!(signed.encoding_method, "OCMF");
    assert_eq!(signed.public_key, "3059301306");
}

#[test]
fn an_unreadable_event_is_still_an_event_with_its_problems_named() {
    let req = TransactionEvent::parse(&json!({"eventType": "Paused", "seqNo": -1}), now()).unwrap();
    assert_eq!(req.event_type, EventType::Updated);
    assert_eq!(req.timestamp, now());
    assert_eq!(req.transaction_id, None);
    assert_eq!(
        req.problems.flags(),
        [
            "unreadable_field:eventType",
            "unreadable_field:timestamp",
            "unreadable_field:triggerReason",
            "unreadable_field:seqNo",
            "unreadable_field:transactionInfo"
        ]
    );
}

#[test]
fn boot_and_status_follow_the_201_shapes() {
    let boot = BootNotification::parse(&json!({
        "reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V", "serialNumber": "S"}
    }))
    .unwrap();
    assert_eq!((boot.vendor.as_str(), boot.model.as_str()), ("V", "M"));
    let err = BootNotification::parse(&json!({"chargingStation": {"model": "M"}})).unwrap_err();
    assert_eq!(err.field, "chargingStation.vendorName");
    let status = StatusNotification::parse(&json!({
        "timestamp": "2026-11-21T10:00:00Z", "connectorStatus": "Faulted", "evseId": 2, "connectorId": 1
    }))
    .unwrap();
    assert_eq!((status.evse_id, status.connector_id), (2, 1));
}

use super::*;
use crate::ocpp::frame::ErrorCode;
use crate::ocpp::meter;
use rust_decimal_macros::dec;

fn now() -> DateTime<Utc> {
    "2024-03-01T12:00:00Z".parse().unwrap()
}

#[test]
fn start_transaction_reads_numbers_given_as_strings() {
    let req = StartTransaction::parse(
        &json!({
            "connectorId": "1", "idTag": "04A2B3C4", "meterStart": "1000", "timestamp": "2024-03-01T10:00:00Z"
        }),
        now(),
    )
    .unwrap();
    assert_eq!(req.connector_id, 1);
    assert_eq!(req.meter_start_wh, Some(dec!(1000)));
    assert_eq!(
        req.timestamp,
        DateTime::parse_from_rfc3339("2024-03-01T10:00:00Z").unwrap()
    );
    assert!(req.problems.is_empty());
}

#[test]
fn an_unreadable_start_is_still_a_start_with_its_problems_named() {
    let req = StartTransaction::parse(
        &json!({"connectorId": [1], "idTag": "A", "timestamp": "yesterday"}),
        now(),
    )
    .unwrap();
    assert_eq!(req.meter_start_wh, None);
    assert_eq!(req.timestamp, now(), "the receive time stands in");
    assert_eq!(
        req.problems.flags(),
        [
            "unreadable_field:connectorId",
            "unreadable_field:meterStart",
            "unreadable_field:timestamp"
        ]
    );
    let err = StartTransaction::parse(&json!([1]), now()).unwrap_err();
    assert_eq!(
        (err.code, err.field.as_str()),
        (ErrorCode::FormationViolation, "payload")
    );
}

#[test]
fn meter_values_accept_an_object_for_the_array_and_long_transaction_ids() {
    let req = MeterValues::parse(
        &json!({
            "connectorId": 2,
            "transactionId": 5_000_000_000u64,
            "meterValue": {
                "timestamp": "2024-03-01T10:05:00Z",
                "sampledValue": [
                    {"value": "1.5", "unit": "kWh"},
                    {"value": 7400, "measurand": "Power.Active.Import", "unit": "W"}
                ]
            }
        }),
        now(),
    )
    .unwrap();
    assert_eq!(req.transaction_id.as_deref(), Some("5000000000"));
    let samples: Vec<_> = req.samples.iter().map(meter::normalise).collect();
    assert_eq!(samples[0].value, "1500");
    assert_eq!(samples[0].unit, "Wh");
    assert_eq!(samples[0].measurand, "Energy.Active.Import.Register");
    assert_eq!(samples[1].value, "7400");
}

#[test]
fn unreadable_samples_are_left_out_and_named() {
    let req = MeterValues::parse(
        &json!({
            "connectorId": 1,
            "meterValue": [{"timestamp": "2024-03-01T10:05:00Z", "sampledValue": [{"unit": "Wh"}, {"value": "5"}]}]
        }),
        now(),
    )
    .unwrap();
    assert_eq!(req.samples.len(), 1);
    assert_eq!(
        req.problems.flags(),
        ["unreadable_field:meterValue[0].sampledValue[0].value"]
    );
}

#[test]
fn a_stop_survives_unreadable_transaction_data() {
    let req = StopTransaction::parse(
        &json!({
            "transactionId": -1, "meterStop": 2500, "timestamp": "2024-03-01T11:00:00Z",
            "transactionData": [{"sampledValue": [{"value": "2.5", "unit": "kWh"}]}]
        }),
        now(),
    )
    .unwrap();
    assert_eq!(req.transaction_id.as_deref(), Some("-1"));
    assert_eq!(req.meter_stop_wh, Some(dec!(2500)));
    assert_eq!(
        req.problems.flags(),
        ["unreadable_field:transactionData[0].timestamp"]
    );
    assert_eq!(
        req.transaction_data[0].timestamp,
        "2024-03-01T11:00:00Z".parse::<DateTime<Utc>>().unwrap(),
        "the stop's time stands in"
    );
    assert_eq!(issued_id("-1"), None);
    assert_eq!(issued_id("0"), None);
    assert_eq!(issued_id("5000000000"), None);
    assert_eq!(issued_id("17"), Some(17));
}

#[test]
fn boot_falls_back_to_the_charge_box_serial() {
    let req = BootNotification::parse(&json!({
        "chargePointVendor": "V", "chargePointModel": "M", "chargeBoxSerialNumber": "CB-1"
    }))
    .unwrap();
    assert_eq!(req.serial_number.as_deref(), Some("CB-1"));
}

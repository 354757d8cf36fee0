//! Reading settlement reports, and lines recorded in an older shape.

use super::*;
use rust_decimal_macros::dec;

const CSV: &str = "balance_transaction_id,created_utc,currency,gross,fee,net,reporting_category,payment_intent_id,automatic_payout_id\r\n\
txn_1,2026-11-02 08:00:00,eur,23.80,0.58,23.22,charge,pi_1,po_1\r\n\
txn_2,2026-11-02 09:00:00,eur,-5.00,0.00,-5.00,refund,pi_1,po_1\r\n\
\"txn_3\",2026-11-03 00:00:00,eur,-18.22,0.00,-18.22,payout,,\"po_1\"\r\n";

#[test]
fn a_csv_report_is_read_line_by_line() {
    let lines = parse_report("stripe", "csv", CSV).unwrap();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0].fee.amount, dec!(0.58));
    assert_eq!(lines[0].intent_reference, "pi_1");
    assert_eq!(lines[2].category, "payout");
    assert_eq!(lines[2].net.amount, dec!(-18.22));
    assert_eq!(lines[2].transaction_id, "txn_3");
}

#[test]
fn a_json_report_reads_the_same() {
    let json = r#"[{"balance_transaction_id":"txn_1","created":1793606400,"currency":"EUR",
        "gross":"10.00","fee":"0.40","net":"9.60","reporting_category":"charge"}]"#;
    let lines = parse_report("stripe", "json", json).unwrap();
    assert_eq!(lines[0].net.amount, dec!(9.60));
}

#[test]
fn bad_lines_name_their_field() {
    let bad = CSV.replace("23.22", "23.20");
    assert_eq!(
        parse_report("stripe", "csv", &bad).unwrap_err().field,
        "lines[0].net"
    );
    let bad = CSV.replace("refund", "gift");
    assert_eq!(
        parse_report("stripe", "csv", &bad).unwrap_err().field,
        "lines[1].reporting_category"
    );
    assert_eq!(
        parse_report("stripe", "xml", CSV).unwrap_err().field,
        "format"
    );
    assert_eq!(
        parse_report("stripe", "csv", "").unwrap_err().field,
        "content"
    );
}

#[test]
fn a_line_recorded_at_1_0_loads_with_money_in_its_currency() {
    let stored = serde_json::json!({"SettlementLineRecorded": {
        "tenant_id": "default",
        "line": {
            "provider": "stripe",
            "transaction_id": "txn_1",
            "category": "charge",
            "currency": "EUR",
            "gross": "23.80",
            "fee": "0.58",
            "net": "23.22",
            "intent_reference": "pi_1",
            "payout_id": "po_1",
            "occurred_at": "2026-11-02T08:00:00Z",
        },
        "intent_id": IntentId::derived("i").to_string(),
    }});
    let (payload, version) =
        joule_store::upcast::upcast(UPCASTERS, "SettlementLineRecorded", "1.0", stored);
    let event: SettlementEvent = serde_json::from_value(payload).expect("the current shape");
    assert_eq!(version, event.event_version());
    let SettlementEvent::SettlementLineRecorded {
        tenant_id,
        line,
        intent_id,
    } = event;
    assert_eq!(
        (tenant_id, intent_id),
        (TenantId::default_tenant(), Some(IntentId::derived("i")))
    );
    assert_eq!(line, parse_report("stripe", "csv", CSV).unwrap()[0]);
}

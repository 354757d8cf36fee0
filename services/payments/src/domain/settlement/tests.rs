//! Reading settlement reports.

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
    assert_eq!(lines[0].fee, dec!(0.58));
    assert_eq!(lines[0].intent_reference, "pi_1");
    assert_eq!(lines[2].category, "payout");
    assert_eq!(lines[2].net, dec!(-18.22));
    assert_eq!(lines[2].transaction_id, "txn_3");
}

#[test]
fn a_json_report_reads_the_same() {
    let json = r#"[{"balance_transaction_id":"txn_1","created":1793606400,"currency":"EUR",
        "gross":"10.00","fee":"0.40","net":"9.60","reporting_category":"charge"}]"#;
    let lines = parse_report("stripe", "json", json).unwrap();
    assert_eq!(lines[0].net, dec!(9.60));
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

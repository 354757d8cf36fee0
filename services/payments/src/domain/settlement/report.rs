//! Settlement reports as providers export them: the columns follow Stripe's balance-transaction
//! reports (the "Balance change from activity" and "Payout reconciliation" exports):
//! `balance_transaction_id`, `created_utc` (or `created`), `currency`, `gross`, `fee`, `net`,
//! `reporting_category`, and optionally `payment_intent_id` (Joule's intent id or the provider's
//! reference) and `automatic_payout_id`. Amounts are decimal strings in the currency's major unit.
//! JSON is an array of objects with the same keys.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, Utc};
use joule_domain::{Currency, Money, limits};
use rust_decimal::Decimal;

use super::SettlementLine;
use crate::amounts::is_whole_minor_units;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ReportError {
    pub field: String,
    pub reason: String,
}

fn err(field: impl Into<String>, reason: impl Into<String>) -> ReportError {
    ReportError {
        field: field.into(),
        reason: reason.into(),
    }
}

const CATEGORIES: &[&str] = &["charge", "refund", "payout", "fee", "adjustment"];

fn line_from(
    provider: &str,
    row: &HashMap<String, String>,
    at: &str,
) -> Result<SettlementLine, ReportError> {
    let get = |name: &str| row.get(name).map(|v| v.trim()).unwrap_or("");
    let required = |name: &str| match get(name) {
        "" => Err(err(format!("{at}.{name}"), "is required")),
        v => Ok(v.to_owned()),
    };
    let currency: Currency = get("currency")
        .to_uppercase()
        .parse()
        .map_err(|e: joule_domain::CurrencyError| err(format!("{at}.currency"), e.to_string()))?;
    let amount = |name: &str| -> Result<Decimal, ReportError> {
        let raw = match get(name) {
            "" => "0",
            v => v,
        };
        let d = Decimal::from_str(raw)
            .map_err(|_| err(format!("{at}.{name}"), format!("{raw:?} is not a decimal")))?;
        if !is_whole_minor_units(d, currency) {
            return Err(err(
                format!("{at}.{name}"),
                format!("{raw} is finer than {currency}'s minor unit"),
            ));
        }
        limits::check_max_amount(&format!("{at}.{name}"), d, currency)
            .map_err(|e| err(e.field, e.reason))?;
        Ok(d)
    };
    let category = required("reporting_category")?.to_lowercase();
    if !CATEGORIES.contains(&category.as_str()) {
        return Err(err(
            format!("{at}.reporting_category"),
            format!("{category:?} is not one of {}", CATEGORIES.join(", ")),
        ));
    }
    let (gross, fee, net) = (amount("gross")?, amount("fee")?, amount("net")?);
    // Each is at most the currency's maximum: the difference cannot overflow.
    if gross.checked_sub(fee) != Some(net) {
        return Err(err(
            format!("{at}.net"),
            format!("{net} is not gross {gross} minus fee {fee}"),
        ));
    }
    let created = match get("created_utc") {
        "" => get("created"),
        v => v,
    };
    let occurred_at = parse_time(created).ok_or_else(|| {
        err(
            format!("{at}.created_utc"),
            format!(
                "{created:?} is not a time (RFC 3339, `YYYY-MM-DD HH:MM:SS` UTC or a Unix time)"
            ),
        )
    })?;
    Ok(SettlementLine {
        provider: provider.to_owned(),
        transaction_id: required("balance_transaction_id")?,
        category,
        gross: Money::new(gross, currency),
        fee: Money::new(fee, currency),
        net: Money::new(net, currency),
        intent_reference: get("payment_intent_id").to_owned(),
        payout_id: get("automatic_payout_id").to_owned(),
        occurred_at,
    })
}

fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S") {
        return Some(t.and_utc());
    }
    raw.parse::<i64>()
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, 0))
}

/// Splits CSV text into records (RFC 4180: quoted fields, doubled quotes, CRLF or LF).
fn csv_records(text: &str) -> Result<Vec<Vec<String>>, ReportError> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err(err("content", "a quoted field is not closed"));
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records.retain(|r| !(r.len() == 1 && r[0].trim().is_empty()));
    Ok(records)
}

/// Reads a report. Every line is checked before any is recorded, so a bad report records nothing.
pub fn parse_report(
    provider: &str,
    format: &str,
    content: &str,
) -> Result<Vec<SettlementLine>, ReportError> {
    let rows: Vec<HashMap<String, String>> = match format {
        "csv" => {
            let mut records = csv_records(content)?.into_iter();
            let header: Vec<String> = records
                .next()
                .ok_or_else(|| err("content", "the report is empty"))?
                .into_iter()
                .map(|h| h.trim().to_lowercase())
                .collect();
            records
                .map(|r| header.iter().cloned().zip(r).collect())
                .collect()
        }
        "json" => {
            let values: Vec<serde_json::Map<String, serde_json::Value>> =
                serde_json::from_str(content)
                    .map_err(|e| err("content", format!("not a JSON array of objects: {e}")))?;
            values
                .into_iter()
                .map(|o| {
                    o.into_iter()
                        .map(|(k, v)| {
                            let v = match v {
                                serde_json::Value::String(s) => s,
                                serde_json::Value::Null => String::new(),
                                other => other.to_string(),
                            };
                            (k.to_lowercase(), v)
                        })
                        .collect()
                })
                .collect()
        }
        other => {
            return Err(err(
                "format",
                format!("{other:?} is not a report format (csv or json)"),
            ));
        }
    };
    if rows.is_empty() {
        return Err(err("content", "the report has no lines"));
    }
    limits::check_count("content", rows.len(), limits::MAX_SETTLEMENT_LINES)
        .map_err(|e| err(e.field, format!("lines: {}", e.reason)))?;
    rows.iter()
        .enumerate()
        .map(|(i, row)| line_from(provider, row, &format!("lines[{i}]")))
        .collect()
}

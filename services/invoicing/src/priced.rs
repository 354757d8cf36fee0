//! The consumer of `SessionPriced`: every priced session gets a receipt.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{SubsecRound, Utc};
use joule_bus::{BoxFuture, Envelope, Handler, HandlerError, Received};
use joule_domain::{AccountId, Currency, SessionId, TenantId};
use joule_proto::v1::{PriceLine, SessionPriced};
use joule_store::CommandMeta;
use rust_decimal::Decimal;

use crate::issuer::{IssueError, Issued, Issuer, ReceiptRequest};
use crate::receipt::PricedLine;

/// A `SessionPriced` that breaks the contract, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    fn new(field: impl Into<String>, reason: impl ToString) -> Self {
        Self {
            field: field.into(),
            reason: reason.to_string(),
        }
    }
}

/// Reads a `SessionPriced` into a receipt request. The tenant comes from the envelope (`default_tenant`
/// when the envelope names none); the issue time is when the session was priced, so every redelivery
/// of the message falls into the same numbering year.
pub fn receipt_request(
    message: &SessionPriced,
    envelope: &Envelope,
    default_tenant: &TenantId,
) -> Result<ReceiptRequest, FieldError> {
    let tenant_id = match envelope.tenant_id.as_str() {
        "" => default_tenant.clone(),
        t => t.parse().map_err(|e| FieldError::new("tenant_id", e))?,
    };
    let session_id: SessionId = message
        .session_id
        .parse()
        .map_err(|e| FieldError::new("session_id", e))?;
    let account_id = match message.account_id.as_str() {
        "" => None,
        a => Some(
            a.parse::<AccountId>()
                .map_err(|e| FieldError::new("account_id", e))?,
        ),
    };
    let currency: Currency = message
        .currency
        .parse()
        .map_err(|e| FieldError::new("currency", e))?;
    let lines = message
        .lines
        .iter()
        .enumerate()
        .map(|(i, line)| priced_line(i, line))
        .collect::<Result<Vec<_>, _>>()?;
    let issued_at = joule_proto::time::from_proto(envelope.occurred_at.as_ref())
        .or_else(|| joule_proto::time::from_proto(message.stopped_at.as_ref()))
        .unwrap_or_else(Utc::now)
        // The read model keeps microseconds; so do the event and the published message, so all agree.
        .trunc_subsecs(6);
    Ok(ReceiptRequest {
        tenant_id,
        session_id,
        account_id,
        currency,
        lines,
        issued_at,
    })
}

fn priced_line(index: usize, line: &PriceLine) -> Result<PricedLine, FieldError> {
    let optional = |name: &str, value: &str| -> Result<Option<Decimal>, FieldError> {
        match value.trim() {
            "" => Ok(None),
            v => Decimal::from_str(v).map(Some).map_err(|e| {
                FieldError::new(
                    format!("lines[{index}].{name}"),
                    format!("{v:?} is not a decimal: {e}"),
                )
            }),
        }
    };
    let amount_excl_vat = optional("amount_excl_vat", &line.amount_excl_vat)?
        .ok_or_else(|| FieldError::new(format!("lines[{index}].amount_excl_vat"), "is required"))?;
    let description = if line.description.is_empty() {
        line.dimension.clone()
    } else {
        line.description.clone()
    };
    Ok(PricedLine {
        description,
        quantity: optional("volume", &line.volume)?,
        unit: line.unit.clone(),
        unit_price: optional("unit_price", &line.unit_price)?,
        vat_percent: optional("vat_percent", &line.vat_percent)?,
        amount_excl_vat,
    })
}

pub struct PricedHandler {
    issuer: Arc<Issuer>,
    default_tenant: TenantId,
}

impl PricedHandler {
    pub fn new(issuer: Arc<Issuer>, default_tenant: TenantId) -> Self {
        Self {
            issuer,
            default_tenant,
        }
    }
}

impl Handler for PricedHandler {
    fn handle<'a>(&'a self, received: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let message: SessionPriced = received
                .decode()
                .map_err(|e| HandlerError::Rejected(e.to_string()))?;
            let request = receipt_request(&message, &received.envelope, &self.default_tenant)
                .map_err(|e| {
                    HandlerError::Rejected(format!("SessionPriced {}: {e}", message.session_id))
                })?;
            let mut meta = CommandMeta::caused_by(&received.envelope);
            meta.tenant_id = request.tenant_id.to_string();
            let session_id = request.session_id;
            let no_account = request.account_id.is_none();
            match self.issuer.issue(request, meta).await {
                Ok(Issued::New(number)) => {
                    if no_account {
                        tracing::warn!(%session_id, %number, "receipt issued without an account; flagged for assignment");
                    } else {
                        tracing::info!(%session_id, %number, "receipt issued");
                    }
                    Ok(())
                }
                Ok(Issued::Existing(number)) => {
                    tracing::info!(%session_id, %number, "session already invoiced; nothing to do");
                    Ok(())
                }
                Err(IssueError::Rejected(reason)) => Err(HandlerError::Rejected(format!(
                    "session {session_id}: {reason}"
                ))),
                Err(IssueError::Infrastructure(reason)) => Err(HandlerError::Transient(reason)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    fn message() -> SessionPriced {
        SessionPriced {
            session_id: SessionId::derived("cp/1").to_string(),
            account_id: AccountId::derived("acme").to_string(),
            currency: "EUR".into(),
            lines: vec![PriceLine {
                dimension: "ENERGY".into(),
                volume: "12.5".into(),
                unit: "kWh".into(),
                unit_price: "0.30".into(),
                vat_percent: "19".into(),
                amount_excl_vat: "3.75".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn envelope() -> Envelope {
        let at = Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap();
        Envelope {
            occurred_at: Some(joule_proto::time::to_proto(at)),
            ..Default::default()
        }
    }

    #[test]
    fn reads_a_priced_session() {
        let request =
            receipt_request(&message(), &envelope(), &TenantId::default_tenant()).unwrap();
        assert_eq!(request.tenant_id, TenantId::default_tenant());
        assert_eq!(request.account_id, Some(AccountId::derived("acme")));
        assert_eq!(
            request.invoice_id(),
            joule_domain::InvoiceId::derived(&SessionId::derived("cp/1").to_string())
        );
        assert_eq!(request.lines[0].description, "ENERGY");
        assert_eq!(request.lines[0].amount_excl_vat, dec!(3.75));
        assert_eq!(request.lines[0].vat_percent, Some(dec!(19)));
        assert_eq!(
            request.issued_at,
            Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap()
        );
    }

    #[test]
    fn an_empty_account_is_no_account_and_an_empty_vat_is_none() {
        let mut m = message();
        m.account_id.clear();
        m.lines[0].vat_percent.clear();
        let request = receipt_request(&m, &envelope(), &TenantId::default_tenant()).unwrap();
        assert_eq!(request.account_id, None);
        assert_eq!(request.lines[0].vat_percent, None);
    }

    #[test]
    fn bad_fields_are_named() {
        let tenant = TenantId::default_tenant();
        let field = |m: SessionPriced| receipt_request(&m, &envelope(), &tenant).unwrap_err().field;
        let mut m = message();
        m.session_id = "nope".into();
        assert_eq!(field(m), "session_id");
        let mut m = message();
        m.account_id = "nope".into();
        assert_eq!(field(m), "account_id");
        let mut m = message();
        m.currency = "EURO".into();
        assert_eq!(field(m), "currency");
        let mut m = message();
        m.lines[0].amount_excl_vat = "1,5".into();
        assert_eq!(field(m), "lines[0].amount_excl_vat");
        let mut m = message();
        m.lines[0].amount_excl_vat.clear();
        assert_eq!(field(m), "lines[0].amount_excl_vat");
        let mut m = message();
        m.lines[0].vat_percent = "x".into();
        assert_eq!(field(m), "lines[0].vat_percent");
    }
}

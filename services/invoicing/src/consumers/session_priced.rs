//! The consumer of `SessionPriced` (`pricing.*.priced`, durable `invoicing-priced`): every priced
//! session gets a receipt.

use joule_bus::{BoxFuture, Envelope, Handler, HandlerError, Received};
use joule_domain::TenantId;
use joule_proto::v1::SessionPriced;
use joule_store::CommandMeta;

use super::IssueHandler;
use crate::issuer::{Issued, ReceiptRequest};
use crate::wire::{self, FieldError};

/// Reads a `SessionPriced` into a receipt request. The tenant comes from the envelope (`default_tenant`
/// when the envelope names none); the issue time is when the session was priced, so every redelivery
/// of the message falls into the same numbering year.
pub fn receipt_request(
    message: &SessionPriced,
    envelope: &Envelope,
    default_tenant: &TenantId,
) -> Result<ReceiptRequest, FieldError> {
    Ok(ReceiptRequest {
        tenant_id: wire::tenant(&envelope.tenant_id, default_tenant)?,
        session_id: wire::session_id(&message.session_id)?,
        account_id: wire::account_id(&message.account_id)?,
        currency: wire::currency(&message.currency)?,
        lines: wire::priced_lines(&message.lines)?,
        issued_at: wire::issued_at(envelope, message.stopped_at.as_ref()),
    })
}

/// Issues a receipt for every `SessionPriced`.
pub type PricedHandler = IssueHandler<SessionPriced>;

impl Handler for PricedHandler {
    fn handle<'a>(&'a self, received: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let message: SessionPriced = received.payload()?;
            let request = receipt_request(&message, &received.envelope, &self.default_tenant)
                .map_err(|e| {
                    HandlerError::Rejected(format!("SessionPriced {}: {e}", message.session_id))
                })?;
            let mut meta = CommandMeta::caused_by(&received.envelope);
            meta.tenant_id = request.tenant_id.to_string();
            let session_id = request.session_id;
            let no_account = request.account_id.is_none();
            let issued = self
                .issuer
                .issue(request, meta)
                .await
                .map_err(|e| super::handler_error(e, &format!("session {session_id}: ")))?;
            match issued {
                Issued::New(number) if no_account => {
                    tracing::warn!(%session_id, %number, "receipt issued without an account; flagged for assignment");
                }
                Issued::New(number) => tracing::info!(%session_id, %number, "receipt issued"),
                Issued::Existing(number) => {
                    tracing::info!(%session_id, %number, "session already invoiced; nothing to do");
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use joule_domain::{AccountId, SessionId};
    use joule_proto::v1::PriceLine;
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

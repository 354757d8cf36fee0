//! The consumer of `SessionPriceAdjusted` (`pricing.*.adjusted`, durable `invoicing-adjustments`):
//! every re-rating of a priced session gets an adjustment note.

use joule_bus::{BoxFuture, Envelope, Handler, HandlerError, Received};
use joule_domain::TenantId;
use joule_proto::v1::SessionPriceAdjusted;
use joule_store::CommandMeta;

use super::IssueHandler;
use crate::domain::adjustment::note_number;
use crate::issuer::{Issued, NoteRequest};
use crate::wire::{self, FieldError};

/// Reads a `SessionPriceAdjusted` into what a note needs, naming the field that breaks the
/// contract; the tenant and the issue time are read as for a receipt.
pub fn note_request(
    m: &SessionPriceAdjusted,
    envelope: &Envelope,
    default_tenant: &TenantId,
) -> Result<(TenantId, NoteRequest), FieldError> {
    let tenant_id = wire::tenant(&envelope.tenant_id, default_tenant)?;
    let session_id = wire::session_id(&m.session_id)?;
    let account_id = wire::account_id(&m.account_id)?;
    let currency = wire::currency(&m.currency)?;
    if m.adjustment_id.is_empty() {
        return Err(FieldError::new("adjustment_id", "is required"));
    }
    let request = NoteRequest {
        account_id,
        session_id,
        adjustment_id: m.adjustment_id.clone(),
        reason: m.reason.clone(),
        currency,
        lines: wire::priced_lines(&m.lines)?,
        issued_at: wire::issued_at(envelope, m.adjusted_at.as_ref()),
    };
    Ok((tenant_id, request))
}

/// Issues an adjustment note for every `SessionPriceAdjusted`.
pub type AdjustedHandler = IssueHandler<SessionPriceAdjusted>;

impl Handler for AdjustedHandler {
    fn handle<'a>(&'a self, received: &'a Received) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let m: SessionPriceAdjusted = received.payload()?;
            let (tenant, request) = note_request(&m, &received.envelope, &self.default_tenant)
                .map_err(|e| {
                    HandlerError::Rejected(format!("SessionPriceAdjusted {}: {e}", m.adjustment_id))
                })?;
            let mut meta = CommandMeta::caused_by(&received.envelope);
            meta.tenant_id = tenant.to_string();
            let (Issued::New(number) | Issued::Existing(number)) = self
                .issuer
                .issue_note(tenant, request, meta)
                .await
                .map_err(|e| super::handler_error(e, ""))?;
            tracing::info!(adjustment = %m.adjustment_id, number = %note_number(number), "adjustment note issued");
            Ok(())
        })
    }
}

//! Payment intents: a session's hold at start, extending, capturing, voiding and refunding it, and
//! the reads of the `intents` read table.

use joule_domain::{AccountId, Money, SessionId, TenantId};
use joule_proto::v1;
use tonic::Status;
use uuid::Uuid;

use super::status::{self, invalid, not_found};
use super::{PaymentsGrpc, meta, next_cursor, page, parse_id, tenant};
use crate::amounts::{parse_amount, parse_currency};
use crate::domain::intent::{Decline, IntentError, PaymentIntent, Status as IntentStatus};
use crate::engine::ExtendOutcome;
use crate::flow::{Decision, SessionStart};
use crate::ids::{IntentId, RefundId};
use crate::projections::intents as read;
use crate::wire;

impl PaymentsGrpc {
    /// The tenant's payment `raw`: another tenant's is not found.
    async fn load_intent(
        &self,
        tenant: &TenantId,
        raw: &str,
    ) -> Result<(IntentId, PaymentIntent), Status> {
        let id: IntentId = parse_id("intent_id", raw)?;
        let intent = self.flow.engine.load(id).await?;
        if intent.context.as_ref().map(|c| &c.tenant_id) != Some(tenant) {
            return Err(not_found(format!("no payment with id {id}")));
        }
        Ok((id, intent))
    }

    /// `intent` with its history from the read table (which follows a write within milliseconds).
    pub(super) async fn with_history(
        &self,
        tenant: &TenantId,
        mut p: v1::PaymentIntent,
    ) -> v1::PaymentIntent {
        if let Ok(id) = Uuid::parse_str(&p.id)
            && let Ok(Some(read)) =
                read::intent(&self.pool, &self.schema, tenant.as_str(), id).await
        {
            p.events = read.events;
            p.created_at = read.created_at;
        }
        p
    }

    pub(super) async fn authorize_session(
        &self,
        r: v1::AuthorizeSessionPaymentRequest,
    ) -> Result<v1::AuthorizeSessionPaymentResponse, Status> {
        let tenant = tenant(&self.default_tenant, &r.tenant_id)?;
        let session: SessionId = parse_id("session_id", &r.session_id)?;
        let account: AccountId = parse_id("account_id", &r.account_id)?;
        let currency = match r.currency.trim() {
            "" => None,
            c => Some(parse_currency("currency", c, None)?),
        };
        let amount = match (r.amount.trim(), currency) {
            ("", _) => None,
            (_, None) => return Err(invalid("currency", "is required with an amount")),
            (a, Some(c)) => Some(parse_amount("amount", a, c, false)?),
        };
        let decision = self
            .flow
            .start_session(
                SessionStart {
                    tenant_id: tenant.clone(),
                    session_id: session,
                    account_id: account,
                    currency,
                    charger_id: Some(r.charger_id.clone()).filter(|c| !c.is_empty()),
                    amount,
                },
                &meta(&tenant),
            )
            .await?;
        let id = IntentId::for_session(session);
        Ok(match decision {
            Decision::Approved(intent) => v1::AuthorizeSessionPaymentResponse {
                decision: "approved".into(),
                intent: Some(wire::intent(id, &intent)),
                ..Default::default()
            },
            Decision::Declined(intent) => {
                let failure = intent
                    .failure
                    .clone()
                    .unwrap_or_else(|| Decline::new("declined", "the hold was declined"));
                v1::AuthorizeSessionPaymentResponse {
                    decision: "declined".into(),
                    intent: Some(wire::intent(id, &intent)),
                    failure_code: failure.code,
                    failure_message: failure.message,
                }
            }
            Decision::PayLater(why) => v1::AuthorizeSessionPaymentResponse {
                decision: "pay_later".into(),
                intent: None,
                failure_code: String::new(),
                failure_message: why.into(),
            },
        })
    }

    pub(super) async fn extend(
        &self,
        r: v1::ExtendHoldRequest,
    ) -> Result<v1::ExtendHoldResponse, Status> {
        let tenant = tenant(&self.default_tenant, &r.tenant_id)?;
        let (id, intent) = self.load_intent(&tenant, &r.intent_id).await?;
        let currency = intent
            .context
            .as_ref()
            .map(|c| c.currency)
            .ok_or(IntentError::NotFound)?;
        let new_total = parse_amount("new_amount", &r.new_amount, currency, false)?;
        let (intent, outcome) = self
            .flow
            .engine
            .extend(id, new_total, &meta(&tenant))
            .await?;
        let intent = Some(wire::intent(id, &intent));
        Ok(match outcome {
            ExtendOutcome::Extended(mode) => v1::ExtendHoldResponse {
                extended: true,
                mode: mode.as_str().into(),
                intent,
                ..Default::default()
            },
            ExtendOutcome::Exhausted { reason, code } => v1::ExtendHoldResponse {
                extended: false,
                exhausted_reason: reason,
                provider_code: code,
                intent,
                ..Default::default()
            },
        })
    }

    pub(super) async fn capture(
        &self,
        r: v1::CapturePaymentRequest,
    ) -> Result<v1::PaymentIntent, Status> {
        let tenant = tenant(&self.default_tenant, &r.tenant_id)?;
        let id: IntentId = parse_id("intent_id", &r.intent_id)?;
        // Loaded once: the capture's request commits on this state (one read of the events less).
        let loaded = self.flow.engine.load_versioned(id).await?;
        let held = loaded
            .state
            .context
            .as_ref()
            .filter(|c| c.tenant_id == tenant)
            .map(|c| c.currency)
            .ok_or_else(|| not_found(format!("no payment with id {id}")))?;
        let currency = parse_currency("currency", &r.currency, Some(held))?;
        let amount = parse_amount("amount", &r.amount, currency, true)?;
        let intent = self
            .flow
            .engine
            .capture_on(
                id,
                Some(loaded),
                Money::new(amount, currency),
                &meta(&tenant),
            )
            .await?;
        Ok(wire::intent(id, &intent))
    }

    pub(super) async fn void(
        &self,
        r: v1::VoidPaymentRequest,
    ) -> Result<v1::PaymentIntent, Status> {
        let tenant = tenant(&self.default_tenant, &r.tenant_id)?;
        let (id, _) = self.load_intent(&tenant, &r.intent_id).await?;
        let intent = self.flow.engine.void(id, &meta(&tenant)).await?;
        Ok(wire::intent(id, &intent))
    }

    pub(super) async fn refund(
        &self,
        r: v1::RefundPaymentRequest,
    ) -> Result<v1::RefundPaymentResponse, Status> {
        let tenant = tenant(&self.default_tenant, &r.tenant_id)?;
        let (id, intent) = self.load_intent(&tenant, &r.intent_id).await?;
        let held = intent
            .context
            .as_ref()
            .map(|c| c.currency)
            .ok_or(IntentError::NotFound)?;
        let currency = parse_currency("currency", &r.currency, Some(held))?;
        let amount = parse_amount("amount", &r.amount, currency, false)?;
        let reason = match r.reason.trim() {
            "" => "requested_by_customer".to_owned(),
            r if r.len() > 200 => return Err(invalid("reason", "must be at most 200 characters")),
            r => r.to_owned(),
        };
        let refund_id = RefundId::derived(&format!("{id}/{}", r.idempotency_key.trim()));
        let intent = self
            .flow
            .engine
            .refund(
                id,
                refund_id,
                Money::new(amount, currency),
                reason.clone(),
                &meta(&tenant),
            )
            .await?;
        let record = intent.refunds.iter().find(|x| x.refund_id == refund_id);
        let refund = v1::Refund {
            id: refund_id.to_string(),
            intent_id: id.to_string(),
            amount: wire::amount(amount, currency),
            currency: currency.to_string(),
            reason,
            status: match record.and_then(|x| x.succeeded) {
                Some(true) => "succeeded",
                Some(false) => "failed",
                None => "pending",
            }
            .into(),
            failure_code: record.map(|x| x.code.clone()).unwrap_or_default(),
        };
        Ok(v1::RefundPaymentResponse {
            refund: Some(refund),
            intent: Some(wire::intent(id, &intent)),
        })
    }

    pub(super) async fn list(
        &self,
        r: v1::ListPaymentsRequest,
    ) -> Result<v1::ListPaymentsResponse, Status> {
        let tenant = tenant(&self.default_tenant, &r.tenant_id)?;
        let session = match r.session_id.trim() {
            "" => None,
            s => Some(parse_id::<SessionId>("session_id", s)?.as_uuid()),
        };
        let account = match r.account_id.trim() {
            "" => None,
            a => Some(parse_id::<AccountId>("account_id", a)?.as_uuid()),
        };
        let page = page(&r.cursor, r.page_size)?;
        let time = |field: &str, t: Option<&joule_proto::Timestamp>| {
            t.map(|t| {
                joule_proto::time::from_proto(Some(t))
                    .ok_or_else(|| invalid(field, "is not a valid time"))
            })
            .transpose()
        };
        let status = match r.status.trim() {
            "" => None,
            s => Some(
                IntentStatus::ALL
                    .iter()
                    .map(|s| s.as_str())
                    .find(|known| *known == s)
                    .ok_or_else(|| invalid("status", format!("{s:?} is not a payment status")))?,
            ),
        };
        let filter = read::IntentFilter {
            tenant: tenant.as_str(),
            session,
            account,
            created_after: time("created_after", r.created_after.as_ref())?,
            created_before: time("created_before", r.created_before.as_ref())?,
            status,
        };
        let (payments, next) = read::intents(&self.pool, &self.schema, &filter, page)
            .await
            .map_err(status::db)?;
        Ok(v1::ListPaymentsResponse {
            payments,
            next_cursor: next_cursor(next),
        })
    }

    pub(super) async fn get(&self, r: v1::GetPaymentRequest) -> Result<v1::PaymentIntent, Status> {
        let tenant = tenant(&self.default_tenant, &r.tenant_id)?;
        let id: IntentId = parse_id("intent_id", &r.intent_id)?;
        read::intent(&self.pool, &self.schema, tenant.as_str(), id.as_uuid())
            .await
            .map_err(status::db)?
            .ok_or_else(|| not_found(format!("no payment with id {id}")))
    }
}

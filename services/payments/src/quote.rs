//! The hold at session start, sized by pricing's quote.
//!
//! With `JOULE_PAYMENTS_HOLD_QUOTE` set (`energy_kwh=30,power_kw=50`: the session the operator wants a
//! hold to cover), a session's hold is `max(quote incl. VAT, the configured amount)`: pricing's
//! `TariffService.Quote` prices that session with the charger's registry tariff (known from REGISTRY,
//! `registry.charger.*`, kept in `payments.chargers` by [`crate::consumers::chargers`]) at the start
//! time and the site's time zone. Any trouble (no charger or tariff known, pricing unreachable or
//! refusing, another currency) falls back to the configured amount: a hold must never wait on pricing.

use std::str::FromStr;
use std::time::Duration;

use joule_domain::{Money, TenantId};
use joule_proto::v1::QuoteRequest;
use joule_proto::v1::tariff_service_client::TariffServiceClient;
use joule_runtime::GrpcChannel;
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::PgPool;

use crate::amounts::{AmountError, HoldAmountSource, HoldQuoteRequest, SettingsHoldAmount};

/// How long a start waits for pricing's quote before it holds the configured amount.
const QUOTE_TIMEOUT: Duration = Duration::from_secs(2);

/// The session a hold is sized for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotedSession {
    pub energy_kwh: Decimal,
    pub power_kw: Decimal,
}

impl QuotedSession {
    /// `energy_kwh=30,power_kw=50`; empty is `None` (holds come from the settings only).
    pub fn parse(raw: &str) -> Result<Option<Self>, AmountError> {
        const FIELD: &str = "payments_hold_quote";
        if raw.trim().is_empty() {
            return Ok(None);
        }
        let (mut energy, mut power) = (None, None);
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, value) = entry
                .split_once('=')
                .ok_or_else(|| AmountError::new(FIELD, format!("{entry:?} is not NAME=VALUE")))?;
            let value = Decimal::from_str(value.trim())
                .ok()
                .filter(|v| *v > Decimal::ZERO)
                .ok_or_else(|| {
                    AmountError::new(FIELD, format!("{entry:?}: not a positive decimal"))
                })?;
            match name.trim() {
                "energy_kwh" => energy = Some(value),
                "power_kw" => power = Some(value),
                other => {
                    return Err(AmountError::new(
                        FIELD,
                        format!("unknown {other:?} (energy_kwh, power_kw)"),
                    ));
                }
            }
        }
        match (energy, power) {
            (Some(energy_kwh), Some(power_kw)) => Ok(Some(Self {
                energy_kwh,
                power_kw,
            })),
            _ => Err(AmountError::new(FIELD, "needs energy_kwh and power_kw")),
        }
    }
}

/// The total incl. VAT of a quote (`PriceBreakdown`), if it is in `currency`.
pub fn quoted_total(
    breakdown_json: &str,
    totals_json: &str,
    currency: joule_domain::Currency,
) -> Option<Money> {
    let breakdown: Value = serde_json::from_str(breakdown_json).ok()?;
    if breakdown["currency"].as_str()? != currency.code() {
        return None;
    }
    let totals: Value = serde_json::from_str(totals_json).ok()?;
    let total = match &totals["total_cost"]["incl_vat"] {
        Value::String(s) => Decimal::from_str(s).ok()?,
        Value::Number(n) => Decimal::from_str(&n.to_string()).ok()?,
        _ => return None,
    };
    Some(Money::new(total, currency).round_invoice_line())
}

/// Holds `max(quote, configured)`; the configured amount when there is no quote.
pub struct QuoteHoldAmount {
    pub pricing: TariffServiceClient<GrpcChannel>,
    pub pool: PgPool,
    pub schema: String,
    pub session: QuotedSession,
    pub tenant_id: TenantId,
    pub configured: SettingsHoldAmount,
}

impl QuoteHoldAmount {
    async fn quote(&self, request: &HoldQuoteRequest) -> Result<Money, String> {
        let charger = request
            .charger_id
            .as_deref()
            .ok_or("the session names no charger")?;
        let (tariff_id, time_zone) = sqlx::query_as::<_, (String, String)>(&format!(
            "SELECT tariff_id, time_zone FROM {}.chargers WHERE charger_id = $1",
            self.schema
        ))
        .bind(charger)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| e.to_string())?
        .filter(|(t, _): &(String, String)| !t.is_empty())
        .ok_or("no tariff known for the charger")?;
        let mut pricing = self.pricing.clone();
        let call = pricing.quote(QuoteRequest {
            tenant_id: self.tenant_id.to_string(),
            tariff_id,
            start: None,
            energy_kwh: self.session.energy_kwh.to_string(),
            power_kw: self.session.power_kw.to_string(),
            parking_minutes: 0,
            time_zone,
        });
        let answer = tokio::time::timeout(QUOTE_TIMEOUT, call)
            .await
            .map_err(|_| "pricing did not answer in time".to_owned())?
            .map_err(|s| format!("pricing: {:?}: {}", s.code(), s.message()))?
            .into_inner();
        quoted_total(
            &answer.breakdown_json,
            &answer.totals_json,
            request.currency,
        )
        .ok_or_else(|| "the quote is in another currency or unreadable".to_owned())
    }
}

#[async_trait::async_trait]
impl HoldAmountSource for QuoteHoldAmount {
    async fn hold_amount(&self, request: &HoldQuoteRequest) -> Option<Money> {
        let configured = self.configured.hold_amount(request).await;
        match self.quote(request).await {
            Ok(quote) => Some(match configured {
                Some(c) if c.amount >= quote.amount => c,
                _ => quote,
            })
            .filter(|m| m.amount > Decimal::ZERO),
            Err(why) => {
                tracing::info!(session = %request.session_id, why, "hold from the settings, not a quote");
                configured
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use joule_domain::Currency;
    use rust_decimal_macros::dec;

    #[test]
    fn the_quoted_session_parses_and_refuses_bad_entries() {
        assert_eq!(QuotedSession::parse(" ").unwrap(), None);
        assert_eq!(
            QuotedSession::parse("energy_kwh=30, power_kw=50").unwrap(),
            Some(QuotedSession {
                energy_kwh: dec!(30),
                power_kw: dec!(50)
            })
        );
        assert!(QuotedSession::parse("energy_kwh=30").is_err());
        assert!(QuotedSession::parse("energy_kwh=0,power_kw=50").is_err());
        assert!(QuotedSession::parse("energy_kwh=30,power_kw=50,minutes=3").is_err());
    }

    #[test]
    fn a_quote_total_is_read_in_its_currency_only() {
        let totals = r#"{"total_cost":{"excl_vat":"10.00","incl_vat":"11.905"}}"#;
        assert_eq!(
            quoted_total(r#"{"currency":"EUR"}"#, totals, Currency::EUR).map(|m| m.amount),
            Some(dec!(11.91))
        );
        assert_eq!(
            quoted_total(r#"{"currency":"GBP"}"#, totals, Currency::EUR),
            None
        );
        assert_eq!(
            quoted_total(r#"{"currency":"EUR"}"#, "{}", Currency::EUR),
            None
        );
    }
}

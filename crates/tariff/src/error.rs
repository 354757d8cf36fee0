//! Why a tariff cannot be read, and why a session cannot be priced.

use chrono::{DateTime, Utc};

/// A tariff that is not valid OCPI 2.2.1 (as Joule accepts it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TariffError {
    #[error("tariff is not valid JSON: {0}")]
    Json(String),
    /// `path` names the field: `elements[0].price_components[1].price`.
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// A session that cannot be priced with a tariff. These are business outcomes (bad input, a tariff not
/// in force), never infrastructure failures: the engine does no I/O.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("session ends ({end}) before it starts ({start})")]
    EndBeforeStart {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    #[error("session energy must not be negative, got {0} Wh")]
    NegativeEnergy(rust_decimal::Decimal),
    #[error("quote: {0}")]
    InvalidQuote(String),
    #[error("the CDR is in {cdr} but the tariff in {tariff}")]
    CurrencyMismatch {
        cdr: joule_domain::Currency,
        tariff: joule_domain::Currency,
    },
    /// A CDR priced with no zone given whose location states none either. `suggestion` is the zone
    /// of the location's country when it has only one, for the message.
    #[error("{}", no_time_zone(country.as_deref(), *suggestion))]
    NoTimeZone {
        country: Option<String>,
        suggestion: Option<chrono_tz::Tz>,
    },
    #[error("tariff {tariff_id} is not in force at the session start {at}")]
    TariffNotActive {
        tariff_id: String,
        at: DateTime<Utc>,
    },
    /// A value of the session (not of the tariff or CDR, which `limits` bound) so large that `what`
    /// does not fit a `Decimal` (about 7.9e28).
    #[error("{what} is too large to compute (the session's values exceed what Joule can price)")]
    Overflow { what: String },
}

impl PricingError {
    /// The [`PricingError::Overflow`] of `what`, for `.ok_or_else`.
    pub(crate) fn overflow(what: &str) -> PricingError {
        PricingError::Overflow {
            what: what.to_owned(),
        }
    }
}

fn no_time_zone(country: Option<&str>, suggestion: Option<chrono_tz::Tz>) -> String {
    let mut s = "no time zone given, and the CDR's location states none (cdr_location.time_zone)"
        .to_owned();
    match (country, suggestion) {
        (Some(c), Some(z)) => s.push_str(&format!(
            "; the location is in {c}, whose only zone is {}",
            z.name()
        )),
        (Some(c), None) => s.push_str(&format!(
            "; the location is in {c}, which has more than one zone or none Joule knows"
        )),
        (None, _) => {}
    }
    s
}

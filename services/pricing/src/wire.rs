//! Pricing's proto mapping, in one place (domain and read models → `joule.v1`). Decimals are
//! written normalised and unrounded: invoicing rounds.

use chrono::{DateTime, Utc};
use joule_proto::time::to_proto;
use joule_proto::v1;
use joule_tariff::PricedSession as Breakdown;
use rust_decimal::Decimal;

use crate::domain::priced_session::{PricedSessionEvent, Rerated, WireLine, wire_lines};
use crate::projections::priced_sessions::{FinalPrice, StoredPricedSession};
use crate::projections::tariffs::{StoredTariff, StoredVersion};
use crate::running::{Latest, RunningState};

/// A decimal as the wire writes it.
fn decimal(d: Decimal) -> String {
    d.normalize().to_string()
}

pub fn price_line(l: &WireLine) -> v1::PriceLine {
    v1::PriceLine {
        dimension: l.dimension.clone(),
        description: l.description.clone(),
        volume: l.volume.clone(),
        unit: l.unit.clone(),
        unit_price: l.unit_price.clone(),
        vat_percent: l.vat_percent.clone(),
        amount_excl_vat: l.amount_excl_vat.clone(),
        amount_incl_vat: l.amount_incl_vat.clone(),
    }
}

/// The `SessionPriced` a priced session publishes (`None` for any other event): the totals and
/// the lines that add up to them ([`wire_lines`]), unrounded; invoicing rounds.
pub fn session_priced_message(event: &PricedSessionEvent) -> Option<v1::SessionPriced> {
    let PricedSessionEvent::SessionPriced {
        session_id,
        charger_id,
        tariff_id,
        account_id,
        token_uid,
        energy_wh,
        started_at,
        stopped_at,
        breakdown,
        tariff_version,
        tariff_source,
        connector_id,
        metering,
        ..
    } = event
    else {
        return None;
    };
    Some(v1::SessionPriced {
        tariff_version: *tariff_version,
        tariff_source: tariff_source.clone(),
        session_id: session_id.to_string(),
        account_id: account_id.clone(),
        charger_id: charger_id.to_string(),
        tariff_id: tariff_id.to_string(),
        currency: breakdown.currency.code().to_owned(),
        energy_wh: decimal(*energy_wh),
        started_at: Some(to_proto(*started_at)),
        stopped_at: Some(to_proto(*stopped_at)),
        lines: wire_lines(breakdown).iter().map(price_line).collect(),
        total_excl_vat: decimal(breakdown.total_excl_vat),
        total_incl_vat: decimal(breakdown.total_incl_vat),
        token_uid: token_uid.clone(),
        charge_point_id: metering.charge_point_id.clone(),
        transaction_id: metering.transaction_id.clone(),
        connector_id: *connector_id,
    })
}

/// The `SessionPriceAdjusted` of a re-rating: the previous lines reversed and the new ones, the
/// change of the totals and the totals after it.
pub fn session_price_adjusted(r: &Rerated) -> v1::SessionPriceAdjusted {
    let (delta_excl, delta_incl) = r.delta();
    v1::SessionPriceAdjusted {
        adjustment_id: r.adjustment_id.clone(),
        session_id: r.session_id.to_string(),
        account_id: r.account_id.clone(),
        charger_id: r.charger_id.to_string(),
        tariff_id: r.tariff_id.to_string(),
        tariff_version: r.tariff_version,
        currency: r.currency().code().to_owned(),
        reason: r.reason.clone(),
        lines: r
            .reversed_lines
            .iter()
            .chain(&r.new_lines)
            .map(price_line)
            .collect(),
        delta_excl_vat: delta_excl.to_string(),
        delta_incl_vat: delta_incl.to_string(),
        total_excl_vat: decimal(r.total_excl_vat.amount),
        total_incl_vat: decimal(r.total_incl_vat.amount),
        adjusted_at: Some(to_proto(r.rerated_at)),
        token_uid: r.token_uid.clone(),
        rerating_id: r.rerating_id.clone(),
    }
}

/// A priced session (a quote, a CDR, a stored price) with its OCPI totals, as the API passes it on.
pub fn price_breakdown(
    tariff_id: String,
    tariff_version: u32,
    priced: &Breakdown,
) -> Result<v1::PriceBreakdown, serde_json::Error> {
    Ok(v1::PriceBreakdown {
        tariff_id,
        tariff_version,
        breakdown_json: serde_json::to_string(priced)?,
        totals_json: serde_json::to_string(&joule_tariff::OcpiTotals::of(priced))?,
    })
}

/// A tariff, retired at `retired_at` if it is.
pub fn tariff(t: StoredTariff, retired_at: Option<DateTime<Utc>>) -> v1::Tariff {
    v1::Tariff {
        id: t.id,
        currency: t.currency,
        ocpi_json: t.ocpi_json,
        retired: retired_at.is_some(),
        retired_at: retired_at.map(to_proto),
        created_at: Some(to_proto(t.created_at)),
    }
}

pub fn tariff_version(tariff_id: &str, v: &StoredVersion) -> v1::TariffVersion {
    v1::TariffVersion {
        tariff_id: tariff_id.to_owned(),
        version: v.version,
        valid_from: v.valid_from.map(to_proto),
        ocpi_json: v.ocpi_json.clone(),
        published_at: Some(to_proto(v.published_at)),
        corrected_at: v.corrected_at.map(to_proto),
        correction_reason: v.correction_reason.clone().unwrap_or_default(),
    }
}

/// A priced session with its first price and every adjustment since, for the api.
pub fn priced_session_view(
    s: StoredPricedSession,
) -> Result<v1::PricedSessionView, serde_json::Error> {
    let optional = |d: Option<Decimal>| d.map(decimal).unwrap_or_default();
    let priced = match &s.breakdown {
        Some(b) => Some(price_breakdown(s.tariff_id.clone(), s.tariff_version, b)?),
        None => None,
    };
    Ok(v1::PricedSessionView {
        session_id: s.session_id,
        status: s.status,
        tariff_id: s.tariff_id,
        tariff_version: s.tariff_version,
        tariff_source: s.tariff_source,
        currency: s.currency,
        priced,
        adjustments: s
            .adjustments
            .into_iter()
            .map(|a| v1::PriceAdjustment {
                adjustment_id: a.adjustment_id,
                rerating_id: a.rerating_id,
                reason: a.reason,
                tariff_version: a.tariff_version,
                delta_excl_vat: decimal(a.delta_excl_vat),
                delta_incl_vat: decimal(a.delta_incl_vat),
                total_excl_vat: decimal(a.total_excl_vat),
                total_incl_vat: decimal(a.total_incl_vat),
                adjusted_at: Some(to_proto(a.adjusted_at)),
            })
            .collect(),
        total_excl_vat: optional(s.total_excl_vat),
        total_incl_vat: optional(s.total_incl_vat),
        reason: s.reason,
    })
}

/// `SessionCostUpdated` (and the `RunningCost` answer) of an estimate.
pub fn session_cost_updated(state: &RunningState, latest: &Latest) -> v1::SessionCostUpdated {
    let s = &state.start;
    let tariff = state.tariff.as_ref();
    v1::SessionCostUpdated {
        session_id: s.session_id.clone(),
        account_id: s.account_id.clone(),
        charger_id: s.charger_id.clone(),
        charge_point_id: s.charge_point_id.clone(),
        connector_id: s.connector_id,
        transaction_id: s.transaction_id.clone(),
        tariff_id: tariff.map(|t| t.tariff_id.clone()).unwrap_or_default(),
        tariff_version: tariff.map_or(0, |t| t.tariff_version),
        currency: tariff.map(|t| t.currency.clone()).unwrap_or_default(),
        energy_wh: decimal(latest.energy_wh),
        total_excl_vat: decimal(latest.total_excl_vat),
        total_incl_vat: decimal(latest.total_incl_vat),
        started_at: Some(to_proto(s.started_at)),
        as_of: Some(to_proto(latest.as_of)),
        sequence: latest.sequence,
        token_uid: s.token_uid.clone(),
    }
}

pub fn running_cost(state: &RunningState, latest: &Latest) -> v1::RunningCost {
    v1::RunningCost {
        cost: Some(session_cost_updated(state, latest)),
        lines: latest.lines.iter().map(price_line).collect(),
        r#final: false,
    }
}

/// The final price of a priced session in `RunningCost`'s shape (`final` set), as of its stop.
/// Where it ran (charge point, transaction) and its last reading's sequence come from the running
/// state, when pricing still keeps it.
pub fn final_cost(price: FinalPrice, running: Option<&RunningState>) -> v1::RunningCost {
    let start = running.map(|r| &r.start);
    v1::RunningCost {
        cost: Some(v1::SessionCostUpdated {
            charge_point_id: start.map(|s| s.charge_point_id.clone()).unwrap_or_default(),
            transaction_id: start.map(|s| s.transaction_id.clone()).unwrap_or_default(),
            sequence: running
                .and_then(|r| r.latest.as_ref())
                .map_or(0, |l| l.sequence),
            session_id: price.session_id,
            account_id: price.account_id,
            charger_id: price.charger_id,
            connector_id: price.connector_id,
            tariff_id: price.tariff_id,
            tariff_version: price.tariff_version,
            currency: price.currency,
            energy_wh: decimal(price.energy_wh),
            total_excl_vat: decimal(price.total_excl_vat),
            total_incl_vat: decimal(price.total_incl_vat),
            started_at: Some(to_proto(price.started_at)),
            as_of: Some(to_proto(price.stopped_at)),
            token_uid: price.token_uid,
        }),
        lines: price.lines.iter().map(price_line).collect(),
        r#final: true,
    }
}

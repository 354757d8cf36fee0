//! What happens to each committed pricing event: the `tariffs` and `priced_sessions` read tables are
//! updated, and a priced session is published as `joule.v1.SessionPriced` on stream PRICING.

use joule_bus::{Outgoing, envelope};
use joule_proto::time::to_proto;
use joule_proto::v1;
use joule_store::{BoxFuture, OutboxHandler, ProjectionError, StoredEvent};
use joule_tariff::{PriceBound, PricedSession as Breakdown};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use sqlx::types::Json;

use crate::SCHEMA;
use crate::priced_session::PricedSessionEvent;
use crate::tariff::{Party, Scope, TariffEvent};

pub struct PricingOutbox;

impl OutboxHandler for PricingOutbox {
    fn project<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        event: &'a StoredEvent,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(project(conn, event))
    }

    fn messages(&self, event: &StoredEvent) -> Result<Vec<Outgoing>, String> {
        if event.aggregate_type != "PricedSession" {
            return Ok(vec![]);
        }
        let decoded = event
            .decode::<PricedSessionEvent>()
            .map_err(|e| e.to_string())?;
        match decoded {
            PricedSessionEvent::SessionPriced {
                ref session_id,
                priced_at,
                ..
            } => {
                let message = session_priced_message(&decoded)
                    .ok_or_else(|| format!("session {session_id}: no SessionPriced message"))?;
                Ok(vec![Outgoing {
                    subject: format!("pricing.{session_id}.priced"),
                    envelope: envelope(&message, event.meta(0, priced_at)),
                    trace_headers: event.trace_headers(),
                }])
            }
            PricedSessionEvent::PricingFailed { .. } => Ok(vec![]),
            PricedSessionEvent::SessionRerated(r) => {
                let (delta_excl, delta_incl) = r.delta();
                let message = v1::SessionPriceAdjusted {
                    adjustment_id: r.adjustment_id.clone(),
                    session_id: r.session_id.to_string(),
                    account_id: r.account_id.clone(),
                    charger_id: r.charger_id.clone(),
                    tariff_id: r.tariff_id.to_string(),
                    tariff_version: r.tariff_version,
                    currency: r.currency.clone(),
                    reason: r.reason.clone(),
                    lines: r
                        .reversed_lines
                        .iter()
                        .chain(&r.new_lines)
                        .map(|l| l.to_proto())
                        .collect(),
                    delta_excl_vat: delta_excl.to_string(),
                    delta_incl_vat: delta_incl.to_string(),
                    total_excl_vat: r.total_excl_vat.normalize().to_string(),
                    total_incl_vat: r.total_incl_vat.normalize().to_string(),
                    adjusted_at: Some(to_proto(r.rerated_at)),
                    token_uid: r.token_uid.clone(),
                    rerating_id: r.rerating_id.clone(),
                };
                Ok(vec![Outgoing {
                    subject: format!("pricing.{}.adjusted", r.session_id),
                    envelope: envelope(&message, event.meta(0, r.rerated_at)),
                    trace_headers: event.trace_headers(),
                }])
            }
        }
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
        energy_wh: energy_wh.normalize().to_string(),
        started_at: Some(to_proto(*started_at)),
        stopped_at: Some(to_proto(*stopped_at)),
        lines: wire_lines(breakdown),
        total_excl_vat: breakdown.total_excl_vat.normalize().to_string(),
        total_incl_vat: breakdown.total_incl_vat.normalize().to_string(),
        token_uid: token_uid.clone(),
        charge_point_id: metering.charge_point_id.clone(),
        transaction_id: metering.transaction_id.clone(),
        connector_id: *connector_id,
    })
}

/// The VAT percentage that turns `excl` into `incl`; empty when there is none, or when the amounts
/// are so far apart that it is out of `Decimal`'s range (then no percentage is stated).
fn effective_vat_percent(excl: Decimal, incl: Decimal) -> String {
    if excl.is_zero() {
        return String::new();
    }
    incl.checked_sub(excl)
        .and_then(|vat| vat.checked_mul(Decimal::ONE_HUNDRED))
        .and_then(|vat| vat.checked_div(excl))
        .map(|percent| percent.normalize().to_string())
        .unwrap_or_default()
}

/// The published lines: one per component used, then, when `min_price`/`max_price` moved the total, an
/// adjustment line, then one per extra (idle fee, discount, subscription allowance), so that the lines
/// always add up to the totals. An adjustment's or a mixed-rate extra's VAT percentage is the one that
/// turns its excl.-VAT amount into its incl.-VAT amount, empty when there is none.
pub fn wire_lines(b: &Breakdown) -> Vec<v1::PriceLine> {
    let s = |d: Decimal| d.normalize().to_string();
    let mut lines: Vec<v1::PriceLine> = b
        .lines
        .iter()
        .map(|l| v1::PriceLine {
            dimension: l.dimension.as_str().to_owned(),
            description: l.description.clone(),
            volume: s(l.volume),
            unit: l.unit.as_str().to_owned(),
            unit_price: s(l.unit_price),
            vat_percent: l.vat_percent.map(s).unwrap_or_default(),
            amount_excl_vat: s(l.amount_excl_vat),
            amount_incl_vat: s(l.amount_incl_vat),
        })
        .collect();
    if let Some(limit) = &b.price_limit {
        let bound = limit
            .excl_vat_bound
            .or(limit.incl_vat_bound)
            .unwrap_or(PriceBound::MaxPrice);
        let (dimension, description) = match bound {
            PriceBound::MinPrice => ("MIN_PRICE", "Minimum price of the tariff"),
            PriceBound::MaxPrice => ("MAX_PRICE", "Maximum price of the tariff"),
        };
        let (excl, incl) = (limit.adjustment_excl_vat, limit.adjustment_incl_vat);
        let vat_percent = effective_vat_percent(excl, incl);
        lines.push(v1::PriceLine {
            dimension: dimension.to_owned(),
            description: description.to_owned(),
            volume: "1".to_owned(),
            unit: "session".to_owned(),
            unit_price: s(excl),
            vat_percent,
            amount_excl_vat: s(excl),
            amount_incl_vat: s(incl),
        });
    }
    let effective_vat = effective_vat_percent;
    lines.extend(b.extras.iter().map(|e| {
        v1::PriceLine {
            dimension: e.kind.as_str().to_owned(),
            description: e.description.clone(),
            volume: e.volume.map(s).unwrap_or_else(|| "1".to_owned()),
            unit: e.unit.clone().unwrap_or_else(|| "session".to_owned()),
            unit_price: e.unit_price.map(s).unwrap_or_else(|| s(e.amount_excl_vat)),
            vat_percent: e
                .vat_percent
                .map(s)
                .unwrap_or_else(|| effective_vat(e.amount_excl_vat, e.amount_incl_vat)),
            amount_excl_vat: s(e.amount_excl_vat),
            amount_incl_vat: s(e.amount_incl_vat),
        }
    }));
    lines
}

async fn project_tariff(
    conn: &mut PgConnection,
    event: &StoredEvent,
    tenant_id: &str,
) -> Result<(), ProjectionError> {
    let id = &event.aggregate_id;
    match event.read::<TariffEvent>()? {
        TariffEvent::TariffCreated {
            tariff,
            ocpi_id,
            currency,
            created_at,
        } => {
            let part = |key: &str| {
                tariff
                    .get(key)
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_uppercase()
            };
            sqlx::query(&format!(
                "INSERT INTO {SCHEMA}.tariffs
                     (id, tenant_id, ocpi_id, currency, ocpi_json, created_at, country_code, party_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING"
            ))
            .bind(id)
            .bind(tenant_id)
            .bind(ocpi_id)
            .bind(currency)
            .bind(tariff.to_string())
            .bind(created_at)
            .bind(part("country_code"))
            .bind(part("party_id"))
            .execute(&mut *conn)
            .await?;
            sqlx::query(&format!(
                "INSERT INTO {SCHEMA}.tariff_versions (tariff_id, version, valid_from, ocpi_json, published_at)
                 VALUES ($1, 1, NULL, $2, $3) ON CONFLICT DO NOTHING"
            ))
            .bind(id)
            .bind(tariff.to_string())
            .bind(created_at)
            .execute(&mut *conn)
            .await?;
        }
        TariffEvent::TariffVersionPublished {
            version,
            tariff,
            valid_from,
            published_at,
        } => {
            sqlx::query(&format!(
                "INSERT INTO {SCHEMA}.tariff_versions (tariff_id, version, valid_from, ocpi_json, published_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
            ))
            .bind(id)
            .bind(i32::try_from(version).unwrap_or(i32::MAX))
            .bind(valid_from)
            .bind(tariff.to_string())
            .bind(published_at)
            .execute(&mut *conn)
            .await?;
        }
        TariffEvent::TariffVersionCorrected {
            version,
            tariff,
            reason,
            corrected_at,
        } => {
            sqlx::query(&format!(
                "UPDATE {SCHEMA}.tariff_versions SET ocpi_json = $3, corrected_at = $4, correction_reason = $5
                  WHERE tariff_id = $1 AND version = $2"
            ))
            .bind(id)
            .bind(i32::try_from(version).unwrap_or(i32::MAX))
            .bind(tariff.to_string())
            .bind(corrected_at)
            .bind(reason)
            .execute(&mut *conn)
            .await?;
        }
        TariffEvent::TariffAssigned { scope, assigned_at } => {
            let (scope_type, scope_id, connector) = match scope {
                Scope::Site { site_id } => ("site", site_id, 0),
                Scope::Charger { charger_id } => ("charger", charger_id, 0),
                Scope::Connector {
                    charger_id,
                    connector_id,
                } => ("connector", charger_id, connector_id),
            };
            sqlx::query(&format!(
                "INSERT INTO {SCHEMA}.tariff_assignments (scope_type, scope_id, connector_id, tariff_id, assigned_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (scope_type, scope_id, connector_id) DO UPDATE
                 SET tariff_id = EXCLUDED.tariff_id, assigned_at = EXCLUDED.assigned_at
                 WHERE {SCHEMA}.tariff_assignments.assigned_at <= EXCLUDED.assigned_at"
            ))
            .bind(scope_type)
            .bind(scope_id)
            .bind(i32::try_from(connector).unwrap_or(i32::MAX))
            .bind(id)
            .bind(assigned_at)
            .execute(&mut *conn)
            .await?;
        }
        TariffEvent::TariffContracted {
            party,
            discounts,
            valid_from,
            valid_until,
            contracted_at,
        } => {
            let (party_type, party_id, accounts) = match party {
                Party::Account { account_id } => ("account", account_id.clone(), vec![account_id]),
                Party::Fleet {
                    fleet_id,
                    account_ids,
                } => ("fleet", fleet_id, account_ids),
            };
            sqlx::query(&format!(
                "INSERT INTO {SCHEMA}.tariff_contracts (party_type, party_id, tariff_id, account_ids, discounts,
                     valid_from, valid_until, contracted_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (party_type, party_id) DO UPDATE
                 SET tariff_id = EXCLUDED.tariff_id, account_ids = EXCLUDED.account_ids,
                     discounts = EXCLUDED.discounts, valid_from = EXCLUDED.valid_from,
                     valid_until = EXCLUDED.valid_until, contracted_at = EXCLUDED.contracted_at
                 WHERE {SCHEMA}.tariff_contracts.contracted_at <= EXCLUDED.contracted_at"
            ))
            .bind(party_type)
            .bind(party_id)
            .bind(id)
            .bind(accounts)
            .bind(Json(&discounts))
            .bind(valid_from)
            .bind(valid_until)
            .bind(contracted_at)
            .execute(&mut *conn)
            .await?;
        }
        TariffEvent::TariffRetired { retired_at } => {
            sqlx::query(&format!(
                "UPDATE {SCHEMA}.tariffs SET retired_at = $2 WHERE id = $1 AND retired_at IS NULL"
            ))
            .bind(id)
            .bind(retired_at)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

async fn project(conn: &mut PgConnection, event: &StoredEvent) -> Result<(), ProjectionError> {
    let tenant_id = event.metadata.get("tenant_id").cloned().unwrap_or_default();
    match event.aggregate_type.as_str() {
        "Tariff" => project_tariff(conn, event, &tenant_id).await?,
        "PricedSession" => match event.read::<PricedSessionEvent>()? {
            PricedSessionEvent::SessionPriced {
                session_id,
                charger_id,
                tariff_id,
                account_id,
                token_uid,
                energy_wh,
                started_at,
                stopped_at,
                priced_at,
                breakdown,
                tariff_version,
                tariff_source,
                connector_id,
                metering,
                ..
            } => {
                let lines = crate::priced_session::wire_lines(&breakdown);
                // Kept for bulk re-rating, which prices from this table: the readings shape the
                // curve and the idle time exactly as the first pricing used them.
                let metering = (!metering.samples.is_empty()
                    || metering.charging_ended_at.is_some())
                .then_some(Json(&metering));
                sqlx::query(&format!(
                    "INSERT INTO {SCHEMA}.priced_sessions
                       (session_id, tenant_id, status, charger_id, account_id, token_uid, tariff_id, currency,
                        energy_wh, started_at, stopped_at, total_excl_vat, total_incl_vat, breakdown, recorded_at,
                        tariff_version, tariff_source, connector_id, time_zone,
                        current_total_excl_vat, current_total_incl_vat, current_lines, metering)
                     VALUES ($1, $2, 'priced', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                             $15, $16, $17, $18, $11, $12, $19, $20)
                     ON CONFLICT (session_id) DO NOTHING"
                ))
                .bind(session_id.to_string())
                .bind(&tenant_id)
                .bind(charger_id.to_string())
                .bind(account_id)
                .bind(token_uid)
                .bind(tariff_id.to_string())
                .bind(breakdown.currency.code())
                .bind(energy_wh)
                .bind(started_at)
                .bind(stopped_at)
                .bind(breakdown.total_excl_vat)
                .bind(breakdown.total_incl_vat)
                .bind(Json(&*breakdown))
                .bind(priced_at)
                .bind(i32::try_from(tariff_version).unwrap_or(i32::MAX))
                .bind(tariff_source)
                .bind(i32::try_from(connector_id).unwrap_or(i32::MAX))
                .bind(&breakdown.time_zone)
                .bind(Json(&lines))
                .bind(metering)
                .execute(conn)
                .await?;
            }
            PricedSessionEvent::SessionRerated(r) => {
                let (delta_excl, delta_incl) = r.delta();
                let lines: Vec<_> = r.reversed_lines.iter().chain(&r.new_lines).collect();
                let inserted = sqlx::query(&format!(
                    "INSERT INTO {SCHEMA}.price_adjustments (adjustment_id, session_id, rerating_id, tariff_id,
                         tariff_version, reason, delta_excl_vat, delta_incl_vat, total_excl_vat, total_incl_vat,
                         lines, adjusted_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                     ON CONFLICT (adjustment_id) DO NOTHING"
                ))
                .bind(&r.adjustment_id)
                .bind(r.session_id.to_string())
                .bind(&r.rerating_id)
                .bind(r.tariff_id.to_string())
                .bind(i32::try_from(r.tariff_version).unwrap_or(i32::MAX))
                .bind(&r.reason)
                .bind(delta_excl)
                .bind(delta_incl)
                .bind(r.total_excl_vat)
                .bind(r.total_incl_vat)
                .bind(Json(&lines))
                .bind(r.rerated_at)
                .execute(&mut *conn)
                .await?;
                if inserted.rows_affected() == 1 {
                    sqlx::query(&format!(
                        "UPDATE {SCHEMA}.priced_sessions
                            SET current_total_excl_vat = $2, current_total_incl_vat = $3, current_lines = $4,
                                energy_wh = $5, adjustments = adjustments + 1
                          WHERE session_id = $1"
                    ))
                    .bind(r.session_id.to_string())
                    .bind(r.total_excl_vat)
                    .bind(r.total_incl_vat)
                    .bind(Json(&r.new_lines))
                    .bind(r.energy_wh)
                    .execute(&mut *conn)
                    .await?;
                }
            }
            PricedSessionEvent::PricingFailed {
                session_id,
                charger_id,
                reason,
                failed_at,
            } => {
                sqlx::query(&format!(
                    "INSERT INTO {SCHEMA}.priced_sessions (session_id, tenant_id, status, charger_id, reason, recorded_at)
                     VALUES ($1, $2, 'failed', $3, $4, $5)
                     ON CONFLICT (session_id) DO NOTHING"
                ))
                .bind(session_id.to_string())
                .bind(&tenant_id)
                .bind(charger_id)
                .bind(reason)
                .bind(failed_at)
                .execute(conn)
                .await?;
            }
        },
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use joule_domain::Energy;
    use joule_tariff::{SessionUsage, Tariff, Tz, price_session};
    use rust_decimal_macros::dec;

    fn priced(tariff: &str, kwh: Decimal) -> Breakdown {
        let usage = SessionUsage {
            start: Utc.with_ymd_and_hms(2024, 5, 1, 8, 0, 0).unwrap(),
            end: Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap(),
            energy: Energy::from_kwh(kwh),
            time_zone: Tz::UTC,
            samples: vec![],
            charging_end: None,
        };
        price_session(&Tariff::parse(tariff).unwrap(), &usage).unwrap()
    }

    const CAPPED: &str = r#"{ "id": "c", "currency": "EUR", "max_price": { "excl_vat": 10, "incl_vat": 11 },
      "elements": [{ "price_components": [{ "type": "FLAT", "price": 0.5, "vat": 20, "step_size": 0 },
                                          { "type": "ENERGY", "price": 0.25, "vat": 10, "step_size": 1 }] }] }"#;

    #[test]
    fn lines_carry_the_breakdown_unrounded() {
        let lines = wire_lines(&priced(CAPPED, dec!(30)));
        let energy = &lines[1];
        assert_eq!(
            (
                energy.dimension.as_str(),
                energy.volume.as_str(),
                energy.unit.as_str(),
                energy.unit_price.as_str()
            ),
            ("ENERGY", "30", "kWh", "0.25")
        );
        assert_eq!(
            (
                energy.vat_percent.as_str(),
                energy.amount_excl_vat.as_str(),
                energy.amount_incl_vat.as_str()
            ),
            ("10", "7.5", "8.25")
        );
        assert_eq!(lines.len(), 2);
    }

    #[test]
    fn a_price_limit_becomes_an_adjustment_line_so_lines_add_up_to_the_totals() {
        // 0.50 + 50 kWh * 0.25 = 13.00 (14.35 incl.), capped to 10 (11): adjustment -3 (-3.35).
        let b = priced(CAPPED, dec!(50));
        let lines = wire_lines(&b);
        let adjustment = lines.last().unwrap();
        assert_eq!(adjustment.dimension, "MAX_PRICE");
        assert_eq!(
            (
                adjustment.amount_excl_vat.as_str(),
                adjustment.amount_incl_vat.as_str()
            ),
            ("-3", "-3.35")
        );
        let sum = |f: fn(&v1::PriceLine) -> &str| {
            lines
                .iter()
                .map(|l| f(l).parse::<Decimal>().unwrap())
                .sum::<Decimal>()
        };
        assert_eq!(sum(|l| &l.amount_excl_vat), b.total_excl_vat);
        assert_eq!(sum(|l| &l.amount_incl_vat), b.total_incl_vat);
    }
}

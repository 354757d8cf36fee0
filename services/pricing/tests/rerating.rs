//! Tariff management and re-rating against real PostgreSQL and NATS: versions with validity windows,
//! assignments and contracts choose the tariff, the version in force at the start is recorded, and a
//! correction re-prices sessions as `SessionPriceAdjusted` events carrying the difference.

mod support;

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use joule_domain::{AccountId, ChargerId, SessionId};
use joule_proto::v1::{self, SessionCompleted, SessionPriceAdjusted, SessionPriced};
use joule_testkit::eventually;
use support::Harness;

fn tariff(price: &str) -> String {
    format!(
        r#"{{ "id": "AC-{price}", "currency": "EUR", "elements": [{{ "price_components": [
             {{ "type": "FLAT", "price": 0.50, "vat": 20, "step_size": 0 }},
             {{ "type": "ENERGY", "price": {price}, "vat": 10, "step_size": 1 }} ] }}] }}"#
    )
}

/// A session of `account` on `charger`, two hours from `start`, of `wh` Wh.
fn completed(
    session: SessionId,
    charger: ChargerId,
    account: &str,
    start: DateTime<Utc>,
    wh: &str,
) -> SessionCompleted {
    SessionCompleted {
        session_id: session.to_string(),
        charger_id: charger.to_string(),
        charge_point_id: "CP".into(),
        connector_id: 2,
        transaction_id: "1".into(),
        token_uid: "TAG".into(),
        account_id: account.into(),
        started_at: Some(joule_proto::time::to_proto(start)),
        stopped_at: Some(joule_proto::time::to_proto(
            start + chrono::TimeDelta::hours(2),
        )),
        meter_start_wh: "0".into(),
        meter_stop_wh: wh.into(),
        energy_wh: wh.into(),
        flags: vec![],
        ..Default::default()
    }
}

/// A tariff's Joule id, created.
async fn create(h: &mut Harness, json: &str) -> String {
    h.create_tariff(json).await.expect("tariff created").id
}

#[tokio::test]
async fn versions_assignments_and_contracts_choose_the_price_and_corrections_adjust_it() {
    let mut h = Harness::start().await;
    let default_tariff = create(&mut h, &tariff("0.25")).await;
    let site_tariff = create(&mut h, &tariff("0.30")).await;
    let contract_tariff = create(&mut h, &tariff("0.20")).await;

    // Version 2 of the site tariff from 1 June.
    let june = Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap();
    let v2 = h
        .client
        .publish_tariff_version(v1::PublishTariffVersionRequest {
            tenant_id: String::new(),
            tariff_id: site_tariff.clone(),
            ocpi_json: tariff("0.40"),
            valid_from: Some(joule_proto::time::to_proto(june)),
        })
        .await
        .expect("version published")
        .into_inner();
    assert_eq!(v2.version, 2);
    // A version must start after the latest one.
    let early = h
        .client
        .publish_tariff_version(v1::PublishTariffVersionRequest {
            tenant_id: String::new(),
            tariff_id: site_tariff.clone(),
            ocpi_json: tariff("0.50"),
            valid_from: Some(joule_proto::time::to_proto(
                june - chrono::TimeDelta::days(1),
            )),
        })
        .await
        .unwrap_err();
    assert_eq!(early.code(), tonic::Code::FailedPrecondition, "{early}");

    h.client
        .assign_tariff(v1::AssignTariffRequest {
            tenant_id: String::new(),
            tariff_id: site_tariff.clone(),
            scope: "site".into(),
            scope_id: "site-1".into(),
            connector_id: 0,
        })
        .await
        .expect("assigned");
    let member = AccountId::new().to_string();
    h.client
        .set_contract(v1::SetContractRequest {
            tenant_id: String::new(),
            tariff_id: contract_tariff.clone(),
            party_type: "fleet".into(),
            party_id: "fleet-9".into(),
            account_ids: vec![member.clone()],
            discounts_json: r#"[{"id":"fleet10","description":"Fleet","scope":{"type":"ALL"},"value":{"type":"PERCENT","value":"10"}}]"#.into(),
            valid_from: None,
            valid_until: None,
        })
        .await
        .expect("contract set");

    let charger = ChargerId::new();
    h.register_charger(charger, "site-1", &default_tariff, "Europe/Berlin")
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // May: the site's version 1 (0.30): 0.50 + 20 * 0.30 = 6.50. June: version 2 (0.40): 8.50.
    // A fleet member in June: the contract tariff (0.20) with 10 % off: 4.50 * 0.9 = 4.05.
    let (may, june_s, fleet) = (SessionId::new(), SessionId::new(), SessionId::new());
    let someone = AccountId::new().to_string();
    h.complete_session(&completed(
        may,
        charger,
        &someone,
        Utc.with_ymd_and_hms(2024, 5, 20, 8, 0, 0).unwrap(),
        "20000",
    ))
    .await;
    h.complete_session(&completed(
        june_s,
        charger,
        &someone,
        Utc.with_ymd_and_hms(2024, 6, 20, 8, 0, 0).unwrap(),
        "20000",
    ))
    .await;
    h.complete_session(&completed(
        fleet,
        charger,
        &member,
        Utc.with_ymd_and_hms(2024, 6, 21, 8, 0, 0).unwrap(),
        "20000",
    ))
    .await;
    let may_priced = h.wait::<SessionPriced>(may, 1).await.remove(0);
    let june_priced = h.wait::<SessionPriced>(june_s, 1).await.remove(0);
    let fleet_priced = h.wait::<SessionPriced>(fleet, 1).await.remove(0);
    assert_eq!(
        (
            may_priced.total_excl_vat.as_str(),
            may_priced.tariff_version,
            may_priced.tariff_source.as_str()
        ),
        ("6.5", 1, "site")
    );
    assert_eq!(
        (
            june_priced.total_excl_vat.as_str(),
            june_priced.tariff_version
        ),
        ("8.5", 2)
    );
    assert_eq!(
        (
            fleet_priced.total_excl_vat.as_str(),
            fleet_priced.tariff_source.as_str(),
            fleet_priced.tariff_id.as_str()
        ),
        ("4.05", "fleet_contract", contract_tariff.as_str())
    );

    // Version 1 of the site tariff had a typo: 0.30 should have been 0.28. Correct it, re-rate.
    h.client
        .correct_tariff_version(v1::CorrectTariffVersionRequest {
            tenant_id: String::new(),
            tariff_id: site_tariff.clone(),
            version: 1,
            ocpi_json: tariff("0.28"),
            reason: "price typo".into(),
        })
        .await
        .expect("corrected");
    let run = h.rerate_tariff(&site_tariff, "tariff correction").await;
    // Both sessions of the site tariff were examined; only May's (version 1) changed.
    assert_eq!((run.sessions_examined, run.sessions_adjusted), (2, 1));
    let adjusted = h.wait::<SessionPriceAdjusted>(may, 1).await.remove(0);
    // 20 kWh * -0.02 = -0.40 (-0.44 incl. 10 % VAT); the lines reverse the old ones and add the new.
    assert_eq!(
        (
            adjusted.delta_excl_vat.as_str(),
            adjusted.delta_incl_vat.as_str(),
            adjusted.total_excl_vat.as_str()
        ),
        ("-0.4", "-0.44", "6.1")
    );
    let sum: rust_decimal::Decimal = adjusted
        .lines
        .iter()
        .map(|l| l.amount_excl_vat.parse::<rust_decimal::Decimal>().unwrap())
        .sum();
    assert_eq!(sum, rust_decimal::Decimal::new(-4, 1));
    assert_eq!(adjusted.account_id, someone);
    assert!(h.messages::<SessionPriceAdjusted>(june_s).await.is_empty());

    // A meter correction of the June session: 22 kWh instead of 20, at 0.40: +0.80.
    let meter = h
        .client
        .rerate(v1::RerateRequest {
            tenant_id: String::new(),
            tariff_id: String::new(),
            from: None,
            until: None,
            session_ids: vec![june_s.to_string()],
            corrected_energy_wh: "22000".into(),
            reason: "meter correction".into(),
        })
        .await
        .expect("meter corrected")
        .into_inner();
    assert_eq!(meter.sessions_adjusted, 1);
    let corrected = h.wait::<SessionPriceAdjusted>(june_s, 1).await.remove(0);
    assert_eq!(corrected.delta_excl_vat, "0.8");

    // The breakdown of a session shows the first price and every adjustment since.
    let view = eventually("the adjustment is projected", || {
        let mut client = h.client.clone();
        async move {
            let v = client
                .get_priced_session(v1::GetPricedSessionRequest {
                    tenant_id: String::new(),
                    session_id: may.to_string(),
                })
                .await
                .expect("view")
                .into_inner();
            (!v.adjustments.is_empty()).then_some(v)
        }
    })
    .await;
    assert_eq!(
        (view.total_excl_vat.as_str(), view.tariff_version),
        ("6.1", 1)
    );
    assert_eq!(view.adjustments[0].reason, "tariff correction");
    assert!(view.priced.unwrap().breakdown_json.contains("\"lines\""));

    // Quotes price a planned session with the version in force at its start.
    let quote = h
        .client
        .quote(v1::QuoteRequest {
            tenant_id: String::new(),
            tariff_id: site_tariff.clone(),
            start: Some(joule_proto::time::to_proto(
                june + chrono::TimeDelta::days(3),
            )),
            energy_kwh: "30".into(),
            power_kw: "50".into(),
            parking_minutes: 0,
            time_zone: "Europe/Berlin".into(),
        })
        .await
        .expect("quote")
        .into_inner();
    assert_eq!(quote.tariff_version, 2);
    let totals: serde_json::Value = serde_json::from_str(&quote.totals_json).unwrap();
    assert_eq!(totals["total_cost"]["excl_vat"], "12.5");
}

/// Charging at 1.00/h and parking at 2.00/h, both with a 5-minute step (the mod_cdrs step_size
/// example's tariff), no VAT stated.
const TIME_AND_PARKING_STEPS: &str = r#"{ "id": "TP", "currency": "EUR", "elements": [{ "price_components": [
     { "type": "TIME", "price": 1.00, "step_size": 300 },
     { "type": "PARKING_TIME", "price": 2.00, "step_size": 300 } ] }] }"#;

#[tokio::test]
async fn a_session_priced_under_adr_018_is_re_rated_to_the_current_step_rule_with_an_adjustment() {
    use joule_pricing::priced_session::{Metering, PricedSessionEvent};
    use joule_tariff::{Dimension, SessionUsage, Tariff, Tz, price_session};
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;

    let mut h = Harness::start().await;
    let tariff_id = create(&mut h, TIME_AND_PARKING_STEPS).await;
    let charger = ChargerId::new();
    h.register_charger(charger, "site-1", &tariff_id, "Europe/Berlin")
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // mod_cdrs, step_size: 21 minutes of charging, then 16 parked. Priced now: the charging time as
    // measured (0.35) and the parking rounded up to 20 minutes (0.6667).
    let start = Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap();
    let charging_end = start + chrono::TimeDelta::minutes(21);
    let stop = start + chrono::TimeDelta::minutes(37);
    let current = SessionId::new();
    let m = SessionCompleted {
        session_id: current.to_string(),
        charger_id: charger.to_string(),
        charge_point_id: "CP".into(),
        connector_id: 1,
        transaction_id: "1".into(),
        token_uid: "TAG".into(),
        started_at: Some(joule_proto::time::to_proto(start)),
        stopped_at: Some(joule_proto::time::to_proto(stop)),
        meter_start_wh: "0".into(),
        meter_stop_wh: "3000".into(),
        energy_wh: "3000".into(),
        charging_ended_at: Some(joule_proto::time::to_proto(charging_end)),
        ..Default::default()
    };
    h.publish(
        format!("session.{current}.completed"),
        &current.to_string(),
        &m,
    )
    .await;
    let priced = h.wait::<SessionPriced>(current, 1).await.remove(0);
    let now_rule = dec!(0.35) + dec!(2) * dec!(1200) / dec!(3600);
    assert_eq!(
        priced
            .total_excl_vat
            .parse::<Decimal>()
            .unwrap()
            .round_dp(6),
        now_rule.round_dp(6)
    );

    // The same session as the release before ADR 021 stored it (ADR 018): the charging time rounded
    // too, 21 minutes billed as 25 (0.4167), the parking as 20 minutes.
    let legacy = SessionId::new();
    let usage = SessionUsage {
        start,
        end: stop,
        energy: joule_domain::Energy::from_wh(dec!(3000)),
        time_zone: Tz::UTC,
        samples: vec![],
        charging_end: Some(charging_end),
    };
    let mut breakdown =
        price_session(&Tariff::parse(TIME_AND_PARKING_STEPS).unwrap(), &usage).expect("prices");
    let added = dec!(4) / dec!(60);
    for line in breakdown
        .lines
        .iter_mut()
        .filter(|l| l.dimension == Dimension::Time)
    {
        line.volume += added;
        line.amount_excl_vat += added;
        line.amount_incl_vat += added;
    }
    for total in breakdown
        .dimensions
        .iter_mut()
        .filter(|d| d.dimension == Dimension::Time)
    {
        total.billed += added;
        total.step_size = Some(300);
        total.amount_excl_vat += added;
        total.amount_incl_vat += added;
    }
    for amount in [
        &mut breakdown.subtotal_excl_vat,
        &mut breakdown.subtotal_incl_vat,
        &mut breakdown.total_excl_vat,
        &mut breakdown.total_incl_vat,
    ] {
        *amount += added;
    }
    let old_total = breakdown.total_excl_vat;
    let event = PricedSessionEvent::SessionPriced {
        session_id: legacy,
        charger_id: charger,
        tariff_id: tariff_id.parse().unwrap(),
        account_id: String::new(),
        token_uid: "TAG".into(),
        energy_wh: dec!(3000),
        started_at: start,
        stopped_at: stop,
        priced_at: stop,
        breakdown: Box::new(breakdown),
        tariff_version: 1,
        tariff_source: "charger".into(),
        connector_id: 1,
        metering: Metering {
            charge_point_id: "CP".into(),
            transaction_id: "2".into(),
            samples: vec![],
            charging_ended_at: Some(charging_end),
        },
    };
    let pool = h.env.pool().await;
    sqlx::query(
        "INSERT INTO pricing.events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('PricedSession', $1, 1, 'SessionPriced', '1.0', $2::json, '{\"tenant_id\":\"default\"}'::json)",
    )
    .bind(legacy.to_string())
    .bind(serde_json::to_string(&event).unwrap())
    .execute(&pool)
    .await
    .expect("legacy price stored");
    // The relay projects and publishes it like any other.
    h.wait::<SessionPriced>(legacy, 1).await;

    // The upgrade note's step: re-rate the tariff. Only the legacy session changes.
    let run = h
        .rerate_tariff(&tariff_id, "OCPI 2.2.1 step_size with parking (ADR 021)")
        .await;
    assert_eq!((run.sessions_examined, run.sessions_adjusted), (2, 1));
    let adjusted = h.wait::<SessionPriceAdjusted>(legacy, 1).await.remove(0);
    let delta: Decimal = adjusted.delta_excl_vat.parse().unwrap();
    assert_eq!(delta.round_dp(6), (-added).round_dp(6));
    assert_eq!(
        adjusted
            .total_excl_vat
            .parse::<Decimal>()
            .unwrap()
            .round_dp(6),
        now_rule.round_dp(6)
    );
    assert_eq!((old_total - added).round_dp(6), now_rule.round_dp(6));
    assert!(h.messages::<SessionPriceAdjusted>(current).await.is_empty());
}

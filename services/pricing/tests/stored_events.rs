//! Events stored in older shapes, against real PostgreSQL and NATS: a `SessionPriced` and a
//! `SessionRerated` as version 1.0 stored them are published by the relay and loaded by the
//! `PricedSession` aggregate in their current shape (`priced_session::UPCASTERS`).

mod support;

use chrono::{TimeZone, Utc};
use joule_domain::{ChargerId, Energy, SessionId};
use joule_proto::v1::{self, SessionPriceAdjusted, SessionPriced};
use joule_tariff::{SessionUsage, Tariff, Tz, price_session};
use joule_testkit::eventually;
use serde_json::json;
use support::Harness;

const TARIFF: &str = r#"{ "id": "OLD-SHAPES", "currency": "EUR", "elements": [{ "price_components": [
     { "type": "FLAT", "price": 0.50, "vat": 20, "step_size": 0 },
     { "type": "ENERGY", "price": 0.25, "vat": 10, "step_size": 1 } ] }] }"#;

async fn store(
    h: &Harness,
    session: SessionId,
    sequence: i64,
    version: &str,
    payload: serde_json::Value,
) {
    let event_type = payload
        .as_object()
        .and_then(|o| o.keys().next().cloned())
        .expect("{\"<Variant>\": {...}}");
    sqlx::query(
        "INSERT INTO pricing.events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('PricedSession', $1, $2, $3, $4, $5, '{\"tenant_id\":\"default\"}'::json)",
    )
    .bind(session.to_string())
    .bind(sequence)
    .bind(event_type)
    .bind(version)
    .bind(payload)
    .execute(&h.pool)
    .await
    .expect("event stored");
}

#[tokio::test]
async fn events_stored_at_version_1_0_are_published_and_loaded_in_their_current_shape() {
    let mut h = Harness::start().await;
    let tariff_id = h.create_tariff(TARIFF).await.expect("tariff created").id;
    let (session, charger) = (SessionId::new(), ChargerId::new());
    let start = Utc.with_ymd_and_hms(2025, 4, 1, 8, 0, 0).unwrap();
    let stop = start + chrono::TimeDelta::hours(2);
    // 0.50 + 20 kWh at 0.25 = 5.50 (6.10 incl.).
    let usage = SessionUsage {
        start,
        end: stop,
        energy: Energy::from_kwh(rust_decimal::Decimal::from(20)),
        time_zone: Tz::UTC,
        samples: vec![],
        charging_end: None,
    };
    let breakdown = price_session(&Tariff::parse(TARIFF).unwrap(), &usage).expect("prices");

    // SessionPriced as the first release stored it: no tariff_version, tariff_source,
    // connector_id or metering.
    let priced = json!({"SessionPriced": {
        "session_id": session.to_string(),
        "charger_id": charger.to_string(),
        "tariff_id": tariff_id,
        "account_id": "",
        "token_uid": "TAG",
        "energy_wh": "20000",
        "started_at": start,
        "stopped_at": stop,
        "priced_at": stop,
        "breakdown": breakdown,
    }});
    store(&h, session, 1, "1.0", priced).await;
    let (_, published) = h
        .wait_published::<SessionPriced>(session, 1)
        .await
        .remove(0);
    assert_eq!(
        (
            published.total_excl_vat.as_str(),
            published.tariff_version,
            published.tariff_source.as_str(),
            published.connector_id,
            published.charge_point_id.as_str()
        ),
        ("5.5", 0, "", 0, "")
    );

    // SessionRerated 1.0: decimals beside one currency (a correction to 0.20: 4.50, 5.00 incl.).
    let rerated = json!({"SessionRerated": {
        "adjustment_id": format!("r1/{session}"),
        "rerating_id": "r1",
        "session_id": session.to_string(),
        "account_id": "",
        "charger_id": charger.to_string(),
        "token_uid": "TAG",
        "currency": "EUR",
        "tariff_id": tariff_id,
        "tariff_version": 1,
        "reason": "price typo",
        "energy_wh": "20000",
        "previous_total_excl_vat": "5.5",
        "previous_total_incl_vat": "6.1",
        "total_excl_vat": "4.5",
        "total_incl_vat": "5.0",
        "reversed_lines": [],
        "new_lines": [],
        "rerated_at": stop + chrono::TimeDelta::days(1),
    }});
    store(&h, session, 2, "1.0", rerated).await;
    let adjusted = h.wait::<SessionPriceAdjusted>(session, 1).await.remove(0);
    assert_eq!(
        (
            adjusted.currency.as_str(),
            adjusted.delta_excl_vat.as_str(),
            adjusted.total_excl_vat.as_str()
        ),
        ("EUR", "-1", "4.5")
    );
    // Projected as well: the current price is the adjusted one.
    eventually("the adjustment is projected", || {
        let mut client = h.client.clone();
        async move {
            let view = client
                .get_priced_session(v1::GetPricedSessionRequest {
                    tenant_id: String::new(),
                    session_id: session.to_string(),
                })
                .await
                .ok()?
                .into_inner();
            (view.total_excl_vat == "4.5").then_some(())
        }
    })
    .await;

    // A meter correction goes through the aggregate, which loads both old events: 22 kWh at 0.25
    // is 6.00 (6.65 incl.), 1.50 more than the price the old re-rating left.
    let run = h
        .client
        .rerate(v1::RerateRequest {
            session_ids: vec![session.to_string()],
            corrected_energy_wh: "22000".into(),
            reason: "meter correction".into(),
            ..Default::default()
        })
        .await
        .expect("the aggregate loads its old events")
        .into_inner();
    assert_eq!((run.sessions_examined, run.sessions_adjusted), (1, 1));
    let corrected = h.wait::<SessionPriceAdjusted>(session, 2).await.remove(1);
    assert_eq!(
        (
            corrected.delta_excl_vat.as_str(),
            corrected.delta_incl_vat.as_str(),
            corrected.total_excl_vat.as_str(),
            corrected.currency.as_str()
        ),
        ("1.5", "1.65", "6", "EUR")
    );
    let version: String = sqlx::query_scalar(
        "SELECT event_version FROM pricing.events WHERE aggregate_id = $1 AND sequence = 3",
    )
    .bind(session.to_string())
    .fetch_one(&h.pool)
    .await
    .unwrap();
    assert_eq!(version, "2.0");
}

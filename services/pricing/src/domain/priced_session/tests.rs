//! Given/when/then of the priced session, the published lines, and events stored in older shapes.

use chrono::TimeZone;
use cqrs_es::test::TestFramework;
use joule_domain::{Currency, TariffId};
use joule_store::Decided;
use rust_decimal_macros::dec;
use serde_json::json;

use super::*;

type PricedSessions = TestFramework<Decided<PricedSession>>;

fn tariff() -> Box<joule_tariff::Tariff> {
    Box::new(
        joule_tariff::Tariff::parse(
            r#"{ "id": "T", "currency": "EUR", "elements": [{ "price_components": [
                 { "type": "FLAT", "price": 0.50, "vat": 20, "step_size": 0 },
                 { "type": "ENERGY", "price": 0.25, "vat": 10, "step_size": 1 }] }] }"#,
        )
        .unwrap(),
    )
}

fn session() -> SessionFacts {
    SessionFacts {
        session_id: SessionId::derived("cp-1/7"),
        charger_id: ChargerId::derived("cp-1"),
        account_id: "acct".into(),
        token_uid: "TAG1".into(),
        started_at: Utc.with_ymd_and_hms(2024, 5, 1, 8, 0, 0).unwrap(),
        stopped_at: Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap(),
        energy_wh: dec!(20000),
        metering: Metering::default(),
    }
}

fn pricing(tariff: Box<joule_tariff::Tariff>) -> Pricing {
    Pricing {
        tariff_id: TariffId::derived("t"),
        tariff_version: 1,
        tariff_source: "charger".into(),
        tariff,
        discounts: vec![],
    }
}

fn price_command(time_zone: &str) -> PricedSessionCommand {
    PricedSessionCommand::PriceSession {
        session: session(),
        charger_id: ChargerId::derived("cp-1"),
        connector_id: 1,
        pricing: pricing(tariff()),
        time_zone: time_zone.into(),
        priced_at: Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 5).unwrap(),
    }
}

fn rerate_command(id: &str, price: &str, energy: Option<Decimal>) -> PricedSessionCommand {
    let t = joule_tariff::Tariff::parse(&format!(
        r#"{{ "id": "T", "currency": "EUR", "elements": [{{ "price_components": [
             {{ "type": "FLAT", "price": 0.50, "vat": 20, "step_size": 0 }},
             {{ "type": "ENERGY", "price": {price}, "vat": 10, "step_size": 1 }}] }}] }}"#
    ))
    .unwrap();
    let mut p = pricing(Box::new(t));
    p.tariff_version = 2;
    PricedSessionCommand::Rerate {
        rerating_id: id.into(),
        pricing: p,
        corrected_energy_wh: energy,
        reason: "price typo".into(),
        rerated_at: Utc.with_ymd_and_hms(2024, 5, 2, 9, 0, 0).unwrap(),
    }
}

#[test]
fn rerating_appends_the_difference_and_applies_once() {
    let events = PricedSessions::with(())
        .given(vec![priced_event()])
        .when(rerate_command("r1", "0.20", None))
        .inspect_result()
        .unwrap();
    let [PricedSessionEvent::SessionRerated(r)] = &events[..] else {
        panic!("{events:?}");
    };
    // Was 0.50 + 20 * 0.25 = 5.50 (6.10); now 0.50 + 20 * 0.20 = 4.50 (5.00).
    assert_eq!(r.delta(), (dec!(-1), dec!(-1.1)));
    assert_eq!(r.tariff_version, 2);
    assert_eq!(r.reversed_lines.len(), 2);
    assert_eq!(r.reversed_lines[1].amount_excl_vat, "-5");
    assert_eq!(r.new_lines[1].amount_excl_vat, "4");
    let sum: Decimal = r
        .reversed_lines
        .iter()
        .chain(&r.new_lines)
        .map(|l| l.amount_excl_vat.parse::<Decimal>().unwrap())
        .sum();
    assert_eq!(sum, dec!(-1));
    PricedSessions::with(())
        .given(vec![priced_event(), events[0].clone()])
        .when(rerate_command("r1", "0.10", None))
        .then_expect_events(vec![]);
    // The same price again: nothing to adjust.
    PricedSessions::with(())
        .given(vec![priced_event()])
        .when(rerate_command("r2", "0.25", None))
        .then_expect_events(vec![]);
}

#[test]
fn a_meter_correction_reprices_the_corrected_energy() {
    let events = PricedSessions::with(())
        .given(vec![priced_event()])
        .when(rerate_command("m1", "0.25", Some(dec!(24000))))
        .inspect_result()
        .unwrap();
    let [PricedSessionEvent::SessionRerated(r)] = &events[..] else {
        panic!("{events:?}");
    };
    // 4 kWh more at 0.25: +1.00 (+1.10).
    assert_eq!(
        (r.energy_wh, r.delta()),
        (dec!(24000), (dec!(1), dec!(1.1)))
    );
}

fn priced_event() -> PricedSessionEvent {
    let events = PricedSessions::with(())
        .given_no_previous_events()
        .when(price_command("Europe/Amsterdam"))
        .inspect_result()
        .unwrap();
    events.into_iter().next().unwrap()
}

#[test]
fn pricing_a_session_records_its_breakdown() {
    // 0.50 start fee (20 %) + 20 kWh at 0.25 (10 %): 5.50 excl, 6.10 incl.
    let PricedSessionEvent::SessionPriced {
        session_id,
        tariff_id,
        account_id,
        energy_wh,
        breakdown,
        ..
    } = priced_event()
    else {
        panic!("expected SessionPriced");
    };
    assert_eq!(session_id, SessionId::derived("cp-1/7"));
    assert_eq!(tariff_id, TariffId::derived("t"));
    assert_eq!((account_id.as_str(), energy_wh), ("acct", dec!(20000)));
    assert_eq!(
        (breakdown.total_excl_vat, breakdown.total_incl_vat),
        (dec!(5.5), dec!(6.1))
    );
    assert_eq!(breakdown.time_zone, "Europe/Amsterdam");
    assert_eq!(breakdown.lines.len(), 2);
}

#[test]
fn readings_and_the_end_of_charging_are_priced_and_kept_for_re_rating() {
    let idle = |energy_price: &str| {
        Box::new(
            joule_tariff::Tariff::parse(&format!(
                r#"{{ "id": "I", "currency": "EUR",
                 "elements": [{{ "price_components": [{{ "type": "ENERGY", "price": {energy_price}, "vat": 20, "step_size": 1 }}] }}],
                 "joule": {{ "idle_fee": {{ "price_per_hour": 12, "vat": 20, "grace_period_seconds": 600, "step_size": 60 }} }} }}"#
            ))
            .unwrap(),
        )
    };
    let at = |h, m| Utc.with_ymd_and_hms(2024, 5, 1, h, m, 0).unwrap();
    let mut facts = session();
    facts.stopped_at = at(9, 40);
    facts.metering = Metering {
        charge_point_id: "CP-1".into(),
        transaction_id: "7".into(),
        samples: vec![
            Sample {
                at: at(8, 0),
                register_wh: dec!(1000),
            },
            Sample {
                at: at(9, 0),
                register_wh: dec!(21000),
            },
        ],
        charging_ended_at: Some(at(9, 0)),
    };
    let events = PricedSessions::with(())
        .given_no_previous_events()
        .when(PricedSessionCommand::PriceSession {
            session: facts,
            charger_id: ChargerId::derived("cp-1"),
            connector_id: 1,
            pricing: pricing(idle("0.30")),
            time_zone: "UTC".into(),
            priced_at: at(9, 41),
        })
        .inspect_result()
        .unwrap();
    // 20 kWh at 0.30 = 6.00; 40 min idle - 10 min grace = 30 min at 12/h = 6.00.
    let [PricedSessionEvent::SessionPriced { breakdown, .. }] = &events[..] else {
        panic!("{events:?}");
    };
    assert_eq!(breakdown.total_excl_vat, dec!(12));
    // A re-rating of the energy price keeps the idle fee: it prices the same readings.
    let mut p = pricing(idle("0.20"));
    p.tariff_version = 2;
    let rerated = PricedSessions::with(())
        .given(events)
        .when(PricedSessionCommand::Rerate {
            rerating_id: "r".into(),
            pricing: p,
            corrected_energy_wh: None,
            reason: "energy price".into(),
            rerated_at: at(12, 0),
        })
        .inspect_result()
        .unwrap();
    let [PricedSessionEvent::SessionRerated(r)] = &rerated[..] else {
        panic!("{rerated:?}");
    };
    assert_eq!(r.total_excl_vat.amount, dec!(10), "4.00 energy + 6.00 idle");
}

#[test]
fn an_already_priced_session_emits_nothing() {
    PricedSessions::with(())
        .given(vec![priced_event()])
        .when(price_command("Europe/Amsterdam"))
        .then_expect_events(vec![]);
}

#[test]
fn a_failed_session_stays_failed() {
    let failed = PricedSessionEvent::PricingFailed {
        session_id: SessionId::derived("cp-1/7"),
        charger_id: "c".into(),
        reason: "no tariff".into(),
        failed_at: Utc.with_ymd_and_hms(2024, 5, 1, 11, 0, 0).unwrap(),
    };
    PricedSessions::with(())
        .given(vec![failed])
        .when(price_command("Europe/Amsterdam"))
        .then_expect_events(vec![]);
}

#[test]
fn an_unusable_time_zone_or_session_fails_pricing_with_the_reason() {
    let at = Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 5).unwrap();
    PricedSessions::with(())
        .given_no_previous_events()
        .when(price_command("Mars/Olympus"))
        .then_expect_events(vec![PricedSessionEvent::PricingFailed {
            session_id: SessionId::derived("cp-1/7"),
            charger_id: ChargerId::derived("cp-1").to_string(),
            reason: format!(
                "charger {} has no valid time zone: \"Mars/Olympus\"",
                ChargerId::derived("cp-1")
            ),
            failed_at: at,
        }]);

    let PricedSessionCommand::PriceSession {
        mut session,
        charger_id,
        connector_id,
        pricing,
        time_zone,
        priced_at,
    } = price_command("UTC")
    else {
        unreachable!()
    };
    session.energy_wh = dec!(-5);
    let events = PricedSessions::with(())
        .given_no_previous_events()
        .when(PricedSessionCommand::PriceSession {
            session,
            charger_id,
            connector_id,
            pricing,
            time_zone,
            priced_at,
        })
        .inspect_result()
        .unwrap();
    assert!(
        matches!(&events[..], [PricedSessionEvent::PricingFailed { reason, .. }] if reason.contains("must not be negative")),
        "{events:?}"
    );
}

#[test]
fn failing_pricing_records_the_reason_once() {
    let at = Utc.with_ymd_and_hms(2024, 5, 1, 11, 0, 0).unwrap();
    let fail = PricedSessionCommand::FailPricing {
        session_id: SessionId::derived("cp-1/7"),
        charger_id: "c".into(),
        reason: "charger c is not registered".into(),
        failed_at: at,
    };
    let failed = PricedSessionEvent::PricingFailed {
        session_id: SessionId::derived("cp-1/7"),
        charger_id: "c".into(),
        reason: "charger c is not registered".into(),
        failed_at: at,
    };
    PricedSessions::with(())
        .given_no_previous_events()
        .when(fail.clone())
        .then_expect_events(vec![failed.clone()]);
    PricedSessions::with(())
        .given(vec![failed])
        .when(fail)
        .then_expect_events(vec![]);
}

fn priced(tariff: &str, kwh: Decimal) -> joule_tariff::PricedSession {
    let usage = joule_tariff::SessionUsage {
        start: Utc.with_ymd_and_hms(2024, 5, 1, 8, 0, 0).unwrap(),
        end: Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap(),
        energy: joule_domain::Energy::from_kwh(kwh),
        time_zone: joule_tariff::Tz::UTC,
        samples: vec![],
        charging_end: None,
    };
    joule_tariff::price_session(&joule_tariff::Tariff::parse(tariff).unwrap(), &usage).unwrap()
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
    let sum = |f: fn(&WireLine) -> &str| {
        lines
            .iter()
            .map(|l| f(l).parse::<Decimal>().unwrap())
            .sum::<Decimal>()
    };
    assert_eq!(sum(|l| &l.amount_excl_vat), b.total_excl_vat);
    assert_eq!(sum(|l| &l.amount_incl_vat), b.total_incl_vat);
}

/// A stored payload of `event_type` at `version` as the current code reads it.
fn read(event_type: &str, version: &str, payload: serde_json::Value) -> PricedSessionEvent {
    let (payload, upcast_to) = joule_store::upcast::upcast(UPCASTERS, event_type, version, payload);
    let event: PricedSessionEvent = serde_json::from_value(payload).expect("reads");
    assert_eq!(upcast_to, cqrs_es::DomainEvent::event_version(&event));
    event
}

#[test]
fn a_session_priced_at_version_1_0_without_the_later_fields_reads_with_their_defaults() {
    let PricedSessionEvent::SessionPriced { breakdown, .. } = priced_event() else {
        unreachable!()
    };
    // As the first release stored it: no tariff_version, tariff_source, connector_id, metering.
    let stored = json!({"SessionPriced": {
        "session_id": SessionId::derived("cp-1/7").to_string(),
        "charger_id": ChargerId::derived("cp-1").to_string(),
        "tariff_id": TariffId::derived("t").to_string(),
        "account_id": "acct",
        "token_uid": "TAG1",
        "energy_wh": "20000",
        "started_at": "2024-05-01T08:00:00Z",
        "stopped_at": "2024-05-01T10:00:00Z",
        "priced_at": "2024-05-01T10:00:05Z",
        "breakdown": breakdown,
    }});
    let PricedSessionEvent::SessionPriced {
        session_id,
        charger_id,
        tariff_version,
        tariff_source,
        connector_id,
        metering,
        ..
    } = read("SessionPriced", "1.0", stored)
    else {
        panic!("not SessionPriced");
    };
    assert_eq!(session_id, SessionId::derived("cp-1/7"));
    assert_eq!(charger_id, ChargerId::derived("cp-1"));
    assert_eq!(
        (
            tariff_version,
            tariff_source.as_str(),
            connector_id,
            metering
        ),
        (0, "", 0, Metering::default())
    );
}

#[test]
fn a_rerating_stored_at_version_1_0_reads_its_totals_as_money_and_ids_keep_their_strings() {
    let stored = json!({"SessionRerated": {
        "adjustment_id": "r1/s", "rerating_id": "r1",
        "session_id": SessionId::derived("cp-1/7").to_string(),
        "account_id": "acct",
        "charger_id": ChargerId::derived("cp-1").to_string(),
        "token_uid": "TAG1",
        "currency": "EUR",
        "tariff_id": TariffId::derived("t").to_string(),
        "tariff_version": 2,
        "reason": "price typo",
        "energy_wh": "20000",
        "previous_total_excl_vat": "5.5", "previous_total_incl_vat": "6.1",
        "total_excl_vat": "4.5", "total_incl_vat": "5",
        "reversed_lines": [], "new_lines": [],
        "rerated_at": "2024-05-02T09:00:00Z",
    }});
    let PricedSessionEvent::SessionRerated(r) = read("SessionRerated", "1.0", stored.clone())
    else {
        panic!("not SessionRerated");
    };
    let eur = |amount| Money::new(amount, Currency::EUR);
    assert_eq!(
        (r.previous_total_excl_vat, r.previous_total_incl_vat),
        (eur(dec!(5.5)), eur(dec!(6.1)))
    );
    assert_eq!(
        (r.total_excl_vat, r.total_incl_vat),
        (eur(dec!(4.5)), eur(dec!(5)))
    );
    assert_eq!(
        (r.currency(), r.delta()),
        (Currency::EUR, (dec!(-1), dec!(-1.1)))
    );
    assert_eq!(r.charger_id, ChargerId::derived("cp-1"));
    // Written back, the ids are the strings they were; the totals carry their currency.
    let written = serde_json::to_value(PricedSessionEvent::SessionRerated(r)).unwrap();
    for id in ["session_id", "charger_id", "tariff_id"] {
        assert_eq!(written["SessionRerated"][id], stored["SessionRerated"][id]);
    }
    assert_eq!(
        written["SessionRerated"]["total_incl_vat"],
        json!({"amount": "5", "currency": "EUR"})
    );
}

#[test]
fn events_in_the_current_shape_pass_the_upcasters_unchanged() {
    let event = priced_event();
    let stored = serde_json::to_value(&event).unwrap();
    assert_eq!(read("SessionPriced", "1.1", stored), event);
    let rerated = PricedSessions::with(())
        .given(vec![event])
        .when(rerate_command("r1", "0.20", None))
        .inspect_result()
        .unwrap()
        .remove(0);
    let stored = serde_json::to_value(&rerated).unwrap();
    assert_eq!(read("SessionRerated", "2.0", stored), rerated);
}

//! The pricing service against real PostgreSQL and NATS: tariffs over gRPC, charger registrations and
//! completed sessions in, `SessionPriced` out.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use joule_bus::{Domain, decode_payload};
use joule_domain::{ChargerId, SessionId};
use joule_proto::EventName;
use joule_proto::v1::tariff_service_client::TariffServiceClient;
use joule_proto::v1::{self, SessionCompleted, SessionPriceAdjusted, SessionPriced};
use joule_testkit::eventually;
use support::Harness;
use tonic::Code;
use tonic::transport::Channel;

const TARIFF: &str = r#"{
  "country_code": "NL", "party_id": "JOU", "id": "evening-peak", "currency": "EUR",
  "elements": [
    { "price_components": [{ "type": "FLAT", "price": 0.50, "vat": 20, "step_size": 1 }] },
    { "price_components": [{ "type": "ENERGY", "price": 0.30, "vat": 10, "step_size": 1 }],
      "restrictions": { "start_time": "17:00", "end_time": "23:00" } },
    { "price_components": [{ "type": "ENERGY", "price": 0.25, "vat": 10, "step_size": 1 }] },
    { "price_components": [{ "type": "TIME", "price": 1.20, "vat": 10, "step_size": 60 }] }
  ]
}"#;

fn completed(
    session_id: SessionId,
    charger_id: ChargerId,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    wh: &str,
) -> SessionCompleted {
    SessionCompleted {
        session_id: session_id.to_string(),
        charger_id: charger_id.to_string(),
        charge_point_id: "CP-1".into(),
        connector_id: 1,
        transaction_id: "7".into(),
        token_uid: "TAG-1".into(),
        account_id: "3b1a3e1c-3f1e-4a44-9a43-3b4f1a3e1c00".into(),
        started_at: Some(joule_proto::time::to_proto(start)),
        stopped_at: Some(joule_proto::time::to_proto(end)),
        meter_start_wh: "1000".into(),
        meter_stop_wh: "21000".into(),
        energy_wh: wh.into(),
        flags: vec![],
        ..Default::default()
    }
}

#[tokio::test]
async fn a_completed_session_is_priced_once_with_the_chargers_tariff_in_the_sites_zone() {
    let mut h = Harness::start().await;
    let tariff = h.create_tariff(TARIFF).await.expect("tariff created");
    assert_eq!(tariff.currency, "EUR");
    let fetched = h
        .client
        .get_tariff(v1::GetTariffRequest {
            tenant_id: String::new(),
            tariff_id: tariff.id.clone(),
        })
        .await
        .expect("tariff readable")
        .into_inner();
    assert_eq!(fetched, tariff);
    let ocpi: serde_json::Value = serde_json::from_str(&fetched.ocpi_json).unwrap();
    assert_eq!(ocpi["id"], "evening-peak", "the OCPI id is kept as given");
    assert_ne!(tariff.id, "evening-peak");

    let charger = ChargerId::new();
    h.register_charger(charger, "", &tariff.id, "Europe/Amsterdam")
        .await;
    // 14:00-16:00 UTC on 1 July is 16:00-18:00 in Amsterdam; 20 kWh at constant power.
    let session = SessionId::new();
    let start = Utc.with_ymd_and_hms(2024, 7, 1, 14, 0, 0).unwrap();
    let end = Utc.with_ymd_and_hms(2024, 7, 1, 16, 0, 0).unwrap();
    let message = completed(session, charger, start, end, "20000");
    h.complete_session(&message).await;

    let (subject, priced) = h
        .wait_published::<SessionPriced>(session, 1)
        .await
        .remove(0);
    assert_eq!(
        subject,
        format!("{}.pricing.{session}.priced", h.bus.namespace())
    );
    // Start fee 0.50 (+20 %) = 0.60; 10 kWh before 17:00 at 0.25 = 2.50 (2.75) and 10 kWh after at
    // 0.30 = 3.00 (3.30); 2 h charging at 1.20 = 2.40 (2.64). Total 8.40 excl., 9.29 incl.
    assert_eq!(
        (
            priced.total_excl_vat.as_str(),
            priced.total_incl_vat.as_str()
        ),
        ("8.4", "9.29")
    );
    let lines: Vec<(&str, &str, &str, &str, &str, &str)> = priced
        .lines
        .iter()
        .map(|l| {
            (
                l.dimension.as_str(),
                l.volume.as_str(),
                l.unit.as_str(),
                l.unit_price.as_str(),
                l.amount_excl_vat.as_str(),
                l.amount_incl_vat.as_str(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            ("FLAT", "1", "session", "0.5", "0.5", "0.6"),
            ("ENERGY", "10", "kWh", "0.25", "2.5", "2.75"),
            ("ENERGY", "10", "kWh", "0.3", "3", "3.3"),
            ("TIME", "2", "h", "1.2", "2.4", "2.64"),
        ]
    );
    assert_eq!(priced.lines[3].vat_percent, "10");
    assert_eq!(
        (
            priced.account_id.as_str(),
            priced.token_uid.as_str(),
            priced.charger_id.as_str(),
            priced.tariff_id.as_str()
        ),
        (
            message.account_id.as_str(),
            "TAG-1",
            charger.to_string().as_str(),
            tariff.id.as_str()
        )
    );
    assert_eq!(
        (priced.currency.as_str(), priced.energy_wh.as_str()),
        ("EUR", "20000")
    );
    assert_eq!(
        (priced.started_at, priced.stopped_at),
        (message.started_at, message.stopped_at)
    );

    // The same session completed again (a redelivery under a new event id) is not priced again. A
    // later session on the same consumer shows the repeat has been handled.
    h.complete_session(&message).await;
    let later = SessionId::new();
    h.complete_session(&completed(later, charger, start, end, "1000"))
        .await;
    h.wait_published::<SessionPriced>(later, 1).await.remove(0);
    assert_eq!(h.published::<SessionPriced>(session).await.len(), 1);

    // The read table has the breakdown for the REST api.
    let row = eventually("the priced session is projected", || async {
        sqlx::query_as::<_, (String, String, serde_json::Value)>(
            "SELECT status, total_excl_vat::text, breakdown FROM pricing.priced_sessions WHERE session_id = $1",
        )
        .bind(session.to_string())
        .fetch_optional(&h.pool)
        .await
        .unwrap()
    })
    .await;
    let (status, total, breakdown) = row;
    assert_eq!(
        (
            status.as_str(),
            total.parse::<rust_decimal::Decimal>().unwrap()
        ),
        ("priced", rust_decimal_macros::dec!(8.4))
    );
    assert_eq!(breakdown["time_zone"], "Europe/Amsterdam");
    assert_eq!(breakdown["periods"].as_array().map(Vec::len), Some(2));

    h.running.stop().await.expect("stops cleanly");
}

#[tokio::test]
async fn a_session_on_a_charger_registered_late_is_priced_once_the_registration_arrives() {
    let mut h = Harness::start().await;
    let tariff = h.create_tariff(TARIFF).await.expect("tariff created");
    let charger = ChargerId::new();
    let session = SessionId::new();
    // 09:00-10:00 UTC in UTC: off-peak, 4 kWh at 0.25 = 1.00, 1 h at 1.20, start fee 0.50: 2.70.
    let start = Utc.with_ymd_and_hms(2024, 1, 10, 9, 0, 0).unwrap();
    let end = Utc.with_ymd_and_hms(2024, 1, 10, 10, 0, 0).unwrap();
    h.complete_session(&completed(session, charger, start, end, "4000"))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(h.published::<SessionPriced>(session).await.is_empty());

    h.register_charger(charger, "", &tariff.id, "UTC").await;
    let (_, priced) = h
        .wait_published::<SessionPriced>(session, 1)
        .await
        .remove(0);
    assert_eq!(priced.total_excl_vat, "2.7");
    h.running.stop().await.expect("stops cleanly");
}

#[tokio::test]
async fn invalid_and_unknown_tariffs_are_refused_with_their_reason() {
    let mut h = Harness::start().await;
    let negative = TARIFF.replace(r#""price": 0.25"#, r#""price": -0.25"#);
    let status = h
        .create_tariff(&negative)
        .await
        .expect_err("negative price refused");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "elements[2].price_components[0].price: must not be negative"
    );

    let status = h
        .create_tariff(&TARIFF.replace("EUR", "EURO"))
        .await
        .expect_err("unknown currency refused");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("currency: "),
        "{}",
        status.message()
    );

    let status = h
        .client
        .get_tariff(v1::GetTariffRequest {
            tenant_id: String::new(),
            tariff_id: joule_domain::TariffId::new().to_string(),
        })
        .await
        .expect_err("unknown tariff");
    assert_eq!(status.code(), Code::NotFound);
    let status = h
        .client
        .get_tariff(v1::GetTariffRequest {
            tenant_id: String::new(),
            tariff_id: "not-a-uuid".into(),
        })
        .await
        .expect_err("malformed id");
    assert_eq!(status.code(), Code::InvalidArgument);
    h.running.stop().await.expect("stops cleanly");
}

const IDLE_FEE_TARIFF: &str = r#"{
  "country_code": "NL", "party_id": "JOU", "id": "idle", "currency": "EUR",
  "elements": [{ "price_components": [{ "type": "ENERGY", "price": 0.30, "vat": 20, "step_size": 1 }] }],
  "joule": { "idle_fee": { "price_per_hour": 12, "vat": 20, "grace_period_seconds": 600, "step_size": 60 } }
}"#;

fn reading(at: DateTime<Utc>, wh: &str) -> v1::EnergyReading {
    v1::EnergyReading {
        at: Some(joule_proto::time::to_proto(at)),
        register_wh: wh.into(),
    }
}

#[tokio::test]
async fn the_idle_fee_is_billed_from_the_readings_and_the_priced_session_names_its_transaction() {
    let mut h = Harness::start().await;
    let tariff = h
        .create_tariff(IDLE_FEE_TARIFF)
        .await
        .expect("tariff created");
    let charger = ChargerId::new();
    h.register_charger(charger, "", &tariff.id, "UTC").await;
    // 1000 Wh at 10:00; the register rises to 21000 Wh at 11:00 and stays there until the stop at
    // 11:40: the car stopped drawing energy 40 minutes before the stop.
    let at = |h: u32, m: u32| Utc.with_ymd_and_hms(2024, 7, 1, h, m, 0).unwrap();
    let session = SessionId::new();
    let mut message = completed(session, charger, at(10, 0), at(11, 40), "20000");
    message.samples = vec![
        reading(at(10, 30), "11000"),
        reading(at(11, 0), "21000"),
        reading(at(11, 20), "21000"),
    ];
    message.charging_ended_at = Some(joule_proto::time::to_proto(at(11, 0)));
    h.complete_session(&message).await;

    let (_, priced) = h
        .wait_published::<SessionPriced>(session, 1)
        .await
        .remove(0);
    // 20 kWh at 0.30 = 6.00 (7.20); idle 40 min - 10 min grace = 30 min at 12/h = 6.00 (7.20).
    assert_eq!(
        (
            priced.total_excl_vat.as_str(),
            priced.total_incl_vat.as_str()
        ),
        ("12", "14.4")
    );
    let idle = priced
        .lines
        .iter()
        .find(|l| l.dimension == "IDLE_FEE")
        .expect("an idle fee line");
    assert_eq!(
        (
            idle.volume.as_str(),
            idle.unit.as_str(),
            idle.amount_excl_vat.as_str(),
            idle.amount_incl_vat.as_str(),
            idle.vat_percent.as_str()
        ),
        ("0.5", "h", "6", "7.2", "20")
    );
    let sum: rust_decimal::Decimal = priced
        .lines
        .iter()
        .map(|l| l.amount_incl_vat.parse::<rust_decimal::Decimal>().unwrap())
        .sum();
    assert_eq!(sum.to_string(), "14.4", "the lines add up to the total");
    assert_eq!(
        (
            priced.charge_point_id.as_str(),
            priced.transaction_id.as_str(),
            priced.connector_id
        ),
        ("CP-1", "7", 1)
    );

    // Without readings showing the end of charging, the same session bills no idle fee.
    let other = SessionId::new();
    h.complete_session(&completed(other, charger, at(10, 0), at(11, 40), "20000"))
        .await;
    let (_, priced) = h.wait_published::<SessionPriced>(other, 1).await.remove(0);
    assert_eq!(priced.total_excl_vat, "6");

    // A bulk re-rating after a price correction prices the same readings again: the idle fee stays,
    // only the energy price changes (20 kWh at 0.40 = 8.00, +2.00).
    h.client
        .correct_tariff_version(v1::CorrectTariffVersionRequest {
            tenant_id: String::new(),
            tariff_id: tariff.id.clone(),
            version: 1,
            ocpi_json: IDLE_FEE_TARIFF.replace("0.30", "0.40"),
            reason: "energy price typo".into(),
        })
        .await
        .expect("version corrected");
    let run = h.rerate_tariff(&tariff.id, "energy price typo").await;
    assert_eq!((run.sessions_examined, run.sessions_adjusted), (2, 2));
    let adjusted = eventually("both sessions are adjusted", || async {
        let adjusted = h
            .bus
            .read_stream(Domain::Pricing)
            .await
            .expect("read PRICING")
            .into_iter()
            .filter(|(_, e)| e.event_type == SessionPriceAdjusted::NAME)
            .map(|(_, e)| decode_payload::<SessionPriceAdjusted>(&e).expect("decodes"))
            .map(|a| (a.session_id.clone(), a))
            .collect::<HashMap<_, _>>();
        (adjusted.len() == 2).then_some(adjusted)
    })
    .await;
    let totals = |id: SessionId| {
        let a = &adjusted[&id.to_string()];
        (a.total_excl_vat.clone(), a.delta_excl_vat.clone())
    };
    assert_eq!(totals(session), ("14".to_owned(), "2".to_owned()));
    assert_eq!(totals(other), ("8".to_owned(), "2".to_owned()));
}

/// Every OCPI worked example (`crates/tariff/tests/fixtures`) priced by the service over gRPC, to the
/// precision the spec writes its totals: the service prices CDRs exactly as `joule tariff price`.
#[tokio::test]
async fn the_service_prices_every_ocpi_example_to_the_cent() {
    let mut h = Harness::start().await;
    let root =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/tariff/tests/fixtures");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 32, "only {} fixtures", dirs.len());
    let mut failures = Vec::new();
    for dir in &dirs {
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).expect("fixture file");
        let want: serde_json::Value =
            serde_json::from_str(&read("expected.json")).expect("expected.json");
        let priced = h
            .client
            .price_cdr(v1::PriceCdrRequest {
                tariff_json: read("tariff.json"),
                cdr_json: read("cdr.json"),
                time_zone: read("tz").trim().into(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .into_inner();
        let totals: serde_json::Value = serde_json::from_str(&priced.totals_json).expect("totals");
        for field in [
            "total_cost",
            "total_fixed_cost",
            "total_energy_cost",
            "total_time_cost",
            "total_parking_cost",
            "total_reservation_cost",
        ] {
            for part in ["excl_vat", "incl_vat"] {
                let dec = |v: &serde_json::Value| {
                    v.as_str()
                        .unwrap_or_else(|| panic!("{field}.{part} in {v}"))
                        .parse::<rust_decimal::Decimal>()
                        .expect("decimal")
                };
                let expected = dec(&want["expected"][field][part]);
                let got = dec(&totals[field][part]).round_dp_with_strategy(
                    expected.scale().max(2),
                    rust_decimal::RoundingStrategy::MidpointAwayFromZero,
                );
                if got != expected {
                    failures.push(format!(
                        "{} {field}.{part}: got {got}, expected {expected}",
                        dir.display()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // A stored tariff by id: the version in force at the CDR's start prices it.
    let simple = root.join("tariffs-01-simple-0.25-per-kwh");
    let read = |f: &str| std::fs::read_to_string(simple.join(f)).expect("fixture file");
    let stored = h
        .create_tariff(&read("tariff.json"))
        .await
        .expect("tariff created");
    let priced = h
        .client
        .price_cdr(v1::PriceCdrRequest {
            tariff_id: stored.id.clone(),
            cdr_json: read("cdr.json"),
            time_zone: read("tz").trim().into(),
            ..Default::default()
        })
        .await
        .expect("priced")
        .into_inner();
    assert_eq!(
        (priced.tariff_id.as_str(), priced.tariff_version),
        (stored.id.as_str(), 1)
    );
    let totals: serde_json::Value = serde_json::from_str(&priced.totals_json).expect("totals");
    assert_eq!(totals["total_cost"]["excl_vat"], "5");

    // Bad input names the field.
    for (request, field) in [
        (
            v1::PriceCdrRequest {
                cdr_json: read("cdr.json"),
                ..Default::default()
            },
            "tariff",
        ),
        (
            v1::PriceCdrRequest {
                tariff_json: read("tariff.json"),
                cdr_json: r#"{"start_date_time": "yesterday"}"#.into(),
                ..Default::default()
            },
            "cdr",
        ),
        (
            v1::PriceCdrRequest {
                tariff_json: read("tariff.json"),
                cdr_json: read("cdr.json"),
                time_zone: "Mars/Olympus".into(),
                ..Default::default()
            },
            "time_zone",
        ),
    ] {
        let status = h.client.price_cdr(request).await.expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().starts_with(field), "{}", status.message());
    }
}

/// The OCPI identity of `TARIFF`, as an ALREADY_EXISTS message names it.
const TARIFF_IDENTITY: &str = "NL*JOU*EVENING-PEAK";

fn existing_tariff(status: &tonic::Status) -> String {
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    status
        .metadata()
        .get(joule_pricing::grpc::EXISTING_TARIFF)
        .expect("the existing tariff's id")
        .to_str()
        .expect("ASCII")
        .to_owned()
}

#[tokio::test]
async fn one_tariff_per_ocpi_identity_even_when_created_concurrently() {
    let mut h = Harness::start().await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let mut client = h.client.clone();
        tasks.spawn(async move {
            client
                .create_tariff(v1::CreateTariffRequest {
                    tenant_id: String::new(),
                    ocpi_json: TARIFF.into(),
                })
                .await
                .map(|r| r.into_inner())
        });
    }
    let results = tasks.join_all().await;
    let created: Vec<&v1::Tariff> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(created.len(), 1, "{results:?}");
    let id = created[0].id.clone();
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(existing_tariff(refused), id);
        assert!(
            refused.message().starts_with(&format!(
                "a tariff with OCPI identity {TARIFF_IDENTITY} (country_code, party_id, id) already exists: {id}; publish a new version"
            )),
            "{}",
            refused.message()
        );
    }
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pricing.events WHERE aggregate_type = 'Tariff' AND event_type = 'TariffCreated'",
    )
    .fetch_one(&h.pool)
    .await
    .unwrap();
    assert_eq!(stored, 1);

    // OCPI compares the three case-insensitively; another party's tariff is another tariff.
    let shouted = TARIFF
        .replace(r#""NL""#, r#""nl""#)
        .replace("evening-peak", "EVENING-PEAK");
    let status = h
        .create_tariff(&shouted)
        .await
        .expect_err("the same identity");
    assert_eq!(existing_tariff(&status), id);
    let other = h
        .create_tariff(&TARIFF.replace(r#""JOU""#, r#""ABC""#))
        .await
        .expect("another party's tariff");
    assert_ne!(other.id, id);

    // A retired tariff keeps its identity, and says so.
    let retire = h
        .client
        .retire_tariff(v1::RetireTariffRequest {
            tenant_id: String::new(),
            tariff_id: id.clone(),
        })
        .await;
    assert!(retire.is_ok(), "{retire:?}");
    let status = h
        .create_tariff(TARIFF)
        .await
        .expect_err("retired, not free");
    assert_eq!(existing_tariff(&status), id);
    assert!(
        status.message().contains(", retired at ")
            && status
                .message()
                .ends_with("give the new one another OCPI id"),
        "{}",
        status.message()
    );
    h.running.stop().await.expect("stops cleanly");
}

#[tokio::test]
async fn a_tariff_created_before_identities_were_unique_is_found_by_its_identity() {
    use joule_pricing::tariff::{Tariff, TariffCommand};
    let mut h = Harness::start().await;
    // As CreateTariff made them before: a random id, found only through the read table.
    let legacy = joule_domain::TariffId::new().to_string();
    let cqrs = joule_store::cqrs::<joule_store::Decided<Tariff>>(h.pool.clone(), "pricing", ());
    joule_store::execute(
        &cqrs,
        &legacy,
        TariffCommand::Create {
            ocpi_json: TARIFF.into(),
            created_at: Utc::now(),
        },
        joule_store::CommandMeta {
            tenant_id: h.env.settings().tenant,
            correlation_id: String::new(),
            causation_id: String::new(),
        },
    )
    .await
    .expect("legacy tariff stored");
    let row: (String, String) = eventually("the relay projects the legacy tariff", || async {
        sqlx::query_as("SELECT country_code, party_id FROM pricing.tariffs WHERE id = $1")
            .bind(&legacy)
            .fetch_optional(&h.pool)
            .await
            .unwrap()
    })
    .await;
    assert_eq!(row, ("NL".to_owned(), "JOU".to_owned()));
    let status = h.create_tariff(TARIFF).await.expect_err("a repeat");
    assert_eq!(existing_tariff(&status), legacy);
    h.running.stop().await.expect("stops cleanly");
}

#[tokio::test]
async fn a_retired_tariff_reads_as_retired() {
    let mut h = Harness::start().await;
    let tariff = h.create_tariff(TARIFF).await.expect("tariff created");
    assert!(!tariff.retired && tariff.retired_at.is_none());
    let get = |client: &mut TariffServiceClient<Channel>, id: String| {
        let mut client = client.clone();
        async move {
            client
                .get_tariff(v1::GetTariffRequest {
                    tenant_id: String::new(),
                    tariff_id: id,
                })
                .await
                .expect("read")
                .into_inner()
        }
    };
    let before = get(&mut h.client, tariff.id.clone()).await;
    assert!(!before.retired && before.retired_at.is_none());
    let asked = Utc::now();
    h.client
        .retire_tariff(v1::RetireTariffRequest {
            tenant_id: String::new(),
            tariff_id: tariff.id.clone(),
        })
        .await
        .expect("retired");
    // At once, from its events: no wait for the relay.
    let after = get(&mut h.client, tariff.id.clone()).await;
    assert!(after.retired);
    let at = joule_proto::time::from_proto(after.retired_at.as_ref()).expect("retired_at");
    assert!(at >= asked - chrono::TimeDelta::seconds(1), "{at} {asked}");
    let versions = h
        .client
        .list_tariff_versions(v1::ListTariffVersionsRequest {
            tenant_id: String::new(),
            tariff_id: tariff.id.clone(),
        })
        .await
        .expect("versions")
        .into_inner();
    assert!(versions.retired);
    assert_eq!(versions.retired_at, after.retired_at);
    h.running.stop().await.expect("stops cleanly");
}

/// Every price at the largest value Joule accepts.
const AT_THE_LIMITS: &str = r#"{ "country_code": "NL", "party_id": "JOU", "id": "max", "currency": "EUR",
  "elements": [{ "price_components": [
    { "type": "FLAT", "price": 1000000, "vat": 100, "step_size": 1 },
    { "type": "ENERGY", "price": "1000000", "vat": 100, "step_size": 1 },
    { "type": "TIME", "price": 1000000, "vat": 100, "step_size": 86400 },
    { "type": "PARKING_TIME", "price": 1000000, "vat": 100, "step_size": 1 } ] }],
  "joule": { "idle_fee": { "price_per_hour": 1000000, "vat": 100 } } }"#;

#[tokio::test]
async fn values_out_of_range_are_refused_and_the_largest_accepted_ones_price() {
    let mut h = Harness::start().await;
    // What used to be accepted, then made a quote fail: every bad field at once.
    let status = h
        .create_tariff(
            &TARIFF
                .replace(r#""vat": 20"#, r#""vat": 190"#)
                .replace(r#""price": 0.25"#, r#""price": 99999999999999999999"#),
        )
        .await
        .expect_err("out of range");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "elements[0].price_components[0].vat: must be a percentage from 0 to 100, not 190; \
         elements[2].price_components[0].price: must be at most 1000000 EUR, not 99999999999999999999"
    );

    let tariff = h
        .create_tariff(AT_THE_LIMITS)
        .await
        .expect("the limits are accepted");
    let quote = |energy_kwh: &str, power_kw: &str, parking_minutes: u32| v1::QuoteRequest {
        tenant_id: String::new(),
        tariff_id: tariff.id.clone(),
        start: Some(joule_proto::time::to_proto(
            Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap(),
        )),
        energy_kwh: energy_kwh.into(),
        power_kw: power_kw.into(),
        parking_minutes,
        time_zone: "Europe/Amsterdam".into(),
    };
    // 100,000 kWh at 135 kW (740.7 h), then 3 h parked: the longest quote (31 days) answers.
    let priced = h
        .client
        .quote(quote("100000", "135", 180))
        .await
        .expect("a quote at the limits answers")
        .into_inner();
    let totals: serde_json::Value = serde_json::from_str(&priced.totals_json).unwrap();
    let total: rust_decimal::Decimal = totals["total_cost"]["incl_vat"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        total > rust_decimal::Decimal::from(10_u64.pow(11)),
        "{total}"
    );
    // Beyond the limits: refused, not a failure.
    for (energy, power, parking) in [
        ("100000", "134", 0),
        ("100001", "50", 0),
        ("30", "0.0000000000000000000000000001", 0),
        ("30", "50", u32::MAX),
    ] {
        let status = h
            .client
            .quote(quote(energy, power, parking))
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    }
    h.running.stop().await.expect("stops cleanly");
}

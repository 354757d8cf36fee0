//! The hold at start sized by pricing's quote, against the real pricing service in the same process:
//! `max(quote incl. VAT, configured amount)` for a charger whose tariff is known, the configured amount
//! for one that is not.

mod support;

use joule_domain::{AccountId, ChargerId, SessionId};
use joule_proto::v1;
use joule_proto::v1::tariff_service_client::TariffServiceClient;
use support::Harness;
use tonic::transport::Channel;

/// 30 kWh at `price` per kWh with 20 % VAT.
fn tariff(id: &str, price: &str) -> String {
    format!(
        r#"{{"country_code": "NL", "party_id": "JOU", "id": "{id}", "currency": "EUR",
            "elements": [{{ "price_components": [{{ "type": "ENERGY", "price": {price}, "vat": 20, "step_size": 1 }}] }}]}}"#
    )
}

async fn charger_with_tariff(
    h: &Harness,
    pricing: &mut TariffServiceClient<Channel>,
    name: &str,
    price: &str,
) -> ChargerId {
    let tariff = pricing
        .create_tariff(v1::CreateTariffRequest {
            tenant_id: String::new(),
            ocpi_json: tariff(name, price),
        })
        .await
        .expect("tariff created")
        .into_inner();
    let charger = ChargerId::derived(name);
    h.publish(
        format!("registry.charger.{charger}"),
        &v1::ChargerRegistered {
            charger_id: charger.to_string(),
            charge_point_id: format!("CP-{name}"),
            site_id: String::new(),
            tariff_id: tariff.id,
            time_zone: "Europe/Amsterdam".into(),
        },
        &format!("charger/{name}"),
    )
    .await;
    charger
}

async fn start(h: &Harness, session: SessionId, account: AccountId, charger: ChargerId) -> String {
    h.publish(
        format!("session.{session}.started"),
        &v1::SessionStarted {
            session_id: session.to_string(),
            account_id: account.to_string(),
            charger_id: charger.to_string(),
            charge_point_id: "CP-Q".into(),
            ..Default::default()
        },
        &format!("started/{session}"),
    )
    .await;
    h.wait_payment(session, |p| p.status == "authorized")
        .await
        .amount_authorized
}

#[tokio::test]
async fn the_hold_at_start_is_the_quote_with_the_configured_amount_as_minimum() {
    let h = Harness::start_services(&[joule_pricing::SERVICE], |s| {
        s.payments_hold_quote = "energy_kwh=30,power_kw=50".into();
    })
    .await;
    let channel = Channel::from_shared(format!(
        "http://{}",
        h.running.as_ref().unwrap().addr("grpc").unwrap()
    ))
    .unwrap()
    .connect()
    .await
    .unwrap();
    let mut pricing = TariffServiceClient::new(channel);
    let account = h.open_account("quoted", "EUR").await;
    h.save_card(account, "tok_sandbox_ok", true).await;

    // 30 kWh x 2.00 = 60.00 + 20 % = 72.00: above the configured 50.00.
    let dear = charger_with_tariff(&h, &mut pricing, "dear", "2.00").await;
    // 30 kWh x 0.50 = 15.00 + 20 % = 18.00: the configured 50.00 is the minimum.
    let cheap = charger_with_tariff(&h, &mut pricing, "cheap", "0.50").await;
    // Both chargers must be known to payments before their sessions start.
    support::eventually("chargers projected", || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM payments.chargers")
            .fetch_one(&h.pool)
            .await
            .unwrap();
        (n == 2).then_some(())
    })
    .await;

    assert_eq!(
        start(&h, SessionId::derived("q-dear"), account, dear).await,
        "72.00"
    );
    assert_eq!(
        start(&h, SessionId::derived("q-cheap"), account, cheap).await,
        "50.00"
    );
    // A charger without a known tariff: the configured amount.
    assert_eq!(
        start(
            &h,
            SessionId::derived("q-unknown"),
            account,
            ChargerId::derived("unknown")
        )
        .await,
        "50.00"
    );
}

//! Pricing on the authenticated internal plane (ADRs 028 and 029): as NATS user `pricing` of
//! `deploy/nats/joule.conf` on a private nats-server, and serving gRPC over mutual TLS. It consumes
//! REGISTRY and SESSION and publishes PRICING end to end without a permission violation, answers a
//! caller with a certificate from its CA, and refuses every other caller at the handshake; of the
//! callers with a certificate it answers only the services that call it (and itself), and a
//! process starts only with a certificate that names the services it runs.

mod support;

use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use chrono::{TimeZone, Utc};
use futures::StreamExt;
use joule_bus::{Bus, Namespace, NatsUser};
use joule_config::Settings;
use joule_domain::{ChargerId, SessionId};
use joule_proto::v1::tariff_service_client::TariffServiceClient;
use joule_proto::v1::{self, ChargerRegistered, Envelope, SessionCompleted, SessionPriced};
use joule_proto::{EventName, Message};
use joule_testkit::{NatsServer, TestEnv, TestPki, dev_nats_password};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

const TARIFF: &str = r#"{
  "country_code": "NL", "party_id": "JOU", "id": "flat", "currency": "EUR",
  "elements": [{ "price_components": [{ "type": "ENERGY", "price": 0.30, "vat": 20, "step_size": 1 }] }]
}"#;

async fn connect_as(nats: &NatsServer, user: &str) -> Bus {
    let password = dev_nats_password(user);
    Bus::connect_as(
        &nats.url,
        Namespace::new("joule").unwrap(),
        Some(NatsUser {
            name: user,
            password: &password,
        }),
    )
    .await
    .unwrap_or_else(|e| panic!("{user} connects: {e}"))
}

/// Publishes as another service would, as a new message of `aggregate_id`.
async fn publish<M: Message + EventName>(bus: &Bus, subject: String, aggregate_id: &str, m: &M) {
    let event_id = uuid::Uuid::new_v4().to_string();
    support::publish(bus, subject, &event_id, aggregate_id, m).await;
}

/// A client of `settings`' gRPC material (what `Context::grpc_channel` builds), to `url`.
fn channel_as(settings: &Settings, url: &str) -> Channel {
    let tls = joule_runtime::GrpcTls::from_settings(settings)
        .expect("certificates load")
        .expect("TLS configured");
    joule_runtime::grpc_channel(url, Some(&tls)).expect("channel")
}

async fn create_tariff(channel: Channel) -> Result<v1::Tariff, tonic::Status> {
    TariffServiceClient::new(channel)
        .create_tariff(v1::CreateTariffRequest {
            tenant_id: String::new(),
            ocpi_json: TARIFF.into(),
        })
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn pricing_prices_a_session_as_its_nats_user_over_mtls_without_a_permission_violation() {
    let env = TestEnv::new().await;
    let nats = NatsServer::with_deploy_config().await;
    let pki = TestPki::new(&["pricing", "api"]);
    let mut settings = env.settings();
    settings.nats_url = nats.url.clone();
    settings.namespace = "joule".into();
    settings.nats_user = "pricing".into();
    settings.nats_password = dev_nats_password("pricing").into();
    pki.apply("pricing", &mut settings);
    let running = joule_runtime::spawn(settings, &[joule_pricing::SERVICE])
        .await
        .expect("pricing starts as its NATS user with mTLS");
    let port = running.addr("grpc").unwrap().port();

    // The api's certificate; the server is verified as `localhost` from the URL.
    let mut api_settings = env.settings();
    pki.apply("api", &mut api_settings);
    let tariff = create_tariff(channel_as(
        &api_settings,
        &format!("http://localhost:{port}"),
    ))
    .await
    .expect("a caller with a certificate from the CA is answered");

    let charger = ChargerId::new();
    let api = connect_as(&nats, "api").await;
    publish(
        &api,
        format!("registry.charger.{charger}"),
        &charger.to_string(),
        &ChargerRegistered {
            charger_id: charger.to_string(),
            charge_point_id: "CP-1".into(),
            site_id: String::new(),
            tariff_id: tariff.id.clone(),
            time_zone: "Europe/Amsterdam".into(),
        },
    )
    .await;
    let session = SessionId::new();
    let start = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    let sessions = connect_as(&nats, "sessions").await;
    publish(
        &sessions,
        format!("session.{session}.completed"),
        &session.to_string(),
        &SessionCompleted {
            session_id: session.to_string(),
            charger_id: charger.to_string(),
            charge_point_id: "CP-1".into(),
            connector_id: 1,
            transaction_id: "7".into(),
            token_uid: "TAG-1".into(),
            account_id: "3b1a3e1c-3f1e-4a44-9a43-3b4f1a3e1c00".into(),
            started_at: Some(joule_proto::time::to_proto(start)),
            stopped_at: Some(joule_proto::time::to_proto(
                start + chrono::Duration::hours(1),
            )),
            meter_start_wh: "1000".into(),
            meter_stop_wh: "11000".into(),
            energy_wh: "10000".into(),
            ..Default::default()
        },
    )
    .await;

    // Read PRICING as invoicing, which consumes it.
    let invoicing = connect_as(&nats, "invoicing").await;
    let js = jetstream::new(invoicing.client().clone());
    let consumer: consumer::PullConsumer = js
        .get_stream("JOULE_PRICING")
        .await
        .expect("PRICING")
        .get_or_create_consumer(
            "joule_invoicing-test",
            consumer::pull::Config {
                durable_name: Some("joule_invoicing-test".into()),
                ..Default::default()
            },
        )
        .await
        .expect("invoicing reads PRICING");
    let mut messages = consumer.messages().await.expect("pull");
    let priced = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(message) = messages.next().await {
            let message = message.expect("delivered");
            message.double_ack().await.expect("ack");
            let envelope = Envelope::decode(message.payload.as_ref()).expect("envelope");
            if envelope.event_type == SessionPriced::NAME {
                return SessionPriced::decode(envelope.payload.as_slice()).expect("priced");
            }
        }
        panic!("PRICING ended");
    })
    .await
    .expect("SessionPriced published within 60 s");
    assert_eq!(priced.session_id, session.to_string());
    assert_eq!(priced.tariff_id, tariff.id);
    assert!(
        !nats.log().contains("Violation"),
        "pricing stayed within its permissions: {}",
        nats.log()
    );
    running.stop().await.expect("pricing stops");
}

#[tokio::test]
async fn pricing_grpc_refuses_callers_without_a_certificate_from_its_ca() {
    let env = TestEnv::new().await;
    let pki = TestPki::new(&["pricing", "api"]);
    let rogue = TestPki::new(&["api"]);
    let mut settings = env.settings();
    pki.apply("pricing", &mut settings);
    let running = joule_runtime::spawn(settings, &[joule_pricing::SERVICE])
        .await
        .expect("pricing starts with mTLS");
    let port = running.addr("grpc").unwrap().port();
    let https = format!("https://127.0.0.1:{port}");
    let ca = Certificate::from_pem(std::fs::read(&pki.ca).unwrap());
    let tls_channel = |tls: ClientTlsConfig| {
        Endpoint::from_shared(https.clone())
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect_lazy()
    };

    // A caller with the api's certificate is answered: the refusals below are about the caller.
    let mut api = env.settings();
    pki.apply("api", &mut api);
    create_tariff(channel_as(&api, &https))
        .await
        .expect("a certificate from the CA is accepted");

    // Plain h2c.
    let plain = Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect_lazy();
    assert!(create_tariff(plain).await.is_err(), "h2c was answered");
    // TLS that trusts the server but presents no certificate.
    let anonymous = tls_channel(ClientTlsConfig::new().ca_certificate(ca.clone()));
    assert!(
        create_tariff(anonymous).await.is_err(),
        "no client certificate was answered"
    );
    // A certificate for the right name from another CA.
    let (cert, key) = rogue.cert("api");
    let impostor = tls_channel(ClientTlsConfig::new().ca_certificate(ca).identity(
        Identity::from_pem(std::fs::read(cert).unwrap(), std::fs::read(key).unwrap()),
    ));
    assert!(
        create_tariff(impostor).await.is_err(),
        "a certificate from another CA was answered"
    );
    running.stop().await.expect("pricing stops");
}

async fn get_tariff(channel: Channel, id: &str) -> Result<v1::Tariff, tonic::Status> {
    TariffServiceClient::new(channel)
        .get_tariff(v1::GetTariffRequest {
            tenant_id: String::new(),
            tariff_id: id.into(),
        })
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn pricing_grpc_answers_only_the_services_that_call_it() {
    let env = TestEnv::new().await;
    let callers = ["api", "gateway", "payments", "pricing", "api+pricing"];
    let others = ["invoicing", "ledger", "sessions+invoicing"];
    let pki = TestPki::new(&[&callers[..], &others[..]].concat());
    let mut settings = env.settings();
    pki.apply("pricing", &mut settings);
    let running = joule_runtime::spawn(settings, &[joule_pricing::SERVICE])
        .await
        .expect("pricing starts with mTLS");
    let https = format!("https://localhost:{}", running.addr("grpc").unwrap().port());
    let channel = |process: &str| {
        let mut settings = env.settings();
        pki.apply(process, &mut settings);
        channel_as(&settings, &https)
    };

    // The api, the gateway and payments call TariffService; pricing itself (a process calling its
    // own listener) and a process that runs the api beside pricing may too.
    let tariff = create_tariff(channel("api"))
        .await
        .expect("the api is answered");
    for caller in &callers[1..] {
        let read = get_tariff(channel(caller), &tariff.id)
            .await
            .unwrap_or_else(|e| panic!("{caller} is answered: {e:?}"));
        assert_eq!(read.id, tariff.id, "{caller}");
    }
    // Invoicing and the ledger have no business with pricing: refused, naming caller and service.
    for caller in others {
        let status = get_tariff(channel(caller), &tariff.id)
            .await
            .expect_err(caller);
        assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
        let named = caller.rsplit('+').next().unwrap();
        assert!(
            status.message().contains(&format!("joule-{named}"))
                && status.message().contains("joule.v1.TariffService"),
            "{status:?}"
        );
    }
    // Health is open to every certificate from the CA.
    let health = tonic_health::pb::health_client::HealthClient::new(channel("invoicing"))
        .check(tonic_health::pb::HealthCheckRequest {
            service: "joule.v1.TariffService".into(),
        })
        .await
        .expect("health answers any service of the CA");
    assert_eq!(
        health.into_inner().status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    running.stop().await.expect("pricing stops");
}

#[tokio::test]
async fn a_process_needs_a_certificate_naming_the_services_it_runs() {
    let env = TestEnv::new().await;
    let pki = TestPki::new(&["api", "api+pricing"]);
    let mut settings = env.settings();
    pki.apply("api", &mut settings);
    let refused = joule_runtime::spawn(settings.clone(), &[joule_pricing::SERVICE]).await;
    let error = refused.err().expect("refused").to_string();
    assert!(error.contains("runs pricing"), "{error}");

    pki.apply("api+pricing", &mut settings);
    let running = joule_runtime::spawn(settings, &[joule_pricing::SERVICE])
        .await
        .expect("a certificate naming pricing among others will do");
    running.stop().await.expect("pricing stops");
}

#[tokio::test]
async fn plain_grpc_on_a_non_loopback_address_needs_an_explicit_insecure_setting() {
    let env = TestEnv::new().await;
    let mut settings = env.settings();
    settings.grpc_addr = "0.0.0.0:0".into();
    let refused = joule_runtime::spawn(settings.clone(), &[joule_pricing::SERVICE]).await;
    let error = refused.err().expect("refused without TLS").to_string();
    assert!(error.contains("without TLS"), "{error}");
    assert!(error.contains("JOULE_GRPC_INSECURE"), "{error}");

    settings.grpc_insecure = true;
    let running = joule_runtime::spawn(settings, &[joule_pricing::SERVICE])
        .await
        .expect("starts when insecure gRPC is asked for");
    running.stop().await.expect("stops");
}

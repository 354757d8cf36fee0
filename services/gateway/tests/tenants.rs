//! Tenants at the charger edge (ADR 032): a charger connects on `/ocpp/{tenant}/{charge_point_id}`
//! (the path without a tenant is the deployment's tenant). Two tenants register the same charge
//! point id and the same token uid; each charger works with its own tenant's records, commands
//! reach the charger of the tenant that sent them, and a charger is refused on another tenant's
//! path exactly as an unknown charger is.

mod support;

use joule_proto::EventName;
use joule_proto::v1::charger_command_request::Command;
use joule_proto::v1::charger_commands_client::ChargerCommandsClient;
use joule_proto::v1::{ChargerCommandRequest, ChargerConnected, RemoteStop, TransactionStarted};
use joule_testkit::eventually;
use serde_json::json;
use support::{CP, Harness, KNOWN_TAG, of_type, start_payload};
use tokio_tungstenite::tungstenite;

const ACME: &str = "acme";

fn refused_as_unknown(outcome: Result<support::Charger, tungstenite::Error>, what: &str) {
    match outcome {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(
                response.status(),
                401,
                "{what}: refused as an unknown charger"
            )
        }
        Err(e) => panic!("{what}: expected a 401, got {e}"),
        Ok(_) => panic!("{what}: the upgrade was accepted"),
    }
}

#[tokio::test]
async fn the_same_charge_point_and_token_in_two_tenants_never_meet() {
    // The default tenant has CP-1 and KNOWN_TAG (the harness); acme registers the same ids with
    // a charger and an account of its own, and a token and a charger only it has.
    let h = Harness::start().await;
    let acme_charger = h.register_charger_in(ACME, CP).await;
    let acme_account = h.issue_token_in(ACME, KNOWN_TAG).await;
    h.issue_token_in(ACME, "ACME-ONLY").await;
    h.register_charger_in(ACME, "CP-ACME").await;
    assert_ne!(acme_charger, h.charger_id);
    assert_ne!(acme_account, h.account_id);

    // The wrong tenant's path, an unknown tenant and a malformed one are refused like an unknown id.
    refused_as_unknown(
        h.try_connect_path("CP-ACME", Some("ocpp1.6"), None).await,
        "acme's charger on the legacy path (the default tenant)",
    );
    refused_as_unknown(
        h.try_connect_path("default/CP-ACME", Some("ocpp1.6"), None)
            .await,
        "acme's charger on the default tenant's path",
    );
    refused_as_unknown(
        h.try_connect_path("nobody/CP-1", Some("ocpp1.6"), None)
            .await,
        "an unknown tenant",
    );
    refused_as_unknown(
        h.try_connect_path("no.such/CP-1", Some("ocpp1.6"), None)
            .await,
        "a malformed tenant",
    );

    // Both CP-1s connect at once, each on its tenant's path: neither replaces the other.
    let mut ours = h
        .try_connect_path(CP, Some("ocpp1.6"), None)
        .await
        .expect("the default tenant's CP-1 on the legacy path");
    let mut theirs = h
        .try_connect_path(&format!("{ACME}/{CP}"), Some("ocpp1.6"), None)
        .await
        .expect("acme's CP-1 on acme's path");
    ours.ok("Heartbeat", json!({})).await;
    theirs.ok("Heartbeat", json!({})).await;
    let mut explicit = h
        .try_connect_path("acme/CP-ACME", Some("ocpp1.6"), None)
        .await
        .expect("acme's own charger on acme's path");
    explicit.ok("Heartbeat", json!({})).await;

    // Tokens are looked up in the charger's tenant only.
    let only_acme = json!({"idTag": "ACME-ONLY"});
    let answer = ours.ok("Authorize", only_acme.clone()).await;
    assert_eq!(
        answer["idTagInfo"]["status"], "Invalid",
        "not the default tenant's token"
    );
    let answer = theirs.ok("Authorize", only_acme).await;
    assert_eq!(answer["idTagInfo"]["status"], "Accepted");

    let start = start_payload(1, KNOWN_TAG, 1000, "2024-03-01T10:00:00Z");
    let our_start = ours.ok("StartTransaction", start.clone()).await;
    let their_start = theirs.ok("StartTransaction", start).await;
    assert_eq!(our_start["idTagInfo"]["status"], "Accepted");
    assert_eq!(their_start["idTagInfo"]["status"], "Accepted");
    assert_ne!(
        our_start["transactionId"], their_start["transactionId"],
        "the same start in two tenants is two transactions"
    );

    let events = eventually("both starts on CHARGER", || async {
        let events = h.charger_events().await;
        (of_type(&events, TransactionStarted::NAME).len() >= 2).then_some(events)
    })
    .await;
    let started = of_type(&events, TransactionStarted::NAME);
    let by_tenant = |tenant: &str| {
        let event = started
            .iter()
            .find(|e| e.envelope.tenant_id == tenant)
            .unwrap_or_else(|| panic!("a start of {tenant}"));
        (event.msg_id.clone(), event.decode::<TransactionStarted>())
    };
    let (our_id, ours_started) = by_tenant("default");
    let (their_id, theirs_started) = by_tenant(ACME);
    assert_eq!(ours_started.charger_id, h.charger_id.to_string());
    assert_eq!(ours_started.account_id, h.account_id.to_string());
    assert_eq!(theirs_started.charger_id, acme_charger.to_string());
    assert_eq!(theirs_started.account_id, acme_account.to_string());
    assert_eq!(theirs_started.charge_point_id, CP);
    assert_ne!(our_id, their_id, "never one event id for two tenants");
    let connected = of_type(&events, ChargerConnected::NAME);
    assert!(
        connected.iter().any(|e| e.envelope.tenant_id == ACME
            && e.decode::<ChargerConnected>().charger_id == acme_charger.to_string()),
        "acme's connection is acme's event"
    );

    // A command names its tenant: acme's reaches acme's CP-1, the default tenant's ours.
    let grpc = format!("http://{}", h.grpc_addr());
    let mut commands = ChargerCommandsClient::connect(grpc).await.unwrap();
    let stop = |tenant: &str| ChargerCommandRequest {
        tenant_id: tenant.into(),
        charge_point_id: CP.into(),
        command: Some(Command::RemoteStop(RemoteStop {
            transaction_id: "7".into(),
        })),
    };
    let mut c = commands.clone();
    let call = tokio::spawn(async move { c.execute(stop(ACME)).await });
    let frame = theirs.next_frame().await;
    assert_eq!(frame[2], "RemoteStopTransaction");
    theirs
        .answer(&frame[1], json!({"status": "Accepted"}))
        .await;
    let result = call.await.unwrap().expect("answered by acme's charger");
    assert_eq!(result.into_inner().status, "Accepted");
    let mut c = commands.clone();
    let call = tokio::spawn(async move { c.execute(stop("")).await });
    let frame = ours.next_frame().await;
    assert_eq!(frame[2], "RemoteStopTransaction");
    ours.answer(&frame[1], json!({"status": "Rejected"})).await;
    let result = call.await.unwrap().expect("answered by our charger");
    assert_eq!(result.into_inner().status, "Rejected");
    // A charge point of another tenant is not registered as far as a command is concerned.
    let refused = commands
        .execute(ChargerCommandRequest {
            charge_point_id: "CP-ACME".into(),
            ..stop("default")
        })
        .await
        .expect_err("acme's charger is not the default tenant's");
    assert_eq!(refused.code(), tonic::Code::NotFound);

    // Presence: one row per tenant's CP-1.
    let pool = h.env.pool().await;
    let held: Vec<(String,)> = sqlx::query_as(
        "SELECT tenant_id FROM gateway.presence WHERE charge_point_id = $1 ORDER BY tenant_id",
    )
    .bind(CP)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(held, vec![(ACME.to_owned(),), ("default".to_owned(),)]);
    pool.close().await;

    ours.close().await;
    theirs.close().await;
    explicit.close().await;
    h.stop().await;
}

/// Chargers, tokens and transactions stored before charge points were keyed by tenant belong to
/// the deployment's tenant once the gateway starts: the charger connects on the legacy path and on
/// its tenant's, its token is found, and a start it retries keeps its transaction id.
#[tokio::test]
async fn records_from_before_tenants_are_the_deployment_tenants() {
    let env = joule_testkit::TestEnv::new().await;
    let pool = env.pool().await;
    let before: &[joule_store::Migration] = joule_store::migrations![
        1 => "001_registry_projection_and_transaction_ids",
        2 => "002_credentials_presence_connector_status_and_the_frame_audit_trail",
        3 => "003_cost_display_bookkeeping",
        4 => "004_security_profile_of_held_connections",
    ];
    joule_store::migrate(&pool, joule_gateway::SCHEMA, before)
        .await
        .unwrap();
    let charger_id = joule_domain::ChargerId::new();
    let account_id = joule_domain::AccountId::new();
    sqlx::query(
        "INSERT INTO gateway.chargers (charge_point_id, charger_id, site_id, tariff_id)
         VALUES ('CP-OLD', $1, 's', 't')",
    )
    .bind(charger_id.to_string())
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO gateway.tokens (uid, token_id, account_id) VALUES ('OLD-TAG', $1, $2)",
    )
    .bind(joule_domain::TokenId::new().to_string())
    .bind(account_id.to_string())
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO gateway.transactions
           (transaction_id, charge_point_id, connector_id, id_tag, meter_start_wh, charger_time, first_received_at)
         VALUES (4242, 'CP-OLD', 1, 'OLD-TAG', 1000, '2024-03-01T10:00:00Z', now())",
    )
    .execute(&pool)
    .await
    .unwrap();

    let mut settings = env.settings();
    settings.tenant = "old-deployment".into();
    let running = joule_runtime::spawn(settings, &[joule_gateway::SERVICE])
        .await
        .expect("gateway starts");
    let addr = running.addr("ocpp").unwrap();
    let tenants: Vec<(String,)> = sqlx::query_as(
        "SELECT tenant_id FROM gateway.chargers UNION ALL SELECT tenant_id FROM gateway.tokens
         UNION ALL SELECT tenant_id FROM gateway.transactions",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(tenants, vec![("old-deployment".to_owned(),); 3]);

    for path in ["CP-OLD", "old-deployment/CP-OLD"] {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = format!("ws://{addr}/ocpp/{path}")
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "ocpp1.6".parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut charger = support::Charger {
            ws,
            next_id: 0,
            protocol: "ocpp1.6".into(),
        };
        let known = charger.ok("Authorize", json!({"idTag": "OLD-TAG"})).await;
        assert_eq!(known["idTagInfo"]["status"], "Accepted", "{path}");
        let retried = charger
            .ok(
                "StartTransaction",
                start_payload(1, "OLD-TAG", 1000, "2024-03-01T10:00:00Z"),
            )
            .await;
        assert_eq!(retried["transactionId"], 4242, "{path}");
        charger.close().await;
    }
    running.stop().await.unwrap();
    pool.close().await;
}

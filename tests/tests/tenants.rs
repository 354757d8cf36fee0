//! Two tenants at the charger edge, end to end (ADR 032): each registers the same charge point id
//! and token uid through the api with its own credential; a Python OCPP 1.6 charger of each charges
//! on its tenant's URL (the default tenant's on the URL of earlier releases); each tenant's api
//! sees its own session, with its own charger and account, and not the other's.

use joule_e2e::{
    CHARGE, Joule, init_tracing, python_charge_point, register, wait_until_charger_known,
};
use serde_json::json;

const PLATFORM: &str = "platform-4b8e1c7a9d3f6e2a5c0b";

#[tokio::test]
async fn two_tenants_charge_on_the_same_charge_point_id_and_token_uid_apart() {
    init_tracing();
    let j = Joule::spawn_with(|s| s.platform_token = PLATFORM.into()).await;
    let platform = j.api.with_bearer(PLATFORM);
    platform
        .post("/v1/tenants", json!({"id": "acme", "name": "Acme"}))
        .await
        .unwrap();
    let key = platform
        .post(
            "/v1/tenants/acme/api-keys",
            json!({"name": "first admin", "roles": ["admin"]}),
        )
        .await
        .unwrap();
    let acme = j.api.with_bearer(key["secret"].as_str().expect("a secret"));
    let acme_ocpp = format!("{}/acme", j.ocpp);

    let ours = j.register("twins").await;
    let theirs = register(&acme, "twins").await.unwrap();
    wait_until_charger_known(&acme_ocpp, &theirs.charge_point_id)
        .await
        .unwrap();
    assert_eq!(ours.charge_point_id, theirs.charge_point_id);
    assert_eq!(ours.token_uid, theirs.token_uid);
    assert_ne!(ours.charger_id, theirs.charger_id);
    assert_ne!(ours.account_id, theirs.account_id);

    for (ocpp, fx) in [(&j.ocpp, &ours), (&acme_ocpp, &theirs)] {
        let out = python_charge_point(&fx.charge(ocpp, CHARGE, &[]))
            .await
            .unwrap();
        assert_eq!(out["authorize_status"], "Accepted", "{ocpp}: {out}");
        assert_eq!(out["start_status"], "Accepted", "{ocpp}: {out}");
    }

    let mut ids = Vec::new();
    for (api, fx) in [(&j.api, &ours), (&acme, &theirs)] {
        let sessions = api
            .wait_for("/v1/sessions", |v| {
                v["data"]
                    .as_array()
                    .is_some_and(|d| d.iter().any(|s| s["status"] == "completed"))
            })
            .await
            .unwrap();
        let data = sessions["data"].as_array().unwrap();
        assert_eq!(data.len(), 1, "one session per tenant: {data:?}");
        assert_eq!(data[0]["charger_id"], fx.charger_id.as_str());
        assert_eq!(data[0]["account_id"], fx.account_id.as_str());
        assert_eq!(data[0]["energy_kwh"], "12.5");
        ids.push(data[0]["id"].as_str().unwrap().to_owned());
    }
    // Each tenant's session is not found by the other.
    let (our_session, their_session) = (&ids[0], &ids[1]);
    assert_ne!(our_session, their_session);
    let refused = j
        .api
        .get(&format!("/v1/sessions/{their_session}"))
        .await
        .expect_err("acme's session is not the default tenant's");
    assert!(refused.to_string().contains("404"), "{refused}");
    let refused = acme
        .get(&format!("/v1/sessions/{our_session}"))
        .await
        .expect_err("the default tenant's session is not acme's");
    assert!(refused.to_string().contains("404"), "{refused}");
}

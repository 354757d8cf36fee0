use chrono::{DateTime, Duration};
use cqrs_es::test::TestFramework;

use super::*;

type Given = TestFramework<ApiKey>;

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap()
}

fn create(expires_at: Option<DateTime<Utc>>) -> ApiKeyCommand {
    ApiKeyCommand::Create {
        key_id: "abcdefghijklmnop".into(),
        tenant_id: "acme".parse().unwrap(),
        name: "finance team".parse().unwrap(),
        roles: vec![Role::Finance],
        fleets: vec![],
        driver: None,
        digest: "aa".repeat(32),
        expires_at,
        created_by: "admin-token".into(),
        at: at(),
    }
}

fn created(expires_at: Option<DateTime<Utc>>) -> ApiKeyEvent {
    ApiKeyEvent::ApiKeyCreated {
        key_id: "abcdefghijklmnop".into(),
        tenant_id: "acme".parse().unwrap(),
        name: "finance team".parse().unwrap(),
        roles: vec![Role::Finance],
        fleets: vec![],
        driver: None,
        digest: "aa".repeat(32),
        expires_at,
        created_by: "admin-token".into(),
        created_at: at(),
    }
}

fn rotate(when: DateTime<Utc>) -> ApiKeyCommand {
    ApiKeyCommand::Rotate {
        digest: "bb".repeat(32),
        previous_valid_until: when + Duration::hours(1),
        at: when,
    }
}

#[test]
fn a_key_is_created_once() {
    Given::with(())
        .given_no_previous_events()
        .when(create(None))
        .then_expect_events(vec![created(None)]);
    Given::with(())
        .given(vec![created(None)])
        .when(create(None))
        .then_expect_error(ApiKeyError::Exists("abcdefghijklmnop".into()));
}

#[test]
fn rotation_keeps_the_old_secret_for_the_overlap() {
    Given::with(())
        .given(vec![created(None)])
        .when(rotate(at()))
        .then_expect_events(vec![ApiKeyEvent::ApiKeyRotated {
            key_id: "abcdefghijklmnop".into(),
            digest: "bb".repeat(32),
            previous_valid_until: at() + Duration::hours(1),
            rotated_at: at(),
        }]);
}

#[test]
fn a_revoked_or_expired_key_cannot_be_rotated_and_revoking_twice_records_once() {
    let revoked = ApiKeyEvent::ApiKeyRevoked {
        key_id: "abcdefghijklmnop".into(),
        revoked_at: at(),
    };
    Given::with(())
        .given(vec![created(None)])
        .when(ApiKeyCommand::Revoke { at: at() })
        .then_expect_events(vec![revoked.clone()]);
    Given::with(())
        .given(vec![created(None), revoked.clone()])
        .when(ApiKeyCommand::Revoke { at: at() })
        .then_expect_events(vec![]);
    Given::with(())
        .given(vec![created(None), revoked])
        .when(rotate(at()))
        .then_expect_error(ApiKeyError::Revoked("abcdefghijklmnop".into()));
    Given::with(())
        .given(vec![created(Some(at()))])
        .when(rotate(at() + Duration::seconds(1)))
        .then_expect_error(ApiKeyError::Expired("abcdefghijklmnop".into()));
}

#[test]
fn commands_to_an_unknown_key_are_refused() {
    Given::with(())
        .given_no_previous_events()
        .when(ApiKeyCommand::Revoke { at: at() })
        .then_expect_error(ApiKeyError::Unknown);
}

#[test]
fn a_key_created_before_drivers_had_keys_acts_for_no_driver() {
    let stored = serde_json::json!({"ApiKeyCreated": {
        "key_id": "abcdefghijklmnop", "tenant_id": "acme", "name": "finance team",
        "roles": ["finance"], "fleets": [], "digest": "aa".repeat(32), "expires_at": null,
        "created_by": "admin-token", "created_at": "2023-11-14T22:13:20Z"}});
    let upcaster = UPCASTERS[0];
    assert_eq!(upcaster.event_type, "ApiKeyCreated");
    let upcast = (upcaster.upcast)(stored);
    assert_eq!(upcast["ApiKeyCreated"]["driver"], serde_json::Value::Null);
    let event: ApiKeyEvent = serde_json::from_value(upcast).unwrap();
    assert_eq!(event, created(None));
}

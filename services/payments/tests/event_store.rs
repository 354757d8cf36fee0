//! The payments event store's one-statement commit (`store::OneStatementRepository`) against real
//! PostgreSQL, through the running service's schema: every event of a commit is written, in order,
//! with its outbox row (the relay projects them in sequence), and a commit on a stale state conflicts
//! and runs again on the stored events instead of writing twice.

mod support;

use chrono::Utc;
use joule_domain::{AccountId, Currency, Money, SessionId, TenantId};
use joule_payments::domain::intent::{
    IntentCommand, IntentContext, Open, PaymentIntent, ProviderKind, Purpose,
};
use joule_payments::ids::{IntentId, MethodId};
use joule_payments::store::{Aggregates, Versioned};
use joule_store::CommandMeta;
use support::{Harness, dec, eventually};

fn open() -> IntentCommand {
    IntentCommand::Open(Open {
        context: IntentContext {
            tenant_id: TenantId::default_tenant(),
            account_id: AccountId::derived("store-test"),
            session_id: Some(SessionId::derived("default/CP-store/1")),
            order_id: None,
            purpose: Purpose::Session,
            provider: ProviderKind::Sandbox,
            method_id: MethodId::derived("store-test"),
            token: "tok_sandbox_ok".into(),
            customer: "cus".into(),
            currency: Currency::EUR,
        },
        amount: Money::new(dec("50.00"), Currency::EUR),
        at: Utc::now(),
    })
}

fn empty() -> Versioned<PaymentIntent> {
    Versioned {
        state: PaymentIntent::default(),
        sequence: 0,
    }
}

#[tokio::test]
async fn a_commit_writes_all_its_events_in_one_statement_and_a_stale_one_conflicts() {
    let h = Harness::start().await;
    let intents: Aggregates<PaymentIntent> = Aggregates::new(h.pool.clone(), "payments");
    let id = IntentId::for_session(SessionId::derived("default/CP-store/1")).to_string();
    let meta = CommandMeta {
        tenant_id: "default".into(),
        ..Default::default()
    };

    // Opening records two events (opened, authorisation requested) in one commit.
    let opened = intents
        .execute_on(&id, Some(empty()), open(), &meta)
        .await
        .expect("open");
    assert_eq!(opened.sequence, 2);
    let stored: Vec<(i64, String)> = sqlx::query_as(
        "SELECT sequence, event_type FROM payments.events WHERE aggregate_id = $1 ORDER BY sequence",
    )
    .bind(&id)
    .fetch_all(&h.pool)
    .await
    .unwrap();
    assert_eq!(
        stored,
        vec![
            (1, "IntentOpened".to_owned()),
            (2, "AuthorizationRequested".to_owned())
        ]
    );
    // The outbox trigger fired for each row: the relay projects both, in sequence order.
    let history = eventually("the relay projects both events", || async {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT sequence, type FROM payments.intent_events WHERE intent_id = $1::uuid ORDER BY sequence",
        )
        .bind(&id)
        .fetch_all(&h.pool)
        .await
        .unwrap();
        (rows.len() >= 2).then_some(rows)
    })
    .await;
    assert_eq!(history[..2], stored[..]);

    // The same command on the state before the open (a stale sequence): the commit's sequence is
    // taken, it conflicts, runs again on the stored events and records nothing more. (The service's
    // sweeper may meanwhile drive the pending authorisation: events after 2 are its, not a repeat.)
    let again = intents
        .execute_on(&id, Some(empty()), open(), &meta)
        .await
        .expect("open again");
    assert!(again.sequence >= 2);
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM payments.events WHERE aggregate_id = $1 AND event_type = 'IntentOpened'",
    )
        .bind(&id)
        .fetch_one(&h.pool)
        .await
        .unwrap();
    assert_eq!(count, 1, "opened once");

    // The load hands back the sequence a later command commits on.
    let loaded = intents.load_versioned(&id).await.expect("load");
    let last: i64 =
        sqlx::query_scalar("SELECT max(sequence) FROM payments.events WHERE aggregate_id = $1")
            .bind(&id)
            .fetch_one(&h.pool)
            .await
            .unwrap();
    // (`<=`: the sweeper may commit between the two reads.)
    assert!(loaded.sequence >= again.sequence && loaded.sequence as i64 <= last);
    assert!(loaded.state.context.is_some());
}

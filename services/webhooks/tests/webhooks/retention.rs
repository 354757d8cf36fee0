//! The delivery log's retention: finished deliveries older than the cutoff go with their attempts
//! and their events' bodies; a pending delivery, and everything newer, stays.

use joule_testkit::TestEnv;
use joule_webhooks::deliveries::retention;

use crate::support::{self, Mode, Receiver};

async fn count(pool: &sqlx::PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM webhooks.{table}"))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn finished_deliveries_older_than_the_cutoff_go_pending_ones_stay() {
    let env = TestEnv::new().await;
    let bus = env.bus().await;
    let mut service = support::start(support::settings(&env)).await;
    let (ok, failing) = (Receiver::start().await, Receiver::start().await);
    failing.set_mode(Mode::Status(500));
    let (done, _) = support::create(&mut service.client, "acme", &ok.url, &["*"]).await;
    let (pending, _) = support::create(&mut service.client, "globex", &failing.url, &["*"]).await;
    support::session_completed(&bus, "acme", "r1").await;
    support::session_completed(&bus, "globex", "r2").await;
    support::wait_delivery(&service.client, "acme", &done.id, "delivered", |d| {
        d.status == "succeeded"
    })
    .await;
    support::wait_delivery(&service.client, "globex", &pending.id, "tried", |d| {
        d.attempts >= 1
    })
    .await;
    let pool = env.pool().await;

    // Nothing is old enough yet.
    let now = chrono::Utc::now();
    let kept = retention::sweep(&pool, "webhooks", now - chrono::Duration::days(30))
        .await
        .unwrap();
    assert_eq!(kept, 0);
    assert_eq!(count(&pool, "deliveries").await, 2);

    // A day on: the succeeded delivery, its attempts and its body go; the pending one stays.
    let removed = retention::sweep(&pool, "webhooks", now + chrono::Duration::days(1))
        .await
        .unwrap();
    assert_eq!(removed, 2, "one delivery and one body");
    assert_eq!(count(&pool, "deliveries").await, 1);
    assert_eq!(count(&pool, "event_bodies").await, 1);
    let left: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM webhooks.attempts a JOIN webhooks.deliveries d ON d.id = a.delivery_id \
         WHERE d.status = 'pending'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        count(&pool, "attempts").await,
        left,
        "only the pending one's attempts"
    );
    assert!(
        support::deliveries(&mut service.client, "acme", &done.id)
            .await
            .is_empty()
    );
    service.running.stop().await.expect("stops cleanly");
}

//! `make bench-payments`: authorisations and captures per second through the payments service (gRPC,
//! idempotency keys, the event store, the sandbox provider's books, the outbox relay to NATS), on a
//! fresh database and namespace of the local PostgreSQL and NATS.
//!
//! Each pair is `AuthorizeSessionPayment` (a 50.00 hold on a sandbox card) then `CapturePayment`
//! (12.34, the rest released), with `BENCH_CONCURRENCY` pairs in flight (default 32) and
//! `BENCH_PAIRS` pairs in all (default 4000), on a pool of `BENCH_POOL` connections (default 48).
//! It prints pairs/s and operations/s (two per pair), how long the relay took to publish every
//! resulting event, and the sustained rate: operations over that time (the figure to quote: a rate
//! the relay does not keep up with would leave a growing outbox). `BENCH_DB_SOCKET=<dir>` reaches
//! PostgreSQL through its Unix socket in `<dir>` instead of TCP.
//!
//! Before the timed run it measures the machine's own ceiling for this work (3 s each, as many at
//! once as the bench's concurrency): one-row PostgreSQL commits that wait for the WAL flush, and
//! acknowledged JetStream publishes (`joule_testkit::ceiling`); it reports the sustained rate as a
//! ratio to each, and this process's CPU time per operation.
//!
//! Database work per pair, counted rather than timed (the machine is shared, timings are noisy): the
//! bench prints the bench database's commits and rows written (`pg_stat_database`, and per table from
//! `pg_stat_user_tables`) over the pairs, divided by the number of pairs. With `BENCH_LOG_STATEMENTS=1`
//! it also sets `log_min_duration_statement = 0` on its own database, so every statement of the run is
//! in the PostgreSQL log under that database's name (count them with `grep`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use joule_domain::{AccountId, SessionId};
use joule_proto::v1;
use joule_proto::v1::payments_service_client::PaymentsServiceClient;
use joule_testkit::TestEnv;
use tokio::sync::Semaphore;
use tonic::transport::Channel;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    // The service's logs on stderr, filtered by `JOULE_LOG` (`make bench-payments` sets `warn`).
    let _telemetry =
        joule_telemetry::init("payments-bench", None, joule_telemetry::LogFormat::Text)
            .expect("telemetry");
    let pairs = env_number("BENCH_PAIRS", 4000);
    let concurrency = env_number("BENCH_CONCURRENCY", 32);
    let accounts = 200;
    let env = TestEnv::new().await;
    if std::env::var("BENCH_LOG_STATEMENTS").is_ok_and(|v| v == "1") {
        // Only this database, and only connections opened after this (the service's pool).
        let admin = env.pool().await;
        sqlx::query(&format!(
            "ALTER DATABASE {} SET log_min_duration_statement = 0",
            env.database
        ))
        .execute(&admin)
        .await
        .expect("log statements");
        admin.close().await;
        println!("logging every statement of database {}", env.database);
    }
    let mut settings = env.settings();
    settings.database_max_connections = env_number("BENCH_POOL", 48) as u32;
    // A database on this host is reached without TLS (`joule_store::connect`), as a deployment next
    // to its database is; `BENCH_DB_TLS=1` measures with TLS (sqlx's `prefer`) instead.
    let tls = std::env::var("BENCH_DB_TLS").is_ok_and(|v| v == "1");
    let url = settings.database_url.expose().to_owned();
    if tls && !url.contains("sslmode=") {
        let sep = if url.contains('?') { '&' } else { '?' };
        settings.database_url = format!("{url}{sep}sslmode=prefer").into();
    }
    // `BENCH_DB_SOCKET=/var/run/postgresql` reaches the same server through its Unix socket instead
    // of TCP on loopback, as a service deployed on the database's host can.
    let socket = std::env::var("BENCH_DB_SOCKET")
        .ok()
        .filter(|v| !v.is_empty());
    if let Some(dir) = &socket {
        settings.database_url =
            format!("postgres:///{}?host={dir}&user=postgres", env.database).into();
    }
    joule_testkit::absent_services(&mut settings, &["payments"]);
    let running = joule_runtime::spawn(settings, &[joule_payments::SERVICE])
        .await
        .expect("payments starts");
    let channel = Channel::from_shared(format!("http://{}", running.addr("grpc").unwrap()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let client = PaymentsServiceClient::new(channel);

    // Accounts with a default sandbox card; the card's limit is per account, so holds spread out.
    for i in 0..accounts {
        let account = AccountId::derived(&format!("bench-{i}"));
        client
            .clone()
            .save_payment_method(v1::SavePaymentMethodRequest {
                idempotency_key: format!("save-{i}"),
                account_id: account.to_string(),
                provider: "sandbox".into(),
                provider_token: "tok_sandbox_ok".into(),
                make_default: true,
                ..Default::default()
            })
            .await
            .expect("save card");
    }

    // The machine's own ceiling, in this run: what it commits and publishes at all.
    let probe = Duration::from_secs(3);
    let pg_ceiling =
        joule_testkit::ceiling::postgres_commits_per_sec(&env.database_url, concurrency, probe)
            .await;
    let js_ceiling = joule_testkit::ceiling::jetstream_publishes_per_sec(
        &env.nats_url,
        &env.namespace.to_uppercase(),
        concurrency,
        probe,
    )
    .await;

    let stats_pool = env.pool().await;
    let before = counts(&stats_pool).await;
    let cpu_before = joule_testkit::ceiling::process_cpu_time();

    let gate = Arc::new(Semaphore::new(concurrency));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(pairs);
    for n in 0..pairs {
        let permit = gate.clone().acquire_owned().await.unwrap();
        let mut client = client.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let account = AccountId::derived(&format!("bench-{}", n % accounts));
            let session = SessionId::derived(&format!("bench/{n}"));
            let held = client
                .authorize_session_payment(v1::AuthorizeSessionPaymentRequest {
                    idempotency_key: format!("auth-{n}"),
                    session_id: session.to_string(),
                    account_id: account.to_string(),
                    currency: "EUR".into(),
                    ..Default::default()
                })
                .await
                .expect("authorize")
                .into_inner();
            assert_eq!(held.decision, "approved", "{held:?}");
            let captured = client
                .capture_payment(v1::CapturePaymentRequest {
                    idempotency_key: format!("capture-{n}"),
                    intent_id: held.intent.unwrap().id,
                    amount: "12.34".into(),
                    ..Default::default()
                })
                .await
                .expect("capture")
                .into_inner();
            assert_eq!(captured.status, "captured");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed();

    // The relay publishes behind the commands; wait until the outbox is empty.
    let pool = env.pool().await;
    loop {
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM payments.outbox")
            .fetch_one(&pool)
            .await
            .unwrap();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drained = started.elapsed();
    let cpu = joule_testkit::ceiling::process_cpu_time().saturating_sub(cpu_before);
    let captured: i64 =
        sqlx::query_scalar("SELECT count(*) FROM payments.sandbox_holds WHERE status = 'captured'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(captured as usize, pairs, "every pair captured exactly once");

    let secs = elapsed.as_secs_f64();
    println!(
        "payments bench: {pairs} authorisation+capture pairs, concurrency {concurrency}, database {}",
        match (&socket, tls) {
            (Some(dir), _) => format!("on the Unix socket in {dir}"),
            (None, true) => "on TCP loopback with TLS (sslmode=prefer)".into(),
            (None, false) => "on TCP loopback without TLS".into(),
        }
    );
    println!("  elapsed            {secs:.2} s");
    println!("  pairs/s            {:.0}", pairs as f64 / secs);
    println!(
        "  operations/s       {:.0} (authorisations + captures)",
        2.0 * pairs as f64 / secs
    );
    println!(
        "  events published   {:.2} s after the start (outbox drained)",
        drained.as_secs_f64()
    );
    // The relay works behind the commands; a rate the relay does not keep up with would leave a
    // growing outbox, so the sustained rate counts until every event is published.
    println!(
        "  sustained ops/s    {:.0} (operations / time until the outbox drained)",
        2.0 * pairs as f64 / drained.as_secs_f64()
    );
    let sustained = 2.0 * pairs as f64 / drained.as_secs_f64();
    println!(
        "  machine ceiling    {pg_ceiling:.0} PostgreSQL commits/s, {js_ceiling:.0} JetStream publishes/s \
         ({concurrency} at once, each durable)"
    );
    println!(
        "  ratio              {:.3} operations per raw PostgreSQL commit, {:.3} per raw JetStream publish",
        sustained / pg_ceiling,
        sustained / js_ceiling
    );
    println!(
        "  CPU per operation  {:.2} ms (this process: service, client and relay; PostgreSQL and NATS not counted)",
        cpu.as_secs_f64() * 1000.0 / (2.0 * pairs as f64)
    );
    running.stop().await.unwrap();
    // Closed connections flush their statistics; the bench's own pools count too, but they only
    // ran the few counting queries above.
    pool.close().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = counts(&stats_pool).await;
    println!("  database work per pair (pg_stat counters, whole run incl. relay):");
    for (name, n) in &after {
        let d = n - before
            .iter()
            .find(|(b, _)| b == name)
            .map_or(0, |(_, v)| *v);
        if d != 0 {
            println!("    {name:<40} {:>8.2}", d as f64 / pairs as f64);
        }
    }
}

/// The bench database's commits and rows written, in all and per table.
async fn counts(pool: &sqlx::PgPool) -> Vec<(String, i64)> {
    let _ = sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(pool)
        .await;
    let mut out: Vec<(String, i64)> = sqlx::query_as(
        "SELECT k, v FROM pg_stat_database d, LATERAL (VALUES
            ('commits', d.xact_commit), ('rollbacks', d.xact_rollback),
            ('rows inserted', d.tup_inserted), ('rows updated', d.tup_updated),
            ('rows deleted', d.tup_deleted), ('rows fetched', d.tup_fetched)) AS t(k, v)
         WHERE d.datname = current_database()",
    )
    .fetch_all(pool)
    .await
    .expect("pg_stat_database");
    let tables: Vec<(String, i64)> = sqlx::query_as(
        "SELECT schemaname || '.' || relname || ' ' || k, v FROM pg_stat_user_tables,
            LATERAL (VALUES ('ins', n_tup_ins), ('upd', n_tup_upd), ('del', n_tup_del)) AS t(k, v)
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .expect("pg_stat_user_tables");
    out.extend(tables);
    out
}

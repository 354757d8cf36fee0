//! The machine's own ceiling for a benchmark's work, measured in the same run: shared 2-core
//! machines differ by 2-3x from one to the next, so a benchmark reports its figure as a ratio to what
//! this machine does at all (raw durable PostgreSQL commits, raw durable JetStream publishes), and
//! the CPU time it spent per operation.

use std::time::{Duration, Instant};

use futures::future::join_all;

/// Commits per second of one-row inserts in autocommit, each waiting for the WAL flush, from
/// `connections` connections at once for `run`; on a scratch table it creates and drops.
pub async fn postgres_commits_per_sec(
    database_url: &str,
    connections: usize,
    run: Duration,
) -> f64 {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(connections as u32)
        .connect(database_url)
        .await
        .expect("connect for the ceiling");
    sqlx::query("CREATE TABLE IF NOT EXISTS ceiling_commits (n bigint)")
        .execute(&pool)
        .await
        .expect("scratch table");
    let started = Instant::now();
    let workers = (0..connections).map(|_| {
        let pool = pool.clone();
        async move {
            let mut n = 0u64;
            while started.elapsed() < run {
                sqlx::query("INSERT INTO ceiling_commits VALUES (1)")
                    .execute(&pool)
                    .await
                    .expect("insert");
                n += 1;
            }
            n
        }
    });
    let commits: u64 = join_all(workers).await.into_iter().sum();
    let rate = commits as f64 / started.elapsed().as_secs_f64();
    let _ = sqlx::query("DROP TABLE ceiling_commits")
        .execute(&pool)
        .await;
    pool.close().await;
    rate
}

/// Acknowledged (stored, file storage) JetStream publishes per second with `in_flight` publishes
/// outstanding, for `run`, on a scratch stream `<stream_prefix>_CEILING` it creates and deletes.
pub async fn jetstream_publishes_per_sec(
    nats_url: &str,
    stream_prefix: &str,
    in_flight: usize,
    run: Duration,
) -> f64 {
    let client = async_nats::connect(nats_url).await.expect("connect NATS");
    let js = async_nats::jetstream::new(client);
    let name = format!("{stream_prefix}_CEILING");
    let subject = format!("{}.ceiling", stream_prefix.to_lowercase());
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: name.clone(),
        subjects: vec![subject.clone()],
        ..Default::default()
    })
    .await
    .expect("scratch stream");
    let started = Instant::now();
    let workers = (0..in_flight).map(|_| {
        let (js, subject) = (js.clone(), subject.clone());
        async move {
            let mut n = 0u64;
            while started.elapsed() < run {
                js.publish(subject.clone(), "x".into())
                    .await
                    .expect("publish")
                    .await
                    .expect("ack");
                n += 1;
            }
            n
        }
    });
    let published: u64 = join_all(workers).await.into_iter().sum();
    let rate = published as f64 / started.elapsed().as_secs_f64();
    let _ = js.delete_stream(&name).await;
    rate
}

/// CPU time (user + system) this process has used so far, from `/proc/self/stat`; zero where that
/// cannot be read.
pub fn process_cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the command name (which may hold spaces) in parentheses; utime and stime are
    // the 14th and 15th fields, in clock ticks (100 per second on Linux).
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return Duration::ZERO;
    };
    let fields: Vec<u64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

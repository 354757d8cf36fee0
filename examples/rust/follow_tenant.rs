//! Follows a tenant's sessions and invoices on Joule's integrator plane (ADR 043).
//!
//! ```text
//! follow-tenant --url nats://127.0.0.1:4223 --creds acme.creds \
//!     --stream JOULE_T_acme --inbox-prefix _INBOX_acme [--since 2026-12-01T00:00:00Z]
//! ```
//!
//! The `url`, `stream` and `inbox_prefix` are what `POST /v1/nats-credentials` answers under `nats`,
//! and `creds` is its `creds` saved to a file. For each domain followed (`--domains`, default
//! `session,invoice`) the program keeps a durable pull consumer `<durable>-<domain>` on the
//! tenant's stream, so a restart goes on where it stopped; `--since` starts new consumers at a
//! point in time instead of at the stream's first event. Each event is printed as one line,
//! `<occurred_at> <type> <aggregate_id> <data>`, and acknowledged after it was printed: at least
//! once, so de-duplicate on the event's `id` where that matters.

use async_nats::jetstream::{self, consumer::DeliverPolicy, consumer::pull};
use clap::Parser;
use futures::StreamExt;
use serde_json::Value;

#[derive(Debug, Parser)]
#[command(about = "Follow a tenant's Joule events on the integrator plane")]
struct Args {
    /// The integrator plane's address (`nats.url`).
    #[arg(long)]
    url: String,
    /// The `.creds` file (`creds` of the answer, saved).
    #[arg(long)]
    creds: std::path::PathBuf,
    /// The tenant's stream (`nats.stream`).
    #[arg(long)]
    stream: String,
    /// The inbox prefix the user may receive on (`nats.inbox_prefix`).
    #[arg(long)]
    inbox_prefix: String,
    /// The domains to follow: session, invoice, pricing, payment, ledger, registry, charger.
    #[arg(long, value_delimiter = ',', default_value = "session,invoice")]
    domains: Vec<String>,
    /// The durable consumers' name prefix.
    #[arg(long, default_value = "follow-tenant")]
    durable: String,
    /// Replay from this time (RFC 3339) when the consumers are new.
    #[arg(long)]
    since: Option<chrono::DateTime<chrono::Utc>>,
    /// Stop after this many events (0: run until interrupted).
    #[arg(long, default_value_t = 0)]
    count: usize,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let client = async_nats::ConnectOptions::with_credentials_file(&args.creds)
        .await?
        .custom_inbox_prefix(&args.inbox_prefix)
        .connect(&args.url)
        .await?;
    let js = jetstream::new(client);
    let mut stream = js.get_stream(&args.stream).await?;
    // `<ns>.tenant.<tenant>.>`: the domains are the next token.
    let root = stream
        .info()
        .await?
        .config
        .subjects
        .first()
        .and_then(|s| s.strip_suffix(".>"))
        .ok_or("the stream has no subjects")?
        .to_owned();
    let deliver_policy = match args.since {
        None => DeliverPolicy::All,
        Some(since) => DeliverPolicy::ByStartTime {
            start_time: time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(
                since
                    .timestamp_nanos_opt()
                    .ok_or("--since is out of range")?,
            ))?,
        },
    };
    let mut followed = Vec::new();
    for domain in &args.domains {
        let consumer = stream
            .get_or_create_consumer(
                &format!("{}-{domain}", args.durable),
                pull::Config {
                    durable_name: Some(format!("{}-{domain}", args.durable)),
                    filter_subject: format!("{root}.{domain}.>"),
                    deliver_policy,
                    ..Default::default()
                },
            )
            .await?;
        followed.push(consumer.messages().await?);
    }
    let mut events = futures::stream::select_all(followed);
    let mut seen = 0;
    while let Some(message) = events.next().await {
        let message = message?;
        let event: Value = serde_json::from_slice(&message.payload)?;
        println!(
            "{} {} {} {}",
            event["occurred_at"].as_str().unwrap_or("-"),
            event["type"].as_str().unwrap_or("-"),
            event["aggregate_id"].as_str().unwrap_or("-"),
            event["data"]
        );
        // Acknowledged once the server confirms it, so a restart does not print it again.
        message.double_ack().await.map_err(|e| e.to_string())?;
        seen += 1;
        if seen == args.count {
            break;
        }
    }
    Ok(())
}

//! `make bench-auth`: what checking a credential and its rate limits costs per request (issue 13:
//! at most 50 µs), on a fresh database of the local PostgreSQL.
//!
//! It loads `BENCH_KEYS` API keys (default 10,000) of 100 tenants into the api's read table, loads
//! them into a [`Directory`] as an api replica does, and then times `Authenticator::authenticate`
//! plus `Authenticator::limit` (the whole per-request work of `require_caller`, without HTTP) over
//! `BENCH_REQUESTS` requests (default 1,000,000) spread over the keys, on one thread and then on
//! two at once. Limits are set high enough that no request is refused (a refused one costs the
//! same). Each figure is the median of 5 runs.
//!
//! Then the same for OAuth2 access tokens: one EdDSA JWT per key for the first `BENCH_TOKENS`
//! keys (default 1,000), issued by the api's own issuer, checked by `Authenticator::authenticate_any`
//! (the verifier's cache serves a token it verified before, as it does for a client that reuses its
//! token for 15 minutes; each token's first, uncached, verification is inside the figure too).
//!
//! The machine's ceiling for this work, measured in the same run: raw SHA-256 digests per second of
//! a key-sized input (the one primitive every check needs). The bench reports its rate as a ratio to
//! it, and the process's CPU time per request.

use std::sync::Arc;
use std::time::Instant;

use joule_api::auth::directory::{Directory, to_hex};
use joule_api::auth::keys;
use joule_api::auth::oauth::OAuth;
use joule_api::auth::rate::{Limiter, RateLimits};
use joule_api::auth::{Authenticator, Principal};
use joule_auth::NewToken;
use joule_domain::TenantId;
use joule_testkit::TestEnv;
use joule_testkit::ceiling::process_cpu_time;
use sha2::{Digest, Sha256};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const RUNS: usize = 5;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// Requests per second through `auth` on `threads` threads, and CPU µs per request.
fn run(
    auth: &Authenticator,
    headers: &[String],
    requests: usize,
    threads: usize,
    jwt: bool,
) -> (f64, f64) {
    let per_thread = requests / threads;
    let cpu = process_cpu_time();
    let start = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            scope.spawn(move || {
                let mut refused = 0usize;
                for i in 0..per_thread {
                    let header = &headers[(i * threads + t) % headers.len()];
                    let checked = if jwt {
                        futures::executor::block_on(auth.authenticate_any(Some(header)))
                    } else {
                        auth.authenticate(Some(header))
                    };
                    match checked {
                        Ok(principal) => {
                            let _: &Principal = &principal;
                            if !matches!(
                                auth.limit(&principal),
                                joule_api::auth::rate::Decision::Allowed { .. }
                            ) {
                                refused += 1;
                            }
                        }
                        Err(e) => panic!("a valid key was refused: {e}"),
                    }
                }
                assert_eq!(refused, 0, "raise the limits: requests were rate limited");
            });
        }
    });
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = (process_cpu_time() - cpu).as_secs_f64();
    let done = (per_thread * threads) as f64;
    (done / elapsed, cpu / done * 1e6)
}

/// The machine's ceiling: raw SHA-256 digests per second of a key-sized input, on one thread.
fn sha256_per_sec() -> f64 {
    let input = keys::new_secret("live", &keys::new_key_id()).secret;
    let n = 2_000_000;
    let start = Instant::now();
    let mut acc = 0u8;
    for _ in 0..n {
        acc ^= Sha256::digest(input.as_bytes())[0];
    }
    std::hint::black_box(acc);
    n as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let key_count = env_number("BENCH_KEYS", 10_000);
    let requests = env_number("BENCH_REQUESTS", 1_000_000);
    let env = TestEnv::new().await;
    let pool = env.pool().await;
    joule_api::migrate(&pool).await.expect("migrate");

    let mut headers = Vec::with_capacity(key_count);
    let mut rows = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..key_count {
        let key = keys::new_secret("live", &keys::new_key_id());
        rows.0.push(key.key_id.clone());
        rows.1.push(format!("tenant-{}", i % 100));
        rows.2.push(to_hex(&key.digest));
        headers.push(format!("Bearer {}", key.secret));
    }
    sqlx::query(
        "INSERT INTO api.api_keys (key_id, tenant_id, name, roles, fleets, digest, created_by, created_at)
         SELECT k, t, 'bench', ARRAY['operator'], '{}', d, 'bench', now()
         FROM unnest($1::text[], $2::text[], $3::text[]) AS u(k, t, d)",
    )
    .bind(&rows.0)
    .bind(&rows.1)
    .bind(&rows.2)
    .execute(&pool)
    .await
    .expect("insert keys");
    sqlx::query(
        "INSERT INTO api.tenants (id, name, id_key, created_at)
         SELECT 'tenant-' || n, 'bench', '', now() FROM generate_series(0, 99) AS n",
    )
    .execute(&pool)
    .await
    .expect("insert tenants");
    let directory = Arc::new(
        Directory::load(pool.clone(), &TenantId::default_tenant())
            .await
            .expect("load keys"),
    );
    let limits = RateLimits::parse("default=1000000000/1000000000", "1000000000/1000000000")
        .expect("limits");
    let oauth = Arc::new(
        OAuth::start(&pool, &joule_config::Settings::default())
            .await
            .expect("oauth"),
    );
    let auth = Authenticator::new(
        "bench-admin-token-3f9c1a7e5b2d4c6e",
        TenantId::default_tenant(),
        "",
        directory,
        Arc::new(Limiter::new(limits)),
    )
    .expect("authenticator")
    .with_oauth(oauth.clone());
    let token_count = env_number("BENCH_TOKENS", 1_000).min(key_count);
    let issue = |i: usize| {
        let token = NewToken {
            client_id: rows.0[i].clone(),
            tenant: rows.1[i].clone(),
            roles: vec!["operator".into()],
            fleets: Vec::new(),
        };
        let (jwt, _) = oauth
            .issuer
            .issue(token, oauth.ttl, chrono::Utc::now())
            .expect("a token");
        format!("Bearer {jwt}")
    };
    let tokens: Vec<String> = (0..token_count).map(issue).collect();

    let ceiling = median((0..RUNS).map(|_| sha256_per_sec()).collect());
    println!("machine ceiling: {ceiling:.0} SHA-256 digests/s of a key (one thread)");
    let cases = [
        ("API key", &headers, key_count, false),
        ("OAuth2 access token", &tokens, token_count, true),
    ];
    for (what, credentials, count, jwt) in cases {
        for threads in [1, 2] {
            let mut rates = Vec::new();
            let mut cpus = Vec::new();
            for _ in 0..RUNS {
                let (rate, cpu) = run(&auth, credentials, requests, threads, jwt);
                rates.push(rate);
                cpus.push(cpu);
            }
            let rate = median(rates);
            let cpu = median(cpus);
            println!(
                "{what} check + rate limit, {threads} thread(s), {count} credentials: {rate:.0} requests/s, \
                 {:.2} µs wall per request per thread, {cpu:.2} µs CPU per request, {:.3} of the SHA-256 ceiling",
                1e6 / rate * threads as f64,
                rate / threads as f64 / ceiling
            );
        }
    }
    // A token's first request: its EdDSA signature verified, then cached. Fresh tokens each run.
    let mut firsts = Vec::new();
    for _ in 0..RUNS {
        let fresh: Vec<String> = (0..token_count).map(issue).collect();
        let (rate, cpu) = run(&auth, &fresh, token_count, 1, true);
        firsts.push((rate, cpu));
    }
    let rate = median(firsts.iter().map(|f| f.0).collect());
    let cpu = median(firsts.iter().map(|f| f.1).collect());
    println!(
        "OAuth2 access token, first use (signature verified, not cached), 1 thread: {rate:.0} requests/s, \
         {:.2} µs wall per request, {cpu:.2} µs CPU per request, {:.3} of the SHA-256 ceiling",
        1e6 / rate,
        rate / ceiling
    );
    drop(pool);
}

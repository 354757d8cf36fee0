//! Test isolation for integration tests: [`TestEnv::new`] creates a fresh PostgreSQL database and a
//! unique NATS namespace, and dropping the [`TestEnv`] removes exactly those (never anything it did
//! not create). `JOULE_TEST_DATABASE_URL` (an admin connection, default the local `postgres`
//! database) and `JOULE_TEST_NATS_URL` point it elsewhere.
//!
//! For the internal plane (ADR 028): [`NatsServer`] starts a private `nats-server` with a
//! configuration of its own (the users and permissions of `deploy/nats/joule.conf`), and
//! [`TestPki`] makes gRPC certificates. [`IntegratorPlane`] starts an operator-mode server for
//! tenants' streams (ADR 043).

pub mod ceiling;
mod integrator_plane;
mod nats;
mod pki;
pub mod publish;
mod wait;

pub use integrator_plane::IntegratorPlane;
pub use nats::{NatsServer, deploy_nats_dir, dev_nats_password};
pub use pki::TestPki;
pub use publish::publish;
pub use wait::{DEADLINE, eventually, wait_for_events};

use joule_bus::{Bus, Namespace};
use joule_config::Settings;
use sqlx::Connection;

pub struct TestEnv {
    pub database: String,
    pub database_url: String,
    pub namespace: String,
    pub nats_url: String,
    admin_url: String,
}

impl TestEnv {
    pub async fn new() -> Self {
        let admin_url = std::env::var("JOULE_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let nats_url =
            std::env::var("JOULE_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
        let suffix = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let database = format!("joule_test_{suffix}");
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("connect to PostgreSQL (admin)");
        sqlx::query(&format!("CREATE DATABASE {database}"))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let _ = admin.close().await;
        let (base, _) = admin_url.rsplit_once('/').expect("database url has a path");
        Self {
            database_url: format!("{base}/{database}"),
            database,
            namespace: format!("t{suffix}"),
            nats_url,
            admin_url,
        }
    }

    /// Settings pointing at this environment, with every listener on port 0.
    pub fn settings(&self) -> Settings {
        Settings {
            database_url: self.database_url.clone().into(),
            database_max_connections: 20,
            nats_url: self.nats_url.clone(),
            namespace: self.namespace.clone(),
            api_addr: "127.0.0.1:0".into(),
            ocpp_addr: "127.0.0.1:0".into(),
            grpc_addr: "127.0.0.1:0".into(),
            admin_token: "joule-test-admin-token-5c8e2a9f41b7d3".into(),
            heartbeat_interval_secs: 60,
            shutdown_grace_secs: 5,
            // Most tests register chargers without a password (security profile 0), which the
            // default refuses: allowed here explicitly. Tests of authentication set it back.
            ocpp_require_auth: false,
            ..Settings::default()
        }
    }

    /// [`TestEnv::settings`] for a process that runs only `running` (service names): the gRPC
    /// URLs of the others point at [`ABSENT`], as a deployment names every service it does not run.
    pub fn settings_running(&self, running: &[&str]) -> Settings {
        let mut settings = self.settings();
        absent_services(&mut settings, running);
        settings
    }

    pub async fn pool(&self) -> sqlx::PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(5)
            .connect(&self.database_url)
            .await
            .expect("connect to test database")
    }

    /// A bus on this environment's namespace, with its streams created.
    pub async fn bus(&self) -> Bus {
        let bus = Bus::connect(
            &self.nats_url,
            Namespace::new(&self.namespace).expect("namespace"),
        )
        .await
        .expect("connect to NATS");
        bus.ensure_streams().await.expect("create streams");
        bus
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let (admin_url, database, nats_url, namespace) = (
            self.admin_url.clone(),
            self.database.clone(),
            self.nats_url.clone(),
            self.namespace.clone(),
        );
        // Drop runs outside async; clean up on a thread with its own runtime.
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ =
                        sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
                            .execute(&mut admin)
                            .await;
                }
                if let Ok(ns) = Namespace::new(&namespace)
                    && let Ok(bus) = Bus::connect(&nats_url, ns).await
                {
                    let _ = bus.delete_streams().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// The gRPC URL of a service a test does not run: nothing listens on port 9 (discard) of loopback,
/// so a call fails as `Unavailable`, as it does when that service is down.
pub const ABSENT: &str = "http://127.0.0.1:9";

/// Points every empty gRPC URL of a service not in `running` at [`ABSENT`]: a process refuses to
/// start with an empty URL for a service it does not run.
pub fn absent_services(settings: &mut Settings, running: &[&str]) {
    let urls = [
        ("sessions", &mut settings.sessions_grpc_url),
        ("pricing", &mut settings.pricing_grpc_url),
        ("invoicing", &mut settings.invoicing_grpc_url),
        ("ledger", &mut settings.ledger_grpc_url),
        ("payments", &mut settings.payments_grpc_url),
        ("gateway", &mut settings.gateway_grpc_url),
        ("webhooks", &mut settings.webhooks_grpc_url),
    ];
    for (service, url) in urls {
        if url.is_empty() && !running.contains(&service) {
            *url = ABSENT.to_owned();
        }
    }
}

//! Joule's configuration, layered: built-in defaults, then an optional TOML file (`--config` or
//! `JOULE_CONFIG`), then `JOULE_*` environment variables (`JOULE_DATABASE_URL` sets `database_url`).
//! Every setting is documented in the README's configuration table.
//!
//! Secrets (the database URL, the admin token, Stripe keys, the NATS password) are [`Secret`]s: their
//! `Debug` and `Display` print `[redacted]`, so printing `Settings` shows none of them.

use std::fmt;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

/// A setting that must never be printed: `Debug` and `Display` write `[redacted]`; the value is
/// read with [`Secret::expose`], at the one place that uses it. (Serialization writes the value:
/// figment layers the settings through it.)
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Pass it to what needs it; never format it into a message.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// The shortest admin token accepted, and the fewest distinct characters it must hold.
pub const ADMIN_TOKEN_MIN_LEN: usize = 24;
pub const ADMIN_TOKEN_MIN_DISTINCT: usize = 10;

/// Why `token` is too weak to guard the REST API, or `None` if it is strong enough: at least
/// [`ADMIN_TOKEN_MIN_LEN`] characters, of which at least [`ADMIN_TOKEN_MIN_DISTINCT`] distinct (a
/// random 32-character hex or base64 string passes; a word, `aaaa...` or `123123...` does not).
pub fn admin_token_weakness(token: &str) -> Option<String> {
    let length = token.chars().count();
    if length < ADMIN_TOKEN_MIN_LEN {
        return Some(format!(
            "it has {length} characters; at least {ADMIN_TOKEN_MIN_LEN} are required"
        ));
    }
    let mut distinct: Vec<char> = token.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < ADMIN_TOKEN_MIN_DISTINCT {
        return Some(format!(
            "it has {} distinct characters; at least {ADMIN_TOKEN_MIN_DISTINCT} are required",
            distinct.len()
        ));
    }
    None
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// PostgreSQL connection string; each service migrates its own schema in this database at start.
    /// May hold a password: never logged.
    pub database_url: Secret,
    pub database_max_connections: u32,
    /// NATS server with JetStream.
    pub nats_url: String,
    /// NATS user and password of this process (a per-service user of `deploy/nats/joule.conf`);
    /// both empty means no credentials (the local set-up of `joule run --all`).
    pub nats_user: String,
    pub nats_password: Secret,
    /// Prefix of every NATS stream and subject of this instance.
    pub namespace: String,
    /// Tenant that the admin token acts for.
    pub tenant: String,
    /// REST API listen address.
    pub api_addr: String,
    /// OCPP WebSocket listen address.
    pub ocpp_addr: String,
    /// gRPC listen address (all services of the process share one server).
    pub grpc_addr: String,
    /// PEM files of this process's certificate chain and key, and of the CA certificate(s) that
    /// sign every service's certificate: with all three, gRPC is mutual TLS both ways (the server
    /// requires a client certificate signed by the CA; clients present this certificate and verify
    /// the server's against the CA and the URL's host). All empty: plain h2c.
    pub grpc_tls_cert: String,
    pub grpc_tls_key: String,
    pub grpc_tls_ca: String,
    /// Allow plain (non-TLS) gRPC on a non-loopback address; without it such a process refuses to
    /// start.
    pub grpc_insecure: bool,
    /// Where the api service reaches the other services over gRPC; empty means this process.
    pub sessions_grpc_url: String,
    pub pricing_grpc_url: String,
    pub invoicing_grpc_url: String,
    pub ledger_grpc_url: String,
    /// Bearer token with full access to the REST API. Required by the api service, which refuses a
    /// weak one ([`admin_token_weakness`]). Never logged.
    pub admin_token: Secret,
    /// The platform administrator's bearer token: creates tenants and their first API keys and reads
    /// no tenant's data (ADR 034). Empty: the platform routes answer 401. Never logged.
    pub platform_token: Secret,
    /// `live` or `test`: the environment API keys of this deployment name in their prefix
    /// (`jk_live_...`), so a leaked key is recognisable.
    pub api_key_environment: String,
    /// Requests per second and burst per API credential, by role: `role=rate/burst,...`; a role
    /// not listed gets `default`. A credential with several roles gets its most generous role's.
    pub api_rate_limits: String,
    /// Requests per second and burst of one tenant, all its credentials together: `rate/burst`.
    pub api_tenant_rate_limit: String,
    /// OAuth2 tokens the api issues (ADR 033): their `iss` and `aud`, lifetime (seconds) and how
    /// often the signing key rotates (days).
    pub oauth_issuer: String,
    pub oauth_audience: String,
    pub oauth_token_ttl_secs: u64,
    pub oauth_key_rotation_days: u32,
    /// 32 bytes, base64: seals the signing keys in PostgreSQL, so every api replica signs and
    /// verifies with the same keys. Empty: one in-memory key per process (tokens die with it; a
    /// warning at start). Never logged.
    pub oauth_key_encryption_key: Secret,
    /// An external OpenID Connect issuer whose tokens the api accepts (empty: none): its `iss`, JWKS
    /// URL and the audience its tokens must carry; which claim holds the tenant (or one fixed
    /// tenant), which holds roles or groups and what each value means (`value=role,...`), and which
    /// holds fleets.
    pub oidc_issuer: String,
    pub oidc_jwks_url: String,
    pub oidc_audience: String,
    pub oidc_tenant_claim: String,
    pub oidc_fixed_tenant: String,
    pub oidc_roles_claim: String,
    pub oidc_role_map: String,
    pub oidc_fleets_claim: String,
    pub oidc_driver_claim: String,
    /// OTLP gRPC endpoint for traces (for example `http://127.0.0.1:4317`); empty means no export.
    pub otlp_endpoint: String,
    /// `text` or `json`.
    pub log_format: String,
    /// Heartbeat interval the gateway gives chargers in BootNotification, in seconds.
    pub heartbeat_interval_secs: u32,
    /// How long a stopping process waits for its tasks to drain, in seconds.
    pub shutdown_grace_secs: u64,
    /// Where the api reaches the gateway's `joule.v1.ChargerCommands`; empty means this process.
    pub gateway_grpc_url: String,
    /// Refuse chargers without a password (no security profile 0). On by default: profile 0 only
    /// where it is turned off explicitly.
    pub ocpp_require_auth: bool,
    /// Failed upgrade authentications of one charge point id before it is locked out.
    pub ocpp_auth_max_failures: u32,
    /// Failed upgrade authentications from one source IP address before it is locked out.
    pub ocpp_auth_max_failures_per_ip: u32,
    /// The first lock-out, in seconds; each further one doubles, up to `ocpp_auth_lockout_max_secs`.
    pub ocpp_auth_lockout_secs: u64,
    pub ocpp_auth_lockout_max_secs: u64,
    /// Password verifications (PBKDF2 on the blocking pool) running at once; more wait.
    pub ocpp_auth_hash_concurrency: u32,
    /// How long an unknown charge point id is remembered as unknown, in seconds.
    pub ocpp_unknown_id_cache_secs: u64,
    /// The largest WebSocket message (and frame) a charger may send, in bytes.
    pub ocpp_max_frame_bytes: u32,
    /// Messages per second a connection may send on average, and how many at once (token bucket).
    pub ocpp_message_rate_per_sec: u32,
    pub ocpp_message_burst: u32,
    /// Bytes of raw frames waiting for the audit writer, in all and per connection; frames beyond
    /// are not recorded (counted and logged).
    pub ocpp_audit_buffer_bytes: u64,
    pub ocpp_audit_charger_bytes: u64,
    /// Heartbeat intervals without any traffic after which a connection is closed.
    pub ocpp_idle_heartbeats: u32,
    /// Open connections (TLS handshakes included) on the OCPP listener; more are closed at once.
    pub ocpp_max_connections: u32,
    /// Every HTTP listener (REST, OCPP upgrade, webhooks): time to receive a request's header, and
    /// to answer a request, in seconds.
    pub http_header_read_timeout_secs: u64,
    pub http_request_timeout_secs: u64,
    /// Every TLS listener: time to complete the handshake, in seconds.
    pub tls_handshake_timeout_secs: u64,
    /// REST API: open connections, and the largest request body (bulk routes: tariffs, CDRs,
    /// settlement reports, re-ratings get `api_bulk_body_limit_bytes`).
    pub api_max_connections: u32,
    pub api_body_limit_bytes: u64,
    pub api_bulk_body_limit_bytes: u64,
    /// Payment provider webhooks: open connections and the largest body.
    pub payments_webhook_max_connections: u32,
    pub payments_webhook_body_limit_bytes: u64,
    /// gRPC: open connections, time to answer a call (seconds), and the largest message (bytes).
    pub grpc_max_connections: u32,
    pub grpc_request_timeout_secs: u64,
    /// PEM certificate chain and private key for TLS on the OCPP listener (security profile 2);
    /// both empty means plain WebSocket.
    pub ocpp_tls_cert: String,
    pub ocpp_tls_key: String,
    /// PEM file of the CA certificate(s) that sign chargers' client certificates (security profile
    /// 3); empty: no client certificates are asked for. Needs `ocpp_tls_cert`.
    pub ocpp_tls_client_ca: String,
    /// Days raw OCPP frames are kept in the gateway's audit trail; 0 records none.
    pub ocpp_frame_retention_days: u32,
    /// How long a command to a charger waits for the charger's answer, in seconds.
    pub ocpp_command_timeout_secs: u64,
    /// Charger clock drift beyond which messages are flagged, in seconds.
    pub ocpp_clock_drift_secs: u64,
    /// The most power a charger can deliver, in kW: energy above it over a time span is flagged.
    pub max_charger_power_kw: u32,
    /// How long sessions waits for missing 2.0.1 transaction events (a seqNo gap) before it
    /// completes a session without them, flagged, in seconds.
    pub session_event_wait_secs: u64,
    /// How long an open session may go without a message (start, meter values) before sessions
    /// closes it from its last reading, flagged `closed_for_inactivity`, in seconds; 0 never.
    pub session_inactivity_secs: u64,
    /// Where the api reaches the payments service; empty means this process.
    pub payments_grpc_url: String,
    /// The hold placed at session start per currency, as `EUR=50.00,GBP=40.00`, until pricing
    /// offers a quote; a currency without an entry gets no hold (the session is billed by invoice).
    pub payments_default_holds: String,
    /// How often a failed capture is tried in all before the amount goes to dunning.
    pub payments_capture_max_attempts: u32,
    /// Wait before the second capture attempt, in seconds; it doubles for each further attempt.
    pub payments_capture_retry_secs: u64,
    /// Stripe's API base URL (tests point it at localstripe over http); https uses rustls with the
    /// webpki roots built in.
    pub payments_stripe_api_base: String,
    /// Stripe secret API key (`sk_...`); empty disables the Stripe provider. Never logged.
    pub payments_stripe_secret_key: Secret,
    /// Stripe webhook signing secret (`whsec_...`); webhooks are refused without one. Never logged.
    pub payments_stripe_webhook_secret: Secret,
    /// Listen address for provider webhooks (`POST /webhooks/stripe`); empty means none.
    pub payments_webhook_addr: String,
    /// How long one call to a payment provider may take, in seconds.
    pub payments_provider_timeout_secs: u64,
    /// How a session's hold follows its running cost, as `threshold=80,factor=1.5,step=10`: at
    /// `threshold` percent of the hold, raise it to cost x `factor` rounded up to whole `step`s, by
    /// at least the first hold.
    pub payments_hold_extension: String,
    /// The session a hold is sized for by pricing's quote, as `energy_kwh=30,power_kw=50`; empty
    /// means `payments_default_holds` only. Pricing is reached at `pricing_grpc_url`.
    pub payments_hold_quote: String,
    /// Gateway: show running and final costs on chargers (2.0.1 CostUpdated, 1.6 California
    /// Pricing DataTransfer), from pricing's SessionCostUpdated and SessionPriced.
    pub ocpp_cost_display: bool,
    /// Gateway: how long a cost display waits for the charger, in ms (best effort: then dropped).
    pub ocpp_cost_display_timeout_ms: u64,
    /// Gateway: put pricing's estimate as totalCost in the 2.0.1 TransactionEvent(Ended) answer.
    pub ocpp_total_cost: bool,
    /// Gateway: how long the Ended answer waits for the estimate, in ms (at most 300).
    pub ocpp_total_cost_timeout_ms: u64,
    /// Gateway: ask payments for a hold at a transaction start and answer Blocked on a decline.
    pub ocpp_payment_check: bool,
    /// Gateway: how long a start waits for payments' decision, in ms (then Accepted).
    pub ocpp_payment_timeout_ms: u64,
    /// Consumers: handler attempts on a message that panics before it is parked in the dead-letter
    /// stream (a rejected or undecodable message is parked at once; a transient failure is retried
    /// until it passes).
    pub consumer_max_attempts: u32,
    /// Consumers: the longest wait between two attempts on one message, in ms.
    pub consumer_max_backoff_ms: u64,
    /// Runtime: restarts of a failed task allowed within `task_restart_window_secs`; one more failure
    /// stops the process.
    pub task_max_restarts: u32,
    pub task_restart_window_secs: u64,
    /// Where the api reaches the webhooks service (`joule.v1.WebhooksService`); empty means this
    /// process.
    pub webhooks_grpc_url: String,
    /// Webhooks (ADR 040): how long one POST to an endpoint may take, in ms.
    pub webhooks_timeout_ms: u64,
    /// Webhooks: the wait after a delivery's first failed attempt, in ms; it doubles after each
    /// further one (with up to a quarter more at random), up to `webhooks_backoff_max_ms`.
    pub webhooks_backoff_base_ms: u64,
    pub webhooks_backoff_max_ms: u64,
    /// Webhooks: how long after its first attempt a delivery is still retried before it is
    /// `failed`, in seconds.
    pub webhooks_retry_window_secs: u64,
    /// Webhooks: an endpoint whose deliveries have all failed for this long is disabled, in seconds.
    pub webhooks_disable_after_secs: u64,
    /// Webhooks: how long a rotated-out signing secret keeps signing beside the new one by
    /// default (and at most), in seconds.
    pub webhooks_secret_overlap_secs: u64,
    /// Webhooks: how often the delivery worker looks for due deliveries, in ms (new events wake
    /// it at once in the process that took them).
    pub webhooks_poll_interval_ms: u64,
    /// Webhooks: deliveries one worker sends at once.
    pub webhooks_batch_size: u32,
    /// Webhooks: more `host:port` addresses of the platform itself that no endpoint may name
    /// (comma-separated, e.g. the services' in-cluster names); the listen addresses of these
    /// settings (`api_addr`, `grpc_addr`, `ocpp_addr`, `payments_webhook_addr`) always count.
    pub webhooks_refused_addrs: String,
    /// Webhooks: days a finished delivery (and its attempts) stays in the delivery log.
    pub webhooks_retention_days: u32,
    /// The integrator plane (ADR 043), a NATS server in operator mode where each tenant's events
    /// are a JSON stream of its own: where the services reach it. Empty: no integrator plane.
    pub integrator_nats_url: String,
    /// The plane's address as integrators reach it, in the credentials the api answers (empty:
    /// `integrator_nats_url`).
    pub integrator_nats_public_url: String,
    /// The webhooks service's `.creds` file on the plane (`joule integrator-plane init` writes it).
    pub integrator_nats_creds_file: String,
    /// The integrators' account (`A...`) and the seed of its signing key (`SA...`), with which the
    /// api signs each tenant's user. The seed is never logged.
    pub integrator_account: String,
    pub integrator_signing_seed: Secret,
    /// How long a tenant's stream keeps an event, in seconds: how far back an integrator replays.
    pub integrator_stream_max_age_secs: u64,
    /// The most a tenant's stream stores, in bytes (its oldest events go first).
    pub integrator_stream_max_bytes: u64,
    /// Copies of each tenant's stream in a clustered plane.
    pub integrator_stream_replicas: u32,
    /// How long a tenant's NATS credential is valid by default and at most, in seconds.
    pub integrator_credential_ttl_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            database_url: "postgres://postgres@127.0.0.1:5432/joule".into(),
            database_max_connections: 20,
            nats_url: "nats://127.0.0.1:4222".into(),
            nats_user: String::new(),
            nats_password: Secret::default(),
            namespace: "joule".into(),
            tenant: "default".into(),
            api_addr: "127.0.0.1:8080".into(),
            ocpp_addr: "127.0.0.1:9000".into(),
            grpc_addr: "127.0.0.1:50051".into(),
            grpc_tls_cert: String::new(),
            grpc_tls_key: String::new(),
            grpc_tls_ca: String::new(),
            grpc_insecure: false,
            sessions_grpc_url: String::new(),
            pricing_grpc_url: String::new(),
            invoicing_grpc_url: String::new(),
            ledger_grpc_url: String::new(),
            admin_token: Secret::default(),
            platform_token: Secret::default(),
            api_key_environment: "test".into(),
            api_rate_limits: "default=50/100,admin=100/200,operator=100/200,driver=5/10".into(),
            api_tenant_rate_limit: "500/1000".into(),
            oauth_issuer: "joule".into(),
            oauth_audience: "joule-api".into(),
            oauth_token_ttl_secs: 900,
            oauth_key_rotation_days: 30,
            oauth_key_encryption_key: Secret::default(),
            oidc_issuer: String::new(),
            oidc_jwks_url: String::new(),
            oidc_audience: String::new(),
            oidc_tenant_claim: String::new(),
            oidc_fixed_tenant: String::new(),
            oidc_roles_claim: "groups".into(),
            oidc_role_map: String::new(),
            oidc_fleets_claim: String::new(),
            oidc_driver_claim: String::new(),
            otlp_endpoint: String::new(),
            log_format: "text".into(),
            heartbeat_interval_secs: 300,
            shutdown_grace_secs: 10,
            gateway_grpc_url: String::new(),
            ocpp_require_auth: true,
            ocpp_auth_max_failures: 5,
            ocpp_auth_max_failures_per_ip: 20,
            ocpp_auth_lockout_secs: 30,
            ocpp_auth_lockout_max_secs: 900,
            ocpp_auth_hash_concurrency: 4,
            ocpp_unknown_id_cache_secs: 30,
            ocpp_max_frame_bytes: 64 * 1024,
            ocpp_message_rate_per_sec: 20,
            ocpp_message_burst: 200,
            ocpp_audit_buffer_bytes: 64 * 1024 * 1024,
            ocpp_audit_charger_bytes: 1024 * 1024,
            ocpp_idle_heartbeats: 3,
            ocpp_max_connections: 100_000,
            http_header_read_timeout_secs: 10,
            http_request_timeout_secs: 30,
            tls_handshake_timeout_secs: 10,
            api_max_connections: 1024,
            api_body_limit_bytes: 64 * 1024,
            api_bulk_body_limit_bytes: 2 * 1024 * 1024,
            payments_webhook_max_connections: 256,
            payments_webhook_body_limit_bytes: 512 * 1024,
            grpc_max_connections: 1024,
            grpc_request_timeout_secs: 60,
            ocpp_tls_cert: String::new(),
            ocpp_tls_key: String::new(),
            ocpp_tls_client_ca: String::new(),
            ocpp_frame_retention_days: 30,
            ocpp_command_timeout_secs: 30,
            ocpp_clock_drift_secs: 300,
            max_charger_power_kw: 350,
            session_event_wait_secs: 900,
            session_inactivity_secs: 48 * 3600,
            payments_grpc_url: String::new(),
            payments_default_holds: "EUR=50.00,USD=50.00,GBP=40.00,CHF=50.00".into(),
            payments_capture_max_attempts: 4,
            payments_capture_retry_secs: 60,
            payments_stripe_api_base: "https://api.stripe.com".into(),
            payments_stripe_secret_key: Secret::default(),
            payments_stripe_webhook_secret: Secret::default(),
            payments_webhook_addr: String::new(),
            payments_provider_timeout_secs: 20,
            payments_hold_extension: "threshold=80,factor=1.5,step=10".into(),
            payments_hold_quote: String::new(),
            ocpp_cost_display: true,
            ocpp_cost_display_timeout_ms: 2000,
            ocpp_total_cost: true,
            ocpp_total_cost_timeout_ms: 300,
            ocpp_payment_check: true,
            ocpp_payment_timeout_ms: 3000,
            consumer_max_attempts: 5,
            consumer_max_backoff_ms: 30_000,
            task_max_restarts: 5,
            task_restart_window_secs: 300,
            webhooks_grpc_url: String::new(),
            webhooks_timeout_ms: 10_000,
            webhooks_backoff_base_ms: 30_000,
            webhooks_backoff_max_ms: 6 * 3600 * 1000,
            webhooks_retry_window_secs: 3 * 24 * 3600,
            webhooks_disable_after_secs: 3 * 24 * 3600,
            webhooks_secret_overlap_secs: 24 * 3600,
            webhooks_poll_interval_ms: 1000,
            webhooks_batch_size: 16,
            webhooks_refused_addrs: String::new(),
            webhooks_retention_days: 30,
            integrator_nats_url: String::new(),
            integrator_nats_public_url: String::new(),
            integrator_nats_creds_file: String::new(),
            integrator_account: String::new(),
            integrator_signing_seed: Secret::default(),
            integrator_stream_max_age_secs: 7 * 24 * 3600,
            integrator_stream_max_bytes: 1 << 30,
            integrator_stream_replicas: 1,
            integrator_credential_ttl_secs: 30 * 24 * 3600,
        }
    }
}

impl Settings {
    /// gRPC runs over mutual TLS (`grpc_tls_*` are set).
    pub fn grpc_tls(&self) -> bool {
        !self.grpc_tls_cert.is_empty()
    }

    /// Defaults, then `file` (or `JOULE_CONFIG`) if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        let env_file = std::env::var("JOULE_CONFIG").ok().filter(|s| !s.is_empty());
        if let Some(path) = file.map(Path::to_path_buf).or(env_file.map(Into::into)) {
            if !path.exists() {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(Env::prefixed("JOULE_").ignore(&[
            "CONFIG",
            "LOG",
            "FAULT_CRASH_BEFORE_PUBLISH",
            "FAULT_CRASH_AFTER_PUBLISH",
        ]));
        let settings: Settings = figment.extract().map_err(|e| ConfigError(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(ConfigError(format!(
                "log_format must be text or json, not {:?}",
                self.log_format
            )));
        }
        if !matches!(self.api_key_environment.as_str(), "live" | "test") {
            return Err(ConfigError(format!(
                "api_key_environment must be live or test, not {:?}",
                self.api_key_environment
            )));
        }
        if self.heartbeat_interval_secs == 0 {
            return Err(ConfigError(
                "heartbeat_interval_secs must be positive".into(),
            ));
        }
        if self.ocpp_tls_cert.is_empty() != self.ocpp_tls_key.is_empty() {
            return Err(ConfigError(
                "ocpp_tls_cert and ocpp_tls_key must be set together".into(),
            ));
        }
        if !self.ocpp_tls_client_ca.is_empty() && self.ocpp_tls_cert.is_empty() {
            return Err(ConfigError(
                "ocpp_tls_client_ca needs TLS: set ocpp_tls_cert and ocpp_tls_key too".into(),
            ));
        }
        let tls = [&self.grpc_tls_cert, &self.grpc_tls_key, &self.grpc_tls_ca];
        if tls.iter().any(|s| s.is_empty()) && tls.iter().any(|s| !s.is_empty()) {
            return Err(ConfigError(
                "grpc_tls_cert, grpc_tls_key and grpc_tls_ca must be set together".into(),
            ));
        }
        if self.nats_user.is_empty() && !self.nats_password.is_empty() {
            return Err(ConfigError("nats_password needs nats_user".into()));
        }
        if self.payments_capture_max_attempts == 0 {
            return Err(ConfigError(
                "payments_capture_max_attempts must be at least 1".into(),
            ));
        }
        if self.consumer_max_attempts == 0 {
            return Err(ConfigError(
                "consumer_max_attempts must be at least 1".into(),
            ));
        }
        if self.consumer_max_backoff_ms == 0 {
            return Err(ConfigError(
                "consumer_max_backoff_ms must be positive".into(),
            ));
        }
        if self.task_restart_window_secs == 0 {
            return Err(ConfigError(
                "task_restart_window_secs must be positive".into(),
            ));
        }
        if self.max_charger_power_kw == 0 {
            return Err(ConfigError("max_charger_power_kw must be positive".into()));
        }
        // A limit of zero would refuse everything; refuse the setting instead.
        for (name, value) in [
            (
                "ocpp_auth_max_failures",
                u64::from(self.ocpp_auth_max_failures),
            ),
            (
                "ocpp_auth_max_failures_per_ip",
                u64::from(self.ocpp_auth_max_failures_per_ip),
            ),
            ("ocpp_auth_lockout_secs", self.ocpp_auth_lockout_secs),
            (
                "ocpp_auth_hash_concurrency",
                u64::from(self.ocpp_auth_hash_concurrency),
            ),
            ("ocpp_max_frame_bytes", u64::from(self.ocpp_max_frame_bytes)),
            (
                "ocpp_message_rate_per_sec",
                u64::from(self.ocpp_message_rate_per_sec),
            ),
            ("ocpp_message_burst", u64::from(self.ocpp_message_burst)),
            ("ocpp_idle_heartbeats", u64::from(self.ocpp_idle_heartbeats)),
            ("ocpp_max_connections", u64::from(self.ocpp_max_connections)),
            (
                "http_header_read_timeout_secs",
                self.http_header_read_timeout_secs,
            ),
            ("http_request_timeout_secs", self.http_request_timeout_secs),
            (
                "tls_handshake_timeout_secs",
                self.tls_handshake_timeout_secs,
            ),
            ("api_max_connections", u64::from(self.api_max_connections)),
            ("api_body_limit_bytes", self.api_body_limit_bytes),
            ("api_bulk_body_limit_bytes", self.api_bulk_body_limit_bytes),
            (
                "payments_webhook_max_connections",
                u64::from(self.payments_webhook_max_connections),
            ),
            (
                "payments_webhook_body_limit_bytes",
                self.payments_webhook_body_limit_bytes,
            ),
            ("grpc_max_connections", u64::from(self.grpc_max_connections)),
            ("grpc_request_timeout_secs", self.grpc_request_timeout_secs),
            ("webhooks_timeout_ms", self.webhooks_timeout_ms),
            ("webhooks_backoff_base_ms", self.webhooks_backoff_base_ms),
            ("webhooks_poll_interval_ms", self.webhooks_poll_interval_ms),
            ("webhooks_batch_size", u64::from(self.webhooks_batch_size)),
            (
                "webhooks_retention_days",
                u64::from(self.webhooks_retention_days),
            ),
            (
                "integrator_stream_max_age_secs",
                self.integrator_stream_max_age_secs,
            ),
            (
                "integrator_stream_max_bytes",
                self.integrator_stream_max_bytes,
            ),
            (
                "integrator_stream_replicas",
                u64::from(self.integrator_stream_replicas),
            ),
            (
                "integrator_credential_ttl_secs",
                self.integrator_credential_ttl_secs,
            ),
        ] {
            if value == 0 {
                return Err(ConfigError(format!("{name} must be positive")));
            }
        }
        if self.webhooks_backoff_max_ms < self.webhooks_backoff_base_ms {
            return Err(ConfigError(
                "webhooks_backoff_max_ms must be at least webhooks_backoff_base_ms".into(),
            ));
        }
        if self.ocpp_auth_lockout_max_secs < self.ocpp_auth_lockout_secs {
            return Err(ConfigError(
                "ocpp_auth_lockout_max_secs must be at least ocpp_auth_lockout_secs".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail closures return figment::Error by design
mod tests {
    use super::*;

    /// Every service runs in a pod of its own in `k8s/`, so every gRPC URL must be set there: an
    /// empty one is refused at start for a service the process does not run.
    #[test]
    fn the_kubernetes_config_names_every_grpc_url() {
        let config = include_str!("../../../k8s/config.yaml");
        let fields = serde_json::to_value(Settings::default()).expect("settings serialise");
        let urls: Vec<String> = fields
            .as_object()
            .expect("an object")
            .keys()
            .filter(|k| k.ends_with("_grpc_url"))
            .map(|k| format!("JOULE_{}:", k.to_uppercase()))
            .collect();
        assert!(urls.len() >= 6, "{urls:?}");
        for url in urls {
            assert!(config.contains(&url), "k8s/config.yaml lacks {url}");
        }
    }

    #[test]
    fn environment_overrides_file_overrides_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "joule.toml",
                "namespace = \"fromfile\"\napi_addr = \"0.0.0.0:1\"",
            )?;
            jail.set_env("JOULE_API_ADDR", "0.0.0.0:2");
            let s = Settings::load(Some(Path::new("joule.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(s.namespace, "fromfile");
            assert_eq!(s.api_addr, "0.0.0.0:2");
            assert_eq!(s.nats_url, "nats://127.0.0.1:4222");
            Ok(())
        });
    }

    #[test]
    fn debug_of_the_settings_shows_no_secret() {
        let settings = Settings {
            database_url: "postgres://joule:db-pass-4e1f@db:5432/joule".into(),
            nats_user: "pricing".into(),
            nats_password: "nats-pass-9c2d".into(),
            admin_token: "admin-token-5b7a0c9e1d3f".into(),
            payments_stripe_secret_key: "sk_live_7f3e".into(),
            payments_stripe_webhook_secret: "whsec_2a8b".into(),
            ..Settings::default()
        };
        let shown = format!("{settings:?} {settings:#?}");
        for secret in [
            "db-pass-4e1f",
            "nats-pass-9c2d",
            "admin-token-5b7a0c9e1d3f",
            "sk_live_7f3e",
            "whsec_2a8b",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("[redacted]"));
        assert!(shown.contains("pricing"), "non-secrets still show: {shown}");
        assert_eq!(settings.nats_password.expose(), "nats-pass-9c2d");
        assert_eq!(settings.admin_token.to_string(), "[redacted]");
    }

    #[test]
    fn secrets_load_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("JOULE_ADMIN_TOKEN", "from-env");
            jail.set_env("JOULE_NATS_USER", "api");
            jail.set_env("JOULE_NATS_PASSWORD", "pw");
            let s = Settings::load(None).map_err(|e| e.to_string())?;
            assert_eq!(s.admin_token.expose(), "from-env");
            assert_eq!(s.nats_password.expose(), "pw");
            Ok(())
        });
    }

    #[test]
    fn weak_admin_tokens_are_named() {
        assert!(admin_token_weakness("demo-admin-token").is_some());
        assert!(admin_token_weakness("test-admin-token").is_some());
        assert!(admin_token_weakness(&"ab".repeat(20)).is_some());
        assert!(admin_token_weakness("0123456789012345678901234").is_none());
        assert!(admin_token_weakness("3f9c1a7e5b2d4c6e8a0f1b3d5e7c9a1b").is_none());
    }

    #[test]
    fn tls_and_nats_settings_go_together() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("JOULE_GRPC_TLS_CERT", "svc.pem");
            assert!(Settings::load(None).is_err());
            jail.set_env("JOULE_GRPC_TLS_KEY", "svc.key");
            jail.set_env("JOULE_GRPC_TLS_CA", "ca.pem");
            assert!(Settings::load(None).map_err(|e| e.to_string())?.grpc_tls());
            jail.set_env("JOULE_NATS_PASSWORD", "pw");
            assert!(Settings::load(None).is_err());
            Ok(())
        });
    }

    #[test]
    fn bad_values_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("JOULE_LOG_FORMAT", "xml");
            assert!(Settings::load(None).is_err());
            jail.set_env("JOULE_LOG_FORMAT", "json");
            jail.set_env("JOULE_HEARTBEAT_INTERVAL_SECS", "soon");
            assert!(Settings::load(None).is_err());
            Ok(())
        });
    }

    #[test]
    fn chargers_must_authenticate_unless_turned_off_explicitly() {
        figment::Jail::expect_with(|jail| {
            assert!(Settings::default().ocpp_require_auth);
            assert!(
                Settings::load(None)
                    .map_err(|e| e.to_string())?
                    .ocpp_require_auth
            );
            jail.set_env("JOULE_OCPP_REQUIRE_AUTH", "false");
            assert!(
                !Settings::load(None)
                    .map_err(|e| e.to_string())?
                    .ocpp_require_auth
            );
            Ok(())
        });
    }

    #[test]
    fn zero_limits_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("JOULE_OCPP_MAX_FRAME_BYTES", "0");
            assert!(Settings::load(None).is_err());
            jail.set_env("JOULE_OCPP_MAX_FRAME_BYTES", "1024");
            jail.set_env("JOULE_API_MAX_CONNECTIONS", "0");
            assert!(Settings::load(None).is_err());
            jail.set_env("JOULE_API_MAX_CONNECTIONS", "10");
            assert_eq!(
                Settings::load(None)
                    .map_err(|e| e.to_string())?
                    .ocpp_max_frame_bytes,
                1024
            );
            Ok(())
        });
    }
}

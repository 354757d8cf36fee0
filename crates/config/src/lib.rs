//! Joule's configuration, layered: built-in defaults, then an optional TOML file (`--config` or
//! `JOULE_CONFIG`), then `JOULE_*` environment variables (`JOULE_DATABASE_URL` sets `database_url`).
//! Every setting is documented in the README's configuration table.

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// PostgreSQL connection string; each service migrates its own schema in this database at start.
    pub database_url: String,
    pub database_max_connections: u32,
    /// NATS server with JetStream.
    pub nats_url: String,
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
    /// Where the api service reaches the other services over gRPC; empty means this process.
    pub sessions_grpc_url: String,
    pub pricing_grpc_url: String,
    pub invoicing_grpc_url: String,
    pub ledger_grpc_url: String,
    /// Bearer token with full access to the REST API. Required by the api service. Never logged.
    pub admin_token: String,
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
    /// Refuse chargers without a password (no security profile 0).
    pub ocpp_require_auth: bool,
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
    pub payments_stripe_secret_key: String,
    /// Stripe webhook signing secret (`whsec_...`); webhooks are refused without one.
    pub payments_stripe_webhook_secret: String,
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
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            database_url: "postgres://postgres@127.0.0.1:5432/joule".into(),
            database_max_connections: 20,
            nats_url: "nats://127.0.0.1:4222".into(),
            namespace: "joule".into(),
            tenant: "default".into(),
            api_addr: "127.0.0.1:8080".into(),
            ocpp_addr: "127.0.0.1:9000".into(),
            grpc_addr: "127.0.0.1:50051".into(),
            sessions_grpc_url: String::new(),
            pricing_grpc_url: String::new(),
            invoicing_grpc_url: String::new(),
            ledger_grpc_url: String::new(),
            admin_token: String::new(),
            otlp_endpoint: String::new(),
            log_format: "text".into(),
            heartbeat_interval_secs: 300,
            shutdown_grace_secs: 10,
            gateway_grpc_url: String::new(),
            ocpp_require_auth: false,
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
            payments_stripe_secret_key: String::new(),
            payments_stripe_webhook_secret: String::new(),
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
        }
    }
}

impl Settings {
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
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail closures return figment::Error by design
mod tests {
    use super::*;

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
}

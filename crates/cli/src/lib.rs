//! `joule`: one binary for every way Joule runs. The command-line interface lives in this library so
//! that the end-to-end tests can run the very same entry point as a child process.

pub mod demo;
pub mod services;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use joule_config::Settings;

#[derive(Parser)]
#[command(
    name = "joule",
    version,
    about = "EV-charging billing and payments platform"
)]
struct Cli {
    /// TOML configuration file (also JOULE_CONFIG); JOULE_* environment variables override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs services in this process: `joule run --all` or `joule run sessions pricing`.
    Run {
        /// Every service.
        #[arg(long, conflicts_with = "services")]
        all: bool,
        /// Services to run: gateway, sessions, pricing, invoicing, ledger, api.
        services: Vec<String>,
    },
    /// Runs every service, registers a site, a tariff, chargers, accounts and tokens through the REST
    /// API, drives simulated chargers through real OCPP 1.6 sessions, and prints sessions, invoices and
    /// the trial balance.
    Demo {
        /// Chargers to simulate.
        #[arg(long, default_value_t = 3)]
        chargers: usize,
        /// Sessions per charger.
        #[arg(long, default_value_t = 2)]
        sessions: usize,
        /// Keep the services running after the demo (until Ctrl-C).
        #[arg(long)]
        serve: bool,
    },
}

/// The `joule` command line.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Run { all, services } => {
            let defs = match services::select(all, &services) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            joule_runtime::main_with(settings, "joule", &defs)
        }
        Command::Demo {
            chargers,
            sessions,
            serve,
        } => {
            let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
            runtime.block_on(async move {
                let _telemetry =
                    joule_telemetry::init("joule-demo", None, joule_telemetry::LogFormat::Text);
                match demo::run(settings, chargers, sessions, serve).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("demo failed: {e:#}");
                        ExitCode::FAILURE
                    }
                }
            })
        }
    }
}

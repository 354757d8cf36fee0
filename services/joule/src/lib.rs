//! `joule`: one binary for every way Joule runs. The command-line interface lives in this library so
//! that the end-to-end tests can run the very same entry point as a child process.

pub mod certs;
pub mod demo;
pub mod integrator_plane;
pub mod services;
pub mod sim;
pub mod tariff;

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
    /// API, drives simulated chargers through real OCPP 1.6 sessions, tells what became of them
    /// (priced, invoiced, posted to the ledger), and makes an API key to go on with.
    Demo {
        /// Chargers to simulate.
        #[arg(long, default_value_t = 3)]
        chargers: usize,
        /// Sessions per charger.
        #[arg(long, default_value_t = 2)]
        sessions: usize,
        /// Keep the services running after the demo (until Ctrl-C or SIGTERM).
        #[arg(long)]
        serve: bool,
        /// The services' logs on stderr (by default they go to --log-file).
        #[arg(short, long)]
        verbose: bool,
        /// Where the services' logs go without -v [default: joule-demo.log in the temporary directory].
        #[arg(long, conflicts_with = "verbose")]
        log_file: Option<PathBuf>,
    },
    /// Simulates chargers against a gateway: thousands of OCPP 1.6/2.0.1 chargers with realistic
    /// sessions and field faults, as a load generator with a latency summary (`joule sim --help`).
    Sim(Box<sim::SimArgs>),
    /// The tariff engine offline: price a CDR, lint or explain a tariff, benchmark a corpus.
    Tariff {
        #[command(subcommand)]
        command: tariff::TariffCommand,
    },
    /// Certificates for gRPC mutual TLS between services: `joule certs dev`.
    Certs {
        #[command(subcommand)]
        command: certs::CertsCommand,
    },
    /// The integrator plane, where each tenant's events are a JSON stream of its own (ADR 043):
    /// `joule integrator-plane init`.
    IntegratorPlane {
        #[command(subcommand)]
        command: integrator_plane::IntegratorPlaneCommand,
    },
    /// Prints the REST API's OpenAPI 3.1 document (as `GET /v1/openapi.json` serves it), to
    /// generate a client without a running API.
    Openapi,
    /// Prints the JSON Schema of every public event as JSON (webhook bodies, the JSON rendering of
    /// the streams' envelopes), generated from `proto/joule/v1`.
    EventSchemas,
}

/// The `joule` command line.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Offline tariff work needs no settings (and must not fail on a broken JOULE_* environment).
    let cli = match cli.command {
        Command::Tariff { command } => return tariff::run(command),
        Command::Certs { command } => return certs::run(command),
        Command::IntegratorPlane { command } => return integrator_plane::run(command),
        Command::Openapi => return print_openapi(),
        Command::EventSchemas => return print_event_schemas(),
        command => Cli { command, ..cli },
    };
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
        Command::Sim(args) => sim::main(settings, *args),
        Command::Demo {
            chargers,
            sessions,
            serve,
            verbose,
            log_file,
        } => {
            let log_file = (!verbose)
                .then(|| log_file.unwrap_or_else(|| std::env::temp_dir().join("joule-demo.log")));
            let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
            runtime.block_on(async move {
                let _telemetry = match &log_file {
                    None => {
                        joule_telemetry::init("joule-demo", None, joule_telemetry::LogFormat::Text)
                            .ok()
                    }
                    Some(path) => {
                        if let Err(e) = demo::log_to_file(path) {
                            eprintln!("{e:#}");
                            return ExitCode::FAILURE;
                        }
                        None
                    }
                };
                let options = demo::Options {
                    chargers,
                    sessions,
                    serve,
                    log_file: log_file.clone(),
                };
                match demo::run(settings, options).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("demo failed: {e:#}");
                        if let Some(path) = &log_file {
                            eprintln!("the services' logs are in {}", path.display());
                        }
                        ExitCode::FAILURE
                    }
                }
            })
        }
        Command::Tariff { command } => tariff::run(command),
        Command::Certs { command } => certs::run(command),
        Command::IntegratorPlane { command } => integrator_plane::run(command),
        Command::Openapi => print_openapi(),
        Command::EventSchemas => print_event_schemas(),
    }
}

/// `joule event-schemas`: the events' JSON Schema document on stdout.
fn print_event_schemas() -> ExitCode {
    let document =
        joule_proto::json::schema::events_document(joule_proto::json::PUBLIC_EVENT_TYPES);
    match document.map(|d| serde_json::to_string_pretty(&d)) {
        Ok(Ok(json)) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// `joule openapi`: the document on stdout.
fn print_openapi() -> ExitCode {
    match serde_json::to_string_pretty(&joule_api::routes::openapi()) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

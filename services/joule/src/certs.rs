//! `joule certs dev`: a development CA and per-service certificates for gRPC mutual TLS (ADR 028).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

#[derive(Subcommand)]
pub enum CertsCommand {
    /// Makes a development CA (`ca.pem`, `ca.key`) and, per service, `<service>.pem` and
    /// `<service>.key`, valid as server and as client; names: the service, `joule-<service>`,
    /// `localhost`, `127.0.0.1` and any `--san`. Prints the JOULE_GRPC_TLS_* settings to use.
    Dev {
        /// Directory to write to (created if missing).
        #[arg(long, default_value = "certs")]
        out: PathBuf,
        /// Services to make certificates for (comma-separated).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "api,gateway,sessions,pricing,invoicing,ledger,payments"
        )]
        services: Vec<String>,
        /// Further subject alternative names for every certificate (DNS names or IP addresses,
        /// comma-separated), for example `pricing.joule.svc`.
        #[arg(long = "san", value_delimiter = ',')]
        sans: Vec<String>,
        /// Replace an existing CA in `--out`.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(command: CertsCommand) -> ExitCode {
    match command {
        CertsCommand::Dev {
            out,
            services,
            sans,
            force,
        } => match dev(out, services, sans, force) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("joule certs dev: {e}");
                ExitCode::from(2)
            }
        },
    }
}

fn dev(out: PathBuf, services: Vec<String>, sans: Vec<String>, force: bool) -> Result<(), String> {
    if services.is_empty() {
        return Err("name at least one service".into());
    }
    if let Some(bad) = services.iter().find(|s| {
        s.is_empty()
            || !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    }) {
        return Err(format!(
            "service name {bad:?}: use letters, digits, '-' and '_'"
        ));
    }
    if out.join("ca.pem").exists() && !force {
        return Err(format!(
            "{} already holds a CA; certificates it signed would stop matching (use --force)",
            out.display()
        ));
    }
    let files =
        joule_runtime::write_dev_certs(&out, &services, &sans).map_err(|e| e.to_string())?;
    let absolute = |p: &PathBuf| {
        std::fs::canonicalize(p)
            .unwrap_or_else(|_| p.clone())
            .display()
            .to_string()
    };
    println!(
        "Development CA {} (keep {} away from services).",
        absolute(&files.ca_cert),
        absolute(&files.ca_key)
    );
    println!(
        "Every process: JOULE_GRPC_TLS_CA={}",
        absolute(&files.ca_cert)
    );
    for (service, cert, key) in &files.services {
        println!(
            "{service}: JOULE_GRPC_TLS_CERT={} JOULE_GRPC_TLS_KEY={}",
            absolute(cert),
            absolute(key)
        );
    }
    println!(
        "With these set, gRPC needs a certificate from this CA both ways; point the \
         JOULE_*_GRPC_URL settings at names the certificates hold."
    );
    Ok(())
}

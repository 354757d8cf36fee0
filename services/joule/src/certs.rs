//! `joule certs dev`: a development CA and per-process certificates for gRPC mutual TLS (ADR 028),
//! each naming the services its process runs, which is who the process is when it calls (ADR 029).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

#[derive(Subcommand)]
pub enum CertsCommand {
    /// Makes a development CA (`ca.pem`, `ca.key`) and, per process, `<process>.pem` and
    /// `<process>.key`, valid as server and as client; names: each service of the process and its
    /// `joule-<service>` (its identity as a gRPC caller, ADR 029), `localhost`, `127.0.0.1` and any
    /// `--san`. Prints the JOULE_GRPC_TLS_* settings to use.
    Dev {
        /// Directory to write to (created if missing).
        #[arg(long, default_value = "certs")]
        out: PathBuf,
        /// Processes to make certificates for (comma-separated): a service, or the services one
        /// process runs joined by `+` (`api+pricing`).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "api,gateway,sessions,pricing,invoicing,ledger,payments,webhooks"
        )]
        services: Vec<String>,
        /// Further subject alternative names for every certificate (DNS names or IP addresses,
        /// comma-separated), for example `pricing.joule.svc`; not `joule-<service>`, which would make
        /// every certificate that service.
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
        s.split('+').any(|service| {
            service.is_empty()
                || !service
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
    }) {
        return Err(format!(
            "service name {bad:?}: use letters, digits, '-' and '_', and '+' between the services \
             of one process"
        ));
    }
    if let Some(identity) = sans.iter().find(|san| {
        joule_runtime::authz::SERVICES
            .iter()
            .any(|service| san.eq_ignore_ascii_case(&format!("joule-{service}")))
    }) {
        return Err(format!(
            "--san {identity}: every certificate would name that service and could call what it \
             calls (ADR 029); join services of one process with '+' in --services instead"
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
    for (process, cert, key) in &files.services {
        println!(
            "{process}: JOULE_GRPC_TLS_CERT={} JOULE_GRPC_TLS_KEY={}",
            absolute(cert),
            absolute(key)
        );
    }
    println!(
        "With these set, gRPC needs a certificate from this CA both ways, and each gRPC service \
         answers only the services that call it (ADR 029); point the JOULE_*_GRPC_URL settings at \
         names the certificates hold."
    );
    Ok(())
}

//! `joule integrator-plane init`: the identities of a new integrator plane (ADR 043), the NATS
//! server in operator mode where each tenant's events are a JSON stream of its own.
//!
//! It writes, into `--out`:
//! - `integrators.conf`: the server's configuration (operator, system and integrators' accounts
//!   preloaded; JetStream's store directory and the port go on the command line);
//! - `webhooks.creds`: the webhooks service's publisher user (`JOULE_INTEGRATOR_NATS_CREDS_FILE`);
//! - `api.env`: `JOULE_INTEGRATOR_ACCOUNT` and `JOULE_INTEGRATOR_SIGNING_SEED`, with which the api
//!   signs each tenant's user;
//! - `operator.nk`, `system.nk`, `account.nk`: the seeds that signed the configuration, for the
//!   operators of the plane to keep offline (re-signing an account, adding a signing key).
//!
//! Secrets are written owner-readable only and never printed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use joule_bus::Namespace;
use joule_bus::tenant_streams::{Plane, jwt};

#[derive(Subcommand)]
pub enum IntegratorPlaneCommand {
    /// Makes a new operator, accounts, signing key and publisher user; writes the server
    /// configuration and the services' credentials to `--out`, and prints the settings to use.
    Init {
        /// Directory to write to (created if missing).
        #[arg(long, default_value = "integrator-plane")]
        out: PathBuf,
        /// The namespace of the deployment (`JOULE_NAMESPACE`): the subjects the publisher may use.
        #[arg(long, default_value = "joule")]
        namespace: String,
        /// What all tenants' streams together may store, in bytes (-1: as much as the server has).
        #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
        disk_bytes: i64,
        /// Replace an existing plane in `--out` (every credential it signed stops working).
        #[arg(long)]
        force: bool,
    },
}

pub fn run(command: IntegratorPlaneCommand) -> ExitCode {
    let IntegratorPlaneCommand::Init {
        out,
        namespace,
        disk_bytes,
        force,
    } = command;
    match init(&out, &namespace, disk_bytes, force) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("joule integrator-plane init: {e}");
            ExitCode::from(2)
        }
    }
}

fn init(out: &Path, namespace: &str, disk_bytes: i64, force: bool) -> Result<(), String> {
    let namespace = Namespace::new(namespace).map_err(|e| e.to_string())?;
    if disk_bytes < -1 || disk_bytes == 0 {
        return Err("--disk-bytes: a positive number of bytes, or -1".into());
    }
    let conf = out.join("integrators.conf");
    if conf.exists() && !force {
        return Err(format!(
            "{} already holds a plane; the credentials it signed would stop working (use --force)",
            out.display()
        ));
    }
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let plane = Plane::generate();
    let now = chrono::Utc::now().timestamp();
    let accounts = plane
        .server_config(now, disk_bytes)
        .map_err(|e| e.to_string())?;
    let publisher = plane
        .issuer()
        .publisher(&namespace, now)
        .map_err(|e| e.to_string())?;
    let seed = |key| jwt::seed_of(key).map_err(|e| e.to_string());
    write(
        &conf,
        &format!(
            "# Joule's integrator plane (ADR 043), made by `joule integrator-plane init`.\n\
             # Start: nats-server -c integrators.conf -p 4223 -js -sd <store directory>\n\
             {accounts}"
        ),
        false,
    )?;
    write(&out.join("webhooks.creds"), &publisher.creds, true)?;
    write(
        &out.join("api.env"),
        &format!(
            "JOULE_INTEGRATOR_ACCOUNT={}\nJOULE_INTEGRATOR_SIGNING_SEED={}\n",
            plane.account.public_key(),
            seed(&plane.signing)?
        ),
        true,
    )?;
    for (file, key) in [
        ("operator.nk", &plane.operator),
        ("system.nk", &plane.system),
        ("account.nk", &plane.account),
    ] {
        write(&out.join(file), &format!("{}\n", seed(key)?), true)?;
    }
    let at = |file: &str| {
        let path = out.join(file);
        std::fs::canonicalize(&path)
            .unwrap_or(path)
            .display()
            .to_string()
    };
    println!(
        "Integrator plane for namespace {namespace} in {dir}.\n\
         Server:   nats-server -c {conf} -p 4223 -js -sd <store directory>\n\
         Webhooks: JOULE_INTEGRATOR_NATS_URL=nats://<plane>:4223 JOULE_INTEGRATOR_NATS_CREDS_FILE={creds}\n\
         Api:      JOULE_INTEGRATOR_NATS_URL=nats://<plane>:4223 and the settings of {env} (secret)\n\
         Keep operator.nk, system.nk and account.nk offline.",
        dir = at(""),
        conf = at("integrators.conf"),
        creds = at("webhooks.creds"),
        env = at("api.env"),
    );
    Ok(())
}

fn write(path: &Path, text: &str, secret: bool) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let _ = secret;
    use std::io::Write;
    options
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(fail)
}

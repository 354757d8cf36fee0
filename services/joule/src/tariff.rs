//! `joule tariff ...`: the tariff engine on the command line, with no services running.
//!
//! - `price --tariff T.json --cdr C.json [--tz ZONE]` prints the OCPI totals and the breakdown as JSON;
//! - `lint T.json` reports every error and warning of the tariff in one run;
//! - `explain T.json` describes the tariff in plain language for drivers;
//! - `bench DIR [--rounds N]` measures throughput over a corpus of `tariff.json` + `cdr.json` folders.
//!
//! Bad input exits with code 2 and an error naming the file, the field and the reason.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Subcommand;
use joule_tariff::{
    Cdr, OcpiTotals, PricedSession, PricingError, Severity, Tariff, Tz, price_cdr,
    price_cdr_in_zone,
};
use serde::Serialize;

#[derive(Subcommand)]
pub enum TariffCommand {
    /// Prices an OCPI 2.2.1 CDR with an OCPI 2.2.1 tariff and prints the totals and the breakdown.
    Price {
        #[arg(long)]
        tariff: PathBuf,
        #[arg(long)]
        cdr: PathBuf,
        /// IANA zone of the location, such as Europe/Berlin; default: the zone the CDR's location
        /// states (`cdr_location.time_zone`). Without either the CDR is not priced.
        #[arg(long)]
        tz: Option<String>,
    },
    /// Reports every error (why Joule refuses the tariff) and warning (unpriced times, elements that
    /// never apply, contradictions, discouraged step_size) in one run. Exit code 2 when there is an
    /// error, 1 when there are only warnings or notes, 0 with no findings.
    Lint { tariff: PathBuf },
    /// Describes the tariff in plain language.
    Explain { tariff: PathBuf },
    /// Prices every sub-folder of DIR holding tariff.json and cdr.json (and optionally `tz`), and prints
    /// `parse+price sessions/s N` and `price-only sessions/s N`.
    Bench {
        dir: PathBuf,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
}

/// An error for the user: what went wrong, naming the file and the field.
struct Failure(String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

pub fn run(command: TariffCommand) -> ExitCode {
    let result = match command {
        TariffCommand::Price { tariff, cdr, tz } => price(&tariff, &cdr, tz.as_deref()),
        TariffCommand::Lint { tariff } => lint(&tariff),
        TariffCommand::Explain { tariff } => explain(&tariff),
        TariffCommand::Bench { dir, rounds } => bench(&dir, rounds),
    };
    match result {
        Ok(code) => code,
        Err(Failure(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn read(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|e| Failure(format!("{}: {e}", path.display())))
}

fn load_tariff(path: &Path) -> Result<Tariff, Failure> {
    Tariff::parse(&read(path)?).map_err(|e| Failure(format!("{}: {e}", path.display())))
}

fn zone(name: &str) -> Result<Tz, Failure> {
    name.parse().map_err(|_| {
        Failure(format!(
            "--tz: {name:?} is not an IANA time zone such as Europe/Berlin"
        ))
    })
}

#[derive(Serialize)]
struct PriceOutput<'a> {
    #[serde(flatten)]
    totals: OcpiTotals,
    tariff_id: &'a str,
    currency: &'a str,
    time_zone: &'a str,
    breakdown: &'a PricedSession,
}

fn price(tariff_path: &Path, cdr_path: &Path, tz: Option<&str>) -> Result<ExitCode, Failure> {
    let tariff = load_tariff(tariff_path)?;
    let cdr = Cdr::parse(&read(cdr_path)?)
        .map_err(|e| Failure(format!("{}: {e}", cdr_path.display())))?;
    let tz = tz.map(zone).transpose()?;
    let (priced, tz) = price_cdr_in_zone(&tariff, &cdr, tz).map_err(|e| match &e {
        PricingError::NoTimeZone { suggestion, .. } => Failure(format!(
            "{}: {e}; pass the location's IANA zone with --tz, for example --tz {}",
            cdr_path.display(),
            suggestion.map_or("Europe/Berlin", |z| z.name())
        )),
        _ => Failure(format!("{}: {e}", cdr_path.display())),
    })?;
    let output = PriceOutput {
        totals: OcpiTotals::of(&priced),
        tariff_id: &tariff.id,
        currency: tariff.currency.code(),
        time_zone: tz.name(),
        breakdown: &priced,
    };
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(ExitCode::SUCCESS)
}

fn lint(path: &Path) -> Result<ExitCode, Failure> {
    let findings = joule_tariff::lint_json(&read(path)?);
    if findings.is_empty() {
        println!("{}: no findings", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    for f in &findings {
        println!("{}: {f}", path.display());
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    eprintln!(
        "{}: {errors} error(s), {} warning(s) and note(s)",
        path.display(),
        findings.len() - errors
    );
    // An error means Joule refuses the tariff (bad input, as elsewhere: 2); warnings and notes are
    // advice on a tariff that parses (1, so that scripts notice them).
    Ok(ExitCode::from(if errors > 0 { 2 } else { 1 }))
}

fn explain(path: &Path) -> Result<ExitCode, Failure> {
    let tariff = load_tariff(path)?;
    print!("{}", joule_tariff::explain(&tariff));
    Ok(ExitCode::SUCCESS)
}

struct BenchCase {
    tariff: String,
    cdr: String,
    tz: Tz,
}

fn bench(dir: &Path, rounds: usize) -> Result<ExitCode, Failure> {
    if rounds == 0 {
        return Err(Failure("--rounds: must be at least 1".into()));
    }
    let mut folders: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Failure(format!("{}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("tariff.json").is_file() && p.join("cdr.json").is_file())
        .collect();
    folders.sort();
    if folders.is_empty() {
        return Err(Failure(format!(
            "{}: no sub-folder holds tariff.json and cdr.json",
            dir.display()
        )));
    }
    let cases = folders
        .iter()
        .map(|p| {
            let tz = match std::fs::read_to_string(p.join("tz")) {
                Ok(name) => zone(name.trim())?,
                Err(_) => Tz::UTC,
            };
            Ok(BenchCase {
                tariff: read(&p.join("tariff.json"))?,
                cdr: read(&p.join("cdr.json"))?,
                tz,
            })
        })
        .collect::<Result<Vec<_>, Failure>>()?;

    let parse_and_price = |c: &BenchCase| -> bool {
        match (Tariff::parse(&c.tariff), Cdr::parse(&c.cdr)) {
            (Ok(t), Ok(d)) => price_cdr(&t, &d, c.tz).is_ok(),
            _ => false,
        }
    };
    // Warm-up, and the cases that price at all: both lines count the same cases.
    let ok: Vec<&BenchCase> = cases.iter().filter(|c| parse_and_price(c)).collect();

    let start = Instant::now();
    let mut priced = 0usize;
    for _ in 0..rounds {
        priced += ok.iter().filter(|c| parse_and_price(c)).count();
    }
    let parse_price = priced as f64 / start.elapsed().as_secs_f64();

    let parsed: Vec<(Tariff, Cdr, Tz)> = ok
        .iter()
        .filter_map(|c| {
            Some((
                Tariff::parse(&c.tariff).ok()?,
                Cdr::parse(&c.cdr).ok()?,
                c.tz,
            ))
        })
        .collect();
    let start = Instant::now();
    let mut priced = 0usize;
    for _ in 0..rounds {
        priced += parsed
            .iter()
            .filter(|(t, d, tz)| price_cdr(t, d, *tz).is_ok())
            .count();
    }
    let price_only = priced as f64 / start.elapsed().as_secs_f64();

    println!("parse+price sessions/s {parse_price:.0}");
    println!("price-only sessions/s {price_only:.0}");
    eprintln!(
        "joule tariff bench: {} of {} cases priceable",
        ok.len(),
        cases.len()
    );
    Ok(ExitCode::SUCCESS)
}

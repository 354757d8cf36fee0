//! `ocpi-reference`: the reference pricer (`ocpi-tariffs` 0.48.0) over a corpus of sub-folders that
//! each hold `tariff.json`, `cdr.json` and optionally `tz` (an IANA zone name, default UTC).
//!
//! - `ocpi-reference price DIR` prints one JSON line per case with the five OCPI cost totals.
//! - `ocpi-reference bench DIR [--rounds N]` prints `parse+price sessions/s N` and
//!   `price-only sessions/s N`, exactly like `joule tariff bench`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use chrono_tz::Tz;
use ocpi_tariffs::price::{Report, TariffSource};
use ocpi_tariffs::{cdr, tariff, Price, Version};
use rust_decimal::Decimal;
use serde_json::{json, Value};

struct Case {
    name: String,
    tariff: String,
    cdr: String,
    tz: Tz,
}

fn load(dir: &Path) -> Result<Vec<Case>, String> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("tariff.json").is_file() && p.join("cdr.json").is_file())
        .collect();
    dirs.sort();
    dirs.into_iter()
        .map(|p| {
            let read = |f: &str| {
                std::fs::read_to_string(p.join(f)).map_err(|e| format!("{}: {e}", p.display()))
            };
            let tz = match std::fs::read_to_string(p.join("tz")) {
                Ok(s) => s
                    .trim()
                    .parse::<Tz>()
                    .map_err(|e| format!("{}/tz: {e}", p.display()))?,
                Err(_) => Tz::UTC,
            };
            Ok(Case {
                name: p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                tariff: read("tariff.json")?,
                cdr: read("cdr.json")?,
                tz,
            })
        })
        .collect()
}

fn price_case(case: &Case) -> Result<Report, String> {
    let t = tariff::parse_with_version(&case.tariff, Version::V221)
        .map_err(|e| format!("tariff: {e}"))?
        .tariff;
    let c = cdr::parse_with_version(&case.cdr, Version::V221)
        .map_err(|e| format!("cdr: {e}"))?
        .cdr;
    cdr::price(&c, TariffSource::single(t), case.tz)
        .map(|r| r.into_parts().0)
        .map_err(|e| {
            let (error, _) = e.into_parts();
            format!("{}: {}", error.element().path(), error.warning())
        })
}

fn price_json(p: Option<Price>) -> Value {
    match p {
        None => Value::Null,
        Some(p) => json!({
            "excl_vat": Decimal::from(p.excl_vat).normalize().to_string(),
            "incl_vat": p.incl_vat.map(|v| Decimal::from(v).normalize().to_string()),
        }),
    }
}

fn price_all(dir: &Path) -> Result<(), String> {
    for case in load(dir)? {
        let line = match price_case(&case) {
            Ok(r) => json!({
                "case": case.name,
                "ok": true,
                "total_cost": price_json(r.total_cost.calculated),
                "total_fixed_cost": price_json(r.total_fixed_cost.calculated),
                "total_energy_cost": price_json(r.total_energy_cost.calculated),
                "total_time_cost": price_json(r.total_charging_time_cost.calculated),
                "total_parking_cost": price_json(r.total_idle_cost.calculated),
            }),
            Err(e) => json!({ "case": case.name, "ok": false, "error": e }),
        };
        println!("{line}");
    }
    Ok(())
}

fn bench(dir: &Path, rounds: usize) -> Result<(), String> {
    let cases = load(dir)?;
    if cases.is_empty() {
        return Err(format!("{}: no case folders", dir.display()));
    }
    // Warm up, and find the cases the reference can price at all: both lines count the same cases.
    let ok: Vec<&Case> = cases.iter().filter(|c| price_case(c).is_ok()).collect();
    let start = Instant::now();
    let mut priced = 0usize;
    for _ in 0..rounds {
        for case in &ok {
            if price_case(case).is_ok() {
                priced += 1;
            }
        }
    }
    let parse_price = priced as f64 / start.elapsed().as_secs_f64();

    let parsed: Vec<_> = ok
        .iter()
        .map(|c| {
            let t = tariff::parse_with_version(&c.tariff, Version::V221)
                .expect("parsed before")
                .tariff;
            let d = cdr::parse_with_version(&c.cdr, Version::V221)
                .expect("parsed before")
                .cdr;
            (t, d, c.tz)
        })
        .collect();
    let start = Instant::now();
    let mut priced = 0usize;
    for _ in 0..rounds {
        for (t, d, tz) in &parsed {
            if cdr::price(d, TariffSource::single(t.clone()), *tz).is_ok() {
                priced += 1;
            }
        }
    }
    let price_only = priced as f64 / start.elapsed().as_secs_f64();
    println!("parse+price sessions/s {parse_price:.0}");
    println!("price-only sessions/s {price_only:.0}");
    eprintln!(
        "ocpi-reference: {} of {} cases priceable",
        ok.len(),
        cases.len()
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [cmd, dir] if cmd == "price" => price_all(Path::new(dir)),
        [cmd, dir] if cmd == "bench" => bench(Path::new(dir), 3),
        [cmd, dir, flag, n] if cmd == "bench" && flag == "--rounds" => match n.parse() {
            Ok(n) if n > 0 => bench(Path::new(dir), n),
            _ => Err(format!(
                "--rounds: must be a positive whole number, not {n:?}"
            )),
        },
        _ => Err("usage: ocpi-reference price DIR | ocpi-reference bench DIR [--rounds N]".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ocpi-reference: {e}");
            ExitCode::from(2)
        }
    }
}

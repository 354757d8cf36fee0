//! `joule tariff price` on every OCPI worked example (`crates/tariff/tests/fixtures`), run as the
//! binary users run: the printed OCPI totals match the spec's to the precision the spec writes them,
//! and bad input exits with code 2 and names the field.

use std::path::{Path, PathBuf};
use std::process::Command;

use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;

fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/tariff/tests/fixtures");
    let mut dirs: Vec<_> = std::fs::read_dir(root)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .collect();
    dirs.sort();
    dirs
}

fn joule(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_joule"))
        .args(args)
        .output()
        .expect("joule runs")
}

fn decimal(v: &Value) -> Decimal {
    v.as_str()
        .expect("a decimal string")
        .parse()
        .expect("decimal")
}

#[test]
fn joule_tariff_price_prints_the_spec_totals_of_every_ocpi_example() {
    let dirs = fixtures();
    assert!(dirs.len() >= 32, "only {} fixtures", dirs.len());
    let mut failures = Vec::new();
    for dir in &dirs {
        let path = |f: &str| dir.join(f).to_string_lossy().into_owned();
        let tz = std::fs::read_to_string(dir.join("tz")).expect("tz");
        let out = joule(&[
            "tariff",
            "price",
            "--tariff",
            &path("tariff.json"),
            "--cdr",
            &path("cdr.json"),
            "--tz",
            tz.trim(),
        ]);
        assert!(out.status.success(), "{}: {:?}", dir.display(), out);
        let printed: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
        let want: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap())
                .expect("expected.json");
        for field in [
            "total_cost",
            "total_fixed_cost",
            "total_energy_cost",
            "total_time_cost",
            "total_parking_cost",
        ] {
            for part in ["excl_vat", "incl_vat"] {
                let expected = decimal(&want["expected"][field][part]);
                let got = decimal(&printed[field][part]).round_dp_with_strategy(
                    expected.scale().max(2),
                    RoundingStrategy::MidpointAwayFromZero,
                );
                if got != expected {
                    failures.push(format!(
                        "{} {field}.{part}: printed {got}, spec {expected}",
                        dir.display()
                    ));
                }
            }
        }
        assert!(printed["breakdown"]["lines"].is_array(), "{printed}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bad_input_exits_with_code_2_and_names_the_field() {
    let dir = std::env::temp_dir().join(format!("joule-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tariff = dir.join("tariff.json");
    std::fs::write(
        &tariff,
        r#"{"id": "T", "currency": "EUR", "elements": [{"price_components": [{"type": "ENERGY", "price": -1, "step_size": 1}]}]}"#,
    )
    .unwrap();
    let cdr = fixtures()[0].join("cdr.json");
    let out = joule(&[
        "tariff",
        "price",
        "--tariff",
        &tariff.to_string_lossy(),
        "--cdr",
        &cdr.to_string_lossy(),
    ]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("elements[0].price_components[0].price: must not be negative"),
        "{stderr}"
    );
}

/// A scratch folder for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("joule-cli-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

const NIGHT_TARIFF: &str = r#"{ "id": "DE-NIGHT", "country_code": "DE", "party_id": "JOU", "currency": "EUR", "elements": [
  { "price_components": [{ "type": "ENERGY", "price": 0.25, "vat": 19, "step_size": 1 }], "restrictions": { "start_time": "22:00", "end_time": "06:00" } },
  { "price_components": [{ "type": "ENERGY", "price": 0.35, "vat": 19, "step_size": 1 }] } ] }"#;

/// 30 kWh from 20:30 to 21:30 UTC, in Berlin 21:30 to 22:30: half of it at the night price.
fn night_cdr(location: &str) -> String {
    format!(
        r#"{{ "id": "c1", "currency": "EUR", "cdr_location": {location},
             "start_date_time": "2025-01-15T20:30:00Z", "end_date_time": "2025-01-15T21:30:00Z",
             "charging_periods": [{{ "start_date_time": "2025-01-15T20:30:00Z", "dimensions": [{{ "type": "ENERGY", "volume": 30 }}] }}] }}"#
    )
}

fn total_excl_vat(out: &std::process::Output) -> (Decimal, String) {
    let printed: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    (
        decimal(&printed["total_cost"]["excl_vat"]),
        printed["time_zone"].as_str().unwrap_or_default().to_owned(),
    )
}

#[test]
fn price_takes_the_locations_zone_and_refuses_to_guess_without_one() {
    let s = Scratch::new("tz");
    let tariff = s.file("tariff.json", NIGHT_TARIFF);
    let price = |cdr: &str, tz: Option<&str>| {
        let mut args = vec!["tariff", "price", "--tariff", &tariff, "--cdr", cdr];
        if let Some(tz) = tz {
            args.extend(["--tz", tz]);
        }
        joule(&args)
    };

    // A country and no zone: refused, naming --tz (it used to price in UTC: 10.50, not 9.00).
    let country_only = s.file("country.json", &night_cdr(r#"{ "country": "DEU" }"#));
    let out = price(&country_only, None);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no time zone given, and the CDR's location states none")
            && stderr.contains("--tz Europe/Berlin"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());

    // The zone the location states.
    let stated = s.file(
        "stated.json",
        &night_cdr(r#"{ "country": "DEU", "time_zone": "Europe/Berlin" }"#),
    );
    let out = price(&stated, None);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        total_excl_vat(&out),
        (Decimal::from(9), "Europe/Berlin".into())
    );

    // --tz still decides when given.
    let out = price(&country_only, Some("Europe/Berlin"));
    assert_eq!(
        total_excl_vat(&out),
        (Decimal::from(9), "Europe/Berlin".into())
    );
    let out = price(&stated, Some("UTC"));
    assert_eq!(
        total_excl_vat(&out),
        ("10.5".parse().unwrap(), "UTC".into())
    );
    let out = price(&stated, Some("Berlin"));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--tz: \"Berlin\" is not an IANA time zone")
    );
}

#[test]
fn lint_reports_every_error_and_warning_in_one_run() {
    let s = Scratch::new("lint");
    let lint = |name: &str, json: &str| {
        let path = s.file(name, json);
        let out = joule(&["tariff", "lint", &path]);
        let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim_start_matches(&format!("{path}: ")).to_owned())
            .collect();
        (out.status.code(), lines)
    };

    // Three errors and the warnings of what could be read: one run, exit 2.
    let (code, lines) = lint(
        "bad.json",
        r#"{ "id": "B", "currency": "EUR", "max_price": { "excl_vat": -1 }, "elements": [
          { "price_components": [{ "type": "ENERGY", "price": 0.3, "vat": 190, "step_size": 1 }], "restrictions": { "start_time": "06:00" } },
          { "price_components": [{ "type": "TIME", "price": 99999999999999999999, "vat": 19, "step_size": 60 }], "restrictions": { "start_time": "06:00" } } ] }"#,
    );
    assert_eq!(code, Some(2), "{lines:?}");
    let errors: Vec<&String> = lines.iter().filter(|l| l.starts_with("error ")).collect();
    assert_eq!(errors.len(), 3, "{lines:?}");
    assert!(errors[0].starts_with("error (invalid) max_price.excl_vat: must not be negative"));
    assert!(errors[1].starts_with(
        "error (invalid) elements[0].price_components[0].vat: must be a percentage from 0 to 100"
    ));
    assert!(errors[2].starts_with(
        "error (invalid) elements[1].price_components[0].price: must be at most 1000000"
    ));
    assert!(
        lines.contains(&"warning (unpriced) elements: no element prices ENERGY every day 00:00-06:00 (local time): energy charged then costs nothing".to_owned()),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l
            .starts_with("warning (discouraged) elements[1].price_components[0].step_size: is 60")),
        "{lines:?}"
    );

    // The tariff the issue names: its only ENERGY element starts at 06:00. It used to get "no findings".
    let (code, lines) = lint(
        "six.json",
        r#"{ "id": "S", "currency": "EUR", "elements": [
          { "price_components": [{ "type": "ENERGY", "price": 0.3, "vat": 19, "step_size": 1 }], "restrictions": { "start_time": "06:00" } } ] }"#,
    );
    assert_eq!(code, Some(1), "{lines:?}");
    assert_eq!(
        lines,
        [
            "warning (unpriced) elements: no element prices ENERGY every day 00:00-06:00 (local time): energy charged then costs nothing"
        ]
    );

    let (code, lines) = lint("clean.json", NIGHT_TARIFF);
    assert_eq!(code, Some(0), "{lines:?}");
    assert_eq!(lines, ["no findings"]);
}

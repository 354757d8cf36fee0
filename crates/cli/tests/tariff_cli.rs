//! `joule tariff price` on every OCPI worked example (`crates/tariff/tests/fixtures`), run as the
//! binary users run: the printed OCPI totals match the spec's to the precision the spec writes them,
//! and bad input exits with code 2 and names the field.

use std::path::{Path, PathBuf};
use std::process::Command;

use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;

fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tariff/tests/fixtures");
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

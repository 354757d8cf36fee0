//! The worked examples of OCPI 2.2.1 `mod_tariffs` and `mod_cdrs` (errata included) as JSON
//! fixtures: each folder of `tests/fixtures` holds the tariff and a CDR of the session the example
//! describes, the zone, and `expected.json` with the OCPI totals and the passage it comes from.
//! The same folders price with `joule tariff price` and form a corpus for `joule tariff bench`.
//!
//! Tariffs and the CDR of `cdrs-01` are the spec's JSON files (`ocpi/ocpi` `examples/`) unchanged,
//! except the step_size note's variants (`02b`, `02c`: step_size 25 and 500, as the note says) and
//! the two fixtures that are not spec examples (`03`, `90`); `expected.json` names the file and the
//! passage. Totals are compared at the precision the spec
//! writes them (at least cents, half away from zero: "14,13" for 14.125), so a total the text gives
//! to the cent is checked to the cent and one it gives to the tenth of a cent (the step_size note) to
//! that. Where the text cannot be reproduced from its own JSON, `expected.json` says so and why.

use std::path::Path;

use joule_tariff::{Cdr, OcpiTotals, PriceTotal, Tariff, Tz, price_cdr};
use rust_decimal::Decimal;
use serde_json::Value;

fn expected(v: &Value, field: &str) -> (Decimal, Decimal) {
    let d = |k: &str| {
        v[field][k]
            .as_str()
            .unwrap_or_else(|| panic!("{field}.{k} missing"))
            .parse::<Decimal>()
            .expect("decimal")
    };
    (d("excl_vat"), d("incl_vat"))
}

#[test]
fn every_ocpi_example_prices_to_its_expected_totals() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 32, "only {} fixtures", dirs.len());
    let mut failures = Vec::new();
    for dir in dirs {
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).expect("fixture file");
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let tariff = Tariff::parse(&read("tariff.json")).expect("tariff parses");
        let cdr = Cdr::parse(&read("cdr.json")).expect("CDR parses");
        let tz: Tz = read("tz").trim().parse().expect("zone");
        let want: Value = serde_json::from_str(&read("expected.json")).expect("expected.json");
        let priced = price_cdr(&tariff, &cdr, tz).expect("prices");
        let totals = OcpiTotals::of(&priced);
        let fields: [(&str, PriceTotal); 6] = [
            ("total_cost", totals.total_cost),
            ("total_fixed_cost", totals.total_fixed_cost),
            ("total_energy_cost", totals.total_energy_cost),
            ("total_time_cost", totals.total_time_cost),
            ("total_parking_cost", totals.total_parking_cost),
            ("total_reservation_cost", totals.total_reservation_cost),
        ];
        for (field, got) in fields {
            let (excl, incl) = expected(&want["expected"], field);
            let at = |d: Decimal, want: Decimal| {
                d.round_dp_with_strategy(
                    want.scale().max(2),
                    rust_decimal::RoundingStrategy::MidpointAwayFromZero,
                )
            };
            let got = (at(got.excl_vat, excl), at(got.incl_vat, incl));
            if got != (excl, incl) {
                failures.push(format!(
                    "{name} {field}: got {got:?}, expected ({excl}, {incl}) [{}]",
                    want["source"]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

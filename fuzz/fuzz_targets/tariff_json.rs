//! OCPI tariff and CDR JSON through the tariff crate: parsing (with its value checks), lint, explain,
//! and pricing the CDR with the tariff. The input is the tariff JSON, optionally followed by a NUL
//! byte and the CDR JSON. Nothing may panic: bad input is a `TariffError` or a `PricingError`.
#![no_main]

use joule_tariff::{Cdr, Tariff, Tz, explain, lint, price_cdr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (tariff, cdr) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let Ok(tariff) = std::str::from_utf8(tariff) else {
        return;
    };
    let Ok(tariff) = Tariff::parse(tariff) else {
        return;
    };
    let _ = lint(&tariff);
    let _ = explain(&tariff);
    let Some(Ok(cdr)) = cdr.map(std::str::from_utf8) else {
        return;
    };
    if let Ok(cdr) = Cdr::parse(cdr) {
        let _ = price_cdr(&tariff, &cdr, Tz::Europe__Berlin);
    }
});

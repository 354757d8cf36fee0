//! A deterministic generator of OCPI 2.2.1 tariffs and CDRs, for the differential test against
//! `ocpi-tariffs` and for the pricing benchmark (`examples/corpus.rs`, `make bench-pricing`).
//!
//! Cases are plain OCPI JSON in a folder each: `tariff.json`, `cdr.json` and `tz` (an IANA zone).
//! Durations are whole multiples of 36 s so that every OCPI hour volume is an exact decimal.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::Path;

/// SplitMix64: small, fast and the same on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % ((hi - lo + 1) as u64)) as i64
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

/// How adventurous the generated tariffs are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    /// Only what both pricers read the same way.
    Plain,
    /// Everything OCPI allows, including where the pricers are known to differ.
    Full,
}

pub struct Case {
    pub name: String,
    pub tariff: String,
    pub cdr: String,
    pub tz: &'static str,
}

const ZONES: &[&str] = &[
    "UTC",
    "Europe/Amsterdam",
    "Europe/Berlin",
    "America/New_York",
];
const VATS: &[&str] = &["0", "5.5", "10", "19", "20", "21"];
const DAYS: &[&str] = &[
    "MONDAY",
    "TUESDAY",
    "WEDNESDAY",
    "THURSDAY",
    "FRIDAY",
    "SATURDAY",
    "SUNDAY",
];

fn money(rng: &mut Rng, max_cents: i64) -> String {
    let v = rng.range(0, max_cents * 100);
    format!("{}.{:04}", v / 10_000, v % 10_000)
}

fn component(rng: &mut Rng, kind: &str) -> String {
    let price = match kind {
        "FLAT" => money(rng, 300),
        "ENERGY" => money(rng, 90),
        _ => money(rng, 600),
    };
    let step = match kind {
        "FLAT" => *rng.pick(&[0, 1]),
        "ENERGY" => *rng.pick(&[0, 1, 1, 100, 500, 1000]),
        _ => *rng.pick(&[0, 1, 60, 300, 900]),
    };
    let mut s = format!(r#"{{"type":"{kind}","price":{price},"step_size":{step}"#);
    if rng.chance(80) {
        let _ = write!(s, r#","vat":{}"#, rng.pick(VATS));
    }
    s.push('}');
    s
}

fn hhmm(rng: &mut Rng) -> String {
    format!("{:02}:{:02}", rng.range(0, 23), *rng.pick(&[0, 30, 0, 15]))
}

fn restrictions(rng: &mut Rng, mix: Mix, start_day: i64) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    let n = rng.range(1, 2);
    for _ in 0..n {
        match rng.range(0, if mix == Mix::Full { 9 } else { 5 }) {
            0 => {
                let (s, e) = (hhmm(rng), hhmm(rng));
                if rng.chance(50) {
                    parts.push(format!(r#""start_time":"{s}","end_time":"{e}""#));
                } else {
                    parts.push(format!(r#""start_time":"{s}""#));
                }
            }
            1 => {
                let mut days: Vec<&str> = DAYS.iter().copied().filter(|_| rng.chance(40)).collect();
                if days.is_empty() {
                    days.push(DAYS[(start_day % 7) as usize]);
                }
                let list: Vec<String> = days.iter().map(|d| format!(r#""{d}""#)).collect();
                parts.push(format!(r#""day_of_week":[{}]"#, list.join(",")));
            }
            2 => {
                let lo = rng.range(0, 30);
                if rng.chance(50) {
                    parts.push(format!(r#""min_kwh":{lo}"#));
                } else {
                    parts.push(format!(r#""max_kwh":{}"#, lo + rng.range(1, 40)));
                }
            }
            3 => {
                let lo = rng.range(0, 7200) / 60 * 60;
                if rng.chance(50) {
                    parts.push(format!(r#""min_duration":{lo}"#));
                } else {
                    parts.push(format!(r#""max_duration":{}"#, lo + rng.range(1, 120) * 60));
                }
            }
            4 => {
                let day = 1 + start_day % 28;
                parts.push(format!(
                    r#""start_date":"2024-{:02}-{day:02}""#,
                    rng.range(1, 12)
                ));
            }
            5 => parts.push(format!(r#""end_time":"{}""#, hhmm(rng))),
            6 => {
                let lo = rng.range(0, 50);
                parts.push(format!(
                    r#""min_power":{lo},"max_power":{}"#,
                    lo + rng.range(5, 100)
                ));
            }
            7 => parts.push(r#""end_time":"00:00""#.to_owned()),
            8 => parts.push(format!(r#""max_current":{}"#, rng.range(8, 64))),
            _ => parts.push(r#""reservation":"RESERVATION""#.to_owned()),
        }
    }
    // One restriction per key, and one bound per range (a range whose bounds cross is refused).
    let mut seen = std::collections::BTreeSet::new();
    parts.retain(|p| {
        let key = p.split(':').next().unwrap_or("");
        let key = key
            .replace("min_", "")
            .replace("max_", "")
            .replace("start_", "")
            .replace("end_", "");
        seen.insert(key)
    });
    (!parts.is_empty()).then(|| format!("{{{}}}", parts.join(",")))
}

fn tariff(rng: &mut Rng, mix: Mix, id: usize, start_day: i64) -> String {
    let kinds = ["FLAT", "ENERGY", "TIME", "PARKING_TIME"];
    let elements_n = rng.range(1, 4);
    let mut elements = Vec::new();
    for i in 0..elements_n {
        let mut comps = Vec::new();
        for k in kinds {
            let p = if k == "FLAT" { 25 } else { 55 };
            if rng.chance(p) {
                comps.push(component(rng, k));
            }
        }
        if comps.is_empty() {
            comps.push(component(rng, "ENERGY"));
        }
        let last = i + 1 == elements_n;
        let restricted = if last { rng.chance(25) } else { rng.chance(80) };
        let r = if restricted {
            restrictions(rng, mix, start_day)
        } else {
            None
        };
        match r {
            Some(r) => elements.push(format!(
                r#"{{"price_components":[{}],"restrictions":{r}}}"#,
                comps.join(",")
            )),
            None => elements.push(format!(r#"{{"price_components":[{}]}}"#, comps.join(","))),
        }
    }
    let mut extra = String::new();
    if mix == Mix::Full && rng.chance(15) {
        let _ = write!(extra, r#","min_price":{{"excl_vat":{}}}"#, money(rng, 500));
    }
    if mix == Mix::Full && rng.chance(15) {
        // Above any min_price (at most 5.00), incl. VAT above excl.
        let v = 50_000 + rng.range(0, 300_000);
        let _ = write!(
            extra,
            r#","max_price":{{"excl_vat":{}.{:02},"incl_vat":{}.{:02}}}"#,
            v / 100,
            v % 100,
            (v * 6 / 5) / 100,
            (v * 6 / 5) % 100
        );
    }
    format!(
        r#"{{"country_code":"NL","party_id":"JOU","id":"T{id}","currency":"EUR","type":"REGULAR","elements":[{}]{extra},"last_updated":"2024-01-01T00:00:00Z"}}"#,
        elements.join(",")
    )
}

/// Seconds since the epoch at which 2024 starts.
const Y2024: i64 = 1_704_067_200;

fn iso(secs: i64) -> String {
    // Civil from days (Howard Hinnant), enough for the years generated.
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn hours(units_of_36s: i64) -> String {
    format!("{}.{:02}", units_of_36s / 100, units_of_36s % 100)
}

fn cdr(rng: &mut Rng, mix: Mix, id: usize, start: i64, with_power: bool) -> String {
    let periods_n = rng.range(1, 5);
    let mut t = start;
    let mut periods = Vec::new();
    let mut charging = true;
    for i in 0..periods_n {
        let units = rng.range(5, 300);
        let mut dims = Vec::new();
        if i > 0 && rng.chance(30) {
            charging = false;
        }
        if charging {
            let kw = rng.range(3, 150);
            let kwh_milli = kw * units * 10; // kW * hours * 1000
            dims.push(format!(
                r#"{{"type":"ENERGY","volume":{}.{:03}}}"#,
                kwh_milli / 1000,
                kwh_milli % 1000
            ));
            dims.push(format!(r#"{{"type":"TIME","volume":{}}}"#, hours(units)));
            if with_power {
                dims.push(format!(r#"{{"type":"MIN_POWER","volume":{kw}}}"#));
                dims.push(format!(r#"{{"type":"MAX_POWER","volume":{kw}}}"#));
            }
        } else {
            dims.push(format!(
                r#"{{"type":"PARKING_TIME","volume":{}}}"#,
                hours(units)
            ));
        }
        if mix == Mix::Full && rng.chance(3) {
            dims.push(r#"{"type":"MAX_CURRENT","volume":16}"#.to_owned());
        }
        periods.push(format!(
            r#"{{"start_date_time":"{}","dimensions":[{}]}}"#,
            iso(t),
            dims.join(",")
        ));
        t += units * 36;
    }
    format!(
        r#"{{"country_code":"NL","party_id":"JOU","id":"CDR{id}","start_date_time":"{}","end_date_time":"{}","cdr_token":{{"uid":"012345678","type":"RFID","contract_id":"NL-JOU-C12345678-X"}},"auth_method":"WHITELIST","cdr_location":{{"id":"LOC1","address":"Street 1","city":"Utrecht","country":"NLD","coordinates":{{"latitude":"52.0","longitude":"5.1"}},"evse_uid":"3256","evse_id":"NL*JOU*E3256","connector_id":"1","connector_standard":"IEC_62196_T2","connector_format":"SOCKET","connector_power_type":"AC_3_PHASE"}},"currency":"EUR","charging_periods":[{}],"total_cost":{{"excl_vat":0}},"total_energy":0,"total_time":0,"last_updated":"{}"}}"#,
        iso(start),
        iso(t),
        periods.join(","),
        iso(t)
    )
}

/// `n` cases from `seed`.
pub fn generate(seed: u64, n: usize, mix: Mix) -> Vec<Case> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            // Some sessions start around the 2024 DST changes of Europe and the US.
            let start = match rng.range(0, 9) {
                0 => Y2024 + 89 * 86_400 + rng.range(-20, 20) * 1800, // 2024-03-31 (EU)
                1 => Y2024 + 300 * 86_400 + rng.range(-20, 20) * 1800, // 2024-10-27 (EU)
                2 => Y2024 + 69 * 86_400 + rng.range(-20, 20) * 1800, // 2024-03-10 (US)
                _ => Y2024 + rng.range(0, 365 * 48) * 1800 + rng.range(0, 49) * 36,
            };
            let start_day = (start - Y2024) / 86_400;
            let tariff = tariff(&mut rng, mix, i, start_day);
            let with_power = tariff.contains("_power");
            let zone: &&'static str = rng.pick(ZONES);
            Case {
                name: format!("case-{i:06}"),
                cdr: cdr(&mut rng, mix, i, start, with_power),
                tariff,
                tz: zone,
            }
        })
        .collect()
}

/// Writes each case to `dir/<name>/{tariff.json,cdr.json,tz}`.
pub fn write(dir: &Path, cases: &[Case]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for c in cases {
        let d = dir.join(&c.name);
        std::fs::create_dir_all(&d)?;
        std::fs::write(d.join("tariff.json"), &c.tariff)?;
        std::fs::write(d.join("cdr.json"), &c.cdr)?;
        std::fs::write(d.join("tz"), c.tz)?;
    }
    Ok(())
}

//! The domain of every value a charger sends: numbers by measurand, list sizes, text lengths and
//! timestamps. One place, so that the gateway (which meets the values first), sessions (which
//! turns them into billed energy) and pricing (which prices that energy) agree on what a value may
//! be.
//!
//! A value outside its domain in an OCPP transaction message is not refused (the charger still
//! gets its normal answer, or the energy would be lost to billing): it becomes the flag
//! [`VALUE_OUT_OF_RANGE`] on the session, with the quantity and the raw text, and takes part in
//! no arithmetic. ADR 023 gives the reasons for each limit.
//!
//! | quantity | domain |
//! |---|---|
//! | energy registers (`Energy.*.Register`, `Energy.*.Interval`), Wh / varh | 0 ≤ x ≤ 10^12 |
//! | power (`Power.Active.*`, `Power.Reactive.*`, `Power.Offered`), W / var / VA | 0 ≤ x ≤ 10^7 |
//! | `Power.Factor` | −1 ≤ x ≤ 1 |
//! | current (`Current.*`), A | 0 ≤ x ≤ 10^4 |
//! | `Voltage`, V | 0 ≤ x ≤ 10^4 |
//! | `SoC`, percent | 0 ≤ x ≤ 100 |
//! | `Frequency`, Hz | 0 ≤ x ≤ 1000 |
//! | `Temperature`, °C (K, °F converted) | −100 ≤ x ≤ 300 °C |
//! | `RPM` | 0 ≤ x ≤ 10^6 |
//! | any other measurand | −10^12 ≤ x ≤ 10^12 |
//! | charger timestamps | 2000-01-01T00:00:00Z ≤ t ≤ receive time + 24 h |
//! | meter values per message | ≤ 1000 |
//! | sampled values per meter value | ≤ 100 |
//! | sampled values per message | ≤ 2000 |
//! | energy readings per session | ≤ 10,000 |
//! | identifiers (idTag, idToken, transactionId) | ≤ 64 characters |
//! | enumerations and short texts (measurand, unit, reason, …) | ≤ 255 characters |
//! | a sampled value's text, signed meter data, public key | ≤ 5000 characters |
//!
//! Values that are not numbers at all (`NaN`, `Infinity`, `1e300`, `garbage`) are outside every
//! numeric domain. Signed meter data is evidence, not a number, and is checked for length only.

use std::fmt;

use chrono::{DateTime, Duration, TimeZone, Utc};
use rust_decimal::Decimal;

use crate::Energy;

/// The flag a session carries for each value outside its domain (`value_out_of_range:<detail>`).
pub const VALUE_OUT_OF_RANGE: &str = "value_out_of_range";

/// 10^12 Wh (1 TWh): more than any meter register counts in its life.
pub const ENERGY_REGISTER_MAX_WH: Decimal = Decimal::from_parts(3_567_587_328, 232, 0, false, 0);
/// 10^7 W (10 MW): more than a megawatt charging system (3.75 MW) delivers.
pub const POWER_MAX_W: Decimal = Decimal::from_parts(10_000_000, 0, 0, false, 0);
/// 10^4 A.
pub const CURRENT_MAX_A: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);
/// 10^4 V.
pub const VOLTAGE_MAX_V: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);
pub const SOC_MAX_PERCENT: Decimal = Decimal::ONE_HUNDRED;
pub const FREQUENCY_MAX_HZ: Decimal = Decimal::ONE_THOUSAND;
pub const TEMPERATURE_MIN_CELSIUS: Decimal = Decimal::from_parts(100, 0, 0, true, 0);
pub const TEMPERATURE_MAX_CELSIUS: Decimal = Decimal::from_parts(300, 0, 0, false, 0);
pub const RPM_MAX: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);
/// The bound of a measurand Joule has no narrower domain for: 10^12 either way.
pub const OTHER_MAX_ABS: Decimal = ENERGY_REGISTER_MAX_WH;
const OTHER_MIN: Decimal = Decimal::from_parts(3_567_587_328, 232, 0, true, 0);

/// Meter values (`meterValue[]`, `transactionData[]`) one message may carry.
pub const METER_VALUES_PER_MESSAGE_MAX: usize = 1000;
/// Sampled values (`sampledValue[]`) one meter value may carry.
pub const SAMPLED_VALUES_PER_METER_VALUE_MAX: usize = 100;
/// Sampled values one message may carry in all; with the text lengths below this keeps every
/// charger event well inside a NATS message.
pub const SAMPLED_VALUES_PER_MESSAGE_MAX: usize = 2000;

/// Energy readings one session keeps; `SessionCompleted` carries them all (a week of readings
/// once a minute).
pub const READINGS_PER_SESSION_MAX: usize = 10_000;

/// idTag (OCPP 1.6: 20), idToken and transactionId (2.0.1: 36), with room for vendors.
pub const IDENTIFIER_MAX_LEN: usize = 64;
/// Enumerations and short free texts: measurand, unit, context, phase, reason, info.
pub const TEXT_MAX_LEN: usize = 255;
/// A sampled value's text (1.6 carries signed data in it), signed meter data and its public key
/// (2.0.1: 2500 each).
pub const VALUE_TEXT_MAX_LEN: usize = 5000;
/// How much of an out-of-range text a flag keeps (the whole frame stays in the gateway's audit
/// trail).
pub const RAW_TEXT_KEPT: usize = 80;

/// No charger in service has a clock legitimately before this (clocks reset to 1970 do).
pub fn earliest_timestamp() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// How far ahead of the receive time a charger timestamp may be: more is a clock that cannot be
/// billed on (a session ending in 9999 would be priced over eight millennia).
pub fn max_clock_ahead() -> Duration {
    Duration::hours(24)
}

/// A value outside its domain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct OutOfRange {
    /// The measurand or field (`Energy.Active.Import.Register`, `meterStart`, `idTag`).
    pub quantity: String,
    /// The value as sent, cut to [`RAW_TEXT_KEPT`] characters.
    pub raw: String,
    /// Why it is outside: `not a number`, `above 1000000000000 Wh`, ...
    pub reason: String,
}

impl fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}: {}", self.quantity, self.raw, self.reason)
    }
}

impl OutOfRange {
    pub fn new(quantity: &str, raw: &str, reason: impl Into<String>) -> Self {
        Self {
            quantity: cut(quantity, TEXT_MAX_LEN),
            raw: cut(raw, RAW_TEXT_KEPT),
            reason: reason.into(),
        }
    }

    /// The session flag, as the gateway sends flags (`flag:detail`).
    pub fn flag(&self) -> String {
        format!("{VALUE_OUT_OF_RANGE}:{self}")
    }
}

/// `text` cut to `max` characters, with the length it had when it was longer.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}… ({} characters)", &text[..end], text.chars().count()),
    }
}

/// An inclusive range with the unit it is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub min: Decimal,
    pub max: Decimal,
    pub unit: &'static str,
}

impl Range {
    const fn new(min: Decimal, max: Decimal, unit: &'static str) -> Self {
        Self { min, max, unit }
    }

    /// The value, or why it is outside; `raw` is the text the charger sent.
    pub fn check(&self, quantity: &str, value: Decimal, raw: &str) -> Result<Decimal, OutOfRange> {
        if value < self.min {
            Err(OutOfRange::new(
                quantity,
                raw,
                format!("below {} {}", self.min, self.unit),
            ))
        } else if value > self.max {
            Err(OutOfRange::new(
                quantity,
                raw,
                format!("above {} {}", self.max, self.unit),
            ))
        } else {
            Ok(value)
        }
    }
}

/// The domain of an energy register, in Wh.
pub const ENERGY_REGISTER: Range = Range::new(Decimal::ZERO, ENERGY_REGISTER_MAX_WH, "Wh");

/// The domain of a measurand's value in its base unit (Wh, W, A, V, ... as the gateway normalises
/// them; temperatures in the unit given).
pub fn range_of(measurand: &str, unit: &str) -> Range {
    let base = |max: Decimal, unit: &'static str| Range::new(Decimal::ZERO, max, unit);
    match measurand {
        m if m.starts_with("Energy") => base(ENERGY_REGISTER_MAX_WH, "Wh"),
        "Power.Factor" => Range::new(Decimal::NEGATIVE_ONE, Decimal::ONE, ""),
        m if m.starts_with("Power") => base(POWER_MAX_W, "W"),
        m if m.starts_with("Current") => base(CURRENT_MAX_A, "A"),
        "Voltage" => base(VOLTAGE_MAX_V, "V"),
        "SoC" => base(SOC_MAX_PERCENT, "Percent"),
        "Frequency" => base(FREQUENCY_MAX_HZ, "Hz"),
        "RPM" => base(RPM_MAX, "RPM"),
        "Temperature" => temperature_range(unit),
        _ => Range::new(OTHER_MIN, OTHER_MAX_ABS, ""),
    }
}

/// −100 to 300 °C in the unit given (Celsius by default).
fn temperature_range(unit: &str) -> Range {
    match unit.to_ascii_lowercase().as_str() {
        // −100 °C = 173.15 K, 300 °C = 573.15 K.
        "k" => Range::new(
            Decimal::from_parts(17_315, 0, 0, false, 2),
            Decimal::from_parts(57_315, 0, 0, false, 2),
            "K",
        ),
        // −100 °C = −148 °F, 300 °C = 572 °F.
        "fahrenheit" => Range::new(
            Decimal::from_parts(148, 0, 0, true, 0),
            Decimal::from_parts(572, 0, 0, false, 0),
            "Fahrenheit",
        ),
        _ => Range::new(TEMPERATURE_MIN_CELSIUS, TEMPERATURE_MAX_CELSIUS, "Celsius"),
    }
}

/// A measurand's value inside its domain, from the text as sent (after the gateway's unit
/// normalisation). Anything that is not a finite decimal is outside.
pub fn measurand_value(measurand: &str, unit: &str, text: &str) -> Result<Decimal, OutOfRange> {
    let value = number(measurand, text)?;
    range_of(measurand, unit).check(measurand, value, text)
}

/// An energy register in Wh inside its domain, from the text as sent.
pub fn energy_register(quantity: &str, text: &str) -> Result<Energy, OutOfRange> {
    let wh = number(quantity, text)?;
    ENERGY_REGISTER
        .check(quantity, wh, text)
        .map(|wh| Energy::from_wh(wh.normalize()))
}

/// An energy register already read as a decimal (a value on an event or in a store).
pub fn energy_register_wh(quantity: &str, wh: Decimal) -> Result<Energy, OutOfRange> {
    ENERGY_REGISTER
        .check(quantity, wh, &wh.to_string())
        .map(Energy::from_wh)
}

/// A decimal in plain or scientific notation; `NaN`, `Infinity` and numbers beyond a decimal's
/// 28 digits are not numbers here.
fn number(quantity: &str, text: &str) -> Result<Decimal, OutOfRange> {
    let trimmed = text.trim();
    if trimmed.len() > VALUE_TEXT_MAX_LEN {
        return Err(OutOfRange::new(quantity, text, "too long for a number"));
    }
    trimmed
        .parse::<Decimal>()
        .ok()
        .or_else(|| Decimal::from_scientific(trimmed).ok())
        .ok_or_else(|| OutOfRange::new(quantity, text, "not a number"))
}

/// A charger timestamp inside its domain: not before [`earliest_timestamp`], not more than
/// [`max_clock_ahead`] after the receive time.
pub fn charger_time(
    quantity: &str,
    at: DateTime<Utc>,
    received_at: DateTime<Utc>,
) -> Result<DateTime<Utc>, OutOfRange> {
    let raw = at.to_rfc3339();
    if at < earliest_timestamp() {
        return Err(OutOfRange::new(quantity, &raw, "before 2000-01-01"));
    }
    match received_at.checked_add_signed(max_clock_ahead()) {
        Some(latest) if at > latest => Err(OutOfRange::new(
            quantity,
            &raw,
            "more than 24 h after it was received",
        )),
        _ => Ok(at),
    }
}

/// A text of at most `max` characters.
pub fn text<'a>(quantity: &str, value: &'a str, max: usize) -> Result<&'a str, OutOfRange> {
    let chars = value.chars().count();
    if chars > max {
        Err(OutOfRange::new(
            quantity,
            value,
            format!("{chars} characters, more than {max}"),
        ))
    } else {
        Ok(value)
    }
}

/// A list of at most `max` items.
pub fn list_len(quantity: &str, len: usize, max: usize) -> Result<usize, OutOfRange> {
    if len > max {
        Err(OutOfRange::new(
            quantity,
            &len.to_string(),
            format!("more than {max} items; the first {max} kept"),
        ))
    } else {
        Ok(len)
    }
}

#[cfg(test)]
#[allow(
    clippy::arithmetic_side_effects,
    reason = "tests build their inputs with plain arithmetic"
)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    #[test]
    fn the_constants_are_what_their_names_say() {
        assert_eq!(ENERGY_REGISTER_MAX_WH, dec!(1_000_000_000_000));
        assert_eq!(POWER_MAX_W, dec!(10_000_000));
        assert_eq!(OTHER_MIN, -OTHER_MAX_ABS);
        assert_eq!(TEMPERATURE_MIN_CELSIUS, dec!(-100));
        assert_eq!(temperature_range("K").min, dec!(173.15));
        assert_eq!(temperature_range("K").max, dec!(573.15));
    }

    #[test]
    fn energy_registers_from_zero_to_a_terawatt_hour() {
        let e = |t: &str| energy_register("meterStart", t);
        assert_eq!(e("0").unwrap().wh(), dec!(0));
        assert_eq!(e("1000000000000").unwrap().wh(), dec!(1000000000000));
        assert_eq!(e(" 1.5e3 ").unwrap().wh(), dec!(1500));
        for bad in [
            "-0.001",
            "1000000000000.001",
            "79228162514264337593543950335",
            "-79228162514264337593543950335",
            "1e300",
            "NaN",
            "Infinity",
            "-Infinity",
            "",
            "twelve",
        ] {
            let err = e(bad).unwrap_err();
            assert_eq!(err.quantity, "meterStart");
            assert!(err.flag().starts_with("value_out_of_range:meterStart"));
        }
        assert_eq!(e("-0").unwrap().wh(), dec!(0), "-0 is zero");
    }

    #[test]
    fn measurands_have_their_own_domains() {
        let ok = |m: &str, u: &str, v: &str| measurand_value(m, u, v).is_ok();
        assert!(ok("SoC", "Percent", "100"));
        assert!(!ok("SoC", "Percent", "1000"));
        assert!(ok("Power.Active.Import", "W", "350000"));
        assert!(!ok("Power.Active.Import", "W", "-5"));
        assert!(!ok("Voltage", "V", "1000000000"));
        assert!(ok("Power.Factor", "", "-0.9"));
        assert!(!ok("Power.Factor", "", "1.1"));
        assert!(ok("Temperature", "Celsius", "-40"));
        assert!(!ok("Temperature", "Celsius", "-273"));
        assert!(ok("Temperature", "K", "300"));
        assert!(ok("Frequency", "Hz", "50"));
        assert!(ok("Vendor.Thing", "", "-12"));
        assert!(!ok("Vendor.Thing", "", "1e13"));
    }

    #[test]
    fn timestamps_from_2000_to_a_day_after_receipt() {
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap();
        assert!(charger_time("timestamp", now, now).is_ok());
        assert!(charger_time("timestamp", now + Duration::hours(24), now).is_ok());
        assert!(charger_time("timestamp", now + Duration::hours(25), now).is_err());
        let y9999 = Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap();
        assert!(charger_time("timestamp", y9999, now).is_err());
        let y1 = Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap();
        assert!(charger_time("timestamp", y1, now).is_err());
        assert!(charger_time("timestamp", now, DateTime::<Utc>::MAX_UTC).is_ok());
    }

    #[test]
    fn long_texts_are_cut_in_flags() {
        let long = "x".repeat(100_000);
        let err = text("idTag", &long, IDENTIFIER_MAX_LEN).unwrap_err();
        assert!(err.raw.len() < 120, "{}", err.raw);
        assert!(err.raw.ends_with("(100000 characters)"));
        assert_eq!(cut("ünïcödé", 3), "ünï… (7 characters)");
        assert!(list_len("meterValue", 100_000, METER_VALUES_PER_MESSAGE_MAX).is_err());
    }

    proptest! {
        /// Whatever text arrives, the answer is a value inside the domain or a flag, never a panic.
        #[test]
        fn any_text_is_a_register_in_range_or_out_of_range(text in ".{0,40}|[-+]?[0-9]{0,40}(\\.[0-9]{0,30})?(e[-+]?[0-9]{1,5})?") {
            match energy_register("r", &text) {
                Ok(e) => prop_assert!(e.wh() >= Decimal::ZERO && e.wh() <= ENERGY_REGISTER_MAX_WH),
                Err(err) => prop_assert!(err.flag().starts_with(VALUE_OUT_OF_RANGE)),
            }
        }
    }
}

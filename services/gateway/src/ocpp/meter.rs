//! Meter sample normalisation, the same for every OCPP version: energy registers become Wh, power W,
//! after unit and multiplier, so that downstream arithmetic never sees a unit prefix.
//!
//! Values that are not numbers (signed meter data, garbage) are kept byte-exact with their unit as
//! given: they are evidence, and the sessions service flags what it cannot use.

use chrono::{DateTime, Utc};
use joule_proto::v1::{MeterSample, SignedMeterValue};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use joule_domain::bounds;

use crate::ocpp::payload::{Object, Problems, parse_decimal};

/// The measurand when a sample names none (OCPP 1.6 §7.31, 2.0.1 SampledValueType).
pub const DEFAULT_MEASURAND: &str = "Energy.Active.Import.Register";
/// The reading context when a sample names none.
pub const DEFAULT_CONTEXT: &str = "Sample.Periodic";

/// The kilo prefix; `Energy::from_kwh` would do for energy but panics where a decimal overflows.
const WH_PER_KWH: Decimal = Decimal::ONE_THOUSAND;

/// One sampled value as the charger sent it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawSample {
    pub timestamp: DateTime<Utc>,
    pub value: String,
    pub measurand: Option<String>,
    pub unit: Option<String>,
    /// Power of ten to apply (2.0.1 `unitOfMeasure.multiplier`; always 0 in 1.6).
    pub multiplier: i32,
    pub context: Option<String>,
    pub phase: Option<String>,
    /// 1.6 `format` ("Raw" or "SignedData").
    pub format: Option<String>,
    /// 2.0.1 `signedMeterValue`, byte-exact.
    pub signed: Option<SignedMeterValue>,
}

/// The 1.6 format of a sampled value that holds signed meter data rather than a number.
pub const SIGNED_DATA: &str = "SignedData";

/// The encoding of signed meter data, recognised from its first bytes (1.6 sends no encodingMethod).
pub fn recognise_encoding(data: &str) -> &'static str {
    let data = data.trim_start();
    if data.starts_with("OCMF|") {
        "OCMF"
    } else if data.starts_with('<') {
        "XML"
    } else {
        ""
    }
}

/// Normalises one sample: defaults filled in, numeric values scaled to the base unit.
pub fn normalise(raw: &RawSample) -> MeterSample {
    let measurand = non_empty(&raw.measurand)
        .unwrap_or(DEFAULT_MEASURAND)
        .to_owned();
    let unit = non_empty(&raw.unit)
        .map(str::to_owned)
        .unwrap_or_else(|| default_unit(&measurand).to_owned());
    let number = parse_decimal(&raw.value);
    let multiplied = number.and_then(|number| apply_multiplier(number, raw.multiplier));
    let scaled = multiplied.and_then(|number| to_base_unit(number, &unit));
    // A number whose multiplier cannot be applied keeps it in its unit, so that it is never read
    // as a number of the unit alone (5 × 10^2147483647 Wh is not 5 Wh).
    let unit = match (number, multiplied) {
        (Some(_), None) => unapplied(raw.multiplier, &unit),
        _ => unit,
    };
    let signed_in_value = raw
        .format
        .as_deref()
        .is_some_and(|f| f.eq_ignore_ascii_case(SIGNED_DATA))
        || raw.value.trim_start().starts_with("OCMF|");
    let (value, unit) = match scaled {
        Some((number, unit)) if !signed_in_value => (number.normalize().to_string(), unit),
        _ => {
            if !signed_in_value {
                tracing::warn!(value = %bounds::cut(&raw.value, bounds::RAW_TEXT_KEPT), %measurand, "meter value is not a number in range; kept as sent");
            }
            (raw.value.clone(), unit)
        }
    };
    // 1.6 carries signed data in the value itself; 2.0.1 beside the value.
    let signed = raw.signed.clone().or_else(|| {
        signed_in_value.then(|| SignedMeterValue {
            signed_meter_data: raw.value.clone(),
            signing_method: String::new(),
            encoding_method: recognise_encoding(&raw.value).to_owned(),
            public_key: String::new(),
        })
    });
    let raw_value = if value == raw.value {
        String::new()
    } else {
        raw.value.clone()
    };
    MeterSample {
        charger_time: Some(joule_proto::time::to_proto(raw.timestamp)),
        measurand,
        value,
        unit,
        context: non_empty(&raw.context)
            .unwrap_or(DEFAULT_CONTEXT)
            .to_owned(),
        phase: raw.phase.clone().unwrap_or_default(),
        format: raw.format.clone().unwrap_or_default(),
        signed,
        raw_value,
    }
}

/// The energy register reading of a given context among normalised samples (the import register,
/// in Wh, inside its domain), for 2.0.1 Transaction.Begin / Transaction.End. One outside its
/// domain is not taken (sessions flags it with the sample).
pub fn register_in_context(samples: &[MeterSample], context: &str) -> Option<Decimal> {
    samples
        .iter()
        .filter(|s| s.context == context && s.measurand == DEFAULT_MEASURAND && s.unit == "Wh")
        .find_map(|s| bounds::energy_register(&s.measurand, &s.value).ok())
        .map(|e| e.wh())
}

/// One sampled value being read: its object, its meter value's timestamp and its value's text.
pub struct SampledValue<'s, 'a> {
    pub object: &'s Object<'a>,
    pub timestamp: DateTime<Utc>,
    pub value: String,
}

/// Flattens `MeterValue[]` (each with a timestamp and `SampledValue[]`) into samples, within their
/// bounds; `read` makes the sample of each sampled value (the versions differ in where units and
/// signed data sit). A sampled value without a readable value is left out, a meter value without a
/// readable timestamp gets `fallback_time`; both are noted as problems.
pub fn read_samples<'a>(
    meter_values: &[Object<'a>],
    fallback_time: DateTime<Utc>,
    problems: &mut Problems,
    mut read: impl FnMut(&mut Problems, SampledValue<'_, 'a>) -> RawSample,
) -> Vec<RawSample> {
    let mut out = Vec::new();
    for mv in bounded_meter_values(meter_values, problems) {
        let timestamp = problems
            .take(mv.timestamp("timestamp"))
            .unwrap_or(fallback_time);
        let sampled = problems
            .take(mv.objects("sampledValue"))
            .unwrap_or_default();
        for sv in bounded_sampled_values(sampled, out.len(), problems) {
            let Some(value) = problems.take(sv.string("value")) else {
                continue;
            };
            let sampled = SampledValue {
                object: &sv,
                timestamp,
                value,
            };
            out.push(read(problems, sampled));
        }
    }
    out
}

/// The first [`bounds::METER_VALUES_PER_MESSAGE_MAX`] meter values of a message; more are
/// flagged and left out.
fn bounded_meter_values<'m, 'a>(
    meter_values: &'m [Object<'a>],
    problems: &mut Problems,
) -> &'m [Object<'a>] {
    let max = bounds::METER_VALUES_PER_MESSAGE_MAX;
    if let Err(e) = bounds::list_len("meterValue", meter_values.len(), max) {
        problems.out_of_range(&e);
    }
    meter_values.get(..max).unwrap_or(meter_values)
}

/// The sampled values of one meter value that fit: at most
/// [`bounds::SAMPLED_VALUES_PER_METER_VALUE_MAX`], and no more than the message's
/// [`bounds::SAMPLED_VALUES_PER_MESSAGE_MAX`] with the `taken` before them; more are flagged.
fn bounded_sampled_values<'a>(
    mut sampled: Vec<Object<'a>>,
    taken: usize,
    problems: &mut Problems,
) -> Vec<Object<'a>> {
    sampled = problems.list(
        "sampledValue",
        sampled,
        bounds::SAMPLED_VALUES_PER_METER_VALUE_MAX,
    );
    let room = bounds::SAMPLED_VALUES_PER_MESSAGE_MAX.saturating_sub(taken);
    if sampled.len() > room {
        problems.out_of_range(&bounds::OutOfRange::new(
            "sampled values per message",
            &bounds::SAMPLED_VALUES_PER_MESSAGE_MAX.to_string(),
            format!(
                "more than {}; the rest left out",
                bounds::SAMPLED_VALUES_PER_MESSAGE_MAX
            ),
        ));
        sampled.truncate(room);
    }
    sampled
}

/// A fingerprint of normalised samples, for business keys: the same readings give the same hash.
pub fn fingerprint(samples: &[MeterSample]) -> String {
    let mut hasher = Sha256::new();
    for s in samples {
        let time = joule_proto::time::from_proto(s.charger_time.as_ref())
            .map(|t| t.to_rfc3339())
            .unwrap_or_default();
        for part in [
            time.as_str(),
            &s.measurand,
            &s.value,
            &s.unit,
            &s.context,
            &s.phase,
        ] {
            hasher.update(part.as_bytes());
            hasher.update([0x1f]);
        }
        hasher.update([0x1e]);
    }
    format!("{:x}", hasher.finalize())
}

fn non_empty(field: &Option<String>) -> Option<&str> {
    field.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// OCPP says "Wh" by default, which only makes sense for energy; other measurands get their own
/// base unit so that a missing unit never turns a power reading into an energy one.
fn default_unit(measurand: &str) -> &'static str {
    match measurand {
        m if m.starts_with("Energy.Reactive") => "varh",
        m if m.starts_with("Energy") => "Wh",
        m if m.starts_with("Power.Reactive") => "var",
        m if m.starts_with("Power.Factor") => "",
        m if m.starts_with("Power") => "W",
        m if m.starts_with("Current") => "A",
        "Voltage" => "V",
        "SoC" => "Percent",
        "Temperature" => "Celsius",
        _ => "",
    }
}

/// `None` when the result leaves the range of a decimal (no sane meter gets there). A decimal has at
/// most 29 digits, so more than 40 steps change nothing but the loop's length.
fn apply_multiplier(value: Decimal, multiplier: i32) -> Option<Decimal> {
    (0..multiplier.unsigned_abs().min(40)).try_fold(value, |v, _| {
        if multiplier > 0 {
            v.checked_mul(Decimal::TEN)
        } else {
            v.checked_div(Decimal::TEN)
        }
    })
}

/// The unit of a number sent with a multiplier that takes it beyond a decimal: `10^<multiplier>
/// <unit>`, which is not Wh, so sessions flags such an energy register as outside its domain and
/// bills nothing from it. Cut to [`bounds::TEXT_MAX_LEN`] like every unit.
fn unapplied(multiplier: i32, unit: &str) -> String {
    format!("10^{multiplier} {unit}")
        .chars()
        .take(bounds::TEXT_MAX_LEN)
        .collect()
}

/// Scales kilo-prefixed units to their base unit; unit names are matched case-insensitively
/// because chargers write "kwh" and "KWH" too.
fn to_base_unit(value: Decimal, unit: &str) -> Option<(Decimal, String)> {
    let (factor, base) = match unit.to_ascii_lowercase().as_str() {
        "kwh" => (WH_PER_KWH, "Wh"),
        "wh" => (Decimal::ONE, "Wh"),
        "kw" => (WH_PER_KWH, "W"),
        "w" => (Decimal::ONE, "W"),
        "kvarh" => (WH_PER_KWH, "varh"),
        "varh" => (Decimal::ONE, "varh"),
        "kvar" => (WH_PER_KWH, "var"),
        "var" => (Decimal::ONE, "var"),
        "kva" => (WH_PER_KWH, "VA"),
        "va" => (Decimal::ONE, "VA"),
        _ => (Decimal::ONE, unit),
    };
    Some((value.checked_mul(factor)?, base.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(value: &str, measurand: Option<&str>, unit: Option<&str>) -> RawSample {
        RawSample {
            timestamp: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            value: value.into(),
            measurand: measurand.map(Into::into),
            unit: unit.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn energy_defaults_to_the_import_register_in_wh() {
        let s = normalise(&raw("1234", None, None));
        assert_eq!(
            (
                s.measurand.as_str(),
                s.value.as_str(),
                s.unit.as_str(),
                s.context.as_str()
            ),
            (
                "Energy.Active.Import.Register",
                "1234",
                "Wh",
                "Sample.Periodic"
            )
        );
    }

    #[test]
    fn kwh_becomes_wh_exactly() {
        let s = normalise(&raw(
            "12.3456",
            Some("Energy.Active.Import.Register"),
            Some("kWh"),
        ));
        assert_eq!((s.value.as_str(), s.unit.as_str()), ("12345.6", "Wh"));
        let s = normalise(&raw(" 1.5 ", None, Some("KWH")));
        assert_eq!((s.value.as_str(), s.unit.as_str()), ("1500", "Wh"));
    }

    #[test]
    fn other_measurands_keep_their_meaning() {
        let s = normalise(&raw("7.4", Some("Power.Active.Import"), Some("kW")));
        assert_eq!((s.value.as_str(), s.unit.as_str()), ("7400", "W"));
        let s = normalise(&raw("16", Some("Current.Import"), None));
        assert_eq!((s.value.as_str(), s.unit.as_str()), ("16", "A"));
        let s = normalise(&raw("80", Some("SoC"), Some("Percent")));
        assert_eq!((s.value.as_str(), s.unit.as_str()), ("80", "Percent"));
    }

    #[test]
    fn multipliers_scale_before_units() {
        let mut r = raw("12", None, Some("kWh"));
        r.multiplier = 1;
        assert_eq!(normalise(&r).value, "120000");
        r.multiplier = -3;
        assert_eq!(normalise(&r).value, "12");
    }

    #[test]
    fn values_out_of_range_are_kept_rather_than_overflowing() {
        let s = normalise(&raw("79228162514264337593543950335", None, Some("kWh")));
        assert_eq!(
            (s.value.as_str(), s.unit.as_str()),
            ("79228162514264337593543950335", "kWh")
        );
        let mut r = raw("5", None, None);
        r.multiplier = i32::MAX;
        assert_eq!(normalise(&r).value, "5");
        r.multiplier = i32::MIN;
        assert_eq!(normalise(&r).value, "0");
    }

    #[test]
    fn a_multiplier_beyond_a_decimal_stays_in_the_unit() {
        let mut r = raw("5", None, None);
        r.multiplier = i32::MAX;
        let s = normalise(&r);
        assert_eq!(
            (s.value.as_str(), s.unit.as_str(), s.raw_value.as_str()),
            ("5", "10^2147483647 Wh", "")
        );
        r.unit = Some("x".repeat(300));
        assert_eq!(normalise(&r).unit.chars().count(), bounds::TEXT_MAX_LEN);
        // Garbage stays garbage in its unit as given.
        r.value = "garbage".into();
        assert_eq!(normalise(&r).unit, "x".repeat(300));
    }

    #[test]
    fn values_that_are_not_numbers_are_kept_as_sent() {
        let s = normalise(&raw("garbage", None, Some("Wh")));
        assert_eq!((s.value.as_str(), s.unit.as_str()), ("garbage", "Wh"));
        assert!(s.signed.is_none());
    }

    #[test]
    fn signed_data_is_kept_byte_exact_with_its_encoding() {
        let ocmf = r#"OCMF|{"FV":"1.0","RD":[{"RV":"1.5","RU":"kWh"}]}|{"SD":"3045"}"#;
        let s = normalise(&raw(ocmf, None, Some("Wh")));
        assert_eq!(s.value, ocmf);
        let signed = s.signed.unwrap();
        assert_eq!(signed.signed_meter_data, ocmf);
        assert_eq!(signed.encoding_method, "OCMF");
        // 1.6 `format: SignedData` with a vendor's hex: signed, encoding unknown.
        let mut r = raw("0A1B2C", None, None);
        r.format = Some("SignedData".into());
        let s = normalise(&r);
        assert_eq!(s.value, "0A1B2C", "not read as a number");
        assert_eq!(s.format, "SignedData");
        assert_eq!(s.signed.unwrap().encoding_method, "");
    }

    #[test]
    fn the_raw_value_is_kept_when_normalisation_changed_it() {
        let s = normalise(&raw("1.5", None, Some("kWh")));
        assert_eq!((s.value.as_str(), s.raw_value.as_str()), ("1500", "1.5"));
        let s = normalise(&raw("1500", None, Some("Wh")));
        assert_eq!(s.raw_value, "");
    }

    #[test]
    fn begin_and_end_registers_are_found_by_context() {
        let mut begin = raw("1.0", None, Some("kWh"));
        begin.context = Some("Transaction.Begin".into());
        let mut power = raw("7000", Some("Power.Active.Import"), None);
        power.context = Some("Transaction.End".into());
        let mut end = raw("13500", None, None);
        end.context = Some("Transaction.End".into());
        let samples: Vec<_> = [begin, power, end].iter().map(normalise).collect();
        assert_eq!(
            register_in_context(&samples, "Transaction.Begin"),
            Some(Decimal::ONE_THOUSAND)
        );
        assert_eq!(
            register_in_context(&samples, "Transaction.End"),
            Some(Decimal::from(13500))
        );
        assert_eq!(register_in_context(&samples, "Sample.Clock"), None);
    }

    #[test]
    fn fingerprint_depends_on_values() {
        let a = [normalise(&raw("1", None, None))];
        let b = [normalise(&raw("2", None, None))];
        assert_eq!(fingerprint(&a), fingerprint(&a.clone()));
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }
}

//! The OCPI 2.2.1 Tariff object (`mod_tariffs`), as Joule holds it after validation.
//!
//! Parsing and validation live in [`crate::parse`]; a [`Tariff`] value is always valid. It serialises
//! back to OCPI JSON (decimals as strings, which OCPI readers and [`Tariff::parse`] both accept).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc, Weekday};
use joule_domain::Currency;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize, Serializer};

use crate::error::TariffError;

/// An OCPI 2.2.1 Tariff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "serde_json::Value")]
pub struct Tariff {
    /// The tariff's id in the CPO's platform (OCPI `CiString(36)`), kept as given.
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub party_id: Option<String>,
    pub currency: Currency,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub tariff_type: Option<TariffType>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tariff_alt_text: Vec<DisplayText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tariff_alt_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_price: Option<Price>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_price: Option<Price>,
    pub elements: Vec<TariffElement>,
    /// Kept as given: it informs the driver and plays no part in pricing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub energy_mix: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<DateTime<Utc>>,
    /// What OCPI cannot express, under the extension key `joule` (OCPI receivers ignore unknown
    /// fields, so the tariff stays valid OCPI for roaming partners).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub joule: Option<JouleExtensions>,
}

/// Joule's extensions to an OCPI tariff.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct JouleExtensions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_fee: Option<IdleFee>,
}

/// An overstay fee (ocpi/ocpi#543): once charging has stopped and a grace period has passed, every
/// further started `step_size` seconds costs `price_per_hour` pro rata, up to `max_price` excl. VAT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdleFee {
    /// Excl. VAT.
    pub price_per_hour: Decimal,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vat: Option<Decimal>,
    pub grace_period_seconds: u64,
    /// Billing block in seconds; 0 bills to the second.
    pub step_size: u32,
    /// Cap of the fee, excl. VAT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_price: Option<Decimal>,
}

impl Tariff {
    /// Parses and validates OCPI 2.2.1 Tariff JSON. Errors name the offending field by its path, for
    /// example `elements[0].price_components[1].price: must not be negative`.
    pub fn parse(json: &str) -> Result<Tariff, TariffError> {
        let tree = crate::json::Json::parse(json).map_err(|e| TariffError::Json(e.to_string()))?;
        crate::parse::tariff(&tree)
    }

    /// Like [`Tariff::parse`], from JSON already decoded.
    pub fn from_value(value: &serde_json::Value) -> Result<Tariff, TariffError> {
        crate::parse::tariff(&crate::json::Json::from_value(value))
    }

    /// Like [`Tariff::parse`], with every error of the tariff rather than the first, in document
    /// order: for callers that show them all at once (the REST API's 422, `joule tariff lint`).
    pub fn parse_all(json: &str) -> Result<Tariff, Vec<TariffError>> {
        let tree =
            crate::json::Json::parse(json).map_err(|e| vec![TariffError::Json(e.to_string())])?;
        crate::parse::read(&tree).into_result()
    }

    /// Like [`Tariff::parse_all`], from JSON already decoded.
    pub fn from_value_all(value: &serde_json::Value) -> Result<Tariff, Vec<TariffError>> {
        crate::parse::read(&crate::json::Json::from_value(value)).into_result()
    }

    /// Whether the tariff is in force at `at` (`start_date_time` inclusive, `end_date_time` exclusive).
    pub fn is_active_at(&self, at: DateTime<Utc>) -> bool {
        self.start_date_time.is_none_or(|s| at >= s) && self.end_date_time.is_none_or(|e| at < e)
    }
}

impl FromStr for Tariff {
    type Err = TariffError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tariff::parse(s)
    }
}

impl TryFrom<serde_json::Value> for Tariff {
    type Error = TariffError;
    fn try_from(value: serde_json::Value) -> Result<Self, Self::Error> {
        Tariff::from_value(&value)
    }
}

/// OCPI `TariffType`: which sessions the tariff is meant for. Informational for Joule's own sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TariffType {
    AdHocPayment,
    ProfileCheap,
    ProfileFast,
    ProfileGreen,
    Regular,
}

impl TariffType {
    pub(crate) const NAMES: &'static [(&'static str, TariffType)] = &[
        ("AD_HOC_PAYMENT", TariffType::AdHocPayment),
        ("PROFILE_CHEAP", TariffType::ProfileCheap),
        ("PROFILE_FAST", TariffType::ProfileFast),
        ("PROFILE_GREEN", TariffType::ProfileGreen),
        ("REGULAR", TariffType::Regular),
    ];
}

/// OCPI `DisplayText`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisplayText {
    pub language: String,
    pub text: String,
}

/// OCPI `Price`: an amount excluding VAT, and optionally including VAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Price {
    pub excl_vat: Decimal,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incl_vat: Option<Decimal>,
}

/// OCPI `TariffElement`: price components that apply together while the restrictions hold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TariffElement {
    pub price_components: Vec<PriceComponent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restrictions: Option<TariffRestrictions>,
}

impl TariffElement {
    /// The element's first component of `dimension`, with its index.
    pub fn component(&self, dimension: Dimension) -> Option<(usize, &PriceComponent)> {
        self.price_components
            .iter()
            .enumerate()
            .find(|(_, c)| c.dimension == dimension)
    }
}

/// OCPI `TariffDimensionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Dimension {
    Flat,
    Energy,
    Time,
    ParkingTime,
}

impl Dimension {
    pub const ALL: [Dimension; 4] = [
        Dimension::Flat,
        Dimension::Energy,
        Dimension::Time,
        Dimension::ParkingTime,
    ];

    /// The OCPI name (`PARKING_TIME`).
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Flat => "FLAT",
            Dimension::Energy => "ENERGY",
            Dimension::Time => "TIME",
            Dimension::ParkingTime => "PARKING_TIME",
        }
    }

    /// The unit a volume of this dimension is billed in.
    pub fn unit(self) -> Unit {
        match self {
            Dimension::Flat => Unit::Session,
            Dimension::Energy => Unit::Kwh,
            Dimension::Time | Dimension::ParkingTime => Unit::Hour,
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Dimension> {
        Dimension::ALL.into_iter().find(|d| d.as_str() == name)
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The unit of a billed volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Unit {
    #[serde(rename = "kWh")]
    Kwh,
    #[serde(rename = "h")]
    Hour,
    /// A flat fee: one per session.
    #[serde(rename = "session")]
    Session,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Kwh => "kWh",
            Unit::Hour => "h",
            Unit::Session => "session",
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// OCPI `PriceComponent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriceComponent {
    #[serde(rename = "type")]
    pub dimension: Dimension,
    /// Price per unit (kWh, hour, or per session for FLAT), excluding VAT.
    pub price: Decimal,
    /// VAT percentage. `None` means the tariff states no VAT, which Joule prices as 0 %.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vat: Option<Decimal>,
    /// Billing block: Wh for ENERGY, seconds for TIME and PARKING_TIME; 0 means no rounding.
    pub step_size: u32,
}

/// OCPI `TariffRestrictions`: when an element is active during a session. All present restrictions
/// must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct TariffRestrictions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<TimeOfDay>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<TimeOfDay>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_kwh: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_kwh: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_current: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_current: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_power: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_power: Option<Decimal>,
    /// Seconds since the session started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_duration: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub day_of_week: Vec<DayOfWeek>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservation: Option<ReservationRestriction>,
}

/// A local time of day, `HH:MM`, minute precision as OCPI defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimeOfDay {
    minutes: u16,
}

impl TimeOfDay {
    pub const MIDNIGHT: TimeOfDay = TimeOfDay { minutes: 0 };

    /// `hour` 0..=23, `minute` 0..=59.
    pub fn new(hour: u16, minute: u16) -> Option<TimeOfDay> {
        if hour >= 24 || minute >= 60 {
            return None;
        }
        // bounded: at most 23 * 60 + 59 minutes.
        Some(TimeOfDay {
            minutes: hour.saturating_mul(60).saturating_add(minute),
        })
    }

    /// Minutes since midnight.
    pub fn minutes(self) -> u16 {
        self.minutes
    }

    pub fn as_naive(self) -> chrono::NaiveTime {
        chrono::NaiveTime::from_hms_opt(
            u32::from(self.minutes / 60),
            u32::from(self.minutes % 60),
            0,
        )
        .unwrap_or(chrono::NaiveTime::MIN)
    }

    /// Parses OCPI's `([0-1][0-9]|2[0-3]):[0-5][0-9]`.
    pub fn parse(s: &str) -> Option<TimeOfDay> {
        let b = s.as_bytes();
        if b.len() != 5 || b[2] != b':' || ![0, 1, 3, 4].iter().all(|&i| b[i].is_ascii_digit()) {
            return None;
        }
        // bounded: ASCII digits (checked above), so each is 0..=9 and each pair at most 99.
        let digit = |i: usize| u16::from(b[i].saturating_sub(b'0'));
        let pair =
            |tens: usize, ones: usize| digit(tens).saturating_mul(10).saturating_add(digit(ones));
        TimeOfDay::new(pair(0, 1), pair(3, 4))
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.minutes / 60, self.minutes % 60)
    }
}

impl Serialize for TimeOfDay {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// OCPI `DayOfWeek`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DayOfWeek {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl DayOfWeek {
    pub(crate) const NAMES: &'static [(&'static str, DayOfWeek)] = &[
        ("MONDAY", DayOfWeek::Monday),
        ("TUESDAY", DayOfWeek::Tuesday),
        ("WEDNESDAY", DayOfWeek::Wednesday),
        ("THURSDAY", DayOfWeek::Thursday),
        ("FRIDAY", DayOfWeek::Friday),
        ("SATURDAY", DayOfWeek::Saturday),
        ("SUNDAY", DayOfWeek::Sunday),
    ];

    pub fn weekday(self) -> Weekday {
        match self {
            DayOfWeek::Monday => Weekday::Mon,
            DayOfWeek::Tuesday => Weekday::Tue,
            DayOfWeek::Wednesday => Weekday::Wed,
            DayOfWeek::Thursday => Weekday::Thu,
            DayOfWeek::Friday => Weekday::Fri,
            DayOfWeek::Saturday => Weekday::Sat,
            DayOfWeek::Sunday => Weekday::Sun,
        }
    }
}

/// OCPI `ReservationRestrictionType`: the element prices reservations, not charging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReservationRestriction {
    Reservation,
    ReservationExpires,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_of_day_out_of_range_is_none() {
        assert_eq!(TimeOfDay::new(23, 59).map(TimeOfDay::minutes), Some(1439));
        assert_eq!(TimeOfDay::new(u16::MAX, u16::MAX), None);
        assert_eq!(TimeOfDay::new(24, 0), None);
        assert_eq!(TimeOfDay::parse("99:99"), None);
        assert_eq!(
            TimeOfDay::parse("23:05").map(TimeOfDay::minutes),
            Some(1385)
        );
    }
}

//! OCPI 2.2.1 Tariff JSON to a validated [`Tariff`].
//!
//! The JSON is walked by hand rather than derived so that every error names the field by its path
//! (`elements[0].price_components[1].price: must not be negative`): an operator pasting a tariff
//! must see which number is wrong. `null` is treated as absent, as OCPI allows. Unknown fields are
//! ignored, as OCPI asks of receivers. Numbers are accepted as JSON numbers or strings.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use joule_domain::Currency;
use rust_decimal::Decimal;

use crate::json::Json;
use std::borrow::Cow;

use crate::error::TariffError;
use crate::model::{
    DayOfWeek, Dimension, DisplayText, IdleFee, JouleExtensions, Price, PriceComponent,
    ReservationRestriction, Tariff, TariffElement, TariffRestrictions, TariffType, TimeOfDay,
};

pub(crate) type Result<T> = std::result::Result<T, TariffError>;

pub(crate) fn invalid(path: impl Into<String>, message: impl Into<String>) -> TariffError {
    TariffError::Invalid {
        path: path.into(),
        message: message.into(),
    }
}

pub(crate) fn tariff(value: &Json<'_>) -> Result<Tariff> {
    let root = Obj::new(value, Path::ROOT, "an OCPI Tariff")?;

    let id = root.req_str("id")?;
    if id.trim().is_empty() {
        return Err(invalid("id", "must not be empty"));
    }
    if id.chars().count() > 36 {
        return Err(invalid("id", "must be at most 36 characters"));
    }

    let country_code = root.opt_str("country_code")?;
    if let Some(c) = country_code
        && !(c.len() == 2 && c.chars().all(|c| c.is_ascii_alphabetic()))
    {
        return Err(invalid(
            "country_code",
            "must be an ISO 3166-1 alpha-2 code such as NL",
        ));
    }
    let party_id = root.opt_str("party_id")?;
    if let Some(p) = party_id
        && !(p.len() == 3 && p.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        return Err(invalid("party_id", "must be 3 letters or digits"));
    }

    let currency_str = root.req_str("currency")?;
    let currency =
        Currency::from_str(currency_str).map_err(|e| invalid("currency", e.to_string()))?;

    let tariff_type = root
        .opt_str("type")?
        .map(|s| one_of(s, TariffType::NAMES, &root.child("type")))
        .transpose()?;

    let mut tariff_alt_text = Vec::new();
    if let Some(items) = root.opt_array("tariff_alt_text")? {
        for (path, item) in items {
            let o = Obj::new(item, path, "a display text")?;
            let language = o.req_str("language")?;
            if !(language.len() == 2 && language.chars().all(|c| c.is_ascii_alphabetic())) {
                return Err(invalid(
                    o.path("language"),
                    "must be an ISO 639-1 code such as en",
                ));
            }
            let text = o.req_str("text")?;
            if text.chars().count() > 512 {
                return Err(invalid(o.path("text"), "must be at most 512 characters"));
            }
            tariff_alt_text.push(DisplayText {
                language: language.to_owned(),
                text: text.to_owned(),
            });
        }
    }
    let tariff_alt_url = root.opt_str("tariff_alt_url")?.map(str::to_owned);

    let min_price = root.opt_obj("min_price")?.map(|o| price(&o)).transpose()?;
    let max_price = root.opt_obj("max_price")?.map(|o| price(&o)).transpose()?;
    if let (Some(min), Some(max)) = (&min_price, &max_price) {
        if min.excl_vat > max.excl_vat {
            return Err(invalid(
                "min_price.excl_vat",
                "must not exceed max_price.excl_vat",
            ));
        }
        if let (Some(a), Some(b)) = (min.incl_vat, max.incl_vat)
            && a > b
        {
            return Err(invalid(
                "min_price.incl_vat",
                "must not exceed max_price.incl_vat",
            ));
        }
    }

    let Some(items) = root.opt_array("elements")? else {
        return Err(invalid("elements", "is required"));
    };
    if items.is_empty() {
        return Err(invalid(
            "elements",
            "must contain at least one tariff element",
        ));
    }
    let elements = items
        .into_iter()
        .map(|(path, v)| element(v, path))
        .collect::<Result<Vec<_>>>()?;

    let energy_mix = match root.get("energy_mix") {
        None => None,
        Some(v) if v.as_object().is_some() => Some(v.to_value()),
        Some(_) => return Err(invalid("energy_mix", "must be an object")),
    };

    let start_date_time = root.opt_date_time("start_date_time")?;
    let end_date_time = root.opt_date_time("end_date_time")?;
    if let (Some(s), Some(e)) = (start_date_time, end_date_time)
        && s >= e
    {
        return Err(invalid("end_date_time", "must be after start_date_time"));
    }
    let last_updated = root.opt_date_time("last_updated")?;
    let joule = root.opt_obj("joule")?.map(|o| extensions(&o)).transpose()?;

    Ok(Tariff {
        id: id.to_owned(),
        country_code: country_code.map(str::to_owned),
        party_id: party_id.map(str::to_owned),
        currency,
        tariff_type,
        tariff_alt_text,
        tariff_alt_url,
        min_price,
        max_price,
        elements,
        energy_mix,
        start_date_time,
        end_date_time,
        last_updated,
        joule,
    })
}

fn extensions(o: &Obj<'_, '_>) -> Result<JouleExtensions> {
    let idle_fee = match o.opt_obj("idle_fee")? {
        None => None,
        Some(f) => {
            let price_per_hour = f.req_decimal("price_per_hour")?;
            f.non_negative(price_per_hour, "price_per_hour")?;
            let vat = f.opt_decimal("vat")?;
            if let Some(v) = vat {
                f.non_negative(v, "vat")?;
            }
            let max_price = f.opt_decimal("max_price")?;
            if let Some(v) = max_price {
                f.non_negative(v, "max_price")?;
            }
            let step_size = match f.opt_whole("step_size")? {
                None => 0,
                Some(n) => {
                    u32::try_from(n).map_err(|_| invalid(f.path("step_size"), "is too large"))?
                }
            };
            Some(IdleFee {
                price_per_hour,
                vat,
                grace_period_seconds: f.opt_whole("grace_period_seconds")?.unwrap_or(0),
                step_size,
                max_price,
            })
        }
    };
    Ok(JouleExtensions { idle_fee })
}

fn price(o: &Obj<'_, '_>) -> Result<Price> {
    let excl_vat = o.req_decimal("excl_vat")?;
    o.non_negative(excl_vat, "excl_vat")?;
    let incl_vat = o.opt_decimal("incl_vat")?;
    if let Some(v) = incl_vat {
        o.non_negative(v, "incl_vat")?;
    }
    Ok(Price { excl_vat, incl_vat })
}

fn element(value: &Json<'_>, path: Path<'_>) -> Result<TariffElement> {
    let o = Obj::new(value, path, "a tariff element")?;
    let Some(items) = o.opt_array("price_components")? else {
        return Err(invalid(o.path("price_components"), "is required"));
    };
    if items.is_empty() {
        return Err(invalid(
            o.path("price_components"),
            "must contain at least one price component",
        ));
    }
    let price_components = items
        .into_iter()
        .map(|(path, v)| component(v, path))
        .collect::<Result<Vec<_>>>()?;
    let restrictions = o
        .opt_obj("restrictions")?
        .map(|r| restrictions(&r))
        .transpose()?;
    Ok(TariffElement {
        price_components,
        restrictions,
    })
}

fn component(value: &Json<'_>, path: Path<'_>) -> Result<PriceComponent> {
    let o = Obj::new(value, path, "a price component")?;
    let name = o.req_str("type")?;
    let dimension = Dimension::from_name(name).ok_or_else(|| {
        invalid(
            o.path("type"),
            format!("must be one of FLAT, ENERGY, TIME, PARKING_TIME, not {name:?}"),
        )
    })?;
    let price = o.req_decimal("price")?;
    o.non_negative(price, "price")?;
    let vat = o.opt_decimal("vat")?;
    if let Some(v) = vat {
        o.non_negative(v, "vat")?;
    }
    // OCPI makes step_size required; tariffs written by hand often leave it out, and its absence can
    // only mean "no rounding", so it defaults to 0.
    let step_size = match o.opt_whole("step_size")? {
        None => 0,
        Some(n) => u32::try_from(n).map_err(|_| invalid(o.path("step_size"), "is too large"))?,
    };
    Ok(PriceComponent {
        dimension,
        price,
        vat,
        step_size,
    })
}

fn restrictions(o: &Obj<'_, '_>) -> Result<TariffRestrictions> {
    let time = |key: &str| -> Result<Option<TimeOfDay>> {
        o.opt_str(key)?
            .map(|s| {
                TimeOfDay::parse(s).ok_or_else(|| {
                    invalid(
                        o.path(key),
                        format!("must be HH:MM (24-hour, leading zeros), not {s:?}"),
                    )
                })
            })
            .transpose()
    };
    let date = |key: &str| -> Result<Option<NaiveDate>> {
        o.opt_str(key)?
            .map(|s| {
                parse_date(s).ok_or_else(|| {
                    invalid(o.path(key), format!("must be a date YYYY-MM-DD, not {s:?}"))
                })
            })
            .transpose()
    };
    let number = |key: &str| -> Result<Option<Decimal>> {
        let v = o.opt_decimal(key)?;
        if let Some(v) = v {
            o.non_negative(v, key)?;
        }
        Ok(v)
    };
    let r = TariffRestrictions {
        start_time: time("start_time")?,
        end_time: time("end_time")?,
        start_date: date("start_date")?,
        end_date: date("end_date")?,
        min_kwh: number("min_kwh")?,
        max_kwh: number("max_kwh")?,
        min_current: number("min_current")?,
        max_current: number("max_current")?,
        min_power: number("min_power")?,
        max_power: number("max_power")?,
        min_duration: o.opt_whole("min_duration")?,
        max_duration: o.opt_whole("max_duration")?,
        day_of_week: match o.opt_array("day_of_week")? {
            None => Vec::new(),
            Some(items) => items
                .into_iter()
                .map(|(path, v)| match v.as_str() {
                    Some(s) => one_of(s, DayOfWeek::NAMES, &path),
                    None => Err(invalid(
                        path.to_string(),
                        "must be a day name such as MONDAY",
                    )),
                })
                .collect::<Result<Vec<_>>>()?,
        },
        reservation: o
            .opt_str("reservation")?
            .map(|s| {
                one_of(
                    s,
                    &[
                        ("RESERVATION", ReservationRestriction::Reservation),
                        (
                            "RESERVATION_EXPIRES",
                            ReservationRestriction::ReservationExpires,
                        ),
                    ],
                    &o.child("reservation"),
                )
            })
            .transpose()?,
    };
    // A range that can never hold is a mistake in the tariff, not a restriction.
    let ranges = [
        ("min_kwh", r.min_kwh, "max_kwh", r.max_kwh),
        ("min_current", r.min_current, "max_current", r.max_current),
        ("min_power", r.min_power, "max_power", r.max_power),
        (
            "min_duration",
            r.min_duration.map(Decimal::from),
            "max_duration",
            r.max_duration.map(Decimal::from),
        ),
    ];
    for (min_key, min, max_key, max) in ranges {
        if let (Some(min), Some(max)) = (min, max)
            && min >= max
        {
            return Err(invalid(
                o.path(min_key),
                format!("must be less than {max_key}"),
            ));
        }
    }
    if let (Some(s), Some(e)) = (r.start_date, r.end_date)
        && s >= e
    {
        return Err(invalid(
            o.path("end_date"),
            "must be after start_date (end_date is exclusive)",
        ));
    }
    Ok(r)
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    // The regex of OCPI: exactly YYYY-MM-DD, zero-padded.
    let ok = s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if ok {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
    } else {
        None
    }
}

pub(crate) fn one_of<T: Copy>(
    s: &str,
    names: &[(&str, T)],
    path: &dyn std::fmt::Display,
) -> Result<T> {
    names
        .iter()
        .find(|(n, _)| *n == s)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let all: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
            invalid(
                path.to_string(),
                format!("must be one of {}, not {s:?}", all.join(", ")),
            )
        })
}

/// Where a value sits in the document (`elements[0].price_components[1]`), built as a chain on the
/// stack and written out only when an error names it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Path<'p> {
    parent: Option<&'p Path<'p>>,
    key: &'p str,
    index: Option<usize>,
}

impl Path<'static> {
    pub(crate) const ROOT: Path<'static> = Path {
        parent: None,
        key: "",
        index: None,
    };
}

impl Path<'_> {
    fn is_root(&self) -> bool {
        self.parent.is_none() && self.key.is_empty() && self.index.is_none()
    }
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(parent) = self.parent {
            parent.fmt(f)?;
            if !parent.is_root() && !self.key.is_empty() {
                f.write_str(".")?;
            }
        }
        f.write_str(self.key)?;
        if let Some(i) = self.index {
            write!(f, "[{i}]")?;
        }
        Ok(())
    }
}

/// A JSON object being read, with the path that names it in errors.
pub(crate) struct Obj<'a, 'p> {
    fields: &'a [(Cow<'a, str>, Json<'a>)],
    path: Path<'p>,
}

impl<'a, 'p> Obj<'a, 'p> {
    pub(crate) fn new(value: &'a Json<'a>, path: Path<'p>, what: &str) -> Result<Self> {
        match value.as_object() {
            Some(fields) => Ok(Obj { fields, path }),
            None => Err(invalid(
                if path.is_root() {
                    "tariff".to_owned()
                } else {
                    path.to_string()
                },
                format!("must be {what} (a JSON object)"),
            )),
        }
    }

    /// The path of `key` in this object.
    pub(crate) fn child<'s>(&'s self, key: &'s str) -> Path<'s> {
        Path {
            parent: Some(&self.path),
            key,
            index: None,
        }
    }

    /// `Ok` unless `v` is negative; the path is built only for the error.
    pub(crate) fn non_negative(&self, v: Decimal, key: &str) -> Result<()> {
        if v.is_sign_negative() && !v.is_zero() {
            Err(invalid(self.path(key), "must not be negative"))
        } else {
            Ok(())
        }
    }

    pub(crate) fn path(&self, key: &str) -> String {
        self.child(key).to_string()
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'a Json<'a>> {
        Json::field(self.fields, key).filter(|v| !v.is_null())
    }

    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<&'a str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Json::String(s)) => Ok(Some(s)),
            Some(_) => Err(invalid(self.path(key), "must be a string")),
        }
    }

    pub(crate) fn req_str(&self, key: &str) -> Result<&'a str> {
        self.opt_str(key)?
            .ok_or_else(|| invalid(self.path(key), "is required"))
    }

    pub(crate) fn opt_decimal(&self, key: &str) -> Result<Option<Decimal>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let text: Cow<'_, str> = match v {
            Json::Number(n) => {
                // Integers need no text; the rest read as `Value` prints them.
                if let Some(i) = n.as_u64() {
                    return Ok(Some(Decimal::from(i)));
                }
                if let Some(i) = n.as_i64() {
                    return Ok(Some(Decimal::from(i)));
                }
                Cow::Owned(n.to_string())
            }
            Json::Raw(r) => Cow::Borrowed(*r),
            Json::String(s) => Cow::Borrowed(s.trim()),
            _ => return Err(invalid(self.path(key), "must be a number")),
        };
        Decimal::from_str(&text)
            .or_else(|_| Decimal::from_scientific(&text))
            .map(Some)
            .map_err(|_| {
                invalid(
                    self.path(key),
                    format!("must be a decimal number, not {text:?}"),
                )
            })
    }

    pub(crate) fn req_decimal(&self, key: &str) -> Result<Decimal> {
        self.opt_decimal(key)?
            .ok_or_else(|| invalid(self.path(key), "is required"))
    }

    /// A whole, non-negative number (seconds, Wh).
    pub(crate) fn opt_whole(&self, key: &str) -> Result<Option<u64>> {
        let Some(d) = self.opt_decimal(key)? else {
            return Ok(None);
        };
        self.non_negative(d, key)?;
        if !d.fract().is_zero() {
            return Err(invalid(self.path(key), "must be a whole number"));
        }
        u64::try_from(d)
            .map(Some)
            .map_err(|_| invalid(self.path(key), "is too large"))
    }

    pub(crate) fn opt_obj<'s>(&'s self, key: &'s str) -> Result<Option<Obj<'a, 's>>> {
        self.get(key)
            .map(|v| Obj::new(v, self.child(key), "an object"))
            .transpose()
    }

    /// The array under `key` with each item's path (`elements[2]`).
    #[allow(clippy::type_complexity)]
    pub(crate) fn opt_array<'s>(
        &'s self,
        key: &'s str,
    ) -> Result<Option<Vec<(Path<'s>, &'a Json<'a>)>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Json::Array(items)) => Ok(Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        (
                            Path {
                                parent: Some(&self.path),
                                key,
                                index: Some(i),
                            },
                            v,
                        )
                    })
                    .collect(),
            )),
            Some(_) => Err(invalid(self.path(key), "must be an array")),
        }
    }

    pub(crate) fn opt_date_time(&self, key: &str) -> Result<Option<DateTime<Utc>>> {
        let Some(s) = self.opt_str(key)? else {
            return Ok(None);
        };
        // OCPI DateTimes are UTC; the trailing `Z` is optional in the spec.
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .or_else(|_| {
                NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc())
            })
            .map(Some)
            .map_err(|_| {
                invalid(
                    self.path(key),
                    format!("must be a date-time such as 2019-06-30T22:00:00Z, not {s:?}"),
                )
            })
    }
}

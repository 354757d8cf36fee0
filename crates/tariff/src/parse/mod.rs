//! OCPI 2.2.1 Tariff JSON to a validated [`Tariff`].
//!
//! The JSON is walked by hand rather than derived so that every error names the field by its path
//! (`elements[0].price_components[1].price: must not be negative`): an operator pasting a tariff
//! must see which number is wrong. `null` is treated as absent, as OCPI allows. Unknown fields are
//! ignored, as OCPI asks of receivers. Numbers are accepted as JSON numbers or strings.

use std::str::FromStr;

use chrono::NaiveDate;
use joule_domain::Currency;
use rust_decimal::Decimal;

use crate::json::Json;

use crate::error::TariffError;
use crate::limits;
use crate::model::{
    DayOfWeek, Dimension, DisplayText, IdleFee, JouleExtensions, Price, PriceComponent,
    ReservationRestriction, Tariff, TariffElement, TariffRestrictions, TariffType, TimeOfDay,
};

mod fields;

pub(crate) use fields::{Obj, Path};

pub(crate) type Result<T> = std::result::Result<T, TariffError>;

pub(crate) fn invalid(path: impl Into<String>, message: impl Into<String>) -> TariffError {
    TariffError::Invalid {
        path: path.into(),
        message: message.into(),
    }
}

/// The errors found so far. Reading goes on past an error so that one pass names every bad field.
/// It also holds the tariff's currency once read, which bounds its prices.
#[derive(Debug, Default)]
pub(crate) struct Errors(Vec<TariffError>, Option<Currency>);

impl Errors {
    /// Records why a price is out of range: negative, or above the largest amount of the tariff's
    /// currency ([`limits::max_price`]).
    fn price(&mut self, o: &Obj<'_, '_>, v: Decimal, key: &str) {
        if let Err(e) = o.non_negative(v, key) {
            self.0.push(e);
            return;
        }
        let max = limits::max_price(self.1);
        if v > max {
            let currency = self.1.map(|c| format!(" {c}")).unwrap_or_default();
            self.0.push(invalid(
                o.path(key),
                format!("must be at most {max}{currency}, not {}", v.normalize()),
            ));
        }
    }

    /// The value, or `None` after recording why it could not be read.
    fn take<T>(&mut self, result: Result<T>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    /// Records the error of a check that leaves the value usable (a number out of range).
    fn check(&mut self, result: Result<()>) {
        if let Err(e) = result {
            self.0.push(e);
        }
    }

    fn push(&mut self, e: TariffError) {
        self.0.push(e);
    }

    pub(crate) fn into_vec(self) -> Vec<TariffError> {
        self.0
    }
}

/// A tariff and every error of it. `tariff` is the tariff as read when each of its parts could be
/// built, even if some values lie out of range (then `errors` says which); `None` when a part is
/// missing or unreadable. Only [`crate::lint`] looks at a tariff that has errors.
pub(crate) struct Read {
    pub(crate) tariff: Option<Tariff>,
    pub(crate) errors: Vec<TariffError>,
}

impl Read {
    pub(crate) fn into_result(self) -> std::result::Result<Tariff, Vec<TariffError>> {
        match self.tariff {
            Some(t) if self.errors.is_empty() => Ok(t),
            _ => Err(self.errors),
        }
    }
}

/// The first error of a tariff, or the tariff.
pub(crate) fn tariff(value: &Json<'_>) -> Result<Tariff> {
    read(value).into_result().map_err(|errors| {
        errors
            .into_iter()
            .next()
            .unwrap_or_else(|| invalid("tariff", "cannot be read"))
    })
}

/// Reads a tariff, collecting every error.
pub(crate) fn read(value: &Json<'_>) -> Read {
    let mut errs = Errors::default();
    let tariff = read_tariff(value, &mut errs);
    Read {
        tariff,
        errors: errs.into_vec(),
    }
}

fn read_tariff(value: &Json<'_>, errs: &mut Errors) -> Option<Tariff> {
    let root = errs.take(Obj::new(value, Path::ROOT, "an OCPI Tariff"))?;

    let id = errs.take(root.req_str("id").and_then(|id| {
        if id.trim().is_empty() {
            Err(invalid("id", "must not be empty"))
        } else if id.chars().count() > 36 {
            Err(invalid("id", "must be at most 36 characters"))
        } else {
            Ok(id)
        }
    }));

    let country_code = errs.take(root.opt_str("country_code").and_then(|c| match c {
        Some(c) if !(c.len() == 2 && c.chars().all(|c| c.is_ascii_alphabetic())) => Err(invalid(
            "country_code",
            "must be an ISO 3166-1 alpha-2 code such as NL",
        )),
        c => Ok(c),
    }));
    let party_id = errs.take(root.opt_str("party_id").and_then(|p| match p {
        Some(p) if !(p.len() == 3 && p.chars().all(|c| c.is_ascii_alphanumeric())) => {
            Err(invalid("party_id", "must be 3 letters or digits"))
        }
        p => Ok(p),
    }));

    let currency = errs.take(
        root.req_str("currency")
            .and_then(|c| Currency::from_str(c).map_err(|e| invalid("currency", e.to_string()))),
    );
    // Read before the prices, which it bounds.
    errs.1 = currency;

    let tariff_type = errs.take(root.opt_str("type").and_then(|t| {
        t.map(|s| one_of(s, TariffType::NAMES, &root.child("type")))
            .transpose()
    }));

    let tariff_alt_text = errs
        .take(root.opt_array("tariff_alt_text"))
        .map(|items| {
            items
                .unwrap_or_default()
                .into_iter()
                .map(|(path, item)| display_text(item, path, errs))
                .collect::<Vec<_>>()
        })
        .and_then(|texts| texts.into_iter().collect::<Option<Vec<_>>>());
    let tariff_alt_url = errs.take(root.opt_str("tariff_alt_url"));

    let min_price = errs
        .take(root.opt_obj("min_price"))
        .and_then(|o| present(o, |o| price(&o, errs)));
    let max_price = errs
        .take(root.opt_obj("max_price"))
        .and_then(|o| present(o, |o| price(&o, errs)));
    if let (Some(Some(min)), Some(Some(max))) = (&min_price, &max_price) {
        if min.excl_vat > max.excl_vat {
            errs.push(invalid(
                "min_price.excl_vat",
                "must not exceed max_price.excl_vat",
            ));
        }
        if let (Some(a), Some(b)) = (min.incl_vat, max.incl_vat)
            && a > b
        {
            errs.push(invalid(
                "min_price.incl_vat",
                "must not exceed max_price.incl_vat",
            ));
        }
    }

    let elements = match errs.take(root.opt_array("elements")) {
        None => None,
        Some(None) => {
            errs.push(invalid("elements", "is required"));
            None
        }
        Some(Some(items)) if items.is_empty() => {
            errs.push(invalid(
                "elements",
                "must contain at least one tariff element",
            ));
            None
        }
        Some(Some(items)) => items
            .into_iter()
            .map(|(path, v)| element(v, path, errs))
            .collect::<Vec<_>>()
            .into_iter()
            .collect::<Option<Vec<_>>>(),
    };

    let energy_mix = match root.get("energy_mix") {
        None => Some(None),
        Some(v) if v.as_object().is_some() => Some(Some(v.to_value())),
        Some(_) => {
            errs.push(invalid("energy_mix", "must be an object"));
            None
        }
    };

    let start_date_time = errs.take(root.opt_date_time("start_date_time"));
    let end_date_time = errs.take(root.opt_date_time("end_date_time"));
    if let (Some(Some(s)), Some(Some(e))) = (start_date_time, end_date_time)
        && s >= e
    {
        errs.push(invalid("end_date_time", "must be after start_date_time"));
    }
    let last_updated = errs.take(root.opt_date_time("last_updated"));
    let joule = errs
        .take(root.opt_obj("joule"))
        .and_then(|o| present(o, |o| extensions(&o, errs)));

    Some(Tariff {
        id: id?.to_owned(),
        country_code: country_code?.map(str::to_owned),
        party_id: party_id?.map(str::to_owned),
        currency: currency?,
        tariff_type: tariff_type?,
        tariff_alt_text: tariff_alt_text?,
        tariff_alt_url: tariff_alt_url?.map(str::to_owned),
        min_price: min_price?,
        max_price: max_price?,
        elements: elements?,
        energy_mix: energy_mix?,
        start_date_time: start_date_time?,
        end_date_time: end_date_time?,
        last_updated: last_updated?,
        joule: joule?,
    })
}

fn display_text(item: &Json<'_>, path: Path<'_>, errs: &mut Errors) -> Option<DisplayText> {
    let o = errs.take(Obj::new(item, path, "a display text"))?;
    let language = errs.take(o.req_str("language").and_then(|l| {
        if l.len() == 2 && l.chars().all(|c| c.is_ascii_alphabetic()) {
            Ok(l)
        } else {
            Err(invalid(
                o.path("language"),
                "must be an ISO 639-1 code such as en",
            ))
        }
    }));
    let text = errs.take(o.req_str("text").and_then(|t| {
        if t.chars().count() > 512 {
            Err(invalid(o.path("text"), "must be at most 512 characters"))
        } else {
            Ok(t)
        }
    }));
    Some(DisplayText {
        language: language?.to_owned(),
        text: text?.to_owned(),
    })
}

fn extensions(o: &Obj<'_, '_>, errs: &mut Errors) -> Option<JouleExtensions> {
    let Some(fee) = errs.take(o.opt_obj("idle_fee"))? else {
        return Some(JouleExtensions { idle_fee: None });
    };
    let price_per_hour = errs.take(fee.req_decimal("price_per_hour"));
    if let Some(p) = price_per_hour {
        errs.price(&fee, p, "price_per_hour");
    }
    let vat = errs.take(fee.opt_decimal("vat"));
    if let Some(Some(v)) = vat {
        errs.check(fee.vat_in_range(v, "vat"));
    }
    let max_price = errs.take(fee.opt_decimal("max_price"));
    if let Some(Some(v)) = max_price {
        errs.price(&fee, v, "max_price");
    }
    let step_size = errs.take(fee.opt_step_size("step_size"));
    let grace = errs.take(fee.opt_whole("grace_period_seconds"));
    if let Some(Some(g)) = grace {
        errs.check(fee.at_most(
            Decimal::from(g),
            "grace_period_seconds",
            Decimal::from(limits::MAX_DURATION_SECONDS),
            "s",
        ));
    }
    Some(JouleExtensions {
        idle_fee: Some(IdleFee {
            price_per_hour: price_per_hour?,
            vat: vat?,
            grace_period_seconds: grace?.unwrap_or(0),
            step_size: step_size?.unwrap_or(0),
            max_price: max_price?,
        }),
    })
}

fn price(o: &Obj<'_, '_>, errs: &mut Errors) -> Option<Price> {
    let excl_vat = errs.take(o.req_decimal("excl_vat"));
    if let Some(v) = excl_vat {
        errs.price(o, v, "excl_vat");
    }
    let incl_vat = errs.take(o.opt_decimal("incl_vat"));
    if let Some(Some(v)) = incl_vat {
        errs.price(o, v, "incl_vat");
    }
    Some(Price {
        excl_vat: excl_vat?,
        incl_vat: incl_vat?,
    })
}

fn element(value: &Json<'_>, path: Path<'_>, errs: &mut Errors) -> Option<TariffElement> {
    let o = errs.take(Obj::new(value, path, "a tariff element"))?;
    let price_components = match errs.take(o.opt_array("price_components")) {
        None => None,
        Some(None) => {
            errs.push(invalid(o.path("price_components"), "is required"));
            None
        }
        Some(Some(items)) if items.is_empty() => {
            errs.push(invalid(
                o.path("price_components"),
                "must contain at least one price component",
            ));
            None
        }
        Some(Some(items)) => items
            .into_iter()
            .map(|(path, v)| component(v, path, errs))
            .collect::<Vec<_>>()
            .into_iter()
            .collect::<Option<Vec<_>>>(),
    };
    let restrictions = errs
        .take(o.opt_obj("restrictions"))
        .and_then(|r| present(r, |r| restrictions(&r, errs)));
    Some(TariffElement {
        price_components: price_components?,
        restrictions: restrictions?,
    })
}

fn component(value: &Json<'_>, path: Path<'_>, errs: &mut Errors) -> Option<PriceComponent> {
    let o = errs.take(Obj::new(value, path, "a price component"))?;
    let dimension = errs.take(o.req_str("type").and_then(|name| {
        Dimension::from_name(name).ok_or_else(|| {
            invalid(
                o.path("type"),
                format!("must be one of FLAT, ENERGY, TIME, PARKING_TIME, not {name:?}"),
            )
        })
    }));
    let price = errs.take(o.req_decimal("price"));
    if let Some(p) = price {
        errs.price(&o, p, "price");
    }
    let vat = errs.take(o.opt_decimal("vat"));
    if let Some(Some(v)) = vat {
        errs.check(o.vat_in_range(v, "vat"));
    }
    // OCPI makes step_size required; tariffs written by hand often leave it out, and its absence can
    // only mean "no rounding", so it defaults to 0.
    let step_size = errs.take(o.opt_step_size("step_size"));
    Some(PriceComponent {
        dimension: dimension?,
        price: price?,
        vat: vat?,
        step_size: step_size?.unwrap_or(0),
    })
}

fn restrictions(o: &Obj<'_, '_>, errs: &mut Errors) -> Option<TariffRestrictions> {
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
    let (start_time, end_time) = (errs.take(time("start_time")), errs.take(time("end_time")));
    let (start_date, end_date) = (errs.take(date("start_date")), errs.take(date("end_date")));
    let mut number = |key: &str, max: Decimal, unit: &str| -> Option<Option<Decimal>> {
        let v = errs.take(o.opt_decimal(key))?;
        if let Some(v) = v {
            errs.check(o.non_negative(v, key));
            errs.check(o.at_most(v, key, max, unit));
        }
        Some(v)
    };
    let kwh = limits::MAX_KWH;
    let current = limits::MAX_CURRENT_A;
    let power = limits::MAX_POWER_KW;
    let (min_kwh, max_kwh) = (number("min_kwh", kwh, "kWh"), number("max_kwh", kwh, "kWh"));
    let (min_current, max_current) = (
        number("min_current", current, "A"),
        number("max_current", current, "A"),
    );
    let (min_power, max_power) = (
        number("min_power", power, "kW"),
        number("max_power", power, "kW"),
    );
    let mut duration = |key: &str| -> Option<Option<u64>> {
        let v = errs.take(o.opt_whole(key))?;
        if let Some(v) = v {
            errs.check(o.at_most(
                Decimal::from(v),
                key,
                Decimal::from(limits::MAX_DURATION_SECONDS),
                "s",
            ));
        }
        Some(v)
    };
    let (min_duration, max_duration) = (duration("min_duration"), duration("max_duration"));
    let day_of_week = errs.take(o.opt_array("day_of_week")).and_then(|items| {
        items
            .unwrap_or_default()
            .into_iter()
            .map(|(path, v)| {
                errs.take(match v.as_str() {
                    Some(s) => one_of(s, DayOfWeek::NAMES, &path),
                    None => Err(invalid(
                        path.to_string(),
                        "must be a day name such as MONDAY",
                    )),
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .collect::<Option<Vec<_>>>()
    });
    let reservation = errs.take(o.opt_str("reservation").and_then(|r| {
        r.map(|s| {
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
        .transpose()
    }));
    // A range that can never hold is a mistake in the tariff, not a restriction.
    let ranges = [
        ("min_kwh", min_kwh.flatten(), "max_kwh", max_kwh.flatten()),
        (
            "min_current",
            min_current.flatten(),
            "max_current",
            max_current.flatten(),
        ),
        (
            "min_power",
            min_power.flatten(),
            "max_power",
            max_power.flatten(),
        ),
        (
            "min_duration",
            min_duration.flatten().map(Decimal::from),
            "max_duration",
            max_duration.flatten().map(Decimal::from),
        ),
    ];
    for (min_key, min, max_key, max) in ranges {
        if let (Some(min), Some(max)) = (min, max)
            && min >= max
        {
            errs.push(invalid(
                o.path(min_key),
                format!("must be less than {max_key}"),
            ));
        }
    }
    if let (Some(Some(s)), Some(Some(e))) = (start_date, end_date)
        && s >= e
    {
        errs.push(invalid(
            o.path("end_date"),
            "must be after start_date (end_date is exclusive)",
        ));
    }
    Some(TariffRestrictions {
        start_time: start_time?,
        end_time: end_time?,
        start_date: start_date?,
        end_date: end_date?,
        min_kwh: min_kwh?,
        max_kwh: max_kwh?,
        min_current: min_current?,
        max_current: max_current?,
        min_power: min_power?,
        max_power: max_power?,
        min_duration: min_duration?,
        max_duration: max_duration?,
        day_of_week: day_of_week?,
        reservation: reservation?,
    })
}

/// An optional part: `Some(None)` when absent, `Some(Some(_))` when read, `None` when unreadable.
fn present<T, U>(value: Option<T>, read: impl FnOnce(T) -> Option<U>) -> Option<Option<U>> {
    match value {
        None => Some(None),
        Some(v) => read(v).map(Some),
    }
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

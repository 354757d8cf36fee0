//! Advice on a tariff: what makes it invalid, and elements that contradict themselves, can never
//! apply, leave times unpriced or can be read more than one way.
//!
//! [`lint_json`] reports every finding of a tariff's JSON in one pass: each error that makes
//! [`Tariff::parse`] refuse it, then (when every part could be read) what [`lint`] finds in it.

use std::fmt;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::error::TariffError;
use crate::model::{Dimension, ReservationRestriction, Tariff, TariffRestrictions, TimeOfDay};

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Joule refuses the tariff.
    Error,
    /// The tariff prices, probably not as its author meant.
    Warning,
    /// Worth knowing.
    Note,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// Not a tariff Joule accepts: the field and why, as [`Tariff::parse`] says it.
    Invalid,
    /// Two statements of the tariff cannot both hold.
    Contradictory,
    /// A component that no session can ever be priced with.
    Unreachable,
    /// Times (or amounts, powers, dates) at which no element prices a dimension the tariff prices
    /// elsewhere: what is used then costs nothing.
    Unpriced,
    /// Valid, but the OCPI text advises against it.
    Discouraged,
    /// Readers of the OCPI text disagree on what it means; Joule's reading is given.
    Ambiguous,
    /// Worth knowing, not wrong.
    Note,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Invalid => "invalid",
            FindingKind::Contradictory => "contradictory",
            FindingKind::Unreachable => "unreachable",
            FindingKind::Unpriced => "unpriced",
            FindingKind::Discouraged => "discouraged",
            FindingKind::Ambiguous => "ambiguous",
            FindingKind::Note => "note",
        }
    }

    pub fn severity(self) -> Severity {
        match self {
            FindingKind::Invalid => Severity::Error,
            FindingKind::Contradictory
            | FindingKind::Unreachable
            | FindingKind::Unpriced
            | FindingKind::Discouraged
            | FindingKind::Ambiguous => Severity::Warning,
            FindingKind::Note => Severity::Note,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub kind: FindingKind,
    /// The field, as parse errors name it: `elements[2].restrictions`.
    pub path: String,
    pub message: String,
}

impl Finding {
    pub fn new(kind: FindingKind, path: impl Into<String>, message: impl Into<String>) -> Finding {
        Finding {
            severity: kind.severity(),
            kind,
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}) {}: {}",
            self.severity.as_str(),
            self.kind.as_str(),
            self.path,
            self.message
        )
    }
}

/// Every finding of a tariff's JSON: its errors (what makes [`Tariff::parse`] refuse it), then, when
/// every part of it could be read (even with values out of range), what [`lint`] finds.
pub fn lint_json(json: &str) -> Vec<Finding> {
    let tree = match crate::json::Json::parse(json) {
        Ok(tree) => tree,
        Err(e) => {
            return vec![Finding::new(
                FindingKind::Invalid,
                "tariff",
                format!("is not valid JSON: {e}"),
            )];
        }
    };
    let read = crate::parse::read(&tree);
    let mut out: Vec<Finding> = read
        .errors
        .into_iter()
        .map(|e| match e {
            TariffError::Invalid { path, message } => {
                Finding::new(FindingKind::Invalid, path, message)
            }
            TariffError::Json(message) => Finding::new(FindingKind::Invalid, "tariff", message),
        })
        .collect();
    if let Some(tariff) = &read.tariff {
        out.extend(lint(tariff));
    }
    out
}

fn restricts_charging(r: &TariffRestrictions) -> bool {
    *r != TariffRestrictions::default()
}

/// The findings for `tariff`, in element order.
pub fn lint(tariff: &Tariff) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut push =
        |kind, path: String, message: String| out.push(Finding::new(kind, path, message));

    for (i, element) in tariff.elements.iter().enumerate() {
        let path = format!("elements[{i}]");
        // Two components of one dimension: only the first is ever used.
        for d in Dimension::ALL {
            let of: Vec<usize> = element
                .price_components
                .iter()
                .enumerate()
                .filter(|(_, c)| c.dimension == d)
                .map(|(j, _)| j)
                .collect();
            for j in of.iter().skip(1) {
                push(
                    FindingKind::Unreachable,
                    format!("{path}.price_components[{j}]"),
                    format!(
                        "a second {d} component in the same element is never used; price_components[{}] is",
                        of[0]
                    ),
                );
            }
        }
        for (j, c) in element.price_components.iter().enumerate() {
            if c.dimension == Dimension::Flat && c.step_size > 1 {
                push(
                    FindingKind::Note,
                    format!("{path}.price_components[{j}].step_size"),
                    "a FLAT fee has no volume to round; step_size is ignored".into(),
                );
            }
            if c.dimension != Dimension::Flat && c.step_size != 1 {
                push(
                    FindingKind::Discouraged,
                    format!("{path}.price_components[{j}].step_size"),
                    format!("is {}: {STEP_SIZE_NOTE}", c.step_size),
                );
            }
            if c.vat.is_none() {
                push(
                    FindingKind::Ambiguous,
                    format!("{path}.price_components[{j}].vat"),
                    "no VAT stated: OCPI means no VAT applies; Joule prices it at 0 %".into(),
                );
            }
        }
        let Some(r) = &element.restrictions else {
            continue;
        };
        let rpath = format!("{path}.restrictions");
        if r.reservation.is_some() {
            for (j, c) in element.price_components.iter().enumerate() {
                if matches!(c.dimension, Dimension::Energy | Dimension::ParkingTime) {
                    push(
                        FindingKind::Contradictory,
                        format!("{path}.price_components[{j}]"),
                        format!(
                            "a reservation element can only have FLAT and TIME components; {} never applies",
                            c.dimension
                        ),
                    );
                }
            }
            if r.reservation == Some(ReservationRestriction::ReservationExpires) {
                push(
                    FindingKind::Note,
                    format!("{rpath}.reservation"),
                    "prices only reservations that expire without charging".into(),
                );
            }
        }
        match (r.start_time, r.end_time) {
            (Some(s), Some(e)) if s == e && s != TimeOfDay::MIDNIGHT => push(
                FindingKind::Unreachable,
                format!("{rpath}.end_time"),
                format!("start_time and end_time are both {s}: the window is empty (only end_time < start_time wraps past midnight)"),
            ),
            (None, Some(e)) if e == TimeOfDay::MIDNIGHT => push(
                FindingKind::Ambiguous,
                format!("{rpath}.end_time"),
                "end_time 00:00 with no start_time: Joule reads it as until the end of the day (every time); ocpi-tariffs never matches it".into(),
            ),
            _ => {}
        }
        let mut days = r.day_of_week.clone();
        days.dedup();
        if days.len() != r.day_of_week.len() {
            push(
                FindingKind::Note,
                format!("{rpath}.day_of_week"),
                "a day is listed twice".into(),
            );
        }
        if r.reservation.is_none()
            && let Some((j, _)) = element.component(Dimension::ParkingTime)
        {
            parking_by_power(
                r,
                &rpath,
                &format!("{path}.price_components[{j}]"),
                &mut push,
            );
        }
        if r.min_current.is_some() || r.max_current.is_some() {
            push(
                FindingKind::Note,
                rpath.clone(),
                "Joule's own chargers do not report current per period: this element applies only to CDRs that state it".into(),
            );
        }
        // A date window outside the tariff's validity can never be reached.
        if let (Some(end), Some(start)) = (tariff.end_date_time, r.start_date)
            && start > end.date_naive()
        {
            push(
                FindingKind::Unreachable,
                format!("{rpath}.start_date"),
                format!("starts after the tariff ends ({end})"),
            );
        }
        if let (Some(begin), Some(end)) = (tariff.start_date_time, r.end_date)
            && end <= begin.date_naive()
        {
            push(
                FindingKind::Unreachable,
                format!("{rpath}.end_date"),
                format!("ends before the tariff starts ({begin})"),
            );
        }
    }

    // An element whose every dimension an earlier unrestricted element already prices never applies.
    for (i, element) in tariff.elements.iter().enumerate() {
        let reservation = element
            .restrictions
            .as_ref()
            .is_some_and(|r| r.reservation.is_some());
        if reservation {
            continue;
        }
        let shadowed_by = |d: Dimension| {
            tariff.elements[..i].iter().position(|earlier| {
                earlier.component(d).is_some()
                    && earlier
                        .restrictions
                        .as_ref()
                        .is_none_or(|r| !restricts_charging(r))
            })
        };
        let dims: Vec<Dimension> = element
            .price_components
            .iter()
            .map(|c| c.dimension)
            .collect();
        let shadows: Vec<Option<usize>> = dims.iter().map(|d| shadowed_by(*d)).collect();
        if !dims.is_empty() && shadows.iter().all(Option::is_some) {
            let by: Vec<String> = shadows
                .iter()
                .flatten()
                .map(|j| format!("elements[{j}]"))
                .collect();
            push(
                FindingKind::Unreachable,
                format!("elements[{i}]"),
                format!(
                    "never applies: {} before it, without restrictions, already price {}",
                    by.join(" and "),
                    dims.iter()
                        .map(|d| d.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }

    for (dimension, kind, costs) in [
        (
            Dimension::Energy,
            FindingKind::Unpriced,
            "energy charged then costs nothing",
        ),
        (
            Dimension::Time,
            FindingKind::Note,
            "charging time then costs nothing",
        ),
    ] {
        for gap in crate::coverage::gaps(tariff, dimension) {
            let when = if gap.condition.is_empty() {
                String::new()
            } else {
                format!(" when {}", gap.condition)
            };
            push(
                kind,
                "elements".into(),
                format!(
                    "no element prices {dimension} {}{}{when}: {costs}",
                    gap.windows,
                    if gap.windows == "at any time" {
                        ""
                    } else {
                        " (local time)"
                    }
                ),
            );
        }
    }

    if let (Some(min), Some(max)) = (&tariff.min_price, &tariff.max_price)
        && min.excl_vat == max.excl_vat
    {
        push(
            FindingKind::Note,
            "max_price".into(),
            "min_price equals max_price: every session costs the same".into(),
        );
    }
    for (name, p) in [
        ("min_price", &tariff.min_price),
        ("max_price", &tariff.max_price),
    ] {
        if let Some(p) = p
            && let Some(incl) = p.incl_vat
            && incl < p.excl_vat
        {
            push(
                FindingKind::Contradictory,
                format!("{name}.incl_vat"),
                format!(
                    "is below {name}.excl_vat ({} < {}): VAT cannot be negative",
                    incl.normalize(),
                    p.excl_vat.normalize()
                ),
            );
        }
        if let Some(p) = p
            && p.incl_vat.is_none()
        {
            push(
                FindingKind::Ambiguous,
                format!("{name}.incl_vat"),
                "missing: Joule bounds the incl.-VAT total in proportion, keeping the session's VAT rate".into(),
            );
        }
    }
    if let Some(fee) = tariff.joule.as_ref().and_then(|j| j.idle_fee.as_ref()) {
        if tariff
            .elements
            .iter()
            .any(|e| e.component(Dimension::ParkingTime).is_some())
        {
            push(
                FindingKind::Note,
                "joule.idle_fee".into(),
                "both PARKING_TIME and an idle fee: parking after charging pays both".into(),
            );
        }
        if fee.max_price == Some(Decimal::ZERO) {
            push(
                FindingKind::Contradictory,
                "joule.idle_fee.max_price".into(),
                "a cap of 0 makes the idle fee free".into(),
            );
        }
    }
    out
}

/// The OCPI 2.2.1 text on `step_size` (mod_tariffs, PriceComponent class, at the head of
/// `release-2.2.1-bugfixes`, ca8c04c).
const STEP_SIZE_NOTE: &str = "OCPI 2.2.1 advises against step_size other than 1 (mod_tariffs, PriceComponent: \"The `step_size` field is no longer present in OCPI 3.0. [...] Users of OCPI 2.2.1 looking to be ready for a transition to OCPI 3.0 or to maximize interoperability with OCPI 3.0 are advised to effectively avoid using `step_size` by setting `step_size` to 1 always.\")";

/// A PARKING_TIME component in an element restricted by power or current. Parking is "time not
/// charging" (OCPI TariffDimensionType): it draws 0 kW and 0 A, so such a restriction either never
/// lets the element price parking or always does, whatever the charging before it drew.
fn parking_by_power(
    r: &TariffRestrictions,
    rpath: &str,
    component: &str,
    push: &mut impl FnMut(FindingKind, String, String),
) {
    for (what, unit, min_key, min, max_key, max) in [
        (
            "power",
            "kW",
            "min_power",
            r.min_power,
            "max_power",
            r.max_power,
        ),
        (
            "current",
            "A",
            "min_current",
            r.min_current,
            "max_current",
            r.max_current,
        ),
    ] {
        if min.is_none() && max.is_none() {
            continue;
        }
        let key = if max.is_some() { max_key } else { min_key };
        match min.filter(|m| *m > Decimal::ZERO) {
            Some(m) => push(
                FindingKind::Unreachable,
                component.to_owned(),
                format!(
                    "PARKING_TIME never applies here: parking is time not charging, at 0 {unit}, and {rpath}.{min_key} asks for at least {} {unit}",
                    m.normalize()
                ),
            ),
            None if what == "power" => push(
                FindingKind::Contradictory,
                format!("{rpath}.{key}"),
                format!(
                    "does not restrict the PARKING_TIME of {component}: parking is time not charging, at 0 {unit}, so it is priced whatever {what} the charging drew"
                ),
            ),
            // Current is rarely stated for parking: where it is not, the restriction cannot be
            // checked and the element does not apply.
            None => push(
                FindingKind::Contradictory,
                format!("{rpath}.{key}"),
                format!(
                    "cannot restrict the PARKING_TIME of {component} as meant: parking is time not charging; it is priced only in CDRs that state 0 {unit} for it, and then whatever the charging drew"
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings(json: &str) -> Vec<String> {
        lint(&Tariff::parse(json).unwrap())
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn of_json(json: &str) -> Vec<String> {
        lint_json(json).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn finds_shadowed_elements_and_contradictions() {
        let f = findings(
            r#"{ "id": "l", "currency": "EUR", "elements": [
              { "price_components": [{ "type": "ENERGY", "price": 0.3, "vat": 20, "step_size": 1 }] },
              { "price_components": [{ "type": "ENERGY", "price": 0.2, "vat": 20, "step_size": 1 }], "restrictions": { "start_time": "22:00" } },
              { "price_components": [{ "type": "ENERGY", "price": 0.1, "vat": 20, "step_size": 1 }] },
              { "price_components": [{ "type": "ENERGY", "price": 1, "vat": 20, "step_size": 1 }], "restrictions": { "reservation": "RESERVATION" } },
              { "price_components": [{ "type": "TIME", "price": 1, "vat": 20, "step_size": 1 }], "restrictions": { "end_time": "00:00" } }
            ] }"#,
        );
        assert!(f.contains(&"warning (unreachable) elements[1]: never applies: elements[0] before it, without restrictions, already price ENERGY".to_owned()), "{f:?}");
        assert!(
            f.iter()
                .any(|x| x.starts_with("warning (unreachable) elements[2]")),
            "{f:?}"
        );
        assert!(
            f.iter()
                .any(|x| x.starts_with("warning (contradictory) elements[3].price_components[0]")),
            "{f:?}"
        );
        assert!(
            f.iter()
                .any(|x| x.starts_with("warning (ambiguous) elements[4].restrictions.end_time")),
            "{f:?}"
        );
    }

    #[test]
    fn a_clean_tariff_has_no_findings() {
        assert!(findings(
            r#"{ "id": "c", "currency": "EUR", "max_price": { "excl_vat": 10, "incl_vat": 12 }, "elements": [
              { "price_components": [{ "type": "ENERGY", "price": 0.2, "vat": 20, "step_size": 1 }], "restrictions": { "start_time": "22:00", "end_time": "06:00" } },
              { "price_components": [{ "type": "ENERGY", "price": 0.3, "vat": 20, "step_size": 1 }] } ] }"#
        )
        .is_empty());
    }

    #[test]
    fn every_error_and_warning_in_one_run() {
        // Three errors in three places, and a warning the lint finds in what could be read.
        let f = lint_json(
            r#"{ "id": "x", "currency": "EUR", "max_price": { "excl_vat": -1 }, "elements": [
              { "price_components": [{ "type": "ENERGY", "price": 0.3, "vat": 190, "step_size": 1 }], "restrictions": { "start_time": "06:00" } },
              { "price_components": [{ "type": "TIME", "price": 99999999999999999999, "vat": 19, "step_size": 1 }] } ] }"#,
        );
        let errors: Vec<&str> = f
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.path.as_str())
            .collect();
        assert_eq!(
            errors,
            [
                "max_price.excl_vat",
                "elements[0].price_components[0].vat",
                "elements[1].price_components[0].price"
            ],
            "{f:?}"
        );
        assert!(
            f.iter()
                .any(|f| f.kind == FindingKind::Unpriced && f.severity == Severity::Warning),
            "{f:?}"
        );
        // What cannot be read is reported without a lint of the rest.
        let f = of_json(
            r#"{ "id": "x", "currency": "EURO", "elements": [ { "price_components": [{ "type": "KWH", "price": 1 }] } ] }"#,
        );
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f[0].starts_with("error (invalid) currency: "), "{f:?}");
        assert!(
            f[1].starts_with(
                "error (invalid) elements[0].price_components[0].type: must be one of"
            ),
            "{f:?}"
        );
        assert_eq!(
            of_json("{"),
            [
                "error (invalid) tariff: is not valid JSON: EOF while parsing an object at line 1 column 1"
            ]
        );
        assert!(of_json(r#"{ "id": "c", "currency": "EUR", "elements": [{ "price_components": [{ "type": "ENERGY", "price": 0.3, "vat": 20, "step_size": 1 }] }] }"#).is_empty());
    }

    #[test]
    fn an_energy_price_that_starts_at_six_leaves_the_night_unpriced() {
        let f = findings(
            r#"{ "id": "n", "currency": "EUR", "elements": [
              { "price_components": [{ "type": "ENERGY", "price": 0.3, "vat": 20, "step_size": 1 }], "restrictions": { "start_time": "06:00" } },
              { "price_components": [{ "type": "TIME", "price": 1, "vat": 20, "step_size": 1 }], "restrictions": { "day_of_week": ["SATURDAY", "SUNDAY"] } } ] }"#,
        );
        assert_eq!(
            f,
            [
                "warning (unpriced) elements: no element prices ENERGY every day 00:00-06:00 (local time): energy charged then costs nothing",
                "note (note) elements: no element prices TIME Mon-Fri all day (local time): charging time then costs nothing"
            ]
        );
    }

    #[test]
    fn parking_restricted_by_power_is_flagged() {
        let f = findings(
            r#"{ "id": "p", "currency": "EUR", "elements": [
              { "price_components": [{ "type": "ENERGY", "price": 0.5, "vat": 20, "step_size": 1 }, { "type": "PARKING_TIME", "price": 6, "vat": 20, "step_size": 1 }], "restrictions": { "min_power": 50 } },
              { "price_components": [{ "type": "ENERGY", "price": 0.3, "vat": 20, "step_size": 1 }, { "type": "PARKING_TIME", "price": 2, "vat": 20, "step_size": 1 }], "restrictions": { "max_power": 50 } } ] }"#,
        );
        assert_eq!(
            f,
            [
                "warning (unreachable) elements[0].price_components[1]: PARKING_TIME never applies here: parking is time not charging, at 0 kW, and elements[0].restrictions.min_power asks for at least 50 kW",
                "warning (contradictory) elements[1].restrictions.max_power: does not restrict the PARKING_TIME of elements[1].price_components[1]: parking is time not charging, at 0 kW, so it is priced whatever power the charging drew"
            ]
        );
        let f = findings(
            r#"{ "id": "p", "currency": "EUR", "elements": [
              { "price_components": [{ "type": "PARKING_TIME", "price": 6, "vat": 20, "step_size": 1 }], "restrictions": { "max_current": 16 } } ] }"#,
        );
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(
            f[0].starts_with("warning (contradictory) elements[0].restrictions.max_current: cannot restrict the PARKING_TIME"),
            "{f:?}"
        );
    }

    #[test]
    fn step_size_other_than_1_cites_the_ocpi_advice() {
        let f = lint(
            &Tariff::parse(
                r#"{ "id": "s", "currency": "EUR", "elements": [
                  { "price_components": [{ "type": "FLAT", "price": 1, "vat": 20, "step_size": 0 },
                                         { "type": "ENERGY", "price": 0.3, "vat": 20, "step_size": 1 },
                                         { "type": "TIME", "price": 2, "vat": 20, "step_size": 300 },
                                         { "type": "PARKING_TIME", "price": 2, "vat": 20 }] } ] }"#,
            )
            .unwrap(),
        );
        let flagged: Vec<&str> = f
            .iter()
            .filter(|f| f.kind == FindingKind::Discouraged)
            .map(|f| f.path.as_str())
            .collect();
        assert_eq!(
            flagged,
            [
                "elements[0].price_components[2].step_size",
                "elements[0].price_components[3].step_size"
            ]
        );
        assert!(
            f[0].message.starts_with("is 300: OCPI 2.2.1 advises"),
            "{f:?}"
        );
        assert!(
            f[0].message.contains(
                "advised to effectively avoid using `step_size` by setting `step_size` to 1 always"
            ),
            "{f:?}"
        );
        assert_eq!(f[0].severity, Severity::Warning);
    }
}

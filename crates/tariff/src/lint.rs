//! Advice on a valid tariff: elements that contradict themselves, can never apply, or can be read
//! more than one way. Parsing already refuses what is plainly invalid (a negative price, an empty
//! range); these are tariffs that parse but probably do not say what their author meant.

use std::fmt;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::model::{Dimension, ReservationRestriction, Tariff, TariffRestrictions, TimeOfDay};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// Two statements of the tariff cannot both hold.
    Contradictory,
    /// A component that no session can ever be priced with.
    Unreachable,
    /// Readers of the OCPI text disagree on what it means; Joule's reading is given.
    Ambiguous,
    /// Worth knowing, not wrong.
    Note,
}

impl FindingKind {
    fn as_str(self) -> &'static str {
        match self {
            FindingKind::Contradictory => "contradictory",
            FindingKind::Unreachable => "unreachable",
            FindingKind::Ambiguous => "ambiguous",
            FindingKind::Note => "note",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// The field, as parse errors name it: `elements[2].restrictions`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.kind.as_str(), self.path, self.message)
    }
}

fn restricts_charging(r: &TariffRestrictions) -> bool {
    *r != TariffRestrictions::default()
}

/// The findings for `tariff`, in element order.
pub fn lint(tariff: &Tariff) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut push = |kind, path: String, message: String| {
        out.push(Finding {
            kind,
            path,
            message,
        })
    };

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

#[cfg(test)]
mod tests {
    use super::*;

    fn findings(json: &str) -> Vec<String> {
        lint(&Tariff::parse(json).unwrap())
            .iter()
            .map(ToString::to_string)
            .collect()
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
        assert!(f.contains(&"unreachable elements[1]: never applies: elements[0] before it, without restrictions, already price ENERGY".to_owned()), "{f:?}");
        assert!(
            f.iter().any(|x| x.starts_with("unreachable elements[2]")),
            "{f:?}"
        );
        assert!(
            f.iter()
                .any(|x| x.starts_with("contradictory elements[3].price_components[0]")),
            "{f:?}"
        );
        assert!(
            f.iter()
                .any(|x| x.starts_with("ambiguous elements[4].restrictions.end_time")),
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
}

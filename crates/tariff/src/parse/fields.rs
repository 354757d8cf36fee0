//! Reading one JSON object field by field, with the path of each value for error messages.

use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, Utc};
use rust_decimal::Decimal;

use super::{Result, invalid};
use crate::json::Json;
use crate::limits;
use std::borrow::Cow;

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

    /// `Ok` unless `v` exceeds `max`.
    pub(crate) fn at_most(&self, v: Decimal, key: &str, max: Decimal, unit: &str) -> Result<()> {
        if v > max {
            Err(invalid(
                self.path(key),
                format!("must be at most {max} {unit}, not {}", v.normalize()),
            ))
        } else {
            Ok(())
        }
    }

    /// A VAT percentage: from 0 to 100.
    pub(crate) fn vat_in_range(&self, v: Decimal, key: &str) -> Result<()> {
        if v.is_sign_negative() && !v.is_zero() || v > Decimal::ONE_HUNDRED {
            Err(invalid(
                self.path(key),
                format!("must be a percentage from 0 to 100, not {}", v.normalize()),
            ))
        } else {
            Ok(())
        }
    }

    /// A `step_size`: a whole number from 0 to [`limits::MAX_STEP_SIZE`].
    pub(crate) fn opt_step_size(&self, key: &str) -> Result<Option<u32>> {
        let Some(n) = self.opt_whole(key)? else {
            return Ok(None);
        };
        match u32::try_from(n) {
            Ok(n) if n <= limits::MAX_STEP_SIZE => Ok(Some(n)),
            _ => Err(invalid(
                self.path(key),
                format!(
                    "must be at most {} (seconds for TIME and PARKING_TIME, Wh for ENERGY), not {n}",
                    limits::MAX_STEP_SIZE
                ),
            )),
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

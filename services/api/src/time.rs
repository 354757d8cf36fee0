//! How the API writes times: RFC 3339 in UTC with exactly six fractional digits
//! (`2026-12-07T17:25:53.979499Z`), the precision the services store (issue 14: one precision
//! everywhere). Views name these with `#[serde(serialize_with = ...)]` on their time fields.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

/// The one text of a time.
pub fn format(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn rfc3339<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(t))
}

pub fn rfc3339_opt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn always_six_fractional_digits_and_z() {
        let whole = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(format(&whole), "2023-11-14T22:13:20.000000Z");
        let nanos = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
        assert_eq!(format(&nanos), "2023-11-14T22:13:20.123456Z");
    }
}

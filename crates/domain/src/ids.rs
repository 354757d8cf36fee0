//! Typed identifiers. Every id parses with validation and displays as it parses, so no bare strings
//! travel between services.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An id that is not well formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: {reason}")]
pub struct IdError {
    pub kind: &'static str,
    pub reason: String,
}

/// Namespace for deterministic (UUID v5) ids, so that the same business key always gives the same id
/// in every service and on every replay.
pub const JOULE_NAMESPACE: Uuid = Uuid::from_u128(0x6a6f_756c_6500_4000_8000_0000_0000_0001);

#[doc(hidden)]
pub mod __private {
    pub use uuid::Uuid;
}

/// Defines a typed UUID id: `new`, `derived` (UUID v5 of `"<kind>:<key>"` in the namespace, the
/// crate's [`JOULE_NAMESPACE`] unless one is given), parsing with [`IdError`], display, and serde as a
/// string. Services define their own ids with it (the caller needs `serde`).
#[macro_export]
macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $crate::uuid_id!($(#[$meta])* $name, $kind, $crate::ids::JOULE_NAMESPACE);
    };
    ($(#[$meta:meta])* $name:ident, $kind:literal, $namespace:expr) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize,
            ::serde::Deserialize,
        )]
        #[serde(try_from = "String", into = "String")]
        pub struct $name($crate::ids::__private::Uuid);

        impl $name {
            /// A fresh random id.
            pub fn new() -> Self {
                Self($crate::ids::__private::Uuid::new_v4())
            }

            /// The id that a business key always maps to.
            pub fn derived(key: &str) -> Self {
                Self($crate::ids::__private::Uuid::new_v5(
                    &$namespace,
                    format!("{}:{}", $kind, key).as_bytes(),
                ))
            }

            pub fn as_uuid(&self) -> $crate::ids::__private::Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<$crate::ids::__private::Uuid> for $name {
            fn from(value: $crate::ids::__private::Uuid) -> Self {
                Self(value)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $crate::ids::__private::Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|e| $crate::IdError {
                        kind: $kind,
                        reason: e.to_string(),
                    })
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::IdError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                value.parse()
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.to_string()
            }
        }
    };
}

uuid_id!(
    /// A site: a location with chargers, a country and a time zone.
    SiteId,
    "site"
);
uuid_id!(
    /// A charger registered in Joule (its OCPP identity is a [`ChargePointId`]).
    ChargerId,
    "charger"
);
uuid_id!(
    /// A customer account that pays for charging.
    AccountId,
    "account"
);
uuid_id!(
    /// An authorisation token (RFID card, app token) that belongs to an account.
    TokenId,
    "token"
);
uuid_id!(
    /// A tariff (OCPI 2.2.1 Tariff object).
    TariffId,
    "tariff"
);
uuid_id!(
    /// One charging session, derived from the charger and its transaction.
    SessionId,
    "session"
);
uuid_id!(
    /// An invoice or receipt.
    InvoiceId,
    "invoice"
);
uuid_id!(
    /// A ledger journal entry.
    JournalEntryId,
    "journal"
);
uuid_id!(
    /// An integration event's id, used for de-duplication on the bus.
    EventId,
    "event"
);
uuid_id!(
    /// A fleet of an account (vehicles, drivers, cost centres); fleet-manager keys are limited to
    /// named fleets.
    FleetId,
    "fleet"
);
uuid_id!(
    /// A driver of a fleet.
    DriverId,
    "driver"
);
uuid_id!(
    /// A vehicle of a fleet.
    VehicleId,
    "vehicle"
);
uuid_id!(
    /// A cost centre of an account: what drivers and vehicles are charged to.
    CostCentreId,
    "cost_centre"
);

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal, $max:expr, $allowed:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let allowed: fn(char) -> bool = $allowed;
                if s.is_empty() {
                    return Err(IdError { kind: $kind, reason: "must not be empty".into() });
                }
                if s.chars().count() > $max {
                    return Err(IdError {
                        kind: $kind,
                        reason: format!("must be at most {} characters", $max),
                    });
                }
                if let Some(c) = s.chars().find(|c| !allowed(*c)) {
                    return Err(IdError { kind: $kind, reason: format!("character {c:?} is not allowed") });
                }
                Ok(Self(s.to_owned()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                value.parse()
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    };
}

string_id!(
    /// The identity a charger uses in its OCPP connection URL (OCPP 1.6: CiString, at most 48 characters,
    /// and it must be safe as one URL path segment and one NATS subject token).
    ChargePointId,
    "charge point id",
    48,
    |c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':')
);
string_id!(
    /// The tenant (an operator using Joule). Every event and record belongs to one.
    TenantId,
    "tenant id",
    64,
    |c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')
);
string_id!(
    /// An OCPP idTag / idToken value (OCPP 1.6: CiString20; 2.0.1: up to 36).
    TokenUid,
    "token uid",
    36,
    |c| c.is_ascii_graphic()
);

impl TenantId {
    /// The tenant used when a deployment serves a single operator.
    pub fn default_tenant() -> Self {
        Self("default".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_and_distinct_per_kind() {
        assert_eq!(SessionId::derived("cp1/42"), SessionId::derived("cp1/42"));
        assert_ne!(
            SessionId::derived("cp1/42").as_uuid(),
            InvoiceId::derived("cp1/42").as_uuid()
        );
    }

    #[test]
    fn charge_point_id_rejects_subject_and_path_characters() {
        assert!("CP-001".parse::<ChargePointId>().is_ok());
        assert!("cp.1".parse::<ChargePointId>().is_err());
        assert!("cp/1".parse::<ChargePointId>().is_err());
        assert!("".parse::<ChargePointId>().is_err());
        assert!("x".repeat(49).parse::<ChargePointId>().is_err());
    }

    #[test]
    fn ids_round_trip_through_json() {
        let id = AccountId::new();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<AccountId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<AccountId>("\"nope\"").is_err());
    }
}

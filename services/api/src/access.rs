//! Who may do what: the scopes routes require and the roles that grant them (ADR 034).
//!
//! A route requires exactly one [`Scope`]; a credential carries one or more [`Role`]s, and a role is
//! a fixed set of scopes. The table below is the single place that says which role may do what; the
//! README's "Roles" section prints it and the access-matrix test checks every route against it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! scopes {
    ($($variant:ident => $name:literal),+ $(,)?) => {
        /// A permission a route requires.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Scope {
            $($variant),+
        }

        impl Scope {
            pub const ALL: &'static [Scope] = &[$(Scope::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Scope::$variant => $name),+
                }
            }
        }
    };
}

scopes! {
    SitesRead => "sites:read",
    SitesWrite => "sites:write",
    ChargersRead => "chargers:read",
    ChargersWrite => "chargers:write",
    ChargersCommand => "chargers:command",
    TariffsRead => "tariffs:read",
    TariffsWrite => "tariffs:write",
    AccountsRead => "accounts:read",
    AccountsWrite => "accounts:write",
    TokensRead => "tokens:read",
    TokensWrite => "tokens:write",
    FleetsRead => "fleets:read",
    FleetsWrite => "fleets:write",
    CostCentresRead => "cost_centres:read",
    CostCentresWrite => "cost_centres:write",
    DriversRead => "drivers:read",
    DriversWrite => "drivers:write",
    VehiclesRead => "vehicles:read",
    VehiclesWrite => "vehicles:write",
    SessionsRead => "sessions:read",
    ReservationsRead => "reservations:read",
    ReservationsWrite => "reservations:write",
    PricingRead => "pricing:read",
    PricingWrite => "pricing:write",
    InvoicesRead => "invoices:read",
    PaymentsRead => "payments:read",
    PaymentsWrite => "payments:write",
    RefundsWrite => "refunds:write",
    WalletsRead => "wallets:read",
    WalletsWrite => "wallets:write",
    LedgerRead => "ledger:read",
    TransactionsRead => "transactions:read",
    ReconciliationWrite => "reconciliation:write",
    DeadLettersRead => "dead_letters:read",
    DeadLettersWrite => "dead_letters:write",
    ApiKeysRead => "api_keys:read",
    ApiKeysWrite => "api_keys:write",
    AuditRead => "audit:read",
    WebhooksRead => "webhooks:read",
    WebhooksWrite => "webhooks:write",
    // NATS credentials on the integrator plane (ADR 043).
    StreamsRead => "streams:read",
    StreamsWrite => "streams:write",
    // Tenants and their first keys: only the platform credential holds it.
    Platform => "platform",
}

impl Scope {
    fn bit(self) -> u64 {
        1u64 << (self as u32)
    }

    /// Whether this scope only reads.
    pub fn is_read(self) -> bool {
        self.as_str().ends_with(":read")
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes, checked in one instruction on every request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scopes(u64);

impl Scopes {
    pub fn of(scopes: &[Scope]) -> Self {
        Self(scopes.iter().fold(0, |bits, s| bits | s.bit()))
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn union(self, other: Scopes) -> Self {
        Self(self.0 | other.0)
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL
            .iter()
            .copied()
            .filter(move |s| self.contains(*s))
    }
}

/// What a credential may be: each role is a fixed set of scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Operator,
    Finance,
    FleetManager,
    Driver,
    ReadOnly,
    Webhooks,
}

impl Role {
    pub const ALL: &'static [Role] = &[
        Role::Admin,
        Role::Operator,
        Role::Finance,
        Role::FleetManager,
        Role::Driver,
        Role::ReadOnly,
        Role::Webhooks,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Finance => "finance",
            Role::FleetManager => "fleet_manager",
            Role::Driver => "driver",
            Role::ReadOnly => "read_only",
            Role::Webhooks => "webhooks",
        }
    }

    /// The scopes the role grants.
    pub fn scopes(self) -> Scopes {
        use Scope::*;
        match self {
            Role::Admin => Scopes::of(
                &Scope::ALL
                    .iter()
                    .copied()
                    .filter(|s| *s != Platform)
                    .collect::<Vec<_>>(),
            ),
            Role::Operator => Scopes::of(&[
                SitesRead,
                SitesWrite,
                ChargersRead,
                ChargersWrite,
                ChargersCommand,
                TariffsRead,
                TariffsWrite,
                PricingRead,
                PricingWrite,
                AccountsRead,
                TokensRead,
                TokensWrite,
                // To assign tokens to drivers and vehicles.
                FleetsRead,
                DriversRead,
                VehiclesRead,
                SessionsRead,
                ReservationsRead,
                ReservationsWrite,
                DeadLettersRead,
                DeadLettersWrite,
            ]),
            Role::Finance => Scopes::of(&[
                AccountsRead,
                AccountsWrite,
                SessionsRead,
                TariffsRead,
                PricingRead,
                InvoicesRead,
                PaymentsRead,
                PaymentsWrite,
                RefundsWrite,
                WalletsRead,
                WalletsWrite,
                LedgerRead,
                TransactionsRead,
                ReconciliationWrite,
                // What drivers and vehicles are charged to.
                FleetsRead,
                CostCentresRead,
                CostCentresWrite,
            ]),
            // Limited to the key's fleets (`Caller::fleets`, see `crate::routes::fleets`): their
            // drivers, vehicles and tokens, and the cost centres of the accounts that hold them.
            // Fleets and cost centres are an admin's (or finance's) to create.
            Role::FleetManager => Scopes::of(&[
                SitesRead,
                TariffsRead,
                FleetsRead,
                CostCentresRead,
                DriversRead,
                DriversWrite,
                VehiclesRead,
                VehiclesWrite,
                TokensRead,
                TokensWrite,
                // Limited to sessions started with a token of her fleets, their transactions and
                // receipts (`crate::routes::reach`).
                SessionsRead,
                TransactionsRead,
                InvoicesRead,
                // For the accounts that hold her fleets.
                CostCentresWrite,
                // With the tokens she reaches: reserving a charger for her drivers.
                ReservationsRead,
                ReservationsWrite,
                ChargersRead,
            ]),
            // Where to charge and at what price, and his own sessions and receipts: those started
            // with a token assigned to him (`crate::routes::reach`, ADR 038).
            Role::Driver => Scopes::of(&[SitesRead, TariffsRead, SessionsRead, InvoicesRead]),
            Role::ReadOnly => Scopes::of(
                &Scope::ALL
                    .iter()
                    .copied()
                    .filter(|s| s.is_read())
                    .collect::<Vec<_>>(),
            ),
            Role::Webhooks => Scopes::of(&[WebhooksRead, WebhooksWrite, StreamsRead, StreamsWrite]),
        }
    }

    /// The scopes of several roles together.
    pub fn scopes_of(roles: &[Role]) -> Scopes {
        roles
            .iter()
            .fold(Scopes::default(), |all, role| all.union(role.scopes()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
                format!("unknown role {s:?}; roles are {}", known.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_has_every_tenant_scope_and_no_platform_scope() {
        let admin = Role::Admin.scopes();
        assert!(
            Scope::ALL
                .iter()
                .filter(|s| **s != Scope::Platform)
                .all(|s| admin.contains(*s))
        );
        assert!(!admin.contains(Scope::Platform));
        assert!(Scope::ALL.len() < 64, "scopes must fit the bit set");
    }

    #[test]
    fn read_only_reads_everything_and_writes_nothing() {
        let scopes = Role::ReadOnly.scopes();
        for scope in Scope::ALL {
            assert_eq!(scopes.contains(*scope), scope.is_read(), "{scope}");
        }
    }

    #[test]
    fn finance_cannot_command_chargers_and_operator_cannot_refund() {
        assert!(!Role::Finance.scopes().contains(Scope::ChargersCommand));
        assert!(Role::Finance.scopes().contains(Scope::RefundsWrite));
        assert!(!Role::Operator.scopes().contains(Scope::RefundsWrite));
        assert!(Role::Operator.scopes().contains(Scope::ChargersCommand));
        let both = Role::scopes_of(&[Role::Finance, Role::Operator]);
        assert!(both.contains(Scope::RefundsWrite) && both.contains(Scope::ChargersCommand));
    }

    #[test]
    fn a_fleet_manager_manages_drivers_and_vehicles_but_creates_no_fleet() {
        let scopes = Role::FleetManager.scopes();
        for scope in [
            Scope::DriversWrite,
            Scope::VehiclesWrite,
            Scope::TokensWrite,
            Scope::CostCentresWrite,
            Scope::ReservationsWrite,
            Scope::SessionsRead,
            Scope::TransactionsRead,
            Scope::InvoicesRead,
        ] {
            assert!(scopes.contains(scope), "{scope}");
        }
        for scope in [Scope::FleetsWrite, Scope::AccountsRead, Scope::ApiKeysWrite] {
            assert!(!scopes.contains(scope), "{scope}");
        }
    }

    #[test]
    fn roles_parse_by_their_names_only() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), *role);
        }
        assert!("Admin".parse::<Role>().is_err());
        assert!(
            "superuser"
                .parse::<Role>()
                .unwrap_err()
                .contains("fleet_manager")
        );
    }
}

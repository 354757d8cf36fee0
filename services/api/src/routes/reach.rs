//! Whose sessions, receipts and transactions a caller reads (ADR 037, 038). A role other than
//! `fleet_manager` and `driver` that grants the read reaches the whole tenant's; otherwise a fleet
//! manager reaches those of her key's fleets and a driver his own (the driver his key acts for).
//! The services that hold the records filter by the reach (`within_fleets`, `within_driver`), so
//! lists hold nothing beyond it and a single record beyond it is a 404.

use joule_domain::FleetId;

use crate::access::{Role, Scope};
use crate::auth::Caller;
use crate::problem::ApiError;

/// The records of these fleets or of this driver; both empty: the whole tenant's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Reach {
    pub fleets: Vec<String>,
    pub driver: String,
}

impl Reach {
    /// What `caller` reaches reading under `scope`; a limited caller who reaches no one reads
    /// nothing (`what` names it in the 404).
    pub fn of(caller: &Caller, scope: Scope, what: &str) -> Result<Self, ApiError> {
        let grants = |role: Role| caller.roles.contains(&role) && role.scopes().contains(scope);
        let wider = caller
            .roles
            .iter()
            .any(|r| !matches!(r, Role::FleetManager | Role::Driver) && r.scopes().contains(scope));
        if wider {
            return Ok(Self::default());
        }
        let mut reach = Self::default();
        if grants(Role::FleetManager) {
            reach.fleets = caller.fleets.iter().map(FleetId::to_string).collect();
        }
        if let (true, Some(driver)) = (grants(Role::Driver), caller.driver) {
            reach.driver = driver.to_string();
        }
        if reach.is_whole_tenant() {
            return Err(ApiError::NotFound(format!("no {what}")));
        }
        Ok(reach)
    }

    /// Whether it is not limited.
    pub fn is_whole_tenant(&self) -> bool {
        self.fleets.is_empty() && self.driver.is_empty()
    }

    /// Whether a record held by `fleet_id` / `driver_id` (empty: none) is within it.
    pub fn reaches(&self, fleet_id: &str, driver_id: &str) -> bool {
        self.is_whole_tenant()
            || (!fleet_id.is_empty() && self.fleets.iter().any(|f| f == fleet_id))
            || (!driver_id.is_empty() && self.driver == driver_id)
    }
}

#[cfg(test)]
mod tests {
    use joule_domain::{DriverId, TenantId};

    use super::*;
    use crate::auth::Actor;

    fn caller(roles: &[Role], fleets: &[FleetId], driver: Option<DriverId>) -> Caller {
        Caller {
            tenant: TenantId::default_tenant(),
            actor: Actor::ApiKey("k".into()),
            roles: roles.to_vec(),
            scopes: Role::scopes_of(roles),
            fleets: fleets.to_vec(),
            driver,
        }
    }

    #[test]
    fn a_wider_role_reaches_the_whole_tenant() {
        let fleet = FleetId::new();
        let both = caller(&[Role::FleetManager, Role::Finance], &[fleet], None);
        let reach = Reach::of(&both, Scope::InvoicesRead, "invoices").unwrap();
        assert!(reach.is_whole_tenant());
        assert!(reach.reaches("", ""));
    }

    #[test]
    fn a_fleet_manager_reaches_her_fleets_and_a_driver_himself() {
        let (vans, trucks) = (FleetId::new(), FleetId::new());
        let manager = caller(&[Role::FleetManager], &[vans], None);
        let reach = Reach::of(&manager, Scope::SessionsRead, "sessions").unwrap();
        assert!(reach.reaches(&vans.to_string(), ""));
        assert!(!reach.reaches(&trucks.to_string(), ""));
        assert!(!reach.reaches("", ""));

        let (ana, bo) = (DriverId::new(), DriverId::new());
        let driver = caller(&[Role::Driver], &[], Some(ana));
        let reach = Reach::of(&driver, Scope::InvoicesRead, "invoices").unwrap();
        assert_eq!(reach.driver, ana.to_string());
        assert!(reach.fleets.is_empty());
        assert!(reach.reaches(&vans.to_string(), &ana.to_string()));
        assert!(!reach.reaches(&vans.to_string(), &bo.to_string()));
    }

    #[test]
    fn a_limited_caller_who_reaches_no_one_reads_nothing() {
        let nobody = caller(&[Role::Driver], &[], None);
        assert!(matches!(
            Reach::of(&nobody, Scope::SessionsRead, "sessions"),
            Err(ApiError::NotFound(_))
        ));
    }
}

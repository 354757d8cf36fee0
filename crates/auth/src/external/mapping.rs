//! How an external issuer's claims become a [`Principal`]: which claim holds the tenant (or a fixed
//! tenant), which holds roles or groups and what each value means in Joule, and which hold fleets
//! and the driver.
//!
//! A claim is named by its top-level member (`"groups"`, `"https://example.com/roles"`) or by a
//! JSON pointer into the claims when it starts with `/` (`"/realm_access/roles"`). Only values the
//! role map names grant a role: an identity provider cannot grant a Joule role by naming it.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::AuthError;
use crate::claims::{Principal, valid_value, valid_values};
use crate::error::ConfigError;

/// The claim mapping of one external issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMapping {
    /// The claim that holds the tenant; exactly one of this and `fixed_tenant`.
    pub tenant_claim: Option<String>,
    /// The tenant of every token of this issuer (an issuer that serves one tenant).
    pub fixed_tenant: Option<String>,
    /// The claim that holds roles or groups: a string (space-separated values, as `scope` is) or an
    /// array of strings.
    pub roles_claim: String,
    /// Claim value → Joule role name. Values not listed are ignored; a token with none is refused.
    pub role_map: BTreeMap<String, String>,
    /// The claim that holds fleets (a string or an array of strings), if any.
    pub fleets_claim: Option<String>,
    /// The claim that holds the driver a driver's token acts for (a string), if any.
    pub driver_claim: Option<String>,
}

impl ClaimMapping {
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        let invalid = |what: &str| Err(ConfigError::Invalid(format!("claim mapping: {what}")));
        match (&self.tenant_claim, &self.fixed_tenant) {
            (Some(claim), None) if !claim.is_empty() => {}
            (None, Some(tenant)) if valid_value(tenant) => {}
            _ => return invalid("name exactly one of a tenant claim and a fixed tenant"),
        }
        if self.roles_claim.is_empty()
            || self.fleets_claim.as_deref() == Some("")
            || self.driver_claim.as_deref() == Some("")
        {
            return invalid("claim names must not be empty");
        }
        if self.role_map.is_empty() {
            return invalid("the role map is empty, so no token could ever be accepted");
        }
        if !self
            .role_map
            .iter()
            .all(|(value, role)| !value.is_empty() && valid_value(role))
        {
            return invalid("role map entries must be non-empty");
        }
        Ok(())
    }

    /// The principal of a verified token of `issuer`.
    pub(crate) fn principal(
        &self,
        issuer: &str,
        claims: &Map<String, Value>,
    ) -> Result<Principal, AuthError> {
        let subject = match claims.get("sub") {
            Some(Value::String(sub)) if valid_sub(sub) => sub.clone(),
            Some(_) => return Err(AuthError::InvalidClaim("sub")),
            None => return Err(AuthError::MissingClaim("sub")),
        };
        let tenant = match (&self.fixed_tenant, &self.tenant_claim) {
            (Some(tenant), _) => tenant.clone(),
            (None, Some(claim)) => match lookup(claims, claim) {
                Some(Value::String(tenant)) if valid_value(tenant) => tenant.clone(),
                _ => return Err(AuthError::NoTenant),
            },
            (None, None) => return Err(AuthError::NoTenant),
        };
        let mut roles: Vec<String> = Vec::new();
        let values = lookup(claims, &self.roles_claim)
            .map(|v| strings(v, "roles"))
            .transpose()?
            .unwrap_or_default();
        for value in values {
            if let Some(role) = self.role_map.get(value)
                && !roles.contains(role)
            {
                roles.push(role.clone());
            }
        }
        if roles.is_empty() {
            return Err(AuthError::NoRole);
        }
        let fleets: Vec<String> = match &self.fleets_claim {
            Some(claim) => lookup(claims, claim)
                .map(|v| strings(v, "fleets"))
                .transpose()?
                .unwrap_or_default()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            None => Vec::new(),
        };
        if !valid_values(&fleets) {
            return Err(AuthError::InvalidClaim("fleets"));
        }
        let driver = match self.driver_claim.as_deref().and_then(|c| lookup(claims, c)) {
            None => None,
            Some(Value::String(driver)) if valid_value(driver) => Some(driver.clone()),
            Some(_) => return Err(AuthError::InvalidClaim("driver")),
        };
        let client_id = ["client_id", "azp"]
            .iter()
            .find_map(|name| claims.get(*name).and_then(Value::as_str))
            .filter(|id| valid_value(id))
            .map(str::to_owned);
        Ok(Principal {
            issuer: issuer.to_owned(),
            subject,
            tenant,
            roles,
            fleets,
            driver,
            client_id,
        })
    }
}

/// The subject: RFC 7519 allows any string; bounded here (255 bytes, no control characters).
fn valid_sub(sub: &str) -> bool {
    !sub.is_empty() && sub.len() <= 255 && !sub.chars().any(char::is_control)
}

/// The claim `name`: a top-level member, or a JSON pointer when it starts with `/`.
fn lookup<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    let Some(pointer) = name.strip_prefix('/') else {
        return claims.get(name);
    };
    let (first, rest) = match pointer.find('/') {
        Some(slash) => pointer.split_at(slash),
        None => (pointer, ""),
    };
    let first = first.replace("~1", "/").replace("~0", "~");
    let value = claims.get(&first)?;
    if rest.is_empty() {
        Some(value)
    } else {
        value.pointer(rest)
    }
}

/// A claim's values: a space-separated string or an array of strings.
fn strings<'a>(value: &'a Value, claim: &'static str) -> Result<Vec<&'a str>, AuthError> {
    match value {
        Value::String(text) => Ok(text.split_ascii_whitespace().collect()),
        Value::Array(items) if items.len() <= 256 => items
            .iter()
            .map(|item| item.as_str().ok_or(AuthError::InvalidClaim(claim)))
            .collect(),
        _ => Err(AuthError::InvalidClaim(claim)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn mapping() -> ClaimMapping {
        ClaimMapping {
            tenant_claim: Some("/org/id".into()),
            fixed_tenant: None,
            roles_claim: "groups".into(),
            role_map: BTreeMap::from([
                ("joule-admins".into(), "admin".into()),
                ("joule-ops".into(), "operator".into()),
                ("ops-2".into(), "operator".into()),
            ]),
            fleets_claim: Some("fleets".into()),
            driver_claim: Some("driver".into()),
        }
    }

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn maps_tenant_roles_fleets_driver_and_client() {
        let p = mapping()
            .principal(
                "https://idp",
                &claims(json!({
                    "sub": "u1", "org": {"id": "acme"}, "azp": "cli",
                    "groups": ["other", "joule-ops", "ops-2", "joule-admins"],
                    "fleets": "f1 f2", "driver": "d1",
                })),
            )
            .unwrap();
        assert_eq!(p.tenant, "acme");
        assert_eq!(p.roles, vec!["operator", "admin"]);
        assert_eq!(p.fleets, vec!["f1", "f2"]);
        assert_eq!(p.driver.as_deref(), Some("d1"));
        assert_eq!(p.client_id.as_deref(), Some("cli"));
        assert_eq!(p.issuer, "https://idp");
    }

    #[test]
    fn refuses_a_token_without_a_tenant_or_a_mapped_role() {
        let m = mapping();
        let no_tenant = json!({"sub": "u", "groups": ["joule-ops"]});
        assert_eq!(
            m.principal("i", &claims(no_tenant)),
            Err(AuthError::NoTenant)
        );
        let number = json!({"sub": "u", "org": {"id": 5}, "groups": ["joule-ops"]});
        assert_eq!(m.principal("i", &claims(number)), Err(AuthError::NoTenant));
        let unmapped = json!({"sub": "u", "org": {"id": "a"}, "groups": ["admin"]});
        assert_eq!(m.principal("i", &claims(unmapped)), Err(AuthError::NoRole));
        let none = json!({"sub": "u", "org": {"id": "a"}});
        assert_eq!(m.principal("i", &claims(none)), Err(AuthError::NoRole));
        let bad = json!({"sub": "u", "org": {"id": "a"}, "groups": [1]});
        assert_eq!(
            m.principal("i", &claims(bad)),
            Err(AuthError::InvalidClaim("roles"))
        );
        let drivers = json!({"sub": "u", "org": {"id": "a"}, "groups": ["joule-ops"],
                             "driver": ["d1", "d2"]});
        assert_eq!(
            m.principal("i", &claims(drivers)),
            Err(AuthError::InvalidClaim("driver"))
        );
    }

    #[test]
    fn a_fixed_tenant_and_a_claim_name_with_slashes() {
        let m = ClaimMapping {
            tenant_claim: None,
            fixed_tenant: Some("acme".into()),
            roles_claim: "https://joule.example/roles".into(),
            ..mapping()
        };
        m.check().unwrap();
        let p = m
            .principal(
                "i",
                &claims(json!({"sub": "u", "tenant": "evil", "https://joule.example/roles": "joule-admins"})),
            )
            .unwrap();
        assert_eq!(
            (p.tenant.as_str(), p.roles.as_slice()),
            ("acme", &["admin".to_owned()][..])
        );
        assert!(p.fleets.is_empty());
    }

    #[test]
    fn a_mapping_that_could_accept_nothing_or_is_ambiguous_is_refused() {
        let both = ClaimMapping {
            fixed_tenant: Some("t".into()),
            ..mapping()
        };
        assert!(both.check().is_err());
        let empty = ClaimMapping {
            role_map: BTreeMap::new(),
            ..mapping()
        };
        assert!(empty.check().is_err());
        assert!(mapping().check().is_ok());
    }
}

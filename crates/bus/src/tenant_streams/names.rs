//! Where a tenant's events are on the integrator plane.

use crate::Namespace;

/// `<NS>_T_<tenant>`: the tenant's stream (a tenant id is letters, digits, `-` and `_`).
pub fn stream(namespace: &Namespace, tenant: &str) -> String {
    format!("{}_T_{tenant}", namespace.as_str().to_uppercase())
}

/// `<ns>.tenant.<tenant>`: the root of every subject of the tenant's stream.
pub fn subject_root(namespace: &Namespace, tenant: &str) -> String {
    namespace.subject(&format!("tenant.{tenant}"))
}

/// `<ns>.tenant.<tenant>.<domain>.<Event>`, e.g. `joule.tenant.acme.session.SessionCompleted` for
/// `joule.v1.SessionCompleted` of the SESSION stream.
pub fn subject(namespace: &Namespace, tenant: &str, domain_root: &str, event_type: &str) -> String {
    let short = event_type.rsplit('.').next().unwrap_or(event_type);
    format!("{}.{domain_root}.{short}", subject_root(namespace, tenant))
}

/// `_INBOX_<tenant>`: the only inbox prefix a tenant's user may receive replies on.
pub fn inbox_prefix(tenant: &str) -> String {
    format!("_INBOX_{tenant}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_a_tenant() {
        let ns = Namespace::new("joule").unwrap();
        assert_eq!(stream(&ns, "acme-1"), "JOULE_T_acme-1");
        assert_eq!(
            subject(&ns, "acme-1", "session", "joule.v1.SessionCompleted"),
            "joule.tenant.acme-1.session.SessionCompleted"
        );
        assert_eq!(inbox_prefix("acme-1"), "_INBOX_acme-1");
    }
}

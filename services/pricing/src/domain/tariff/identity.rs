//! A tariff's OCPI identity, from which its Joule id derives.

/// A tariff's OCPI identity in a tenant: `country_code`, `party_id` and `id`, which OCPI defines as
/// case-insensitive strings (upper-cased here; absent parts are empty). One tariff per identity: a
/// tariff created since identities are kept has the Joule id [`Identity::tariff_id`] derived from
/// it, so that two concurrent creations meet on one aggregate and the event store lets only one of
/// them in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub tenant_id: String,
    pub country_code: String,
    pub party_id: String,
    pub ocpi_id: String,
}

impl Identity {
    pub fn of(tenant_id: &str, tariff: &joule_tariff::Tariff) -> Identity {
        Identity::new(
            tenant_id,
            tariff.country_code.as_deref(),
            tariff.party_id.as_deref(),
            &tariff.id,
        )
    }

    /// From the parts as OCPI JSON holds them.
    pub fn new(
        tenant_id: &str,
        country_code: Option<&str>,
        party_id: Option<&str>,
        ocpi_id: &str,
    ) -> Identity {
        Identity {
            tenant_id: tenant_id.to_owned(),
            country_code: country_code.unwrap_or_default().to_uppercase(),
            party_id: party_id.unwrap_or_default().to_uppercase(),
            ocpi_id: ocpi_id.to_uppercase(),
        }
    }

    /// The Joule id of the tariff with this identity (for tariffs created since identities are
    /// unique; older ones keep the random id they were given).
    pub fn tariff_id(&self) -> joule_domain::TariffId {
        // A JSON array: no choice of separator can make two identities one key.
        let key = serde_json::json!([
            self.tenant_id,
            self.country_code,
            self.party_id,
            self.ocpi_id
        ]);
        joule_domain::TariffId::derived(&key.to_string())
    }
}

impl std::fmt::Display for Identity {
    /// `DE*JOU*AC1`, as OCPI writes party-scoped ids; the id alone for a tariff that names no
    /// party.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.country_code.is_empty() && self.party_id.is_empty() {
            f.write_str(&self.ocpi_id)
        } else {
            write!(
                f,
                "{}*{}*{}",
                self.country_code, self.party_id, self.ocpi_id
            )
        }
    }
}

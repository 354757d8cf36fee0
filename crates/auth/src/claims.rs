//! The claims of the tokens Joule issues ([`Claims`]), what a caller asks to be issued
//! ([`NewToken`]) and who a verified token stands for ([`Principal`], from Joule's own tokens and
//! from external issuers alike). Roles, fleets and drivers are strings here: the api maps them to its types.

use serde::{Deserialize, Serialize};

/// The claims of a token Joule issues (RFC 7519 registered claims plus Joule's own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    pub iss: String,
    /// The OAuth2 client the token was issued to (= `client_id`).
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    /// A random id, unique per token (for the audit log).
    pub jti: String,
    pub tenant: String,
    pub roles: Vec<String>,
    pub fleets: Vec<String>,
    pub client_id: String,
}

/// What a token is issued for: everything of [`Claims`] but the issuer, audience, times and `jti`,
/// which the issuer sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub client_id: String,
    pub tenant: String,
    pub roles: Vec<String>,
    pub fleets: Vec<String>,
}

/// Who a verified token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's `iss`: Joule's own issuer or a configured external one.
    pub issuer: String,
    /// The token's `sub`.
    pub subject: String,
    pub tenant: String,
    /// Role names (Joule's own, or mapped from an external issuer's claim values); never empty.
    pub roles: Vec<String>,
    pub fleets: Vec<String>,
    /// The driver a driver's token acts for (an external issuer's; Joule's own tokens take it from
    /// the key they were issued to).
    pub driver: Option<String>,
    /// The OAuth2 client: `client_id` (RFC 9068), else `azp` for an external token; always set for
    /// Joule's own.
    pub client_id: Option<String>,
}

/// The longest tenant, role, fleet or client id accepted in a claim, in bytes.
pub const MAX_CLAIM_VALUE_LEN: usize = 128;
/// The most roles or fleets a token may carry.
pub const MAX_CLAIM_VALUES: usize = 64;

pub(crate) fn valid_value(value: &str) -> bool {
    !value.is_empty() && value.len() <= MAX_CLAIM_VALUE_LEN && !value.chars().any(char::is_control)
}

pub(crate) fn valid_values(values: &[String]) -> bool {
    values.len() <= MAX_CLAIM_VALUES && values.iter().all(|v| valid_value(v))
}

impl Claims {
    /// The principal of a verified token of Joule's. Refuses claims Joule would not have signed
    /// (a `sub` other than the `client_id`, no role, values out of bounds).
    pub(crate) fn into_principal(self) -> Result<Principal, crate::AuthError> {
        use crate::AuthError::InvalidClaim;
        if self.sub != self.client_id || !valid_value(&self.client_id) {
            return Err(InvalidClaim("client_id"));
        }
        if !valid_value(&self.tenant) {
            return Err(InvalidClaim("tenant"));
        }
        if self.roles.is_empty() || !valid_values(&self.roles) {
            return Err(InvalidClaim("roles"));
        }
        if !valid_values(&self.fleets) {
            return Err(InvalidClaim("fleets"));
        }
        Ok(Principal {
            issuer: self.iss,
            subject: self.sub,
            tenant: self.tenant,
            roles: self.roles,
            fleets: self.fleets,
            driver: None,
            client_id: Some(self.client_id),
        })
    }
}

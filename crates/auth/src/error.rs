//! The crate's errors. They say what is wrong with a token, a key or a configuration without
//! echoing the token, a header value the caller sent, or any key material: a message may end up in
//! a log or a problem+json body.

use std::time::Duration;

/// Why a bearer token was refused. Every variant but [`AuthError::KeysUnavailable`] is the caller's
/// fault (HTTP 401); that one is an issuer's JWKS that could not be fetched (HTTP 503 is fairer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("token is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// What part of the token is malformed (never its content).
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// `none`, an HMAC algorithm or anything else this crate does not verify.
    #[error("token algorithm is not accepted (only EdDSA, ES256 and RS256 are)")]
    AlgorithmNotAllowed,
    /// The header's `alg` is not the algorithm of the key its `kid` names (alg/key confusion).
    #[error("token algorithm does not match its key")]
    AlgorithmMismatch,
    /// The header carries `crit` extensions, none of which this crate implements (RFC 7515 4.1.11).
    #[error("token header has critical extensions this verifier does not understand")]
    CriticalHeader,
    #[error("token type is not accepted")]
    WrongType,
    #[error("token has no key id (kid)")]
    MissingKeyId,
    /// The `kid` names no key of the issuer that is still valid.
    #[error("token is signed with an unknown or retired key")]
    UnknownKey,
    #[error("token signature is invalid")]
    BadSignature,
    /// The `iss` names no issuer this verifier trusts.
    #[error("token issuer is not trusted")]
    UnknownIssuer,
    #[error("token is not meant for this audience")]
    WrongAudience,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token was issued in the future")]
    IssuedInFuture,
    #[error("token has no `{0}` claim")]
    MissingClaim(&'static str),
    #[error("token claim `{0}` is invalid")]
    InvalidClaim(&'static str),
    /// An external issuer's token with no claim the mapping turns into a tenant.
    #[error("token carries no tenant this issuer's claim mapping accepts")]
    NoTenant,
    /// An external issuer's token with no claim value the mapping turns into a role.
    #[error("token carries no role this issuer's claim mapping accepts")]
    NoRole,
    /// An external issuer's JWKS could not be fetched or read (the reason names the issuer's URL
    /// problem, never the token).
    #[error("the issuer's signing keys are unavailable: {0}")]
    KeysUnavailable(String),
}

/// Why a token could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The key ring holds no signing key yet: run `KeyStore::rotate_if_due` (which creates the
    /// first one) and `KeyStore::refresh`.
    #[error("no signing key is loaded")]
    NoSigningKey,
    #[error("token lifetime must be between 1 s and {max:?}")]
    InvalidLifetime { max: Duration },
    /// A claim Joule would sign is empty or too long.
    #[error("cannot issue a token: `{0}` is invalid")]
    InvalidClaim(&'static str),
    #[error("cannot issue a token: {0}")]
    Crypto(&'static str),
}

/// Why the signing-key store failed. A wrong key-encryption key is [`KeyStoreError::Unseal`], at
/// load: the store never signs with key material it could not authenticate.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error("signing keys: database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("invalid schema name (lowercase letters, digits and _, at most 40)")]
    InvalidSchema,
    #[error("cannot decrypt signing key {kid}: wrong key-encryption key, or the row was altered")]
    Unseal { kid: String },
    #[error("signing key {kid} is unusable: {reason}")]
    CorruptKey { kid: String, reason: &'static str },
    #[error("signing keys: {0}")]
    Crypto(&'static str),
    #[error("invalid key policy: {0}")]
    InvalidPolicy(&'static str),
}

/// A configuration the crate refuses (an external issuer, a key-encryption key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(String),
}

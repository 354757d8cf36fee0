//! OAuth2 client-credential tokens for Joule's API (ADR 033): short-lived EdDSA JWTs signed with
//! rotating keys kept in PostgreSQL, the JWKS that publishes them, tokens of external OpenID Connect
//! issuers, and one cached verifier for both.
//!
//! This crate owns tokens and keys, not who may have one: the api checks a client's credentials,
//! decides its tenant, roles and fleets, and maps the verified strings back to its own types. It has
//! no HTTP routes; the api serves the token endpoint and the JWKS with what is here.
//!
//! - [`jws`]: compact JWS (RFC 7515/7519) parsing and encoding, strict: at most 8 KiB, three
//!   base64url parts, `alg` one of EdDSA/ES256/RS256 and the one its key is bound to (never `none`,
//!   never HMAC), no `crit`, unique claim names; `exp`/`nbf`/`iat` with 60 s leeway, `iss`, `aud`.
//! - [`jwk`]: JWKs (RFC 7517) and the keys they hold ([`VerifyingKey`]), RFC 8037 for Ed25519.
//! - [`Claims`] of Joule's tokens, [`NewToken`] (what to issue), [`Principal`] (who a token is).
//! - [`keys`]: [`KeyStore`] on `<schema>.oauth_signing_keys` ([`MIGRATION_SQL`]; private keys
//!   sealed with AES-256-GCM under a [`KeyEncryptionKey`]), [`KeyStore::rotate_if_due`],
//!   [`KeyStore::refresh`], and the [`KeyRing`] snapshot that signing and verifying read.
//! - [`TokenIssuer::issue`] (EdDSA, `(jwt, expires_in)`) and [`TokenIssuer::jwks`].
//! - [`external`]: [`ExternalIssuer`] (JWKS over HTTPS, cached, refetched for an unknown kid at most
//!   every 30 s) and its [`ClaimMapping`] to tenant, roles and fleets.
//! - [`Verifier::verify`]`(jwt, now) -> Result<Principal, AuthError>`: routes by `iss`, serves tokens
//!   it verified before from a bounded cache keyed by their SHA-256.
//!
//! The api's wiring, in order: [`KeyStore::new`] with the KEK from its secret; at start
//! `rotate_if_due(now, period)` then `refresh()`; a named task repeating both every minute (at most
//! [`KeyPolicy::activation_delay`]) and [`ExternalIssuer::refresh`] every few minutes; a
//! [`TokenIssuer`] on [`KeyStore::ring`]; a [`Verifier`] with [`OwnTokens`]`::from(&issuer)` and the
//! external issuers. Errors ([`AuthError`], [`IssueError`], [`KeyStoreError`], [`ConfigError`])
//! never carry a token or key material, and no `Debug` here shows a secret.

#![deny(clippy::arithmetic_side_effects)]

mod cache;
mod claims;
mod error;
pub mod external;
mod issuer;
pub mod jwk;
pub mod jws;
pub mod keys;
mod seal;
mod verifier;

pub use claims::{Claims, MAX_CLAIM_VALUE_LEN, MAX_CLAIM_VALUES, NewToken, Principal};
pub use error::{AuthError, ConfigError, IssueError, KeyStoreError};
pub use external::{ClaimMapping, ExternalIssuer, ExternalIssuerConfig};
pub use issuer::{DEFAULT_TOKEN_TTL, TokenIssuer};
pub use jwk::{Alg, VerifyingKey};
pub use keys::{KeyPolicy, KeyRing, KeySet, KeyStore, MIGRATION_SQL, Rotation, create_table};
pub use seal::KeyEncryptionKey;
pub use verifier::{DEFAULT_CACHE_CAPACITY, OwnTokens, Verifier};

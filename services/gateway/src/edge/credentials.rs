//! Charger passwords for OCPP security profiles 1 and 2 (HTTP Basic auth on the WebSocket upgrade).
//!
//! The api hashes a password the moment it receives it ([`hash_password`]); only the hash travels on
//! REGISTRY and lands in the gateway's projection, which checks the upgrade's Basic credentials with
//! [`verify_password`]. Hash format (PHC style): `$pbkdf2-sha256$i=<iterations>$<salt>$<hash>`, salt
//! and hash in unpadded base64. Charger passwords are machine-generated secrets of 16 to 40
//! characters (OCPP 2.0.1 BasicAuthPassword), so a moderate work factor suffices and keeps a
//! reconnect storm of thousands of chargers affordable (ADR 008).

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// PBKDF2-HMAC-SHA256 rounds for new hashes; stored in each hash, so it can be raised later.
pub const ITERATIONS: u32 = 10_000;
const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;
const SCHEME: &str = "pbkdf2-sha256";

/// OCPP 2.0.1 BasicAuthPassword: 16 to 40 characters (1.6's AuthorizationKey is as long).
pub const MIN_PASSWORD_CHARS: usize = 16;
pub const MAX_PASSWORD_CHARS: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error("password must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters")]
    Length,
    #[error("password must be printable ASCII without ':'")]
    Characters,
    #[error("stored password hash is not a {SCHEME} hash")]
    Format,
    #[error("password is too weak: {0}")]
    Weak(&'static str),
}

/// The least estimated strength of a new password, in bits (length x log2 of the character
/// classes it draws from): 16 random lower-case letters or hex digits pass, 16 decimal digits do not.
pub const MIN_STRENGTH_BITS: f64 = 60.0;
/// The fewest different characters a new password has.
pub const MIN_DISTINCT_CHARS: usize = 6;

/// Refuses passwords that fit OCPP but are obviously guessable: too few different characters
/// (one repeated), a run of consecutive or repeated characters over half of it (`abcdefgh...`,
/// `Password12345678`), the charge point id inside it, or too little estimated strength. Checked
/// when a password is set (the api), never at the upgrade: stored passwords keep working.
pub fn check_strength(password: &str, charge_point_id: &str) -> Result<(), CredentialsError> {
    validate_password(password)?;
    let bytes = password.as_bytes();
    let mut distinct = [false; 128];
    for &b in bytes {
        distinct[usize::from(b & 0x7f)] = true;
    }
    if distinct.iter().filter(|d| **d).count() < MIN_DISTINCT_CHARS {
        return Err(CredentialsError::Weak("too few different characters"));
    }
    let (mut run, mut longest) = (1usize, 1usize);
    for pair in bytes.windows(2) {
        let step = i16::from(pair[1]) - i16::from(pair[0]);
        run = if (-1..=1).contains(&step) { run + 1 } else { 1 };
        longest = longest.max(run);
    }
    if longest * 2 >= bytes.len() {
        return Err(CredentialsError::Weak(
            "a run of consecutive or repeated characters",
        ));
    }
    let id = charge_point_id.to_ascii_lowercase();
    if id.len() >= 4 && password.to_ascii_lowercase().contains(&id) {
        return Err(CredentialsError::Weak("contains the charge point id"));
    }
    /// A character class and how many characters it has.
    type Class = (fn(&u8) -> bool, f64);
    const CLASSES: [Class; 4] = [
        (u8::is_ascii_lowercase, 26.0),
        (u8::is_ascii_uppercase, 26.0),
        (u8::is_ascii_digit, 10.0),
        (u8::is_ascii_punctuation, 32.0),
    ];
    let pool: f64 = CLASSES
        .iter()
        .filter(|(is, _)| bytes.iter().any(is))
        .map(|(_, size)| size)
        .sum();
    if bytes.len() as f64 * pool.log2() < MIN_STRENGTH_BITS {
        return Err(CredentialsError::Weak(
            "too predictable: use more characters or more kinds of characters",
        ));
    }
    Ok(())
}

/// A hash no password matches (of a random secret nobody knows), with the current work factor:
/// an upgrade for an unknown charge point id, or one without a password, is checked against it so
/// that it takes as long as a wrong password for a real one.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let mut salt = [0u8; SALT_LEN];
        rand::rng().fill_bytes(&mut salt);
        hash_with(&STANDARD_NO_PAD.encode(secret), &salt, ITERATIONS)
    });
    &DUMMY
}

/// Checks what a charger can send in HTTP Basic auth: printable ASCII, no ':' (it separates the
/// user from the password).
pub fn validate_password(password: &str) -> Result<(), CredentialsError> {
    let len = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&len) {
        return Err(CredentialsError::Length);
    }
    if !password
        .bytes()
        .all(|b| (0x21..=0x7e).contains(&b) && b != b':')
    {
        return Err(CredentialsError::Characters);
    }
    Ok(())
}

/// A new salted hash of a valid password.
pub fn hash_password(password: &str) -> Result<String, CredentialsError> {
    validate_password(password)?;
    let mut salt = [0u8; SALT_LEN];
    rand::rng().fill_bytes(&mut salt);
    Ok(hash_with(password, &salt, ITERATIONS))
}

fn hash_with(password: &str, salt: &[u8], iterations: u32) -> String {
    let mut out = [0u8; HASH_LEN];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut out);
    format!(
        "${SCHEME}$i={iterations}${}${}",
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(out)
    )
}

/// Whether `password` matches `stored` (constant-time comparison of the derived keys).
pub fn verify_password(stored: &str, password: &str) -> Result<bool, CredentialsError> {
    let mut parts = stored.split('$');
    let (Some(""), Some(SCHEME), Some(rounds), Some(salt), Some(hash), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(CredentialsError::Format);
    };
    let iterations: u32 = rounds
        .strip_prefix("i=")
        .and_then(|r| r.parse().ok())
        .filter(|i| *i > 0)
        .ok_or(CredentialsError::Format)?;
    let salt = STANDARD_NO_PAD
        .decode(salt)
        .map_err(|_| CredentialsError::Format)?;
    let expected = STANDARD_NO_PAD
        .decode(hash)
        .map_err(|_| CredentialsError::Format)?;
    let mut derived = vec![0u8; expected.len()];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, iterations, &mut derived);
    Ok(derived.ct_eq(&expected).into())
}

/// The user and password of an `Authorization: Basic ...` header value.
pub fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD: &str = "s3cret-Charger-Pw";

    #[test]
    fn a_hash_verifies_its_password_only() {
        let stored = hash_password(PASSWORD).unwrap();
        assert!(stored.starts_with("$pbkdf2-sha256$i=10000$"));
        assert!(!stored.contains(PASSWORD));
        assert!(verify_password(&stored, PASSWORD).unwrap());
        assert!(!verify_password(&stored, "s3cret-Charger-Px").unwrap());
        // Salted: the same password hashes differently each time.
        assert_ne!(stored, hash_password(PASSWORD).unwrap());
    }

    #[test]
    fn a_known_vector_verifies() {
        // Computed once with this module; guards the format against accidental change.
        let stored = hash_with(PASSWORD, b"0123456789abcdef", 1000);
        assert!(verify_password(&stored, PASSWORD).unwrap());
        assert!(stored.starts_with("$pbkdf2-sha256$i=1000$MDEyMzQ1Njc4OWFiY2RlZg$"));
    }

    #[test]
    fn malformed_hashes_are_errors_not_matches() {
        for bad in [
            "",
            "plain",
            "$pbkdf2-sha256$i=0$AAAA$AAAA",
            "$argon2id$v=19$AAAA$AAAA",
            "$pbkdf2-sha256$i=10$!!$AAAA",
        ] {
            assert_eq!(
                verify_password(bad, PASSWORD),
                Err(CredentialsError::Format),
                "{bad}"
            );
        }
    }

    #[test]
    fn passwords_must_fit_ocpp_basic_auth() {
        assert_eq!(validate_password("short"), Err(CredentialsError::Length));
        assert_eq!(
            validate_password(&"x".repeat(41)),
            Err(CredentialsError::Length)
        );
        assert_eq!(
            validate_password("has:colon-inside-it"),
            Err(CredentialsError::Characters)
        );
        assert_eq!(
            validate_password("has space inside it"),
            Err(CredentialsError::Characters)
        );
        assert!(validate_password(PASSWORD).is_ok());
    }

    #[test]
    fn weak_passwords_are_refused() {
        for weak in [
            "aaaaaaaaaaaaaaaa",
            "abababababababab",
            "abcdefghijklmnopq",
            "Password12345678",
            "1234567890123456",
            "9482750193847561",
            "my-CP-0001-secret-x",
            "cp-0001cp-0001cp-0001",
        ] {
            assert!(
                matches!(
                    check_strength(weak, "CP-0001"),
                    Err(CredentialsError::Weak(_))
                ),
                "{weak}"
            );
        }
        assert_eq!(
            check_strength("short", "CP-0001"),
            Err(CredentialsError::Length)
        );
        for strong in [
            PASSWORD,
            "3f9c2a7be1d04c58",
            "qhzvxmrtkplwdnsj",
            "Zq8-xT2#mW4!pL6$rK",
        ] {
            assert_eq!(check_strength(strong, "CP-0001"), Ok(()), "{strong}");
        }
    }

    #[test]
    fn the_dummy_hash_matches_nothing_and_costs_a_real_verification() {
        let dummy = dummy_hash();
        assert!(dummy.starts_with(&format!("$pbkdf2-sha256$i={ITERATIONS}$")));
        assert!(!verify_password(dummy, PASSWORD).unwrap());
        assert_eq!(dummy, dummy_hash());
    }

    #[test]
    fn basic_headers_are_read() {
        // "CP-1:s3cret-Charger-Pw"
        let header = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("CP-1:s3cret-Charger-Pw")
        );
        assert_eq!(parse_basic(&header), Some(("CP-1".into(), PASSWORD.into())));
        assert_eq!(parse_basic("Bearer abc"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
    }
}

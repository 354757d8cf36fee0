//! Vehicle identification numbers (ISO 3779).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A vehicle identification number, as ISO 3779 defines it and as far as it can be checked
/// without a manufacturer database:
///
/// - exactly 17 characters of `0-9` and `A-Z` except `I`, `O` and `Q` (ISO 3779 leaves them out so
///   they cannot be mistaken for 1 and 0); lower case is accepted and stored upper case, blanks
///   around it are trimmed;
/// - the **check digit** in position 9, verified where the VIN's region requires one: ISO 3779
///   itself makes it optional, but North America (49 CFR 565, world manufacturer identifiers
///   starting with `1` to `5`) and China (GB 16735, starting with `L`) require it, so there a VIN
///   whose check digit is wrong is a typo. Each character is transliterated (digits as themselves;
///   `A`–`H` = 1–8, `J`–`N` = 1–5, `P` = 7, `R` = 9, `S`–`Z` = 2–9), multiplied by its position's
///   weight (8 7 6 5 4 3 2 10 0 9 8 7 6 5 4 3 2) and summed; the sum modulo 11 is the check digit,
///   10 written `X`. European and other VINs often carry a manufacturer's own character there, so
///   for them position 9 is not checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Vin(String);

const WEIGHTS: [u32; 17] = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];

impl Vin {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the VIN's region requires a valid check digit (see the type's documentation).
    fn check_digit_required(first: u8) -> bool {
        matches!(first, b'1'..=b'5' | b'L')
    }
}

/// ISO 3779's transliteration of a VIN character; `None` for one a VIN cannot contain.
fn value(c: u8) -> Option<u32> {
    Some(match c {
        b'0'..=b'9' => u32::from(c - b'0'),
        b'A'..=b'H' => u32::from(c - b'A') + 1,
        b'J'..=b'N' => u32::from(c - b'J') + 1,
        b'P' => 7,
        b'R' => 9,
        b'S'..=b'Z' => u32::from(c - b'S') + 2,
        _ => return None,
    })
}

/// The check digit position 9 must hold.
fn check_digit(vin: &[u8; 17]) -> Option<u8> {
    let mut sum = 0u32;
    for (c, w) in vin.iter().zip(WEIGHTS) {
        sum = sum.checked_add(value(*c)?.checked_mul(w)?)?;
    }
    Some(match sum % 11 {
        10 => b'X',
        // 0..=9: one ASCII digit.
        d => b'0' + u8::try_from(d).ok()?,
    })
}

impl FromStr for Vin {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let upper = s.trim().to_ascii_uppercase();
        let bytes: &[u8; 17] = upper.as_bytes().try_into().map_err(|_| {
            format!(
                "must be 17 characters, not {} (ISO 3779)",
                upper.chars().count()
            )
        })?;
        if let Some(c) = upper.chars().find(|c| "IOQ".contains(*c)) {
            return Err(format!(
                "{c:?} cannot appear in a VIN (ISO 3779 leaves out I, O and Q)"
            ));
        }
        if let Some(c) = upper.bytes().find(|c| value(*c).is_none()) {
            return Err(format!(
                "{:?} cannot appear in a VIN: only digits and capital letters",
                char::from(c)
            ));
        }
        if Vin::check_digit_required(bytes[0]) {
            let expected = check_digit(bytes).ok_or("not a VIN")?;
            if bytes[8] != expected {
                return Err(format!(
                    "check digit (position 9) is {:?} but the other characters give {:?}: a typo?",
                    char::from(bytes[8]),
                    char::from(expected)
                ));
            }
        }
        Ok(Self(upper))
    }
}

impl TryFrom<String> for Vin {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        value.parse()
    }
}

impl From<Vin> for String {
    fn from(value: Vin) -> Self {
        value.0
    }
}

impl fmt::Display for Vin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_north_american_vin_needs_its_check_digit() {
        // The textbook example: the check digit is 10, written X.
        assert_eq!(
            "1M8GDM9AXKP042788".parse::<Vin>().unwrap().as_str(),
            "1M8GDM9AXKP042788"
        );
        assert_eq!(
            " 1m8gdm9axkp042788 ".parse::<Vin>().unwrap().as_str(),
            "1M8GDM9AXKP042788"
        );
        let wrong = "1M8GDM9A1KP042788".parse::<Vin>().unwrap_err();
        assert!(wrong.contains("check digit"), "{wrong}");
        assert!("11111111111111111".parse::<Vin>().is_ok());
    }

    #[test]
    fn a_chinese_vin_needs_its_check_digit_too() {
        let mut vin: [u8; 17] = *b"LRW3E7EK0NC000000";
        let right = check_digit(&vin).unwrap();
        vin[8] = right;
        assert!(std::str::from_utf8(&vin).unwrap().parse::<Vin>().is_ok());
        vin[8] = if right == b'1' { b'2' } else { b'1' };
        assert!(std::str::from_utf8(&vin).unwrap().parse::<Vin>().is_err());
    }

    #[test]
    fn a_european_vin_is_not_held_to_a_check_digit() {
        assert!("WVWZZZ1JZXW000001".parse::<Vin>().is_ok());
        assert!("WBA3A5C51CF256651".parse::<Vin>().is_ok());
    }

    #[test]
    fn length_and_alphabet() {
        assert!(
            "WVWZZZ1JZXW00000"
                .parse::<Vin>()
                .unwrap_err()
                .contains("17")
        );
        assert!("WVWZZZ1JZXW0000011".parse::<Vin>().is_err());
        for bad in [
            "WVWZZZ1JZXW00000I",
            "WVWZZZ1JZXW00000O",
            "WVWZZZ1JZXW00000Q",
        ] {
            assert!(
                bad.parse::<Vin>().unwrap_err().contains("I, O and Q"),
                "{bad}"
            );
        }
        assert!("WVWZZZ1JZXW00000-".parse::<Vin>().is_err());
        assert!("WVWZZZ1JZXW0000ä".parse::<Vin>().is_err());
    }
}

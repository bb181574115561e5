//! Mobile numbers that can receive an SMS, normalised to E.164.
//!
//! Merchants type numbers the Korean way (`010-1234-5678`, `01012345678`, with spaces), import
//! them from spreadsheets, or give E.164 (`+8210…`). We store and send E.164 only, so that the
//! inbound-SMS lookup (keyed hash of the `From` number) and the provider request agree.
//!
//! A Korean landline (`02-…`, `031-…`) is refused with "cannot receive SMS (landline)": an
//! alert sent there would be silently lost, which is worse than a rejected import row. Foreign
//! numbers are accepted whenever libphonenumber considers them valid (merchants' family abroad,
//! Twilio's test numbers such as `+15005550006`), because many countries do not distinguish
//! mobile from fixed numbers.
use std::fmt;
use std::str::FromStr;

use phonenumber::{Mode, PhoneNumber, Type, country};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a number was refused. `Display` is what an import report or a form shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// A valid Korean fixed-line number: the alert would never arrive.
    #[error("cannot receive SMS (landline)")]
    Landline,
    /// A valid Korean number of another kind (080 toll-free, 1588 company numbers, …).
    #[error("cannot receive SMS (not a mobile number)")]
    NotMobile,
    /// Not a phone number at all.
    #[error("not a phone number")]
    Invalid,
}

/// A phone number in E.164 (`+821012345678`) that can receive SMS.
///
/// Only [`parse_mobile`] (or `FromStr`/`Deserialize`, which call it) builds one, so holding an
/// `Msisdn` means the number was checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Msisdn(String);

impl Msisdn {
    /// The E.164 text, e.g. `+821012345678`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number for logs and screens where the full number must not appear
    /// (`+8210****5678`).
    pub fn masked(&self) -> String {
        crate::mask::mask_phone(&self.0)
    }

    /// Consumes the number, returning its E.164 text.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Msisdn {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for Msisdn {
    type Err = PhoneError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_mobile(s)
    }
}

impl Serialize for Msisdn {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Msisdn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        parse_mobile(&s).map_err(serde::de::Error::custom)
    }
}

/// Longest input we hand to the parser; E.164 has at most 15 digits, and the separators a
/// person types never double that.
const MAX_INPUT: usize = 40;

/// Parses what a merchant typed into an E.164 mobile number, with Korea as the default region.
///
/// Accepted: `+821012345678`, `+82 10-1234-5678`, `010-1234-5678`, `010 1234 5678`,
/// `01012345678`, and any valid foreign number written with its `+` country code.
/// Refused: Korean landlines ([`PhoneError::Landline`]), other Korean non-mobile numbers
/// ([`PhoneError::NotMobile`]) and anything else ([`PhoneError::Invalid`]).
pub fn parse_mobile(input: &str) -> Result<Msisdn, PhoneError> {
    let input = input.trim();
    // Only characters people use when writing a number reach the parser: it keeps the
    // third-party parser on well-trodden inputs and refuses letters ("010-CALL-NOW") outright.
    let plausible = !input.is_empty()
        && input.len() <= MAX_INPUT
        && input
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' ' | '.' | '(' | ')'))
        && !input[1..].contains('+')
        && input.chars().filter(char::is_ascii_digit).count() >= 7;
    if !plausible {
        return Err(PhoneError::Invalid);
    }
    let number: PhoneNumber =
        phonenumber::parse(Some(country::Id::KR), input).map_err(|_| PhoneError::Invalid)?;
    if number.code().value() == 82 {
        // Carriers hand out 010 ranges faster than libphonenumber's tables follow (it calls
        // 010-5970-xxxx invalid), so the Korean mobile shape itself is the test.
        let national = number.national().value().to_string();
        if is_korean_mobile_shape(&national) {
            return Ok(Msisdn(format!("+82{national}")));
        }
        if !number.is_valid() {
            return Err(PhoneError::Invalid);
        }
        return match number.number_type(&phonenumber::metadata::DATABASE) {
            Type::Mobile | Type::FixedLineOrMobile => Ok(Msisdn(format!("+82{national}"))),
            Type::FixedLine => Err(PhoneError::Landline),
            _ => Err(PhoneError::NotMobile),
        };
    }
    if !number.is_valid() {
        return Err(PhoneError::Invalid);
    }
    let e164 = number.format().mode(Mode::E164).to_string();
    Ok(Msisdn(e164))
}

/// `10` + 8 digits, or `11`/`16`–`19` + 7 or 8 digits: a Korean mobile number without its
/// leading `0`.
fn is_korean_mobile_shape(national: &str) -> bool {
    let b = national.as_bytes();
    b.iter().all(u8::is_ascii_digit)
        && match b {
            [b'1', b'0', rest @ ..] => rest.len() == 8,
            [b'1', b'1' | b'6'..=b'9', rest @ ..] => (7..=8).contains(&rest.len()),
            _ => false,
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(s: &str) -> String {
        match parse_mobile(s) {
            Ok(m) => m.as_str().to_owned(),
            Err(e) => panic!("{s:?} refused: {e}"),
        }
    }

    #[test]
    fn korean_mobile_forms_normalise_to_e164() {
        for s in [
            "+821012345678",
            "+82 10-1234-5678",
            "+82 010-1234-5678",
            "010-1234-5678",
            "01012345678",
            " 010 1234 5678 ",
            "010.1234.5678",
            "(010) 1234-5678",
        ] {
            assert_eq!(ok(s), "+821012345678", "{s}");
        }
        assert_eq!(ok("011-234-5678"), "+82112345678");
        assert_eq!(ok("010-5970-0000"), "+821059700000");
        assert_eq!(ok("821012345678"), "+821012345678");
    }

    #[test]
    fn landlines_cannot_receive_sms() {
        for s in [
            "02-1234-5678",
            "031-123-4567",
            "+82 2 1234 5678",
            "0212345678",
        ] {
            let err = parse_mobile(s).expect_err(s);
            assert_eq!(err, PhoneError::Landline, "{s}");
            assert_eq!(err.to_string(), "cannot receive SMS (landline)");
        }
    }

    #[test]
    fn other_korean_non_mobiles_are_refused() {
        let err = parse_mobile("080-123-4567").expect_err("toll free");
        assert!(err.to_string().starts_with("cannot receive SMS"), "{err}");
    }

    #[test]
    fn garbage_is_not_a_phone_number() {
        for s in [
            "",
            "   ",
            "hello",
            "010-CALL-NOW",
            "12",
            "+",
            "++821012345678",
            "010-1234-56789012345678901234567890123456789",
            "010-1234-56789",
            "kim@example.com",
        ] {
            let err = parse_mobile(s).expect_err(s);
            assert_eq!(err.to_string(), "not a phone number", "{s:?}");
        }
    }

    #[test]
    fn foreign_numbers_with_country_code_are_accepted() {
        assert_eq!(ok("+15005550006"), "+15005550006");
        assert_eq!(ok("+1 (415) 555-2671"), "+14155552671");
        assert_eq!(ok("+44 7911 123456"), "+447911123456");
    }

    #[test]
    fn display_serde_and_mask() {
        let m = ok("010-1234-5678");
        assert_eq!(m.to_string(), "+821012345678");
        let m: Msisdn = m.parse().expect("parse");
        assert_eq!(m.masked(), "+8210****5678");
        let json = serde_json::to_string(&m).expect("ser");
        assert_eq!(json, "\"+821012345678\"");
        let back: Msisdn = serde_json::from_str("\"010-1234-5678\"").expect("de");
        assert_eq!(back, m);
        assert!(serde_json::from_str::<Msisdn>("\"02-123-4567\"").is_err());
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = parse_mobile(&s);
        }

        #[test]
        fn never_panics_on_number_like_text(s in "[0-9+() .-]{0,40}") {
            let _ = parse_mobile(&s);
        }

        #[test]
        fn every_010_number_round_trips(n in 0u32..100_000_000) {
            let national = format!("010-{:04}-{:04}", n / 10_000, n % 10_000);
            let m = parse_mobile(&national).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(m.as_str(), format!("+8210{n:08}"));
            prop_assert_eq!(parse_mobile(m.as_str()), Ok(m.clone()));
        }
    }
}

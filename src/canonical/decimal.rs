//! Exact decimal numbers for quantities and weights: parsed from text, written to JSON digit for digit.
//!
//! Invariants:
//! - A [`Decimal`] holds its value as normalised text (`-?(0|[1-9][0-9]*)(\.[0-9]+)?`), never as a
//!   float, so `0.1`, 20-digit counts and `0.000000001` come out exactly as they went in.
//! - Normalisation only removes what carries no value: a leading `+`, leading zeros of the integer
//!   part, a bare trailing point (`5.` is `5`) and the sign of zero. Trailing fractional zeros are
//!   kept (`12.50` stays `12.50`): they are what the partner sent, and they are still a valid number.
//! - Serialization writes the text as a raw JSON number (serde_json's `RawValue` protocol), so it
//!   is exact with serde_json and [`super::json`] only; the canonical contract is JSON. The text is
//!   a valid JSON number by construction, so it is not parsed again on the way out.

use std::fmt;
use std::str::FromStr;

use compact_str::CompactString;
use serde::de::Error as _;
use serde::ser::SerializeStruct as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use super::json::RAW_VALUE_TOKEN;

/// Longest digit string accepted (integer plus fraction digits). Far beyond any X12 `R` (15) or
/// quantity, and short enough that a hostile field cannot make a huge JSON number.
pub const MAX_DIGITS: usize = 64;

/// An exact decimal number kept as normalised text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Decimal(CompactString);

/// How a decimal is written in the source: separator, sign position, implied decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecimalSyntax {
    /// The decimal separator: `.` (X12 and most files) or `,`.
    pub decimal_separator: char,
    /// Accept a trailing minus sign (`5-` is `-5`), as some mainframe exports write it.
    pub trailing_minus: bool,
    /// Number of implied decimal places (X12 `Nn`): `12345` with 2 is `123.45`. When non-zero, an
    /// explicit separator is an error.
    pub implied_decimals: u8,
}

impl Default for DecimalSyntax {
    fn default() -> Self {
        Self {
            decimal_separator: '.',
            trailing_minus: false,
            implied_decimals: 0,
        }
    }
}

/// Why a text is not a decimal number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a decimal number: {reason}")]
pub struct DecimalError {
    /// The text that was offered (cut to 80 characters).
    pub text: String,
    /// What is wrong with it.
    pub reason: DecimalErrorReason,
}

/// The specific problem found in a decimal text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecimalErrorReason {
    /// Nothing but a sign and/or a separator, or nothing at all.
    #[error("it has no digits")]
    NoDigits,
    /// A character that is not a digit, a sign or the decimal separator.
    #[error("it contains {0:?}")]
    BadCharacter(char),
    /// Two signs, or a sign in the middle.
    #[error("its sign is misplaced")]
    MisplacedSign,
    /// More than one decimal separator.
    #[error("it has more than one decimal separator")]
    TwoSeparators,
    /// An explicit separator in a value with implied decimals (X12 `Nn`).
    #[error("it has a decimal separator but the decimals are implied")]
    SeparatorWithImplied,
    /// More than [`MAX_DIGITS`] digits.
    #[error("it has more than {MAX_DIGITS} digits")]
    TooLong,
}

impl Decimal {
    /// Parses an X12 `R` value or a plain decimal (`.` separator, leading sign only).
    pub fn parse(text: &str) -> Result<Self, DecimalError> {
        if is_normal(text.as_bytes()) {
            return Ok(Decimal(CompactString::from(text)));
        }
        Self::parse_with(text, &DecimalSyntax::default())
    }

    /// Parses an X12 `Nn` value: digits with an optional leading sign and `implied` decimals.
    /// `Decimal::from_implied("12345", 2)` is `123.45`.
    pub fn from_implied(text: &str, implied: u8) -> Result<Self, DecimalError> {
        Self::parse_with(
            text,
            &DecimalSyntax {
                implied_decimals: implied,
                ..DecimalSyntax::default()
            },
        )
    }

    /// Parses a decimal written with the given syntax.
    pub fn parse_with(text: &str, syntax: &DecimalSyntax) -> Result<Self, DecimalError> {
        parse_parts(text, syntax)
            .map(|parts| Decimal(parts.normalised(syntax.implied_decimals as usize)))
            .map_err(|reason| DecimalError {
                text: text.chars().take(80).collect(),
                reason,
            })
    }

    /// The normalised text, e.g. `-0.5`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for a value below zero.
    pub fn is_negative(&self) -> bool {
        self.0.starts_with('-')
    }

    /// True for zero, however many fractional zeros it carries.
    pub fn is_zero(&self) -> bool {
        self.0.bytes().all(|b| b == b'0' || b == b'.')
    }
}

/// Whether `text` is already in normal form, as most values are (`40`, `812.5`, `0.25`): digits
/// with at most one inner point, no sign, no leading zero before another integer digit, not too
/// long. Such a text normalises to itself.
fn is_normal(text: &[u8]) -> bool {
    let (Some(&first), Some(&last)) = (text.first(), text.last()) else {
        return false;
    };
    let mut points = 0;
    for &b in text {
        match b {
            b'0'..=b'9' => {}
            b'.' => points += 1,
            _ => return false,
        }
    }
    let leading_zero = first == b'0' && text.get(1).is_some_and(u8::is_ascii_digit);
    points <= 1
        && first != b'.'
        && last != b'.'
        && !leading_zero
        && text.len() - points <= MAX_DIGITS
}

/// The pieces of a decimal text before normalisation.
struct Parts<'a> {
    negative: bool,
    int: &'a str,
    frac: &'a str,
}

fn parse_parts<'a>(text: &'a str, syntax: &DecimalSyntax) -> Result<Parts<'a>, DecimalErrorReason> {
    let mut body = text;
    let mut negative = false;
    if let Some(rest) = body.strip_prefix(['+', '-']) {
        negative = body.starts_with('-');
        body = rest;
    }
    if syntax.trailing_minus
        && let Some(rest) = body.strip_suffix('-')
    {
        if negative || text.starts_with('+') {
            return Err(DecimalErrorReason::MisplacedSign);
        }
        negative = true;
        body = rest;
    }
    let (int, frac) = match body.split_once(syntax.decimal_separator) {
        Some((int, frac)) => {
            if syntax.implied_decimals > 0 {
                return Err(DecimalErrorReason::SeparatorWithImplied);
            }
            if frac.contains(syntax.decimal_separator) {
                return Err(DecimalErrorReason::TwoSeparators);
            }
            (int, frac)
        }
        None => (body, ""),
    };
    for c in int.chars().chain(frac.chars()) {
        if !c.is_ascii_digit() {
            return Err(match c {
                '+' | '-' => DecimalErrorReason::MisplacedSign,
                c if c == syntax.decimal_separator => DecimalErrorReason::TwoSeparators,
                c => DecimalErrorReason::BadCharacter(c),
            });
        }
    }
    if int.is_empty() && frac.is_empty() {
        return Err(DecimalErrorReason::NoDigits);
    }
    if int.len() + frac.len() > MAX_DIGITS || usize::from(syntax.implied_decimals) >= MAX_DIGITS {
        return Err(DecimalErrorReason::TooLong);
    }
    Ok(Parts {
        negative,
        int,
        frac,
    })
}

impl Parts<'_> {
    /// Builds the normalised text; `implied` moves the point left over the integer digits.
    fn normalised(&self, implied: usize) -> CompactString {
        let padded;
        let (int, frac): (&str, &str) = if implied > 0 {
            padded = format!("{:0>width$}", self.int, width = implied + 1);
            padded.split_at(padded.len() - implied)
        } else {
            (self.int, self.frac)
        };
        let int = int.trim_start_matches('0');
        let int = if int.is_empty() { "0" } else { int };
        let zero = int == "0" && frac.bytes().all(|b| b == b'0');
        let mut out = CompactString::with_capacity(int.len() + frac.len() + 2);
        if self.negative && !zero {
            out.push('-');
        }
        out.push_str(int);
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
        out
    }
}

impl FromStr for Decimal {
    type Err = DecimalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Decimal::parse(s)
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<u64> for Decimal {
    fn from(value: u64) -> Self {
        Decimal(compact_str::ToCompactString::to_compact_string(&value))
    }
}

impl Serialize for Decimal {
    /// Written as a JSON number with exactly these digits. This makes the very calls serde_json's
    /// `RawValue` makes (a one-field struct under its private name, holding the JSON text), so
    /// every serializer sees what it would see for a `&RawValue` of this text, without parsing
    /// the text first: it is a valid JSON number by construction (see the module invariants).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut raw = serializer.serialize_struct(RAW_VALUE_TOKEN, 1)?;
        raw.serialize_field(RAW_VALUE_TOKEN, self.0.as_str())?;
        raw.end()
    }
}

impl<'de> Deserialize<'de> for Decimal {
    /// Reads a JSON number through `RawValue`, so its digits are never rounded through `f64`.
    /// Exponent forms (`1e-9`) are refused: canonical records never write them.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw: Box<RawValue> = Deserialize::deserialize(deserializer)?;
        let text = raw.get().trim();
        if text.starts_with('"') {
            return Err(D::Error::custom(format!(
                "expected a JSON number for a decimal, found the string {text}"
            )));
        }
        Decimal::parse(text).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(text: &str) -> String {
        Decimal::parse(text).expect(text).to_string()
    }

    #[test]
    fn normalises_signs_zeros_and_points() {
        let cases = [
            ("5", "5"),
            ("+5", "5"),
            ("007", "7"),
            ("00.50", "0.50"),
            ("5.", "5"),
            (".5", "0.5"),
            ("-.5", "-0.5"),
            ("-0", "0"),
            ("-0.00", "0.00"),
            ("0", "0"),
            ("12.50", "12.50"),
            ("-12.345", "-12.345"),
        ];
        for (input, want) in cases {
            assert_eq!(norm(input), want, "input {input:?}");
        }
    }

    #[test]
    fn keeps_twenty_digit_and_tiny_values_exact() {
        assert_eq!(norm("12345678901234567890"), "12345678901234567890");
        assert_eq!(norm("0.000000001"), "0.000000001");
        assert_eq!(norm("99999999999999999999.99"), "99999999999999999999.99");
    }

    #[test]
    fn implied_decimals_move_the_point() {
        let cases = [
            ("12345", 2, "123.45"),
            ("5", 2, "0.05"),
            ("-5", 2, "-0.05"),
            ("0", 2, "0.00"),
            ("000123", 3, "0.123"),
            ("42", 0, "42"),
        ];
        for (input, n, want) in cases {
            assert_eq!(Decimal::from_implied(input, n).unwrap().as_str(), want);
        }
        let err = Decimal::from_implied("1.5", 2).unwrap_err();
        assert_eq!(err.reason, DecimalErrorReason::SeparatorWithImplied);
    }

    #[test]
    fn trailing_minus_only_when_asked() {
        let syntax = DecimalSyntax {
            trailing_minus: true,
            ..DecimalSyntax::default()
        };
        assert_eq!(Decimal::parse_with("5-", &syntax).unwrap().as_str(), "-5");
        assert_eq!(
            Decimal::parse_with("1.25-", &syntax).unwrap().as_str(),
            "-1.25"
        );
        assert!(Decimal::parse_with("-5-", &syntax).is_err());
        assert_eq!(
            Decimal::parse("5-").unwrap_err().reason,
            DecimalErrorReason::MisplacedSign
        );
    }

    #[test]
    fn decimal_comma() {
        let syntax = DecimalSyntax {
            decimal_separator: ',',
            ..DecimalSyntax::default()
        };
        assert_eq!(
            Decimal::parse_with("12,5", &syntax).unwrap().as_str(),
            "12.5"
        );
        assert_eq!(
            Decimal::parse_with("1.234,5", &syntax).unwrap_err().reason,
            DecimalErrorReason::BadCharacter('.')
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "", "-", "+", ".", "-.", "1.2.3", "1,000", "1e5", " 1", "--1", "1+",
        ] {
            assert!(Decimal::parse(bad).is_err(), "{bad:?} should fail");
        }
        assert_eq!(
            Decimal::parse(&"9".repeat(65)).unwrap_err().reason,
            DecimalErrorReason::TooLong
        );
    }

    #[test]
    fn serializes_as_exact_json_numbers() {
        let values = [
            "0.1",
            "0.2",
            "0.3",
            "12345678901234567890",
            "0.000000001",
            "-0.5",
        ];
        for v in values {
            let d = Decimal::parse(v).unwrap();
            let json = serde_json::to_string(&d).unwrap();
            assert_eq!(json, v);
            let back: Decimal = serde_json::from_str(&json).unwrap();
            assert_eq!(back, d);
        }
        let list = vec![
            Decimal::parse("0.1").unwrap(),
            Decimal::parse("0.2").unwrap(),
        ];
        assert_eq!(serde_json::to_string(&list).unwrap(), "[0.1,0.2]");
    }

    #[test]
    fn serializes_as_a_raw_value_of_its_text_would() {
        for v in ["0", "-0.5", "12.50", "12345678901234567890", "0.000000001"] {
            let d = Decimal::parse(v).unwrap();
            let raw = RawValue::from_string(v.to_string()).unwrap();
            assert_eq!(
                serde_json::to_string(&d).unwrap(),
                serde_json::to_string(&raw).unwrap()
            );
            assert_eq!(
                serde_json::to_value(&d).unwrap(),
                serde_json::to_value(&raw).unwrap()
            );
            assert_eq!(crate::canonical::json::to_string(&d).unwrap(), v);
        }
    }

    proptest::proptest! {
        /// Serialization no longer parses the text, so every decimal must already be a JSON number.
        #[test]
        fn every_decimal_is_a_json_number(
            text in "[+-]?[0-9]{0,3}[.,]?[0-9]{0,3}-?",
            implied in 0u8..4,
            comma: bool,
            trailing_minus: bool,
        ) {
            let syntax = DecimalSyntax {
                decimal_separator: if comma { ',' } else { '.' },
                trailing_minus,
                implied_decimals: implied,
            };
            if let Ok(d) = Decimal::parse_with(&text, &syntax) {
                let value: serde_json::Value = serde_json::from_str(d.as_str()).unwrap();
                proptest::prop_assert!(value.is_number(), "{:?} -> {:?}", text, d);
            }
        }

        /// `parse` takes a shortcut for texts already in normal form; it must give what the full
        /// parse gives, for those and for everything else.
        #[test]
        fn shortcut_agrees_with_the_full_parse(text in "[+-]?0{0,2}[0-9]{0,3}[.]?[0-9]{0,3}[.a-]?") {
            proptest::prop_assert_eq!(
                Decimal::parse(&text),
                Decimal::parse_with(&text, &DecimalSyntax::default())
            );
        }
    }

    #[test]
    fn shortcut_edges() {
        for text in [
            "0", "0.0", "00", "0.", ".5", "5.", "1.2.3", "", "010", "0.50", "65536",
        ] {
            assert_eq!(
                Decimal::parse(text),
                Decimal::parse_with(text, &DecimalSyntax::default()),
                "{text:?}"
            );
        }
        let long = "9".repeat(MAX_DIGITS + 1);
        assert!(Decimal::parse(&long).is_err());
        let longest = format!("{}.5", "9".repeat(MAX_DIGITS - 1));
        assert_eq!(Decimal::parse(&longest).unwrap().as_str(), longest);
    }

    #[test]
    fn deserialize_refuses_strings_and_exponents() {
        assert!(serde_json::from_str::<Decimal>("\"1.5\"").is_err());
        assert!(serde_json::from_str::<Decimal>("1e-9").is_err());
    }
}

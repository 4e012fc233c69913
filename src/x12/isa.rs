//! The ISA interchange header: delimiter detection (fixed layout, then the tolerant fallback).
//!
//! x12-reference §1.2–1.4: the element separator is byte 3; in the standard layout it sits at 16
//! fixed offsets, ISA16 is byte 104 and the terminator byte 105. Badly padded headers are split on
//! the element separator instead (a warning, not a failure). Whatever the input, this module
//! returns a header, "need more input", or a broken-header verdict with its TA105 code.

use nom::bytes::streaming::{tag, take};
use nom::{IResult, Parser};

use super::delimiters::{Delimiters, Terminator, plausible_delimiter, repetition_separator};

/// Byte offsets of the element separator in a standard 106-byte ISA.
const SEPARATOR_OFFSETS: [usize; 16] = [
    3, 6, 17, 20, 31, 34, 50, 53, 69, 76, 81, 83, 89, 99, 101, 103,
];
/// The fixed widths of ISA01..ISA15.
const WIDTHS: [usize; 15] = [2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1];
/// How far the fallback looks for the sixteen separators of a badly padded header.
const MAX_FALLBACK_LEN: usize = 512;

/// A problem found in an ISA header, with the TA105 note code it maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsaIssue {
    /// TA105 note code (`"022"`, `"014"`, ...).
    pub ta105: &'static str,
    /// Whether the interchange cannot be trusted at all (it is rejected under every policy).
    pub fatal: bool,
    /// What the issue is, for policy decisions.
    pub kind: IsaIssueKind,
    /// One plain sentence.
    pub message: String,
}

/// The kinds of ISA issue that policy distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsaIssueKind {
    /// The header is not in the fixed layout; the fallback split it by separator.
    Padding,
    /// ISA13 is numeric but not nine digits.
    ControlNumberFormat,
    /// A field has a value outside its code list or format (date, time, qualifier, ...).
    FieldValue,
    /// ISA11 is alphanumeric in a 00402+ envelope (no repetition separator).
    RepetitionSeparator,
    /// The header cannot be used (missing ISA16, equal delimiters, ...).
    Broken,
}

/// A parsed ISA header.
#[derive(Debug, Clone)]
pub struct IsaHeader {
    /// ISA01..ISA16, trimmed of padding (index 0 is ISA01).
    pub fields: Vec<String>,
    /// The delimiters this header declares.
    pub delimiters: Delimiters,
    /// Bytes taken by the header, terminator included.
    pub len: usize,
    /// Issues found (warnings and errors).
    pub issues: Vec<IsaIssue>,
}

impl IsaHeader {
    /// ISA field `n` (1-based), trimmed.
    pub fn field(&self, n: usize) -> &str {
        self.fields
            .get(n.wrapping_sub(1))
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Whether the header is usable: no fatal issue.
    pub fn usable(&self) -> bool {
        !self.issues.iter().any(|i| i.fatal)
    }
}

/// The result of looking at bytes that begin with `ISA`.
#[derive(Debug)]
pub enum IsaParse {
    /// A header (possibly with issues).
    Header(IsaHeader),
    /// More bytes are needed (and the input did not end).
    Incomplete,
    /// The header is beyond repair; `consumed` bytes should be skipped.
    Broken {
        /// TA105 code.
        ta105: &'static str,
        /// One plain sentence.
        message: String,
        /// How many bytes to skip before looking for the next ISA.
        consumed: usize,
    },
}

fn isa_tag_and_separator(input: &[u8]) -> IResult<&[u8], u8> {
    let (rest, (_, sep)) = (tag(&b"ISA"[..]), take(1usize)).parse(input)?;
    Ok((rest, sep[0]))
}

/// Parses an ISA header at the start of `input`. `at_eof` says no more bytes will come.
pub fn parse_isa(input: &[u8], at_eof: bool) -> IsaParse {
    let element = match isa_tag_and_separator(input) {
        Ok((_, sep)) => sep,
        Err(nom::Err::Incomplete(_)) if !at_eof => return IsaParse::Incomplete,
        Err(_) => {
            return IsaParse::Broken {
                ta105: "022",
                message: "the file ends inside the ISA header".into(),
                consumed: input.len().max(3),
            };
        }
    };
    if !plausible_delimiter(element) || element == b'\n' || element == b'\r' {
        return IsaParse::Broken {
            ta105: "026",
            message: format!(
                "ISA element separator {} is not a plausible delimiter",
                show_byte(element)
            ),
            consumed: 3,
        };
    }
    if let Some(parse) = fixed_layout(input, element, at_eof) {
        return parse;
    }
    fallback(input, element, at_eof)
}

/// The fast path: every separator at its fixed offset and nowhere else.
fn fixed_layout(input: &[u8], element: u8, at_eof: bool) -> Option<IsaParse> {
    if input.len() < 106 {
        if !at_eof {
            // A short prefix that already breaks the fixed layout goes to the fallback.
            let fits = SEPARATOR_OFFSETS
                .iter()
                .all(|&o| o >= input.len() || input[o] == element);
            return fits.then_some(IsaParse::Incomplete);
        }
        return None;
    }
    let fixed = SEPARATOR_OFFSETS.iter().all(|&o| input[o] == element)
        && (4..104).filter(|&i| input[i] == element).count() == 15;
    if !fixed {
        return None;
    }
    let mut fields = Vec::with_capacity(16);
    let mut start = 4;
    for &end in &SEPARATOR_OFFSETS[1..] {
        fields.push(&input[start..end]);
        start = end + 1;
    }
    fields.push(&input[104..105]);
    Some(finish(input, fields, element, 105, false, at_eof))
}

/// The fallback for badly padded headers: split on the separator, ISA16 is the byte after the
/// sixteenth separator and the terminator the byte after it.
fn fallback(input: &[u8], element: u8, at_eof: bool) -> IsaParse {
    let window = &input[..input.len().min(MAX_FALLBACK_LEN)];
    let mut fields = Vec::with_capacity(16);
    let mut start = 4;
    for _ in 0..15 {
        match memchr::memchr(element, &window[start..]) {
            Some(i) => {
                fields.push(&window[start..start + i]);
                start += i + 1;
            }
            None if !at_eof && input.len() < MAX_FALLBACK_LEN => return IsaParse::Incomplete,
            None => {
                return IsaParse::Broken {
                    ta105: "022",
                    message: format!(
                        "ISA header has {} of its 16 elements; the interchange cannot be read",
                        fields.len() + 1
                    ),
                    consumed: window.len().max(4),
                };
            }
        }
    }
    if start >= input.len() {
        if !at_eof {
            return IsaParse::Incomplete;
        }
        return IsaParse::Broken {
            ta105: "027",
            message: "ISA16 (component separator) is missing at the end of the file".into(),
            consumed: input.len(),
        };
    }
    fields.push(&input[start..start + 1]);
    finish(input, fields, element, start + 1, true, at_eof)
}

fn finish(
    input: &[u8],
    raw: Vec<&[u8]>,
    element: u8,
    term_at: usize,
    repaired: bool,
    at_eof: bool,
) -> IsaParse {
    let mut issues = Vec::new();
    if repaired {
        issues.push(IsaIssue {
            ta105: "022",
            fatal: false,
            kind: IsaIssueKind::Padding,
            message: "ISA header is not in the fixed 106-byte layout; it was read by separator"
                .into(),
        });
    }
    let component = raw[15][0];
    let Some(&first) = input.get(term_at) else {
        if !at_eof {
            return IsaParse::Incomplete;
        }
        return IsaParse::Broken {
            ta105: "004",
            message: "the file ends before the ISA segment terminator".into(),
            consumed: input.len(),
        };
    };
    let (segment, term_len) = match first {
        b'\r' if input.get(term_at + 1) == Some(&b'\n') => (Terminator::Newline, 2),
        b'\r' | b'\n' => (Terminator::Newline, 1),
        0xC0..=0xF7 => {
            let n = match first {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                _ => 4,
            };
            if input.len() < term_at + n && !at_eof {
                return IsaParse::Incomplete;
            }
            let tail = input.get(term_at + 1..term_at + n).unwrap_or(&[]);
            if tail.len() == n - 1 && tail.iter().all(|b| (0x80..=0xBF).contains(b)) {
                let mut bytes = [0u8; 4];
                bytes[..n].copy_from_slice(&input[term_at..term_at + n]);
                (Terminator::Multi(bytes, n as u8), n)
            } else {
                (Terminator::Byte(first), 1)
            }
        }
        b => (Terminator::Byte(b), 1),
    };
    let len = term_at + term_len;
    // A header with a missing ISA16 reads its next segment as ISA15/ISA16: ISA15 comes out long.
    let isa15 = trim(raw[14]);
    if isa15.len() != 1 {
        return IsaParse::Broken {
            ta105: "027",
            message: "ISA15 is not one character: ISA16 is probably missing".into(),
            consumed: len,
        };
    }
    if component == element || !plausible_delimiter(component) || segment.contains(component) {
        return IsaParse::Broken {
            ta105: "027",
            message: format!(
                "ISA16 component separator {} is not usable",
                show_byte(component)
            ),
            consumed: len,
        };
    }
    let term_bad = match segment {
        Terminator::Byte(b) => !plausible_delimiter(b) || b == element,
        _ => false,
    };
    if term_bad {
        return IsaParse::Broken {
            ta105: "004",
            message: format!(
                "segment terminator {} is not usable",
                show_byte(segment.first())
            ),
            consumed: len,
        };
    }
    let fields: Vec<String> = raw
        .iter()
        .map(|f| String::from_utf8_lossy(&trim_all(f)).into_owned())
        .collect();
    let (repetition, rep_warning) = repetition_separator(
        raw[10].first().copied().unwrap_or(b' '),
        fields[11].as_bytes(),
        element,
        component,
        &segment,
    );
    if rep_warning {
        issues.push(IsaIssue {
            ta105: "000",
            fatal: false,
            kind: IsaIssueKind::RepetitionSeparator,
            message: format!(
                "ISA11 {:?} is not a usable repetition separator; repetition is disabled",
                fields[10]
            ),
        });
    }
    check_fields(&fields, raw.as_slice(), repaired, &mut issues);
    IsaParse::Header(IsaHeader {
        fields,
        delimiters: Delimiters {
            element,
            component,
            repetition,
            segment,
        },
        len,
        issues,
    })
}

fn check_fields(fields: &[String], raw: &[&[u8]], repaired: bool, issues: &mut Vec<IsaIssue>) {
    let mut bad = |ta105: &'static str, fatal: bool, kind: IsaIssueKind, message: String| {
        issues.push(IsaIssue {
            ta105,
            fatal,
            kind,
            message,
        })
    };
    if !repaired {
        for (i, w) in WIDTHS.iter().enumerate() {
            if raw[i].len() != *w {
                bad(
                    "022",
                    false,
                    IsaIssueKind::Padding,
                    format!("ISA{:02} is not {w} characters wide", i + 1),
                );
            }
        }
    }
    let isa13 = &fields[12];
    if isa13.is_empty() || !isa13.bytes().all(|b| b.is_ascii_digit()) || isa13.len() > 9 {
        bad(
            "018",
            true,
            IsaIssueKind::Broken,
            format!("ISA13 {isa13:?} is not a control number of up to 9 digits"),
        );
    } else if isa13.len() != 9 {
        bad(
            "018",
            false,
            IsaIssueKind::ControlNumberFormat,
            format!("ISA13 {isa13:?} is not zero-padded to 9 digits"),
        );
    }
    let date = &fields[8];
    if !valid_yymmdd(date) {
        bad(
            "014",
            false,
            IsaIssueKind::FieldValue,
            format!("ISA09 {date:?} is not a valid YYMMDD date"),
        );
    }
    let time = &fields[9];
    if !valid_hhmm(time) {
        bad(
            "015",
            false,
            IsaIssueKind::FieldValue,
            format!("ISA10 {time:?} is not a valid HHMM time"),
        );
    }
    let version = &fields[11];
    if version.len() != 5 || !version.bytes().all(|b| b.is_ascii_digit()) {
        bad(
            "017",
            false,
            IsaIssueKind::FieldValue,
            format!("ISA12 {version:?} is not a 5-digit control version"),
        );
    }
    if !matches!(fields[13].as_str(), "0" | "1") {
        bad(
            "019",
            false,
            IsaIssueKind::FieldValue,
            format!("ISA14 {:?} is not 0 or 1", fields[13]),
        );
    }
    if !matches!(fields[14].as_str(), "P" | "T" | "I") {
        bad(
            "020",
            false,
            IsaIssueKind::FieldValue,
            format!("ISA15 {:?} is not P, T or I", fields[14]),
        );
    }
    for (n, code) in [(5usize, "005"), (7, "007")] {
        if fields[n - 1].len() != 2 {
            bad(
                code,
                false,
                IsaIssueKind::FieldValue,
                format!(
                    "ISA{n:02} {:?} is not a 2-character qualifier",
                    fields[n - 1]
                ),
            );
        }
    }
    for (n, code) in [(6usize, "006"), (8, "008")] {
        if fields[n - 1].is_empty() || fields[n - 1].len() > 15 {
            bad(
                code,
                false,
                IsaIssueKind::FieldValue,
                format!(
                    "ISA{n:02} {:?} is not an ID of 1 to 15 characters",
                    fields[n - 1]
                ),
            );
        }
    }
}

/// Whether `s` is a valid `YYMMDD` date.
pub fn valid_yymmdd(s: &str) -> bool {
    s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()) && {
        let y: i32 = s[0..2].parse().unwrap_or(0);
        let m: u32 = s[2..4].parse().unwrap_or(0);
        let d: u32 = s[4..6].parse().unwrap_or(0);
        chrono::NaiveDate::from_ymd_opt(century(y), m, d).is_some()
    }
}

/// The century pivot for 2-digit years: 00–69 are 20xx, 70–99 are 19xx.
pub fn century(yy: i32) -> i32 {
    if yy < 70 { 2000 + yy } else { 1900 + yy }
}

/// Whether `s` is a valid `HHMM` time.
pub fn valid_hhmm(s: &str) -> bool {
    s.len() == 4
        && s.bytes().all(|b| b.is_ascii_digit())
        && s[0..2].parse::<u32>().is_ok_and(|h| h < 24)
        && s[2..4].parse::<u32>().is_ok_and(|m| m < 60)
}

fn trim(field: &[u8]) -> &[u8] {
    let start = field
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(field.len());
    let end = field
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &field[start..end]
}

/// Trims padding and removes line breaks a wrapping tool put inside the header.
fn trim_all(field: &[u8]) -> Vec<u8> {
    trim(field)
        .iter()
        .copied()
        .filter(|b| *b != b'\r' && *b != b'\n')
        .collect()
}

/// A byte shown for a message: printable as itself, otherwise as hex.
pub fn show_byte(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("0x{b:02X}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISA: &[u8] = b"ISA*00*          *00*          *ZZ*ACMEWMS        *ZZ*BIGBOXRETAIL   *260105*1430*U*00401*000000905*0*P*>~";

    fn header(input: &[u8]) -> IsaHeader {
        match parse_isa(input, true) {
            IsaParse::Header(h) => h,
            other => panic!("expected a header, got {other:?}"),
        }
    }

    #[test]
    fn fixed_layout_is_read_without_issues() {
        assert_eq!(ISA.len(), 106);
        let h = header(ISA);
        assert!(h.issues.is_empty(), "{:?}", h.issues);
        assert_eq!(h.delimiters, Delimiters::standard(None));
        assert_eq!(h.field(6), "ACMEWMS");
        assert_eq!(h.field(13), "000000905");
        assert_eq!(h.len, 106);
    }

    #[test]
    fn newline_and_crlf_terminators() {
        let mut crlf = ISA[..105].to_vec();
        crlf.extend_from_slice(b"\r\nGS");
        let h = header(&crlf);
        assert_eq!(h.delimiters.segment, Terminator::Newline);
        assert_eq!(h.len, 107);
    }

    #[test]
    fn badly_padded_header_falls_back_with_a_warning() {
        let short = b"ISA*00**00**ZZ*ACME*ZZ*BIGBOX*260105*1430*U*00401*905*1*T*:~GS*";
        let h = header(short);
        assert!(h.usable());
        assert_eq!(h.delimiters.component, b':');
        assert_eq!(h.field(13), "905");
        assert!(h.issues.iter().any(|i| i.kind == IsaIssueKind::Padding));
        assert!(
            h.issues
                .iter()
                .any(|i| i.kind == IsaIssueKind::ControlNumberFormat)
        );
    }

    #[test]
    fn missing_isa16_is_broken() {
        let broken = b"ISA*00*          *00*          *ZZ*ACMEWMS        *ZZ*BIGBOXRETAIL   *260105*1430*U*00401*000000905*0*P~GS*OW*A*B*20260105*1430*905*X*004010~";
        assert!(matches!(parse_isa(broken, true), IsaParse::Broken { .. }));
    }

    #[test]
    fn short_input_is_incomplete_until_eof() {
        assert!(matches!(parse_isa(&ISA[..50], false), IsaParse::Incomplete));
        assert!(matches!(
            parse_isa(&ISA[..50], true),
            IsaParse::Broken { .. }
        ));
        assert!(matches!(parse_isa(b"IS", false), IsaParse::Incomplete));
    }

    #[test]
    fn multibyte_terminator() {
        let mut v = ISA[..105].to_vec();
        v.extend_from_slice(&[0xE2, 0x80, 0xA6, b'\n']);
        let h = header(&v);
        assert_eq!(h.delimiters.segment.as_bytes(), &[0xE2, 0x80, 0xA6]);
        assert_eq!(h.len, 108);
    }

    #[test]
    fn equal_delimiters_are_broken() {
        let mut v = ISA.to_vec();
        v[104] = b'*';
        assert!(matches!(
            parse_isa(&v, true),
            IsaParse::Broken { ta105: "027", .. }
        ));
    }
}

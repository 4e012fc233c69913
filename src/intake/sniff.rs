//! Content sniffing: tells X12, zip, CSV and fixed-width inputs apart from their first bytes, never from file names.
//!
//! Give [`sniff`] the first few KiB of a file ([`SNIFF_PREFIX_LEN`] is plenty). A prefix that
//! stops mid-line is fine: the cut line is ignored when at least one complete line precedes it.

/// How many leading bytes [`sniff`] needs to decide well.
pub const SNIFF_PREFIX_LEN: usize = 8192;

/// A banner before `ISA` may be this long at most (VAN headers such as `$$ADD ID=...`).
const MAX_BANNER_BYTES: usize = 1024;
/// A banner may have this many lines at most.
const MAX_BANNER_LINES: usize = 4;
/// Delimiters tried for CSV, in order of preference on a tie.
const CSV_DELIMITERS: [u8; 4] = [b',', b';', b'|', b'\t'];

/// What a file's content looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// An X12 interchange; `isa_offset` is where `ISA` starts (after a BOM, padding or banner).
    X12 {
        /// Byte offset of `ISA` in the prefix.
        isa_offset: usize,
    },
    /// A zip archive (local file header, or the end record of an empty archive).
    Zip,
    /// Text lines with the same number of `delimiter`s on every line (quotes respected).
    Csv {
        /// The delimiter found.
        delimiter: u8,
    },
    /// Text lines of equal length without a consistent delimiter.
    FixedWidth {
        /// Length of each line in bytes, without the line break.
        line_length: usize,
    },
    /// Text that is neither CSV nor fixed-width (e.g. ragged lines).
    Text,
    /// Starts with a UTF-16 byte-order mark; partners must send UTF-8 or a single-byte encoding.
    Utf16,
    /// Nothing but whitespace, or nothing at all.
    Empty,
    /// Binary or otherwise unrecognised content.
    Unknown,
}

/// Classifies a file from its first bytes.
pub fn sniff(prefix: &[u8]) -> Sniffed {
    if prefix.starts_with(b"PK\x03\x04") || prefix.starts_with(b"PK\x05\x06") {
        return Sniffed::Zip;
    }
    if prefix.starts_with(&[0xFF, 0xFE]) || prefix.starts_with(&[0xFE, 0xFF]) {
        return Sniffed::Utf16;
    }
    let body = prefix.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(prefix);
    let bom = prefix.len() - body.len();
    if let Some(offset) = find_isa(body) {
        return Sniffed::X12 {
            isa_offset: bom + offset,
        };
    }
    if body.iter().all(|b| b.is_ascii_whitespace() || *b == 0) {
        return Sniffed::Empty;
    }
    if !looks_like_text(body) {
        return Sniffed::Unknown;
    }
    let lines = complete_lines(body);
    if let Some(delimiter) = csv_delimiter(&lines) {
        return Sniffed::Csv { delimiter };
    }
    let lengths: Vec<usize> = lines.iter().map(|l| l.len()).filter(|&n| n > 0).collect();
    match lengths.first() {
        Some(&first) if lengths.iter().all(|&n| n == first) => {
            Sniffed::FixedWidth { line_length: first }
        }
        _ => Sniffed::Text,
    }
}

/// Finds `ISA` + a non-alphanumeric separator after padding, or after a short text banner.
fn find_isa(body: &[u8]) -> Option<usize> {
    let mut pos = skip_padding(body, 0);
    for _ in 0..=MAX_BANNER_LINES {
        if is_isa_at(body, pos) {
            return Some(pos);
        }
        // Treat the current line as a banner line: printable text up to a line break.
        let rest = body.get(pos..)?;
        let end = rest.iter().position(|&b| b == b'\n' || b == b'\r')?;
        if pos + end > MAX_BANNER_BYTES || !rest[..end].iter().all(|b| is_text_byte(*b)) {
            return None;
        }
        pos = skip_padding(body, pos + end);
    }
    None
}

fn skip_padding(body: &[u8], mut pos: usize) -> usize {
    while body
        .get(pos)
        .is_some_and(|b| b.is_ascii_whitespace() || *b == 0)
    {
        pos += 1;
    }
    pos
}

fn is_isa_at(body: &[u8], pos: usize) -> bool {
    body.get(pos..pos + 3) == Some(b"ISA".as_slice())
        && body
            .get(pos + 3)
            .is_some_and(|b| !b.is_ascii_alphanumeric())
}

/// Tab, line breaks, printable ASCII and any byte of a multi-byte or single-byte encoding.
fn is_text_byte(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\r' | 0x0C) || (0x20..0x7F).contains(&b) || b >= 0x80
}

fn looks_like_text(body: &[u8]) -> bool {
    body.iter().all(|b| is_text_byte(*b))
}

/// Lines without their breaks; the last line is dropped when it is cut off and others exist.
fn complete_lines(body: &[u8]) -> Vec<&[u8]> {
    let ends_cleanly = body.ends_with(b"\n") || body.ends_with(b"\r");
    let mut lines: Vec<&[u8]> = body
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect();
    // After a final break the split leaves an empty tail; without one, the tail may be cut.
    if ends_cleanly || lines.len() > 1 {
        lines.pop();
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

/// The delimiter that occurs the same (non-zero) number of times, outside quotes, on every
/// non-empty line; on a tie the one with more fields, then the earlier in [`CSV_DELIMITERS`].
fn csv_delimiter(lines: &[&[u8]]) -> Option<u8> {
    let mut best: Option<(u8, usize)> = None;
    for &delimiter in &CSV_DELIMITERS {
        let mut counts = lines
            .iter()
            .filter(|l| !l.is_empty())
            .map(|l| count_outside_quotes(l, delimiter));
        let Some(first) = counts.next() else {
            continue;
        };
        if first == 0 || !counts.all(|c| c == first) {
            continue;
        }
        if best.is_none_or(|(_, n)| first > n) {
            best = Some((delimiter, first));
        }
    }
    best.map(|(d, _)| d)
}

fn count_outside_quotes(line: &[u8], delimiter: u8) -> usize {
    let mut quoted = false;
    let mut count = 0;
    for &b in line {
        if b == b'"' {
            quoted = !quoted;
        } else if b == delimiter && !quoted {
            count += 1;
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISA: &str = "ISA*00*          *00*          *ZZ*ACME3PL        *ZZ*SHIPPERCO      *260105*1430*U*00401*000000905*0*P*>~";

    #[test]
    fn x12_plain_and_after_bom_whitespace_and_nul() {
        assert_eq!(sniff(ISA.as_bytes()), Sniffed::X12 { isa_offset: 0 });
        let with_bom = [b"\xEF\xBB\xBF".as_slice(), ISA.as_bytes()].concat();
        assert_eq!(sniff(&with_bom), Sniffed::X12 { isa_offset: 3 });
        let padded = [b"\0\0\r\n  ".as_slice(), ISA.as_bytes()].concat();
        assert_eq!(sniff(&padded), Sniffed::X12 { isa_offset: 6 });
        assert_eq!(sniff(b"ISA|00|  "), Sniffed::X12 { isa_offset: 0 });
    }

    #[test]
    fn x12_after_a_van_banner_line() {
        let file = format!("$$ADD ID=SHIPPERCO BID='EDI-214'\r\n{ISA}GS*QM*...");
        let offset = file.find("ISA").unwrap();
        assert_eq!(sniff(file.as_bytes()), Sniffed::X12 { isa_offset: offset });
    }

    #[test]
    fn isa_must_be_followed_by_a_separator() {
        assert_ne!(
            sniff(b"ISAAC,NEWTON\nGALILEO,GALILEI\n"),
            Sniffed::X12 { isa_offset: 0 }
        );
        assert_eq!(
            sniff(b"ISAAC,NEWTON\nGALILEO,GALILEI\n"),
            Sniffed::Csv { delimiter: b',' }
        );
    }

    #[test]
    fn zip_and_empty_zip() {
        assert_eq!(sniff(b"PK\x03\x04\x14\x00"), Sniffed::Zip);
        assert_eq!(sniff(b"PK\x05\x06\0\0\0\0"), Sniffed::Zip);
    }

    #[test]
    fn csv_with_each_delimiter() {
        assert_eq!(
            sniff(b"pro,status,date\n123,AF,20260105\n124,D1,20260106\n"),
            Sniffed::Csv { delimiter: b',' }
        );
        assert_eq!(
            sniff(b"a;b;c\r\n1;2,5;3\r\n"),
            Sniffed::Csv { delimiter: b';' }
        );
        assert_eq!(sniff(b"a|b\n1|2\n"), Sniffed::Csv { delimiter: b'|' });
        assert_eq!(sniff(b"a\tb\n1\t2\n"), Sniffed::Csv { delimiter: b'\t' });
    }

    #[test]
    fn csv_quotes_hide_delimiters() {
        assert_eq!(
            sniff(b"name,city\n\"Smith, J\",Austin\n"),
            Sniffed::Csv { delimiter: b',' }
        );
    }

    #[test]
    fn csv_of_one_line() {
        assert_eq!(sniff(b"123,AF,20260105"), Sniffed::Csv { delimiter: b',' });
        assert_eq!(
            sniff(b"123,AF,20260105\n"),
            Sniffed::Csv { delimiter: b',' }
        );
    }

    #[test]
    fn csv_prefix_cut_mid_line() {
        assert_eq!(
            sniff(b"a,b,c\n1,2,3\n4,5"),
            Sniffed::Csv { delimiter: b',' }
        );
    }

    #[test]
    fn fixed_width_lines() {
        assert_eq!(
            sniff(b"H0001ACME      20260105\nD0001WIDGET    00012   \nD0002GADGET    00003   \n"),
            Sniffed::FixedWidth { line_length: 23 }
        );
    }

    #[test]
    fn ragged_text_is_text() {
        assert_eq!(sniff(b"hello there\nhi\n"), Sniffed::Text);
    }

    #[test]
    fn utf16_boms() {
        assert_eq!(sniff(b"\xFF\xFEI\0S\0A\0"), Sniffed::Utf16);
        assert_eq!(sniff(b"\xFE\xFF\0I\0S\0A"), Sniffed::Utf16);
    }

    #[test]
    fn binary_and_empty() {
        assert_eq!(sniff(b"\x7FELF\x02\x01\x01\0\0\0"), Sniffed::Unknown);
        assert_eq!(sniff(b"%PDF-1.7\n\x01\x02\x03"), Sniffed::Unknown);
        assert_eq!(sniff(b""), Sniffed::Empty);
        assert_eq!(sniff(b" \r\n\0"), Sniffed::Empty);
    }
}

//! Value checks that need no grammar: printable ASCII, blanks, numbers, dates and times.

/// Whether every byte is printable ASCII (no control bytes, nothing at or above 0x7F) and none is
/// `avoid` (the repetition separator, when there is one), eight bytes at a time.
#[inline]
pub(super) fn is_plain_ascii(data: &[u8], avoid: Option<u8>) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const ONES: u64 = 0x0101_0101_0101_0101;
    // Adding 0x60 to a byte below 0x20 leaves its high bit clear; 0x7F and up already have it or
    // get it. Masking to 7 bits first keeps carries from crossing bytes.
    const ADD: u64 = 0x6060_6060_6060_6060;
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    // XOR with `avoid` in every byte turns each byte equal to it into zero; with no byte to
    // avoid, 0x80 (never printable, so already refused) stands in.
    let avoid_byte = avoid.unwrap_or(0x80);
    if data.len() < 8 {
        return data
            .iter()
            .all(|&b| (0x20..0x7F).contains(&b) && b != avoid_byte);
    }
    let spread = u64::from(avoid_byte) * ONES;
    // The high bit of each byte of the result is set when that byte is not plain.
    let bad = |w: u64| {
        // printable: 0x20..=0x7E: high bit clear, (w & 0x7F) + 0x60 has its high bit set, and
        // (w & 0x7F) + 1 does not.
        let below_space = !(w & LOW7).wrapping_add(ADD) & HIGH;
        let is_del = (w & LOW7).wrapping_add(ONES) & HIGH;
        // Some byte of `x` is zero exactly when this is not zero (the classic zero-byte test: a
        // false bit can appear above a true zero byte, never without one).
        let x = w ^ spread;
        let avoided = x.wrapping_sub(ONES) & !x & HIGH;
        (w & HIGH) | below_space | is_del | avoided
    };
    let word = |chunk: &[u8]| <[u8; 8]>::try_from(chunk).map_or(0, u64::from_le_bytes);
    let mut found = 0;
    let mut words = data.chunks_exact(8);
    for chunk in &mut words {
        found |= bad(word(chunk));
    }
    // The last eight bytes cover what is left over (bytes seen twice are seen the same way).
    if !words.remainder().is_empty() {
        found |= bad(word(&data[data.len() - 8..]));
    }
    found == 0
}

#[inline]
pub(super) fn is_blank(v: &[u8]) -> bool {
    // Most values start with something other than a space: no loop for them.
    match v.first() {
        None => true,
        Some(b' ') => v.iter().all(|b| *b == b' '),
        Some(_) => false,
    }
}

pub(super) fn trim_spaces(v: &[u8]) -> &[u8] {
    // Most values neither start nor end with a space: nothing to scan for them.
    if let (Some(a), Some(b)) = (v.first(), v.last())
        && *a != b' '
        && *b != b' '
    {
        return v;
    }
    let start = v.iter().position(|b| *b != b' ').unwrap_or(v.len());
    let end = v.iter().rposition(|b| *b != b' ').map_or(start, |e| e + 1);
    &v[start..end]
}

/// Length of an X12 R value (sign and point not counted), or `None` when it is not a number.
#[inline]
pub fn decimal_len(v: &[u8]) -> Option<usize> {
    let body = v.strip_prefix(b"-").unwrap_or(v);
    let mut digits = 0;
    let mut points = 0;
    for b in body {
        match b {
            b'0'..=b'9' => digits += 1,
            b'.' => points += 1,
            _ => return None,
        }
    }
    (digits > 0 && points <= 1).then_some(digits)
}

/// Whether `v` is a valid `CCYYMMDD` (or `YYMMDD`) date (proleptic Gregorian, year 0 to 9999).
#[inline]
pub fn valid_date(v: &[u8]) -> bool {
    // The calendar itself rather than chrono, and the two lengths spelled out: every date
    // element of every segment comes here.
    let digit = |b: u8| u32::from(b.wrapping_sub(b'0'));
    let (y, m, d, all) = match *v {
        [a, b, c, e, f, g, h, i] => {
            let all = [a, b, c, e, f, g, h, i].iter().all(u8::is_ascii_digit);
            let y = digit(a) * 1000 + digit(b) * 100 + digit(c) * 10 + digit(e);
            (y, digit(f) * 10 + digit(g), digit(h) * 10 + digit(i), all)
        }
        [a, b, c, e, f, g] => {
            let all = [a, b, c, e, f, g].iter().all(u8::is_ascii_digit);
            let y = crate::x12::isa::century((digit(a) * 10 + digit(b)) as i32) as u32;
            (y, digit(c) * 10 + digit(e), digit(f) * 10 + digit(g), all)
        }
        _ => return false,
    };
    if !all {
        return false;
    }
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// Whether `v` is a valid `HHMM[SS[D[D]]]` time.
#[inline]
pub fn valid_time(v: &[u8]) -> bool {
    if !matches!(v.len(), 4 | 6 | 7 | 8) || !v.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let num = |s: &[u8]| s.iter().fold(0u32, |a, b| a * 10 + u32::from(b - b'0'));
    num(&v[0..2]) < 24 && num(&v[2..4]) < 60 && (v.len() == 4 || num(&v[4..6]) < 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ascii_is_printable_ascii_only() {
        for avoid in [None, Some(b'^'), Some(b'A'), Some(0x1D), Some(0xFF)] {
            for b in 0u8..=255 {
                let printable = (0x20..0x7F).contains(&b) && Some(b) != avoid;
                // The byte at every position of runs up to three words and a tail long (short
                // runs, whole words, and tails seen again in the last word).
                for len in 1..=25 {
                    for at in 0..len {
                        let mut v = vec![b'B'; len];
                        v[at] = b;
                        assert_eq!(
                            is_plain_ascii(&v, avoid),
                            printable,
                            "byte {b:#x} at {at} of {len}, avoiding {avoid:?}"
                        );
                    }
                }
            }
            assert!(is_plain_ascii(b"", avoid));
        }
        assert!(!is_plain_ascii(b"BBBBBBBBA", Some(b'A')));
    }

    #[test]
    fn dates_agree_with_chrono() {
        let chrono_date = |v: &[u8]| {
            let num = |s: &[u8]| s.iter().fold(0u32, |a, b| a * 10 + u32::from(b - b'0'));
            let (y, m, d) = match v.len() {
                8 => (num(&v[0..4]) as i32, num(&v[4..6]), num(&v[6..8])),
                _ => (
                    crate::x12::isa::century(num(&v[0..2]) as i32),
                    num(&v[2..4]),
                    num(&v[4..6]),
                ),
            };
            chrono::NaiveDate::from_ymd_opt(y, m, d).is_some()
        };
        let mut checked = 0;
        // Every century year (the leap rule's exceptions), a spread of others, and every year
        // around 2000 (where the six-digit form lands).
        let years = (0..10_000).filter(|y| y % 100 == 0 || y % 97 == 0 || (1890..2110).contains(y));
        for y in years {
            for m in 0..=13 {
                for d in 0..=32 {
                    let long = format!("{y:04}{m:02}{d:02}");
                    assert_eq!(
                        valid_date(long.as_bytes()),
                        chrono_date(long.as_bytes()),
                        "{long}"
                    );
                    let short = format!("{:02}{m:02}{d:02}", y % 100);
                    assert_eq!(
                        valid_date(short.as_bytes()),
                        chrono_date(short.as_bytes()),
                        "{short}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 100_000);
        for bad in [
            &b"2024022"[..],
            b"202402290",
            b"2024-2-9",
            b"",
            b"20240229 ",
        ] {
            assert!(!valid_date(bad), "{bad:?}");
        }
    }

    #[test]
    fn dates_and_times() {
        assert!(valid_date(b"20240229"));
        assert!(!valid_date(b"20230229"));
        assert!(!valid_date(b"20240230"));
        assert!(valid_date(b"260105"));
        assert!(valid_time(b"2359"));
        assert!(!valid_time(b"2400"));
        assert!(!valid_time(b"235960"));
        assert!(valid_time(b"23595999"));
    }

    #[test]
    fn decimals() {
        assert_eq!(decimal_len(b"-12.50"), Some(4));
        assert_eq!(decimal_len(b".5"), Some(1));
        assert_eq!(decimal_len(b"1.2.3"), None);
        assert_eq!(decimal_len(b"1,000"), None);
        assert_eq!(decimal_len(b"-"), None);
    }
}

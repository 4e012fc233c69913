//! Value checks that need no grammar: printable ASCII, blanks, numbers, dates and times.

/// Whether every byte is printable ASCII (no control bytes, nothing at or above 0x7F), eight
/// bytes at a time.
pub(super) fn is_plain_ascii(data: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Adding 0x60 to a byte below 0x20 leaves its high bit clear; 0x7F and up already have it or
    // get it. Masking to 7 bits first keeps carries from crossing bytes.
    const ADD: u64 = 0x6060_6060_6060_6060;
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let mut words = data.chunks_exact(8);
    for chunk in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        let w = u64::from_le_bytes(b);
        // printable: 0x20..=0x7E: high bit clear, (w & 0x7F) + 0x60 has its high bit set, and
        // (w & 0x7F) + 1 does not.
        let ge_space = (w & LOW7).wrapping_add(ADD) & HIGH;
        let is_del = (w & LOW7).wrapping_add(0x0101_0101_0101_0101) & HIGH;
        if w & HIGH != 0 || ge_space != HIGH || is_del != 0 {
            return false;
        }
    }
    words.remainder().iter().all(|&b| (0x20..0x7F).contains(&b))
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
    let start = v.iter().position(|b| *b != b' ').unwrap_or(v.len());
    let end = v.iter().rposition(|b| *b != b' ').map_or(start, |e| e + 1);
    &v[start..end]
}

/// Length of an X12 R value (sign and point not counted), or `None` when it is not a number.
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

/// Whether `v` is a valid `CCYYMMDD` (or `YYMMDD`) date.
pub fn valid_date(v: &[u8]) -> bool {
    if !v.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let num = |s: &[u8]| s.iter().fold(0u32, |a, b| a * 10 + u32::from(b - b'0'));
    let (y, m, d) = match v.len() {
        8 => (num(&v[0..4]) as i32, num(&v[4..6]), num(&v[6..8])),
        6 => (
            crate::x12::isa::century(num(&v[0..2]) as i32),
            num(&v[2..4]),
            num(&v[4..6]),
        ),
        _ => return false,
    };
    chrono::NaiveDate::from_ymd_opt(y, m, d).is_some()
}

/// Whether `v` is a valid `HHMM[SS[D[D]]]` time.
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
        for b in 0u8..=255 {
            let printable = (0x20..0x7F).contains(&b);
            // The byte at every position of a 17-byte run (two words and a tail).
            for at in 0..17 {
                let mut v = vec![b'A'; 17];
                v[at] = b;
                assert_eq!(is_plain_ascii(&v), printable, "byte {b:#x} at {at}");
            }
        }
        assert!(is_plain_ascii(b""));
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

//! JSON strings (values and object keys) appended to the output buffer.
//!
//! Most strings in records are short (codes, dates, names of 2 to 20 bytes), so the fixed cost
//! per string matters more than the cost per byte. A clean string (nothing to escape, checked
//! eight bytes at a time) is written with one capacity check and one length update for the
//! whole `,"key":` or `"value"`, not one per quote, comma and body as `push` and
//! `extend_from_slice` would do. Only a string that needs escaping takes the byte-by-byte path,
//! which escapes as serde_json does: the short forms `\" \\ \n \r \t \b \f`, other control bytes
//! as `\u00xx` in lower-case hex, and nothing else (not 0x7F, not non-ASCII).

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// True when some byte of `w` is below 0x20, `"` or `\`. Each term is the classic "some byte is
/// zero / below n" word test, exact as a yes/no answer for n <= 0x80.
#[inline]
pub(super) fn word_needs_escape(w: u64) -> bool {
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
    (below_space
        | zero_byte(w ^ (ONES * u64::from(b'"')))
        | zero_byte(w ^ (ONES * u64::from(b'\\'))))
        != 0
}

/// True when a byte needs escaping in a JSON string.
pub(super) fn byte_needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// True when no byte of `bytes` needs escaping in a JSON string. Every load has a fixed size (no
/// copy of a variable-length tail): a short string is read as two overlapping halves, a long
/// one word by word and then its last eight bytes, overlapping bytes already checked. (A word
/// that cannot be read counts as needing escapes: the slow path is always right.)
#[inline]
fn is_plain(bytes: &[u8]) -> bool {
    let n = bytes.len();
    if n < 4 {
        return !bytes.iter().any(|&b| byte_needs_escape(b));
    }
    if n < 8 {
        let half =
            |i: usize| u32::from_ne_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        return !word_needs_escape(u64::from(half(0)) | u64::from(half(n - 4)) << 32);
    }
    let word = |i: usize| <[u8; 8]>::try_from(&bytes[i..i + 8]).map_or(0, u64::from_ne_bytes);
    let mut i = 0;
    while i + 8 <= n {
        if word_needs_escape(word(i)) {
            return false;
        }
        i += 8;
    }
    i == n || !word_needs_escape(word(n - 8))
}

/// Appends `s` as a quoted JSON string.
#[inline]
pub(super) fn write_str(out: &mut Vec<u8>, s: &str) {
    write_quoted(out, b"", false, s.as_bytes(), false);
}

/// Appends `prefix` (a record field's `,"key":`, written as it is) and `s` as a quoted JSON
/// string, with one capacity check for both.
#[inline]
pub(super) fn write_str_after(out: &mut Vec<u8>, prefix: &[u8], s: &str) {
    write_quoted(out, prefix, false, s.as_bytes(), false);
}

/// Appends an object key: `"key":`, after a comma unless it is the object's first.
#[inline]
pub(super) fn write_key(out: &mut Vec<u8>, comma: bool, key: &str) {
    write_quoted(out, b"", comma, key.as_bytes(), true);
}

/// Appends `prefix` then `raw`, both as they are, with one capacity check.
#[inline]
pub(super) fn write_raw_after(out: &mut Vec<u8>, prefix: &[u8], raw: &[u8]) {
    let len = prefix.len() + raw.len();
    reserve(out, len);
    let start = out.len();
    // SAFETY: `reserve` left room for `len` bytes after `start`; the two copies fill exactly
    // `start .. start + len`, so those bytes are initialised when the length is set. Neither
    // source can overlap the buffer: both are borrowed while `out` is borrowed mutably.
    unsafe {
        let at = out.as_mut_ptr().add(start);
        std::ptr::copy_nonoverlapping(prefix.as_ptr(), at, prefix.len());
        copy_body(raw, at.add(prefix.len()));
        out.set_len(start + len);
    }
}

/// Makes room for `n` more bytes. The check is inline; growing (rare: the buffer is reused
/// from record to record) is not.
#[inline(always)]
pub(super) fn reserve(out: &mut Vec<u8>, n: usize) {
    if out.capacity() - out.len() < n {
        grow(out, n);
    }
}

#[cold]
#[inline(never)]
fn grow(out: &mut Vec<u8>, n: usize) {
    out.reserve(n);
}

/// Appends `prefix`, an optional comma, `bytes` quoted (escaped when it must be) and an
/// optional colon.
#[inline(always)]
fn write_quoted(out: &mut Vec<u8>, prefix: &[u8], comma: bool, bytes: &[u8], colon: bool) {
    if !is_plain(bytes) {
        write_escaped(out, prefix, comma, bytes, colon);
        return;
    }
    // The comma slot is always written: without a comma the opening quote overwrites it, which
    // costs less than a branch on `comma`.
    let open = prefix.len() + usize::from(comma);
    let close = open + 1 + bytes.len();
    let len = close + 1 + usize::from(colon);
    reserve(out, len);
    let start = out.len();
    // SAFETY: `reserve` left room for `len` bytes after `start`, and every write below is inside
    // `start .. start + len`: `.. prefix.len()` (the prefix), `prefix.len()` (comma or quote),
    // `open` (quote), `open + 1 .. close` (the body, as long as `bytes`), `close` (quote) and,
    // with a colon, `close + 1 == len - 1`. Those are all the bytes of that range, so they are
    // initialised when the length is set. Neither `prefix` nor `bytes` can overlap the buffer:
    // they are borrowed while `out` is borrowed mutably.
    unsafe {
        let at = out.as_mut_ptr().add(start);
        std::ptr::copy_nonoverlapping(prefix.as_ptr(), at, prefix.len());
        at.add(prefix.len()).write(b',');
        at.add(open).write(b'"');
        copy_body(bytes, at.add(open + 1));
        at.add(close).write(b'"');
        if colon {
            at.add(close + 1).write(b':');
        }
        out.set_len(start + len);
    }
}

/// Copies `src` to `dst`. Most strings in records are shorter than 17 bytes: those are moved
/// with two fixed-size, possibly overlapping loads and stores (the same bytes land twice where
/// they overlap), which costs less than a call to `memcpy`; longer ones are copied as usual.
///
/// # Safety
/// `dst` must be valid for writes of `src.len()` bytes and must not overlap `src`.
#[inline(always)]
unsafe fn copy_body(src: &[u8], dst: *mut u8) {
    let n = src.len();
    let word = |i: usize| <[u8; 8]>::try_from(&src[i..i + 8]).map_or(0, u64::from_ne_bytes);
    let half = |i: usize| u32::from_ne_bytes([src[i], src[i + 1], src[i + 2], src[i + 3]]);
    // SAFETY (every branch): each store writes inside `dst .. dst + n`, which the caller
    // guarantees writable: `[0, 8)` and `[n - 8, n)` for 8 <= n <= 16, `[0, 4)` and
    // `[n - 4, n)` for 4 <= n < 8, single bytes below `n` otherwise; the loads read `src` through
    // bounds-checked slices.
    unsafe {
        match n {
            8..=16 => {
                let (a, b) = (word(0), word(n - 8));
                dst.cast::<u64>().write_unaligned(a);
                dst.add(n - 8).cast::<u64>().write_unaligned(b);
            }
            4..=7 => {
                let (a, b) = (half(0), half(n - 4));
                dst.cast::<u32>().write_unaligned(a);
                dst.add(n - 4).cast::<u32>().write_unaligned(b);
            }
            0..=3 => {
                for (i, &b) in src.iter().enumerate() {
                    dst.add(i).write(b);
                }
            }
            _ => std::ptr::copy_nonoverlapping(src.as_ptr(), dst, n),
        }
    }
}

/// The escaping path: copies runs of plain bytes, escaping the others as serde_json does.
#[cold]
fn write_escaped(out: &mut Vec<u8>, prefix: &[u8], comma: bool, bytes: &[u8], colon: bool) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(prefix);
    if comma {
        out.push(b',');
    }
    out.push(b'"');
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x08 => b'b',
            0x0C => b'f',
            0x00..=0x1F => b'u',
            _ => continue,
        };
        out.extend_from_slice(&bytes[run..i]);
        run = i + 1;
        if short == b'u' {
            let hex = [HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xF)]];
            out.extend_from_slice(b"\\u00");
            out.extend_from_slice(&hex);
        } else {
            out.extend_from_slice(&[b'\\', short]);
        }
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
    if colon {
        out.push(b':');
    }
}

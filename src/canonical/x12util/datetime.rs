//! Dates, times and zones of X12 elements: `DT` and `TM` values, element 623 time codes, and the
//! UTC offsets of local times in generic zones.
//!
//! Everything here reads untrusted segment text and reports problems as warning strings or `None`;
//! nothing panics on input.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Timelike};
use chrono_tz::Tz;

use super::tag_text;
use crate::canonical::record::Text;
use crate::x12::segment::OwnedSegment;

/// The value of an ASCII digit.
fn digit(b: u8) -> Option<u32> {
    let d = b.wrapping_sub(b'0');
    (d < 10).then_some(u32::from(d))
}

/// The values of ASCII digits, checked all at once; `None` when any byte is not a digit.
fn digit_values<const N: usize>(bytes: [u8; N]) -> Option<[u8; N]> {
    let all_digits = if N <= 8 {
        // Up to eight bytes as one word, padded with `0` digits.
        let mut word = [b'0'; 8];
        word.iter_mut().zip(bytes).for_each(|(w, b)| *w = b);
        all_ascii_digits(u64::from_le_bytes(word))
    } else {
        bytes.iter().all(u8::is_ascii_digit)
    };
    all_digits.then(|| bytes.map(|b| b.wrapping_sub(b'0')))
}

/// Whether each of the eight bytes of `word` is an ASCII digit (`0x30..=0x39`): every high
/// nibble is 3, and adding 6 to every byte leaves the high nibbles 3 (a low nibble above 9 would
/// carry into its high nibble; with high nibbles of 3 no carry crosses into the next byte, as
/// `0x3F + 6` is `0x45`, nor out of the word).
fn all_ascii_digits(word: u64) -> bool {
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    const THREES: u64 = 0x3030_3030_3030_3030;
    const SIXES: u64 = 0x0606_0606_0606_0606;
    (word & HIGH) == THREES && (word.wrapping_add(SIXES) & HIGH) == THREES
}

/// Two digit values as a number.
fn pair(tens: u8, units: u8) -> u32 {
    u32::from(tens) * 10 + u32::from(units)
}

/// Two ASCII digits as a number (`b"07"` is 7).
fn two_digits(tens: u8, units: u8) -> Option<u32> {
    Some(digit(tens)? * 10 + digit(units)?)
}

/// An X12 `DT` value (`CCYYMMDD`, or `YYMMDD` from 3xxx releases with a 50-year pivot) as a date.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    read_date(text).map(|(date, _)| date)
}

/// [`parse_date`], with the date's `YYYY-MM-DD` (as [`format_date`] writes it) made from the
/// digits read.
fn read_date(text: &str) -> Option<(NaiveDate, [u8; 10])> {
    // The digits are read straight from the bytes: any byte that is not a digit (a sign, a space)
    // makes the value no date.
    let (c1, c2, y1, y2, m1, m2, d1, d2) = match *text.as_bytes() {
        [c1, c2, y1, y2, m1, m2, d1, d2] => (c1, c2, y1, y2, m1, m2, d1, d2),
        [y1, y2, m1, m2, d1, d2] => {
            let [c1, c2] = if two_digits(y1, y2)? < 50 {
                *b"20"
            } else {
                *b"19"
            };
            (c1, c2, y1, y2, m1, m2, d1, d2)
        }
        _ => return None,
    };
    let [c1v, c2v, y1v, y2v, m1v, m2v, d1v, d2v] = digit_values([c1, c2, y1, y2, m1, m2, d1, d2])?;
    let year = pair(c1v, c2v) * 100 + pair(y1v, y2v);
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, pair(m1v, m2v), pair(d1v, d2v))?;
    // Four year digits, and the month and day as sent (two digits each, valid): what
    // `format_date` writes for this date.
    Some((date, [c1, c2, y1, y2, b'-', m1, m2, b'-', d1, d2]))
}

/// An X12 `TM` value (`HHMM`, `HHMMSS`, `HHMMSSD`, `HHMMSSDD`) as a time, and whether seconds
/// were sent. Decimal seconds are dropped: canonical datetimes stop at seconds.
pub fn parse_time(text: &str) -> Option<(NaiveTime, bool)> {
    read_time(text).map(|(time, with_seconds, _)| (time, with_seconds))
}

/// [`parse_time`], with the time's `HH:MM:SS` made from the digits read (seconds `00` when none
/// were sent; its first five bytes are `HH:MM`).
fn read_time(text: &str) -> Option<(NaiveTime, bool, [u8; 8])> {
    let (h1, h2, n1, n2, s1, s2, with_seconds) = match *text.as_bytes() {
        [h1, h2, n1, n2] => (h1, h2, n1, n2, b'0', b'0', false),
        // Decimal seconds must be digits too, though they are dropped.
        [h1, h2, n1, n2, s1, s2, ref decimals @ ..]
            if decimals.len() <= 2 && decimals.iter().all(u8::is_ascii_digit) =>
        {
            (h1, h2, n1, n2, s1, s2, true)
        }
        _ => return None,
    };
    let [h1v, h2v, n1v, n2v, s1v, s2v] = digit_values([h1, h2, n1, n2, s1, s2])?;
    let time = NaiveTime::from_hms_opt(pair(h1v, h2v), pair(n1v, n2v), pair(s1v, s2v))?;
    Some((time, with_seconds, [h1, h2, b':', n1, n2, b':', s1, s2]))
}

/// A short ASCII text built on the stack (dates, times, offsets), copied into a [`Text`] once.
struct AsciiBuf {
    bytes: [u8; 32],
    len: usize,
}

impl AsciiBuf {
    fn new() -> Self {
        AsciiBuf {
            bytes: [0; 32],
            len: 0,
        }
    }

    /// Appends `b` (ASCII); past the capacity (never reached by what is built here) it is
    /// dropped, and so is a byte that is not ASCII (never offered).
    fn push(&mut self, b: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len)
            && b.is_ascii()
        {
            *slot = b;
            self.len += 1;
        }
    }

    /// Appends `bytes` when they are all ASCII and fit (both always hold for what is built here;
    /// otherwise nothing is appended).
    fn push_slice(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if bytes.is_ascii()
            && let Some(slots) = self.bytes.get_mut(self.len..end)
        {
            slots.copy_from_slice(bytes);
            self.len = end;
        }
    }

    fn push_str(&mut self, s: &str) {
        self.push_slice(s.as_bytes());
    }

    fn as_str(&self) -> &str {
        let bytes = self.bytes.get(..self.len).unwrap_or_default();
        debug_assert!(bytes.is_ascii());
        // SAFETY: `push` and `push_slice`, the only writers of `bytes[..len]`, store ASCII bytes
        // only, and any sequence of ASCII bytes is UTF-8.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// The text as a [`Text`]. The usual lengths (a time, a date, a date and time with or
    /// without seconds and offset) each get an arm of their own, where the copy has a length
    /// known when compiling and becomes a few moves instead of a call to `memcpy`.
    #[inline]
    fn text(&self) -> Text {
        let s = self.as_str();
        let fixed = |n: usize| s.get(..n).map(Text::from);
        match s.len() {
            5 => fixed(5),
            8 => fixed(8),
            10 => fixed(10),
            16 => fixed(16),
            19 => fixed(19),
            22 => fixed(22),
            _ => None,
        }
        .unwrap_or_else(|| Text::from(s))
    }
}

/// `YYYY-MM-DD`.
pub fn format_date(date: NaiveDate) -> Text {
    let mut out = AsciiBuf::new();
    push_date(&mut out, date);
    out.text()
}

/// `HH:MM` or `HH:MM:SS`.
pub fn format_time(time: NaiveTime, with_seconds: bool) -> Text {
    let mut out = AsciiBuf::new();
    push_time(&mut out, time, with_seconds);
    out.text()
}

/// The ASCII digit of `value % 10`.
fn ascii_digit(value: u32) -> u8 {
    b'0' + (value % 10) as u8
}

/// `YYYY-MM-DD` of a date whose year is in 0..=9999 (what chrono's `%Y-%m-%d` writes for it);
/// `None` for other years.
fn date_ascii(date: NaiveDate) -> Option<[u8; 10]> {
    let y = u32::try_from(date.year()).ok().filter(|y| *y <= 9999)?;
    let (m, d) = (date.month(), date.day());
    Some([
        ascii_digit(y / 1000),
        ascii_digit(y / 100),
        ascii_digit(y / 10),
        ascii_digit(y),
        b'-',
        ascii_digit(m / 10),
        ascii_digit(m),
        b'-',
        ascii_digit(d / 10),
        ascii_digit(d),
    ])
}

/// `HH:MM:SS` (its first five bytes are `HH:MM`).
fn time_ascii(time: NaiveTime) -> [u8; 8] {
    let (h, m, s) = (time.hour(), time.minute(), time.second());
    [
        ascii_digit(h / 10),
        ascii_digit(h),
        b':',
        ascii_digit(m / 10),
        ascii_digit(m),
        b':',
        ascii_digit(s / 10),
        ascii_digit(s),
    ]
}

/// Appends `YYYY-MM-DD` (chrono's `%Y-%m-%d`, without parsing a format string each time).
fn push_date(out: &mut AsciiBuf, date: NaiveDate) {
    match date_ascii(date) {
        Some(text) => out.push_slice(&text),
        // A year outside 0..=9999 is written as chrono writes it (sign and all digits).
        None => out.push_str(&date.format("%Y-%m-%d").to_string()),
    }
}

/// Appends `HH:MM` or `HH:MM:SS`.
fn push_time(out: &mut AsciiBuf, time: NaiveTime, with_seconds: bool) {
    out.push_slice(time_part(&time_ascii(time), with_seconds));
}

/// `HH:MM:SS`, or its `HH:MM`.
fn time_part(text: &[u8; 8], with_seconds: bool) -> &[u8] {
    if with_seconds { text } else { &text[..5] }
}

/// A date and optional time read from two elements, with warnings for values that are not dates
/// or times (quirk 25: `20240230`, `2400`, seconds `60`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTimeParts {
    /// The date with its `YYYY-MM-DD`, when sent and valid.
    date: Option<(NaiveDate, [u8; 10])>,
    /// The time, whether it had seconds and its `HH:MM:SS`, when sent and valid (and a date is
    /// present).
    time: Option<(NaiveTime, bool, [u8; 8])>,
}

/// Element `n` of `seg` read by `read`, when sent; a value that does not read is left out with
/// a warning naming the element and what it should have been (`what`: "date", "time").
fn read_element<T>(
    seg: &OwnedSegment,
    n: usize,
    what: &str,
    read: impl Fn(&str) -> Option<T>,
    warnings: &mut Vec<String>,
) -> Option<T> {
    let text = seg.text(n)?;
    let value = read(&text);
    if value.is_none() {
        let tag = tag_text(seg);
        warnings.push(format!(
            "{tag}{n:02} {text:?} is not a valid {what}; left out"
        ));
    }
    value
}

impl DateTimeParts {
    /// Reads `date_el` and `time_el` of `seg`.
    pub fn read(
        seg: &OwnedSegment,
        date_el: usize,
        time_el: usize,
        warnings: &mut Vec<String>,
    ) -> Self {
        let date = read_element(seg, date_el, "date", read_date, warnings);
        let time = read_element(seg, time_el, "time", read_time, warnings);
        DateTimeParts {
            date,
            time: if date.is_some() { time } else { None },
        }
    }

    /// The date, when sent and valid.
    pub fn date(&self) -> Option<NaiveDate> {
        self.date.map(|(date, _)| date)
    }

    /// The time and whether it had seconds, when sent and valid (and a date is present).
    pub fn time(&self) -> Option<(NaiveTime, bool)> {
        self.time
            .map(|(time, with_seconds, _)| (time, with_seconds))
    }

    /// The date as `YYYY-MM-DD` ([`format_date`] of [`Self::date`]).
    pub fn date_text(&self) -> Option<Text> {
        let (_, ascii) = self.date?;
        let mut out = AsciiBuf::new();
        out.push_slice(&ascii);
        Some(out.text())
    }

    /// The time as `HH:MM` or `HH:MM:SS` ([`format_time`] of [`Self::time`]).
    pub fn time_text(&self) -> Option<Text> {
        let (_, with_seconds, ascii) = self.time?;
        let mut out = AsciiBuf::new();
        out.push_slice(time_part(&ascii, with_seconds));
        Some(out.text())
    }

    /// `YYYY-MM-DDTHH:MM[:SS]`, or just the date when no time was sent.
    pub fn local_text(&self) -> Option<Text> {
        self.text_with_offset(None)
    }

    /// [`Self::local_text`] followed by the offset (as [`format_offset`] writes it), when known.
    pub fn text_with_offset(&self, seconds_east: Option<i32>) -> Option<Text> {
        let (_, date) = self.date?;
        let mut out = AsciiBuf::new();
        out.push_slice(&date);
        if let Some((_, with_seconds, time)) = self.time {
            out.push(b'T');
            out.push_slice(time_part(&time, with_seconds));
        }
        if let Some(o) = seconds_east {
            push_offset_ascii(&mut out, o);
        }
        Some(out.text())
    }

    /// The naive local date and time (midnight when only a date was sent).
    pub fn naive(&self) -> Option<NaiveDateTime> {
        let (date, _) = self.date?;
        Some(date.and_time(self.time.map_or(NaiveTime::MIN, |(t, _, _)| t)))
    }
}

/// What an X12 time code (element 623: AT707, DTM04) says about the zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeZoneCode {
    /// A fixed offset from UTC, in seconds east.
    Fixed(i32),
    /// A generic zone whose offset depends on the date (daylight saving time).
    Region(Tz),
    /// Local time at the event (`LT`, or no code): the zone is not stated.
    Local,
    /// A code edigate does not know.
    Unknown,
}

const HOUR: i32 = 3600;

/// Reads an element-623 time code. Numeric codes run `01`..`12` = UTC+1..+12 and
/// `13`..`24` = UTC-12..-1 (x12-reference §2.4: `13` is -12, `24` is -1).
pub fn time_zone_code(code: Option<&str>) -> TimeZoneCode {
    let Some(code) = code.map(str::trim).filter(|c| !c.is_empty()) else {
        return TimeZoneCode::Local;
    };
    if code.len() == 2 && code.bytes().all(|b| b.is_ascii_digit()) {
        return match code.parse::<i32>() {
            Ok(n @ 1..=12) => TimeZoneCode::Fixed(n * HOUR),
            Ok(n @ 13..=24) => TimeZoneCode::Fixed(-(25 - n) * HOUR),
            _ => TimeZoneCode::Unknown,
        };
    }
    use TimeZoneCode::{Fixed, Local, Region};
    // Every code is two letters; they are compared upper-cased, without allocating.
    let &[first, second] = code.as_bytes() else {
        return TimeZoneCode::Unknown;
    };
    match &[first.to_ascii_uppercase(), second.to_ascii_uppercase()] {
        b"LT" => Local,
        b"UT" | b"GM" => Fixed(0),
        b"ES" | b"CD" => Fixed(-5 * HOUR),
        b"ED" | b"TS" => Fixed(-4 * HOUR),
        b"CS" | b"MD" => Fixed(-6 * HOUR),
        b"MS" | b"PD" => Fixed(-7 * HOUR),
        b"PS" | b"AD" => Fixed(-8 * HOUR),
        b"AS" | b"HD" => Fixed(-9 * HOUR),
        b"HS" => Fixed(-10 * HOUR),
        b"TD" => Fixed(-3 * HOUR),
        b"NS" => Fixed(-(3 * HOUR + 1800)),
        b"ND" => Fixed(-(2 * HOUR + 1800)),
        b"ET" => Region(chrono_tz::America::New_York),
        b"CT" => Region(chrono_tz::America::Chicago),
        b"MT" => Region(chrono_tz::America::Denver),
        b"PT" => Region(chrono_tz::America::Los_Angeles),
        // `AT` is Alaska, not Atlantic (Atlantic is `TT`).
        b"AT" => Region(chrono_tz::America::Anchorage),
        // Hawaii keeps standard time all year.
        b"HT" => Region(chrono_tz::Pacific::Honolulu),
        b"TT" => Region(chrono_tz::America::Halifax),
        b"NT" => Region(chrono_tz::America::St_Johns),
        _ => TimeZoneCode::Unknown,
    }
}

/// Why no offset could be given to a local time in a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetProblem {
    /// The local time falls in a spring-forward gap and never happened there.
    Nonexistent,
}

/// The UTC offset (seconds east) of a local time in a region. A time repeated by a fall-back
/// change is read as the first (daylight) occurrence.
pub fn region_offset(tz: Tz, local: NaiveDateTime) -> Result<i32, OffsetProblem> {
    match tz.from_local_datetime(&local) {
        chrono::LocalResult::Single(dt) => Ok(dt.offset().fix().local_minus_utc()),
        chrono::LocalResult::Ambiguous(first, _) => Ok(first.offset().fix().local_minus_utc()),
        chrono::LocalResult::None => Err(OffsetProblem::Nonexistent),
    }
}

/// `Z` for zero, else `+hh:mm` / `-hh:mm`.
pub fn format_offset(seconds_east: i32) -> Text {
    let mut out = AsciiBuf::new();
    push_offset_ascii(&mut out, seconds_east);
    out.text()
}

fn push_offset_ascii(out: &mut AsciiBuf, seconds_east: i32) {
    if seconds_east == 0 {
        out.push(b'Z');
        return;
    }
    let abs = seconds_east.unsigned_abs();
    let (h, m) = ((abs / 3600) % 100, (abs % 3600) / 60);
    out.push_slice(&[
        if seconds_east < 0 { b'-' } else { b'+' },
        ascii_digit(h / 10),
        ascii_digit(h),
        b':',
        ascii_digit(m / 10),
        ascii_digit(m),
    ]);
}

/// Resolves the offset of a local date-time under a time code, with the partner's default zone
/// for `LT`/absent codes. `Ok(None)` means the zone is not stated (no offset is written).
pub fn resolve_offset(
    code: Option<&str>,
    local: NaiveDateTime,
    default_tz: Option<Tz>,
) -> Result<Option<i32>, String> {
    let region = |tz: Tz| {
        region_offset(tz, local)
            .map(Some)
            .map_err(|OffsetProblem::Nonexistent| {
                format!("{local} does not exist in {tz} (daylight saving gap); no offset given")
            })
    };
    match time_zone_code(code) {
        TimeZoneCode::Fixed(s) => Ok(Some(s)),
        TimeZoneCode::Region(tz) => region(tz),
        TimeZoneCode::Local => default_tz.map_or(Ok(None), region),
        TimeZoneCode::Unknown => Err(format!(
            "time code {:?} is not known; no offset given",
            code.unwrap_or_default()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_segments::segs;
    use super::*;

    #[test]
    fn dates_and_times_are_written_as_chrono_writes_them() {
        for (y, m, d) in [(2026, 1, 5), (1999, 12, 31), (2000, 2, 29), (987, 6, 7)] {
            let date = NaiveDate::from_ymd_opt(y, m, d).expect("valid date");
            assert_eq!(format_date(date), date.format("%Y-%m-%d").to_string());
        }
        let t = NaiveTime::from_hms_opt(7, 5, 9).expect("valid time");
        assert_eq!(format_time(t, false), "07:05");
        assert_eq!(format_time(t, true), "07:05:09");
        assert_eq!(format_offset(0), "Z");
        assert_eq!(format_offset(-5 * 3600), "-05:00");
        assert_eq!(format_offset(5 * 3600 + 45 * 60), "+05:45");
    }

    #[test]
    fn dates_and_times_are_checked() {
        assert_eq!(
            parse_date("20260105").map(format_date).as_deref(),
            Some("2026-01-05")
        );
        assert_eq!(
            parse_date("260105").map(format_date).as_deref(),
            Some("2026-01-05")
        );
        assert_eq!(parse_date("20240230"), None);
        assert_eq!(parse_date("2026010"), None);
        assert_eq!(parse_time("2400"), None);
        assert_eq!(parse_time("123060"), None);
        assert_eq!(parse_time("12345"), None);
        let (t, s) = parse_time("16304512").unwrap();
        assert_eq!(format_time(t, s), "16:30:45");
        let (t, s) = parse_time("0905").unwrap();
        assert_eq!(format_time(t, s), "09:05");
    }

    #[test]
    fn date_time_parts_warn_and_drop_bad_values() {
        let seg = &segs("DTM*011*20260230*1545~")[0];
        let mut w = Vec::new();
        let p = DateTimeParts::read(seg, 2, 3, &mut w);
        assert_eq!(p.local_text(), None);
        assert_eq!(w.len(), 1, "{w:?}");
        let seg = &segs("DTM*017*20260109~")[0];
        let p = DateTimeParts::read(seg, 2, 3, &mut w);
        assert_eq!(p.local_text().as_deref(), Some("2026-01-09"));
    }

    #[test]
    fn numeric_time_codes_run_both_ways() {
        assert_eq!(time_zone_code(Some("05")), TimeZoneCode::Fixed(5 * 3600));
        assert_eq!(time_zone_code(Some("12")), TimeZoneCode::Fixed(12 * 3600));
        assert_eq!(time_zone_code(Some("13")), TimeZoneCode::Fixed(-12 * 3600));
        assert_eq!(time_zone_code(Some("20")), TimeZoneCode::Fixed(-5 * 3600));
        assert_eq!(time_zone_code(Some("24")), TimeZoneCode::Fixed(-3600));
        assert_eq!(time_zone_code(Some("00")), TimeZoneCode::Unknown);
        assert_eq!(time_zone_code(Some("25")), TimeZoneCode::Unknown);
        assert_eq!(time_zone_code(None), TimeZoneCode::Local);
        assert_eq!(time_zone_code(Some("LT")), TimeZoneCode::Local);
        assert_eq!(format_offset(-3600), "-01:00");
        assert_eq!(format_offset(5 * 3600), "+05:00");
        assert_eq!(format_offset(0), "Z");
        assert_eq!(format_offset(-(3 * 3600 + 1800)), "-03:30");
    }

    #[test]
    fn generic_zones_follow_daylight_saving() {
        let jan = NaiveDate::from_ymd_opt(2026, 1, 8)
            .unwrap()
            .and_hms_opt(14, 15, 0)
            .unwrap();
        let jul = NaiveDate::from_ymd_opt(2026, 7, 8)
            .unwrap()
            .and_hms_opt(14, 15, 0)
            .unwrap();
        assert_eq!(resolve_offset(Some("ET"), jan, None), Ok(Some(-5 * 3600)));
        assert_eq!(resolve_offset(Some("ET"), jul, None), Ok(Some(-4 * 3600)));
        assert_eq!(resolve_offset(Some("HT"), jul, None), Ok(Some(-10 * 3600)));
        assert_eq!(resolve_offset(Some("ES"), jul, None), Ok(Some(-5 * 3600)));
        assert_eq!(resolve_offset(None, jul, None), Ok(None));
        let chicago = Some(chrono_tz::America::Chicago);
        assert_eq!(
            resolve_offset(Some("LT"), jul, chicago),
            Ok(Some(-5 * 3600))
        );
        let gap = NaiveDate::from_ymd_opt(2026, 3, 8)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        assert!(resolve_offset(Some("ET"), gap, None).is_err());
        assert!(resolve_offset(Some("QQ"), jan, None).is_err());
    }

    /// The readers before they read digits straight from the bytes: what they must agree with.
    fn parse_date_by_str(text: &str) -> Option<NaiveDate> {
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let (year, rest) = match text.len() {
            8 => (text.get(..4)?.parse::<i32>().ok()?, text.get(4..)?),
            6 => {
                let yy = text.get(..2)?.parse::<i32>().ok()?;
                (if yy < 50 { 2000 + yy } else { 1900 + yy }, text.get(2..)?)
            }
            _ => return None,
        };
        let month = rest.get(..2)?.parse().ok()?;
        let day = rest.get(2..4)?.parse().ok()?;
        NaiveDate::from_ymd_opt(year, month, day)
    }

    fn parse_time_by_str(text: &str) -> Option<(NaiveTime, bool)> {
        if !text.bytes().all(|b| b.is_ascii_digit())
            || !(4..=8).contains(&text.len())
            || text.len() == 5
        {
            return None;
        }
        let hour = text.get(..2)?.parse().ok()?;
        let minute = text.get(2..4)?.parse().ok()?;
        let (second, with_seconds) = match text.get(4..6) {
            Some(s) => (s.parse().ok()?, true),
            None => (0, false),
        };
        NaiveTime::from_hms_opt(hour, minute, second).map(|t| (t, with_seconds))
    }

    /// Characters that make the readers work: digits (mostly), signs, spaces, letters, non-ASCII.
    fn date_char() -> impl proptest::strategy::Strategy<Value = char> {
        proptest::prop_oneof![
            8 => proptest::char::range('0', '9'),
            1 => proptest::sample::select(vec!['+', '-', ' ', 'A', '\u{e9}', '\u{3000}', '/']),
        ]
    }

    /// The texts made from the digits read are what formatting the parsed values writes, and
    /// so are [`DateTimeParts`]' texts.
    fn check_texts_made_while_reading(text: &str) {
        if let Some((date, ascii)) = read_date(text) {
            assert_eq!(Some(ascii), date_ascii(date), "{text}");
        }
        if let Some((time, _, ascii)) = read_time(text) {
            assert_eq!(ascii, time_ascii(time), "{text}");
        }
        for (d, t) in [(text, ""), (text, text), (text, "1230"), ("20260105", text)] {
            let seg = &segs(&format!("DTM*011*{d}*{t}~"))[0];
            let p = DateTimeParts::read(seg, 2, 3, &mut Vec::new());
            assert_eq!(p.date_text(), p.date().map(format_date), "{d} {t}");
            assert_eq!(
                p.time_text(),
                p.time().map(|(t, s)| format_time(t, s)),
                "{d} {t}"
            );
            for offset in [None, Some(0), Some(-5 * 3600), Some(5 * 3600 + 45 * 60)] {
                let by_format = p.date().map(|date| {
                    let mut want = format_date(date).to_string();
                    if let Some((t, s)) = p.time() {
                        want.push('T');
                        want.push_str(&format_time(t, s));
                    }
                    if let Some(o) = offset {
                        want.push_str(&format_offset(o));
                    }
                    want
                });
                let got = p.text_with_offset(offset).map(|t| t.to_string());
                assert_eq!(got, by_format, "{d} {t}");
            }
        }
    }

    #[test]
    fn word_digit_check_agrees_with_a_byte_check() {
        // Every byte value in every position, the others digits or not.
        for others in [*b"01234567", *b"99999999", *b"0000000/", *b":0000000"] {
            for position in 0..8 {
                for b in 0..=u8::MAX {
                    let mut bytes = others;
                    bytes[position] = b;
                    assert_eq!(
                        all_ascii_digits(u64::from_le_bytes(bytes)),
                        bytes.iter().all(u8::is_ascii_digit),
                        "{bytes:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_valid_date_and_time_reads_as_before() {
        // Exhaustive over the shapes partners send: every CCYYMMDD of a few centuries' edges,
        // every YYMMDD, every HHMM and HHMMSS.
        for year in [
            0, 1, 999, 1899, 1900, 1949, 1950, 1999, 2000, 2024, 2026, 2100, 9999,
        ] {
            for month in 0..=13 {
                for day in 0..=32 {
                    let t = format!("{year:04}{month:02}{day:02}");
                    assert_eq!(parse_date(&t), parse_date_by_str(&t), "{t}");
                    check_texts_made_while_reading(&t);
                }
            }
        }
        for yy in 0..100 {
            for month in 0..=13 {
                for day in 0..=32 {
                    let t = format!("{yy:02}{month:02}{day:02}");
                    assert_eq!(parse_date(&t), parse_date_by_str(&t), "{t}");
                    check_texts_made_while_reading(&t);
                }
            }
        }
        for hour in 0..=25 {
            for minute in 0..=61 {
                let t = format!("{hour:02}{minute:02}");
                assert_eq!(parse_time(&t), parse_time_by_str(&t), "{t}");
                check_texts_made_while_reading(&t);
                for second in [0, 1, 30, 59, 60, 61, 99] {
                    for frac in ["", "0", "99"] {
                        let t = format!("{hour:02}{minute:02}{second:02}{frac}");
                        assert_eq!(parse_time(&t), parse_time_by_str(&t), "{t}");
                        check_texts_made_while_reading(&t);
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn word_digit_check_agrees_on_any_bytes(bytes in proptest::array::uniform8(
            proptest::prop_oneof![6 => 0x30_u8..=0x39, 1 => proptest::num::u8::ANY]
        )) {
            proptest::prop_assert_eq!(
                all_ascii_digits(u64::from_le_bytes(bytes)),
                bytes.iter().all(u8::is_ascii_digit)
            );
        }

        #[test]
        fn date_and_time_readers_agree_with_str_parsing(
            chars in proptest::collection::vec(date_char(), 0..10)
        ) {
            let text: String = chars.into_iter().collect();
            proptest::prop_assert_eq!(parse_date(&text), parse_date_by_str(&text));
            proptest::prop_assert_eq!(parse_time(&text), parse_time_by_str(&text));
            check_texts_made_while_reading(&text);
        }

        #[test]
        fn dates_times_and_offsets_are_written_as_chrono_writes_them(
            days in -1_000_000_i32..4_000_000,
            seconds in 0_u32..86_400,
            offset in -86_399_i32..86_400,
        ) {
            let date = NaiveDate::from_num_days_from_ce_opt(days).unwrap();
            proptest::prop_assert_eq!(format_date(date), date.format("%Y-%m-%d").to_string());
            let time = NaiveTime::from_num_seconds_from_midnight_opt(seconds, 0).unwrap();
            proptest::prop_assert_eq!(format_time(time, false), time.format("%H:%M").to_string());
            proptest::prop_assert_eq!(format_time(time, true), time.format("%H:%M:%S").to_string());
            let want = if offset == 0 {
                "Z".to_string()
            } else {
                let abs = offset.unsigned_abs();
                let sign = if offset < 0 { '-' } else { '+' };
                format!("{sign}{:02}:{:02}", abs / 3600, (abs % 3600) / 60)
            };
            proptest::prop_assert_eq!(format_offset(offset), want);
        }
    }
}

//! Small readers shared by the X12 set mappers: dates, times, zones, parties, item ids, SSCCs, references.
//!
//! Everything here reads untrusted segment text and reports problems as warning strings or `None`;
//! nothing panics on input.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Timelike};
use chrono_tz::Tz;

use super::decimal::Decimal;
use super::record::Text;
use super::record::{Address, ItemIds, Party, PartyRole, References};
use crate::x12::segment::OwnedSegment;

/// Element `n` of `seg` parsed as an exact decimal; an unreadable value is a warning and `None`.
pub fn decimal(seg: &OwnedSegment, n: usize, warnings: &mut Vec<String>) -> Option<Decimal> {
    let text = seg.text(n)?;
    match Decimal::parse(&text) {
        Ok(d) => Some(d),
        Err(e) => {
            warnings.push(format!("{}{n:02}: {e}; value left out", tag_text(seg)));
            None
        }
    }
}

/// The segment tag as text (`"SN1"`).
pub fn tag_text(seg: &OwnedSegment) -> String {
    String::from_utf8_lossy(seg.tag()).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Dates, times and zones
// ---------------------------------------------------------------------------------------------

/// An X12 `DT` value (`CCYYMMDD`, or `YYMMDD` from 3xxx releases with a 50-year pivot) as a date.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
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

/// An X12 `TM` value (`HHMM`, `HHMMSS`, `HHMMSSD`, `HHMMSSDD`) as a time, and whether seconds
/// were sent. Decimal seconds are dropped: canonical datetimes stop at seconds.
pub fn parse_time(text: &str) -> Option<(NaiveTime, bool)> {
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

    fn push_str(&mut self, s: &str) {
        s.bytes().for_each(|b| self.push(b));
    }

    fn as_str(&self) -> &str {
        let bytes = self.bytes.get(..self.len).unwrap_or_default();
        debug_assert!(bytes.is_ascii());
        // SAFETY: `push`, the only writer of `bytes[..len]`, stores ASCII bytes only, and any
        // sequence of ASCII bytes is UTF-8.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    fn text(&self) -> Text {
        Text::from(self.as_str())
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

/// Appends `YYYY-MM-DD` (chrono's `%Y-%m-%d`, without parsing a format string each time).
fn push_date(out: &mut AsciiBuf, date: NaiveDate) {
    let year = date.year();
    match u32::try_from(year) {
        Ok(y) if y <= 9999 => {
            push_digits(out, y, 4);
            out.push(b'-');
            push_digits(out, date.month(), 2);
            out.push(b'-');
            push_digits(out, date.day(), 2);
        }
        // A year outside 0..=9999 is written as chrono writes it (sign and all digits).
        _ => out.push_str(&date.format("%Y-%m-%d").to_string()),
    }
}

/// Appends `HH:MM` or `HH:MM:SS`.
fn push_time(out: &mut AsciiBuf, time: NaiveTime, with_seconds: bool) {
    push_digits(out, time.hour(), 2);
    out.push(b':');
    push_digits(out, time.minute(), 2);
    if with_seconds {
        out.push(b':');
        push_digits(out, time.second(), 2);
    }
}

/// Appends the last `width` decimal digits of `value`, zero-padded.
fn push_digits(out: &mut AsciiBuf, value: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = (value / 10u32.pow(place)) % 10;
        out.push(b'0' + digit as u8);
    }
}

/// A date and optional time read from two elements, with warnings for values that are not dates
/// or times (quirk 25: `20240230`, `2400`, seconds `60`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTimeParts {
    /// The date, when sent and valid.
    pub date: Option<NaiveDate>,
    /// The time and whether it had seconds, when sent and valid (and a date is present).
    pub time: Option<(NaiveTime, bool)>,
}

impl DateTimeParts {
    /// Reads `date_el` and `time_el` of `seg`.
    pub fn read(
        seg: &OwnedSegment,
        date_el: usize,
        time_el: usize,
        warnings: &mut Vec<String>,
    ) -> Self {
        let date = seg.text(date_el).and_then(|t| {
            let d = parse_date(&t);
            if d.is_none() {
                let tag = tag_text(seg);
                warnings.push(format!(
                    "{tag}{date_el:02} {t:?} is not a valid date; left out"
                ));
            }
            d
        });
        let time = seg.text(time_el).and_then(|t| {
            let v = parse_time(&t);
            if v.is_none() {
                let tag = tag_text(seg);
                warnings.push(format!(
                    "{tag}{time_el:02} {t:?} is not a valid time; left out"
                ));
            }
            v
        });
        DateTimeParts {
            date,
            time: if date.is_some() { time } else { None },
        }
    }

    /// `YYYY-MM-DDTHH:MM[:SS]`, or just the date when no time was sent.
    pub fn local_text(&self) -> Option<Text> {
        self.text_with_offset(None)
    }

    /// [`Self::local_text`] followed by the offset (as [`format_offset`] writes it), when known.
    pub fn text_with_offset(&self, seconds_east: Option<i32>) -> Option<Text> {
        let date = self.date?;
        let mut out = AsciiBuf::new();
        push_date(&mut out, date);
        if let Some((t, s)) = self.time {
            out.push(b'T');
            push_time(&mut out, t, s);
        }
        if let Some(o) = seconds_east {
            push_offset_ascii(&mut out, o);
        }
        Some(out.text())
    }

    /// The naive local date and time (midnight when only a date was sent).
    pub fn naive(&self) -> Option<NaiveDateTime> {
        let date = self.date?;
        Some(date.and_time(self.time.map_or(NaiveTime::MIN, |(t, _)| t)))
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
    out.push(if seconds_east < 0 { b'-' } else { b'+' });
    let abs = seconds_east.unsigned_abs();
    push_digits(out, (abs / 3600) % 100, 2);
    out.push(b':');
    push_digits(out, (abs % 3600) / 60, 2);
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

// ---------------------------------------------------------------------------------------------
// Parties (N1 loops)
// ---------------------------------------------------------------------------------------------

/// Segments that may follow N1 inside its loop (856, 214, 940 and 945 layouts together).
const N1_LOOP_MEMBERS: &[&str] = &["N2", "N3", "N4", "REF", "PER", "FOB", "G61", "G62", "L11"];

/// Builds parties from a stream of segments: N1 opens a party, N3 adds address lines, N4 the
/// city/state/postal code/country, and any segment outside the N1 loop closes it.
#[derive(Debug, Default)]
pub struct PartyReader {
    parties: Vec<Party>,
    open: bool,
}

impl PartyReader {
    /// Feeds one segment.
    pub fn feed(&mut self, seg: &OwnedSegment) {
        if seg.is("N1") {
            let code = seg.get(1);
            let role = code
                .as_deref()
                .map_or(PartyRole::Other, PartyRole::from_code);
            self.parties.push(Party {
                role,
                code,
                name: seg.get(2),
                id_qualifier: seg.get(3),
                id: seg.get(4),
                address: Address::default(),
            });
            self.open = true;
            return;
        }
        if !self.open || !N1_LOOP_MEMBERS.iter().any(|t| seg.is(t)) {
            self.open = false;
            return;
        }
        let Some(address) = self.parties.last_mut().map(|p| &mut p.address) else {
            return;
        };
        if seg.is("N3") {
            address
                .lines
                .extend([seg.get(1), seg.get(2)].into_iter().flatten());
        } else if seg.is("N4") {
            address.city = address.city.take().or(seg.get(1));
            address.state = address.state.take().or(seg.get(2));
            address.postal_code = address.postal_code.take().or(seg.get(3));
            address.country = address.country.take().or(seg.get(4));
        }
    }

    /// Closes the open party (e.g. at an HL boundary).
    pub fn close(&mut self) {
        self.open = false;
    }

    /// The parties read, in document order.
    pub fn finish(self) -> Vec<Party> {
        self.parties
    }
}

// ---------------------------------------------------------------------------------------------
// Item ids (LIN and friends)
// ---------------------------------------------------------------------------------------------

/// Adds one qualifier/ID pair to `ids`. A named slot already holding a different value (e.g. both
/// `BP` and `IN`) sends the later value to `other` so nothing is lost.
pub fn add_item_id(ids: &mut ItemIds, qualifier: &str, value: Text) {
    let slot = match qualifier {
        "UP" => &mut ids.upc,
        "UK" => &mut ids.gtin,
        "EN" => &mut ids.ean,
        "VN" => &mut ids.vendor_item,
        "BP" | "IN" => &mut ids.buyer_item,
        "SK" => &mut ids.sku,
        "LT" => &mut ids.lot,
        "SN" => &mut ids.serial,
        // `UA` (U.P.C./EAN case code) and everything else have no named key in v1.
        _ => {
            ids.other.entry(Text::from(qualifier)).or_insert(value);
            return;
        }
    };
    match slot {
        None => *slot = Some(value),
        Some(existing) if *existing == value => {}
        Some(_) => {
            ids.other.entry(Text::from(qualifier)).or_insert(value);
        }
    }
}

/// Item ids from every qualifier/ID pair of `seg` starting at element `first` (LIN: 2), in
/// whatever order the partner sent them.
pub fn item_ids_from_pairs(seg: &OwnedSegment, first: usize) -> ItemIds {
    let mut ids = ItemIds::default();
    let mut n = first;
    while n <= seg.element_count() {
        if let (Some(q), Some(v)) = (seg.text(n), seg.get(n + 1)) {
            if q.bytes().any(|b| b.is_ascii_lowercase()) {
                add_item_id(&mut ids, &q.to_ascii_uppercase(), v);
            } else {
                add_item_id(&mut ids, &q, v);
            }
        }
        n += 2;
    }
    ids
}

// ---------------------------------------------------------------------------------------------
// SSCC (MAN GM)
// ---------------------------------------------------------------------------------------------

/// What a MAN GM mark turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sscc {
    /// 18 digits with a correct check digit.
    Valid(String),
    /// 20 digits with the `00` application identifier, read as the 18-digit SSCC that follows.
    ValidWithAi(String),
    /// 18 digits (after normalisation) whose check digit is wrong.
    BadCheckDigit(String),
    /// Not an SSCC at all (wrong length, letters); the trimmed text as sent.
    Malformed(String),
}

impl Sscc {
    /// Normalises a mark: drops spaces and parentheses (label text, quirk 27), strips a `00`
    /// application identifier from 20 digits, and verifies the GS1 mod-10 check digit.
    pub fn read(raw: &str) -> Sscc {
        let digits: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && !matches!(c, '(' | ')'))
            .collect();
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Sscc::Malformed(raw.trim().to_string());
        }
        let (sscc, with_ai) = match digits.len() {
            18 => (digits, false),
            20 if digits.starts_with("00") => (digits[2..].to_string(), true),
            _ => return Sscc::Malformed(raw.trim().to_string()),
        };
        match (gs1_check_digit_ok(&sscc), with_ai) {
            (false, _) => Sscc::BadCheckDigit(sscc),
            (true, false) => Sscc::Valid(sscc),
            (true, true) => Sscc::ValidWithAi(sscc),
        }
    }

    /// The normalised text (digits for the numeric variants, the trimmed mark otherwise).
    pub fn text(&self) -> &str {
        match self {
            Sscc::Valid(s) | Sscc::ValidWithAi(s) | Sscc::BadCheckDigit(s) | Sscc::Malformed(s) => {
                s
            }
        }
    }

    /// The SSCC when it may be indexed (`references.sscc`).
    pub fn valid(&self) -> Option<&str> {
        match self {
            Sscc::Valid(s) | Sscc::ValidWithAi(s) => Some(s),
            _ => None,
        }
    }

    /// The warning this mark deserves, if any.
    pub fn warning(&self, raw: &str) -> Option<String> {
        match self {
            Sscc::Valid(_) => None,
            Sscc::ValidWithAi(s) => Some(format!(
                "MAN GM {:?} carries the 00 application identifier; read as SSCC {s}",
                raw.trim()
            )),
            Sscc::BadCheckDigit(s) => Some(format!(
                "MAN GM SSCC {s} has a wrong check digit; not indexed in references.sscc"
            )),
            Sscc::Malformed(s) => Some(format!(
                "MAN GM {s:?} is not an 18-digit SSCC; not indexed in references.sscc"
            )),
        }
    }
}

/// GS1 mod-10: from the rightmost data digit leftwards weights 3, 1, 3, ...; the check digit
/// brings the sum to a multiple of 10.
pub fn gs1_check_digit_ok(digits: &str) -> bool {
    let bytes = digits.as_bytes();
    let Some((&last, data)) = bytes.split_last() else {
        return false;
    };
    if !bytes.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = data
        .iter()
        .rev()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    (10 - sum % 10) % 10 == u32::from(last - b'0')
}

/// The qualifier/mark pairs of a MAN segment (MAN01/MAN02 and MAN04/MAN05).
pub fn man_marks(seg: &OwnedSegment) -> impl Iterator<Item = (Text, Text)> + '_ {
    [(1, 2), (4, 5)].into_iter().filter_map(|(q, v)| {
        let mut qualifier = seg.get(q)?;
        qualifier.make_ascii_uppercase();
        Some((qualifier, seg.get(v)?))
    })
}

// ---------------------------------------------------------------------------------------------
// References (contract §1.3)
// ---------------------------------------------------------------------------------------------

/// Collects `references` from qualifier/value pairs and marks; the first value of each key wins,
/// lists keep document order without duplicates.
#[derive(Debug, Default)]
pub struct ReferenceCollector {
    /// What has been collected so far.
    pub refs: References,
}

impl ReferenceCollector {
    /// A REF/N9/L11-style pair. Returns whether the qualifier is one that `references` indexes.
    pub fn qualified(&mut self, qualifier: &str, value: Text) -> bool {
        let r = &mut self.refs;
        let slot = match qualifier {
            "BM" => &mut r.bill_of_lading,
            "CN" => &mut r.pro_number,
            "PO" => &mut r.purchase_order,
            "LO" => &mut r.load_number,
            "AO" => &mut r.appointment_number,
            "2I" => {
                self.tracking(value);
                return true;
            }
            _ => return false,
        };
        if slot.is_none() {
            *slot = Some(value);
        }
        true
    }

    /// A tracking number (REF/L11 `2I`, MAN `CP`).
    pub fn tracking(&mut self, value: Text) {
        if !self.refs.tracking_numbers.contains(&value) {
            self.refs.tracking_numbers.push(value);
        }
    }

    /// A MAN GM mark: normalised and, when valid, indexed. Returns what it was.
    pub fn sscc(&mut self, raw: &str, warnings: &mut Vec<String>) -> Sscc {
        let sscc = Sscc::read(raw);
        if let Some(w) = sscc.warning(raw) {
            warnings.push(w);
        }
        if let Some(v) = sscc.valid()
            && !self.refs.sscc.iter().any(|s| s == v)
        {
            self.refs.sscc.push(Text::from(v));
        }
        sscc
    }

    /// Reads every MAN pair: `CP` → tracking numbers, `GM` → SSCC. Returns the SSCCs seen.
    pub fn man(&mut self, seg: &OwnedSegment, warnings: &mut Vec<String>) -> Vec<Sscc> {
        let mut ssccs = Vec::new();
        for (q, v) in man_marks(seg) {
            match q.as_str() {
                "CP" => self.tracking(v),
                "GM" => ssccs.push(self.sscc(&v, warnings)),
                _ => {}
            }
        }
        ssccs
    }
}

#[cfg(test)]
pub(crate) mod test_segments {
    //! Builds segments from X12 text for the mappers' unit tests.

    use crate::x12::segment::OwnedSegment;

    /// Splits `*`/`>`/`~` text (line breaks ignored) into segments, ISA/GS/GE/IEA dropped.
    pub fn segs(text: &str) -> Vec<OwnedSegment> {
        text.split('~')
            .map(|s| s.trim_matches(|c| c == '\n' || c == '\r' || c == ' '))
            .filter(|s| !s.is_empty())
            .filter(|s| !["ISA", "GS", "GE", "IEA"].contains(&s.split('*').next().unwrap_or("")))
            .enumerate()
            .map(|(i, s)| {
                OwnedSegment::from_elements(
                    i as u32 + 1,
                    &s.split('*').map(str::as_bytes).collect::<Vec<_>>(),
                    b'>',
                    None,
                )
            })
            .collect()
    }

    /// The segments of each ST..SE set in `text`.
    pub fn sets(text: &str) -> Vec<Vec<OwnedSegment>> {
        let mut out: Vec<Vec<OwnedSegment>> = Vec::new();
        for seg in segs(text) {
            if seg.is("ST") {
                out.push(Vec::new());
            }
            if let Some(set) = out.last_mut() {
                set.push(seg);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::test_segments::segs;
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

    #[test]
    fn sscc_variants() {
        assert_eq!(
            Sscc::read("008682150000041528"),
            Sscc::Valid("008682150000041528".into())
        );
        assert_eq!(
            Sscc::read("00008682150000041511"),
            Sscc::ValidWithAi("008682150000041511".into())
        );
        assert_eq!(
            Sscc::read("(00) 0086 8215 0000 0415 11"),
            Sscc::ValidWithAi("008682150000041511".into())
        );
        assert_eq!(
            Sscc::read("008682150000041538"),
            Sscc::BadCheckDigit("008682150000041538".into())
        );
        assert!(gs1_check_digit_ok("008682150000041535"));
        assert!(matches!(Sscc::read("ABC"), Sscc::Malformed(_)));
        assert!(matches!(Sscc::read("12345"), Sscc::Malformed(_)));
        assert!(Sscc::read("12345").warning("12345").is_some());
    }

    #[test]
    fn item_ids_scan_every_pair_in_any_order() {
        let seg =
            &segs("LIN**MG*HOL-PL10-S*EN*5906821004720*IN*CLO-88133*VN*HC-PLT-10-SAGE*BP*X~")[0];
        let ids = item_ids_from_pairs(seg, 2);
        assert_eq!(ids.ean.as_deref(), Some("5906821004720"));
        assert_eq!(ids.buyer_item.as_deref(), Some("CLO-88133"));
        assert_eq!(ids.vendor_item.as_deref(), Some("HC-PLT-10-SAGE"));
        assert_eq!(ids.other.get("MG").map(Text::as_str), Some("HOL-PL10-S"));
        assert_eq!(ids.other.get("BP").map(Text::as_str), Some("X"));
    }

    #[test]
    fn parties_collect_n3_lines_and_n4() {
        let mut r = PartyReader::default();
        for s in segs(
            "N1*BT*ACME*92*1~N3*PO BOX 1*ATTN AP~N3*FLOOR 2~N4*X*OH*1*US~N1*ZZ*Q~HL*2*1*O~N4*Y~",
        ) {
            r.feed(&s);
        }
        let p = r.finish();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].role, PartyRole::BillTo);
        assert_eq!(p[0].address.lines, ["PO BOX 1", "ATTN AP", "FLOOR 2"]);
        assert_eq!(p[0].address.city.as_deref(), Some("X"));
        assert_eq!(p[1].role, PartyRole::Other);
        assert_eq!(p[1].code.as_deref(), Some("ZZ"));
        assert!(p[1].address.is_empty());
    }
}

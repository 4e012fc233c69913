//! Small readers shared by the X12 set mappers: dates, times and zones (`datetime.rs`), parties, item ids, SSCCs, references.
//!
//! Everything here reads untrusted segment text and reports problems as warning strings or `None`;
//! nothing panics on input.

use super::decimal::Decimal;
use super::record::Text;
use super::record::{Address, ItemIds, Party, PartyRole, References};
use crate::x12::segment::OwnedSegment;

mod datetime;

pub use datetime::{
    DateTimeParts, OffsetProblem, TimeZoneCode, format_date, format_offset, format_time,
    parse_date, parse_time, region_offset, resolve_offset, time_zone_code,
};

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
    #[inline]
    pub fn feed(&mut self, seg: &OwnedSegment) {
        // Outside an N1 loop only an N1 matters: every other segment is one comparison.
        if self.open || seg.is("N1") {
            self.read(seg);
        }
    }

    /// [`Self::feed`] for an N1 or a segment that may belong to the open N1 loop.
    fn read(&mut self, seg: &OwnedSegment) {
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

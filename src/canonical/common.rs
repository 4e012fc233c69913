//! Shapes every X12 mapper shares: parties, item ids, dates and times, SSCCs, references, numbers.
//!
//! Conventions:
//! - Nothing here panics on input: a value that cannot be read is `None` (and, where the caller
//!   passes a warning list, a warning), never a made-up default.
//! - Item ids, references and `references_extra` keep the first value seen for a key; a different
//!   later value is kept too (in `other`, or as a warning) so no partner data disappears silently.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::decimal::Decimal;
use super::record::Text;
use super::record::{Address, ItemIds, Party, PartyRole, References};
use crate::x12::segment::OwnedSegment;
use compact_str::format_compact;

/// Qualifier used for U.P.C. case codes sent in their own element (W0103, W1206).
pub const CASE_CODE_QUALIFIER: &str = "UA";

/// Reads the N1 loop that starts at `segs[0]` (an N1): N1 plus the N2/N3/N4/PER that follow it.
/// Returns the party and the number of segments consumed.
///
/// N2 (additional name) and PER (contact) have no canonical field and are skipped.
pub fn party(segs: &[OwnedSegment]) -> (Party, usize) {
    let Some(n1) = segs.first() else {
        return (Party::new(PartyRole::Other), 0);
    };
    let code = n1.get(1);
    let role = code
        .as_deref()
        .map_or(PartyRole::Other, PartyRole::from_code);
    let mut party = Party {
        role,
        code,
        name: n1.get(2),
        id_qualifier: n1.get(3),
        id: n1.get(4),
        address: Address::default(),
    };
    let mut used = 1;
    for seg in &segs[1..] {
        match seg.tag() {
            b"N2" | b"PER" => {}
            b"N3" => party
                .address
                .lines
                .extend([seg.get(1), seg.get(2)].into_iter().flatten()),
            b"N4" => {
                let a = &mut party.address;
                a.city = a.city.take().or_else(|| seg.get(1));
                a.state = a.state.take().or_else(|| seg.get(2));
                a.postal_code = a.postal_code.take().or_else(|| seg.get(3));
                a.country = a.country.take().or_else(|| seg.get(4));
            }
            _ => break,
        }
        used += 1;
    }
    (party, used)
}

/// Collects item ids from qualifier/ID pairs and U.P.C. case codes.
///
/// Mapping (contract §2): `UP` upc, `UK` gtin, `EN` ean, `VN` vendor_item, `BP` and `IN`
/// buyer_item, `SK` sku, `LT` lot, `SN` serial; `UA` (U.P.C./EAN case code, also what W0103 and
/// W1206 carry) fills `upc` only when no `UP` pair did. Any other qualifier, and a second,
/// different value for a key already filled, goes to `other` under its qualifier.
#[derive(Debug, Default)]
pub struct ItemIdsBuilder {
    ids: ItemIds,
    case_codes: Vec<Text>,
}

impl ItemIdsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a pair; a pair with an empty id or qualifier is ignored.
    pub fn pair(&mut self, qualifier: Option<Text>, id: Option<Text>) -> &mut Self {
        let (Some(q), Some(id)) = (qualifier, id) else {
            return self;
        };
        if q == CASE_CODE_QUALIFIER {
            self.case_codes.push(id);
            return self;
        }
        let ids = &mut self.ids;
        let slot = match q.as_str() {
            "UP" => &mut ids.upc,
            "UK" => &mut ids.gtin,
            "EN" => &mut ids.ean,
            "VN" => &mut ids.vendor_item,
            "BP" | "IN" => &mut ids.buyer_item,
            "SK" => &mut ids.sku,
            "LT" => &mut ids.lot,
            "SN" => &mut ids.serial,
            _ => {
                ids.other.entry(q).or_insert(id);
                return self;
            }
        };
        match slot {
            None => *slot = Some(id),
            Some(existing) if *existing == id => {}
            Some(_) => {
                ids.other.entry(q).or_insert(id);
            }
        }
        self
    }

    /// Adds the pair in elements `q` and `q + 1` of a segment.
    pub fn pair_at(&mut self, seg: &OwnedSegment, q: usize) -> &mut Self {
        self.pair(seg.get(q), seg.get(q + 1))
    }

    /// Adds a U.P.C. case code sent in its own element.
    pub fn case_code(&mut self, value: Option<Text>) -> &mut Self {
        self.pair(Some(Text::const_new(CASE_CODE_QUALIFIER)), value)
    }

    /// The ids collected.
    pub fn finish(mut self) -> ItemIds {
        for code in self.case_codes {
            match &self.ids.upc {
                None => self.ids.upc = Some(code),
                Some(existing) if *existing == code => {}
                Some(_) => {
                    self.ids
                        .other
                        .entry(Text::const_new(CASE_CODE_QUALIFIER))
                        .or_insert(code);
                }
            }
        }
        self.ids
    }
}

/// `CCYYMMDD` as `YYYY-MM-DD`; `None` when it is not a real calendar date.
pub fn date(value: &str) -> Option<Text> {
    let v = value.as_bytes();
    if v.len() != 8 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let year: i32 = value[..4].parse().ok()?;
    let month: u32 = value[4..6].parse().ok()?;
    let day: u32 = value[6..].parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, day)?;
    Some(format_compact!(
        "{}-{}-{}",
        &value[..4],
        &value[4..6],
        &value[6..]
    ))
}

/// The full year of a 2-digit year (ISA09, TA102): POSIX `%y`, so `69`–`99` are 19xx and
/// `00`–`68` are 20xx (values above 99 are taken modulo 100).
pub fn century_year(yy: u8) -> i32 {
    let yy = i32::from(yy % 100);
    if yy >= 69 { 1900 + yy } else { 2000 + yy }
}

/// `YYMMDD` (ISA09, TA102) as `YYYY-MM-DD`, with the century pivot of [`century_year`].
pub fn short_date(value: &str) -> Option<Text> {
    let v = value.as_bytes();
    if v.len() != 6 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let yy: u8 = value[..2].parse().ok()?;
    date(&format!("{:04}{}", century_year(yy), &value[2..]))
}

/// `HHMM`, `HHMMSS` or `HHMMSSd[d]` as `HH:MM` or `HH:MM:SS` (decimal seconds are dropped);
/// `None` when it is not a valid time of day.
pub fn time(value: &str) -> Option<Text> {
    let v = value.as_bytes();
    if !matches!(v.len(), 4 | 6 | 7 | 8) || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let hh = &value[..2];
    let mm = &value[2..4];
    if hh > "23" || mm > "59" {
        return None;
    }
    if v.len() == 4 {
        return Some(format_compact!("{hh}:{mm}"));
    }
    let ss = &value[4..6];
    (ss <= "59").then(|| format_compact!("{hh}:{mm}:{ss}"))
}

/// A date (`CCYYMMDD`) and a time as `YYYY-MM-DDTHH:MM[:SS]`; `None` unless both are valid.
pub fn datetime(date_value: &str, time_value: &str) -> Option<Text> {
    Some(format_compact!(
        "{}T{}",
        date(date_value)?,
        time(time_value)?
    ))
}

/// What became of a MAN `GM` mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sscc {
    /// 18 digits with a correct check digit, as sent (spaces and parentheses removed).
    Valid(String),
    /// 20 digits with the `00` application identifier in front, cut to the 18-digit SSCC.
    Normalised(String),
    /// 18 digits whose check digit is wrong.
    BadCheckDigit(String),
    /// Not 18 digits (nor `00` + 18 digits).
    Malformed(String),
}

impl Sscc {
    /// Reads a mark as sent: label text may carry spaces and parentheses around the `(00)` AI.
    pub fn read(mark: &str) -> Sscc {
        let digits: String = mark
            .chars()
            .filter(|c| !matches!(c, ' ' | '(' | ')'))
            .collect();
        if digits.len() == 20 && digits.starts_with("00") && is_digits(&digits) {
            let sscc = digits[2..].to_string();
            return if gs1_check_digit_ok(&sscc) {
                Sscc::Normalised(sscc)
            } else {
                Sscc::BadCheckDigit(sscc)
            };
        }
        if digits.len() != 18 || !is_digits(&digits) {
            return Sscc::Malformed(mark.to_string());
        }
        if gs1_check_digit_ok(&digits) {
            Sscc::Valid(digits)
        } else {
            Sscc::BadCheckDigit(digits)
        }
    }

    /// The value to keep on the document (normalised when possible, else as sent).
    pub fn value(&self) -> &str {
        match self {
            Sscc::Valid(s) | Sscc::Normalised(s) | Sscc::BadCheckDigit(s) | Sscc::Malformed(s) => s,
        }
    }

    /// The 18-digit SSCC when it may go into `references.sscc`.
    pub fn usable(&self) -> Option<&str> {
        match self {
            Sscc::Valid(s) | Sscc::Normalised(s) => Some(s),
            _ => None,
        }
    }

    /// The warning this mark deserves, if any.
    pub fn warning(&self, raw: &str) -> Option<String> {
        match self {
            Sscc::Valid(_) => None,
            Sscc::Normalised(s) => Some(format!(
                "SSCC {raw:?} sent with the 00 application identifier; read as {s}"
            )),
            Sscc::BadCheckDigit(s) => Some(format!(
                "SSCC {s} has a wrong check digit; not used as a reference"
            )),
            Sscc::Malformed(_) => Some(format!(
                "SSCC {raw:?} is not 18 digits; not used as a reference"
            )),
        }
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// GS1 mod-10 check: the last digit equals the check digit computed over the others (weights 3
/// and 1 alternating from the right). Works for GTIN-8/12/13/14, GLN and SSCC.
pub fn gs1_check_digit_ok(digits: &str) -> bool {
    let b = digits.as_bytes();
    let Some((&last, body)) = b.split_last() else {
        return false;
    };
    if !last.is_ascii_digit() || !body.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| u32::from(d - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    (10 - sum % 10) % 10 == u32::from(last - b'0')
}

/// Sets an optional reference unless it already holds a value (the first source wins).
pub fn set_once(slot: &mut Option<Text>, value: Option<Text>) {
    if slot.is_none() {
        *slot = value;
    }
}

/// Pushes a value to a list reference unless it is already there.
pub fn push_unique(list: &mut Vec<Text>, value: Text) {
    if !list.contains(&value) {
        list.push(value);
    }
}

/// Files a REF/N9/L11 qualifier and value under its reference key (contract §1.3): `PO`
/// purchase_order, `BM` bill_of_lading, `CN` pro_number, `2I` tracking_numbers, `LO`
/// load_number, `AO` appointment_number. Other qualifiers are not references.
pub fn reference_qualifier(refs: &mut References, qualifier: &str, value: &str) {
    let slot = match qualifier {
        "PO" => &mut refs.purchase_order,
        "BM" => &mut refs.bill_of_lading,
        "CN" => &mut refs.pro_number,
        "LO" => &mut refs.load_number,
        "AO" => &mut refs.appointment_number,
        "2I" => return push_unique(&mut refs.tracking_numbers, value.into()),
        _ => return,
    };
    set_once(slot, Some(value.into()));
}

/// Adds an N9/REF/L11 entry to `references_extra`. A repeated qualifier keeps its first value
/// and warns when a later one differs.
pub fn extra_reference(
    extra: &mut BTreeMap<Text, Text>,
    warnings: &mut Vec<String>,
    tag: &str,
    qualifier: Text,
    value: Text,
) {
    match extra.get(&qualifier) {
        None => {
            extra.insert(qualifier, value);
        }
        Some(first) if *first == value => {}
        Some(first) => warnings.push(format!(
            "{tag} {qualifier} sent twice ({first:?}, then {value:?}); the first is kept"
        )),
    }
}

/// Element `n` of a segment as an exact decimal; `None` when empty. A value that is not a
/// number is `None` plus a warning naming the element.
pub fn decimal(seg: &OwnedSegment, n: usize, warnings: &mut Vec<String>) -> Option<Decimal> {
    let text = seg.get(n)?;
    match Decimal::parse(&text) {
        Ok(d) => Some(d),
        Err(e) => {
            warnings.push(format!("{}{n:02}: {e}; omitted", tag_text(seg)));
            None
        }
    }
}

/// Element `n` of a segment as a count (`u64`); `None` when empty, a warning when not a count.
pub fn count(seg: &OwnedSegment, n: usize, warnings: &mut Vec<String>) -> Option<u64> {
    let text = seg.get(n)?;
    match text.parse::<u64>() {
        Ok(v) => Some(v),
        Err(_) => {
            warnings.push(format!(
                "{}{n:02} {text:?} is not a count; omitted",
                tag_text(seg)
            ));
            None
        }
    }
}

/// Element `n` as a date (`CCYYMMDD`); a warning when sent but not a valid date.
pub fn date_at(seg: &OwnedSegment, n: usize, warnings: &mut Vec<String>) -> Option<Text> {
    let text = seg.get(n)?;
    let d = date(&text);
    if d.is_none() {
        warnings.push(format!(
            "{}{n:02} {text:?} is not a valid date; omitted",
            tag_text(seg)
        ));
    }
    d
}

/// The segment tag as text.
pub fn tag_text(seg: &OwnedSegment) -> String {
    String::from_utf8_lossy(seg.tag()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(text: &str) -> OwnedSegment {
        OwnedSegment::from_elements(
            1,
            &text.split('*').map(str::as_bytes).collect::<Vec<_>>(),
            b'>',
            None,
        )
    }

    #[test]
    fn party_reads_n1_loop_and_stops_at_the_next_segment() {
        let segs = [
            seg("N1*BT*BRAMBLEWOOD*1*079412650"),
            seg("N2*ACCOUNTS PAYABLE"),
            seg("N3*PO BOX 58210"),
            seg("N3*ATTN FREIGHT AUDIT"),
            seg("N4*MINNEAPOLIS*MN*55458*US"),
            seg("N1*OB*CEDAR"),
        ];
        let (p, used) = party(&segs);
        assert_eq!(used, 5);
        assert_eq!(p.role, PartyRole::BillTo);
        assert_eq!(p.code.as_deref(), Some("BT"));
        assert_eq!(p.id.as_deref(), Some("079412650"));
        assert_eq!(p.address.lines, ["PO BOX 58210", "ATTN FREIGHT AUDIT"]);
        assert_eq!(p.address.country.as_deref(), Some("US"));
        let (other, used) = party(&segs[5..]);
        assert_eq!(
            (other.role, other.code.as_deref(), used),
            (PartyRole::Other, Some("OB"), 1)
        );
        assert!(other.address.is_empty() && other.id.is_none());
    }

    #[test]
    fn item_ids_in_any_order_with_case_code_fallback() {
        let mut b = ItemIdsBuilder::new();
        b.pair(Some("SK".into()), Some("55810273".into()))
            .pair(Some("UP".into()), Some("857340312078".into()))
            .case_code(Some("857340900152".into()))
            .pair(Some("IN".into()), Some("CLO-1".into()))
            .pair(Some("BP".into()), Some("CLO-2".into()))
            .pair(Some("MG".into()), Some("HOL".into()))
            .pair(Some("VN".into()), None);
        let ids = b.finish();
        assert_eq!(ids.sku.as_deref(), Some("55810273"));
        assert_eq!(ids.upc.as_deref(), Some("857340312078"));
        assert_eq!(ids.buyer_item.as_deref(), Some("CLO-1"));
        assert_eq!(ids.vendor_item, None);
        let other: Vec<_> = ids
            .other
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            other,
            [("BP", "CLO-2"), ("MG", "HOL"), ("UA", "857340900152")]
        );

        let mut b = ItemIdsBuilder::new();
        b.case_code(Some("857340900152".into()))
            .pair(Some("UK".into()), Some("10857340401182".into()))
            .pair(Some("EN".into()), Some("5906821004720".into()))
            .pair(Some("LT".into()), Some("L1".into()))
            .pair(Some("SN".into()), Some("S1".into()));
        let ids = b.finish();
        assert_eq!(ids.upc.as_deref(), Some("857340900152"));
        assert_eq!(ids.gtin.as_deref(), Some("10857340401182"));
        assert_eq!(ids.ean.as_deref(), Some("5906821004720"));
        assert_eq!(
            (ids.lot.as_deref(), ids.serial.as_deref()),
            (Some("L1"), Some("S1"))
        );
        assert!(ids.other.is_empty());
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(date("20260105").as_deref(), Some("2026-01-05"));
        assert_eq!(date("20240229").as_deref(), Some("2024-02-29"));
        for bad in ["20240230", "2026010", "2026-01-05", "20261301", ""] {
            assert_eq!(date(bad), None, "{bad}");
        }
        assert_eq!(short_date("260105").as_deref(), Some("2026-01-05"));
        assert_eq!(short_date("991231").as_deref(), Some("1999-12-31"));
        assert_eq!(short_date("680101").as_deref(), Some("2068-01-01"));
        assert_eq!(time("1430").as_deref(), Some("14:30"));
        assert_eq!(time("163045").as_deref(), Some("16:30:45"));
        assert_eq!(time("16304512").as_deref(), Some("16:30:45"));
        for bad in ["2400", "1260", "123060", "12", "12a0"] {
            assert_eq!(time(bad), None, "{bad}");
        }
        assert_eq!(
            datetime("20260106", "1545").as_deref(),
            Some("2026-01-06T15:45")
        );
        assert_eq!(datetime("20260106", ""), None);
    }

    #[test]
    fn sscc_normalisation_and_check_digit() {
        assert_eq!(
            Sscc::read("008124590001044110"),
            Sscc::Valid("008124590001044110".into())
        );
        assert_eq!(
            Sscc::read("00008682150000041511"),
            Sscc::Normalised("008682150000041511".into())
        );
        assert_eq!(
            Sscc::read("(00) 0086821500 00041511"),
            Sscc::Normalised("008682150000041511".into())
        );
        let bad = Sscc::read("008682150000041538");
        assert_eq!(bad, Sscc::BadCheckDigit("008682150000041538".into()));
        assert_eq!(bad.usable(), None);
        assert!(bad.warning("008682150000041538").is_some());
        assert!(matches!(Sscc::read("12345"), Sscc::Malformed(_)));
        assert!(gs1_check_digit_ok("857340900152"));
        assert!(gs1_check_digit_ok("10857340401182"));
        assert!(!gs1_check_digit_ok("857340900153"));
        assert!(!gs1_check_digit_ok(""));
    }

    #[test]
    fn references_keep_the_first_value() {
        let mut refs = References::default();
        reference_qualifier(&mut refs, "BM", "B1");
        reference_qualifier(&mut refs, "BM", "B2");
        reference_qualifier(&mut refs, "2I", "T1");
        reference_qualifier(&mut refs, "2I", "T1");
        reference_qualifier(&mut refs, "2I", "T2");
        reference_qualifier(&mut refs, "ZZ", "X");
        assert_eq!(refs.bill_of_lading.as_deref(), Some("B1"));
        assert_eq!(refs.tracking_numbers, ["T1", "T2"]);
        let mut extra = BTreeMap::new();
        let mut warnings = Vec::new();
        extra_reference(&mut extra, &mut warnings, "N9", "DP".into(), "1".into());
        extra_reference(&mut extra, &mut warnings, "N9", "DP".into(), "1".into());
        assert!(warnings.is_empty());
        extra_reference(&mut extra, &mut warnings, "N9", "DP".into(), "2".into());
        assert_eq!(extra["DP"], "1");
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn numbers_warn_instead_of_failing() {
        let s = seg("W01*12.50*CA*x*abc");
        let mut w = Vec::new();
        assert_eq!(
            decimal(&s, 1, &mut w).map(|d| d.to_string()).as_deref(),
            Some("12.50")
        );
        assert_eq!(decimal(&s, 4, &mut w), None);
        assert_eq!(decimal(&s, 9, &mut w), None);
        assert_eq!(count(&s, 4, &mut w), None);
        assert_eq!(w.len(), 2);
        assert!(w[0].starts_with("W0104"), "{w:?}");
    }
}

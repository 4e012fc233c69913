//! Differential tests: every value the JSON writer writes is serde_json's bytes.

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use serde_json::value::RawValue;

use super::strings::{byte_needs_escape, word_needs_escape};
use super::*;
use crate::canonical::profile::Profiles;
use crate::canonical::translate::{Collect, ControlTracker, translate};
use crate::x12::grammar::Grammars;
use crate::x12::policy::Policy;

/// Asserts `write_json` writes serde_json's bytes, or fails where serde_json fails.
fn same<T: Serialize + ?Sized + std::fmt::Debug>(value: &T) {
    let mut out = b"kept|".to_vec();
    let ours = write_json(&mut out, value).map(|()| out[5..].to_vec());
    assert!(out.starts_with(b"kept|"));
    match (ours, serde_json::to_vec(value)) {
        (Ok(ours), Ok(theirs)) => assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs),
            "{value:?}"
        ),
        (Err(_), Err(_)) => {}
        (ours, theirs) => panic!("{value:?}: ours {ours:?}, serde_json {theirs:?}"),
    }
}

#[test]
fn every_fixture_record_is_serde_jsons_bytes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let partners = crate::config::load_dir(&root.join("partners")).expect("partners");
    let mut count = 0;
    for partner in [None, Some("ridgeline")] {
        let mut profiles = Profiles::new(Grammars::embedded().expect("grammars"), Policy::Standard);
        if let Some(id) = partner {
            profiles = profiles.with_partners(&partners).expect("partner grammars");
            profiles.force(id).expect("a fixture partner");
        }
        for sub in ["sets", "quirks", "bad"] {
            for entry in std::fs::read_dir(root.join("x12").join(sub)).expect("fixtures") {
                let path = entry.expect("entry").path();
                let text = std::fs::read(&path).expect("fixture");
                let mut sink = Collect::default();
                let name = path.display().to_string();
                let mut tracker = ControlTracker::default();
                let _ = translate(&name, || Ok(&text[..]), &profiles, &mut tracker, &mut sink);
                for record in &sink.records {
                    same(record);
                    let text = to_string(record).expect("json");
                    assert_eq!(text, serde_json::to_string(record).expect("json"));
                }
                count += sink.records.len();
            }
        }
    }
    assert!(count > 100, "only {count} records");
}

fn text() -> impl Strategy<Value = String> {
    let special = prop::sample::select(vec!['"', '\\', '\u{7f}', '\u{80}', 'é', '\u{2028}', '😀']);
    let ch = prop_oneof![
        4 => (0u8..0x80).prop_map(char::from),
        1 => special,
        1 => any::<char>(),
    ];
    prop::collection::vec(ch, 0..40).prop_map(String::from_iter)
}

#[derive(Debug, Clone, Serialize)]
enum Node {
    Unit,
    Int(i64),
    Float(f64),
    Text(String),
    Pair(u8, Option<Option<String>>),
    Record {
        #[serde(rename = "odd \"key\"\n")]
        name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        letter: Option<char>,
        kids: Vec<Node>,
    },
    Table(BTreeMap<String, Node>),
    Maybe(Option<Box<Node>>),
    #[serde(untagged)]
    Bare((bool, Vec<Node>)),
}

fn node() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        Just(Node::Unit),
        any::<i64>().prop_map(Node::Int),
        any::<f64>().prop_map(Node::Float),
        text().prop_map(Node::Text),
        (
            any::<u8>(),
            proptest::option::of(proptest::option::of(text()))
        )
            .prop_map(|(n, s)| Node::Pair(n, s)),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            (
                text(),
                proptest::option::of(any::<char>()),
                prop::collection::vec(inner.clone(), 0..4)
            )
                .prop_map(|(name, letter, kids)| Node::Record { name, letter, kids }),
            prop::collection::btree_map(text(), inner.clone(), 0..4).prop_map(Node::Table),
            proptest::option::of(inner.clone().prop_map(Box::new)).prop_map(Node::Maybe),
            (any::<bool>(), prop::collection::vec(inner, 0..4)).prop_map(Node::Bare),
        ]
    })
}

proptest! {
    #[test]
    fn strings_escape_as_serde_json_does(s in text()) {
        same(&s);
        same(&BTreeMap::from([(s.clone(), s.clone())]));
        same(&[(s.as_str(), s.chars().next())]);
    }

    #[test]
    fn word_test_agrees_with_a_byte_test(bytes in prop::collection::vec(any::<u8>(), 8)) {
        let word = u64::from_ne_bytes(bytes.clone().try_into().expect("eight"));
        let by_byte = bytes.iter().any(|&b| byte_needs_escape(b));
        prop_assert_eq!(word_needs_escape(word), by_byte);
    }

    #[test]
    fn nested_values_match(n in node()) {
        same(&n);
    }

    #[test]
    fn numbers_and_keys_match(i in any::<i128>(), u in any::<u64>(), f in any::<f64>(), g in any::<f32>()) {
        same(&(i, u, f, g, i as i8, i as i16, i as i32, u as u8, u as u16, u as u32));
        same(&BTreeMap::from([(i, f)]));
        same(&BTreeMap::from([(u, g)]));
        same(&BTreeMap::from([(format!("{f}"), g)]));
    }
}

#[test]
fn plain_strings_of_every_length_are_copied_whole() {
    // Lengths around each fixed-size copy (4, 8 and 16 bytes) and past it, with every byte
    // different, so a byte written from the wrong place shows.
    let alphabet: Vec<char> = ('a'..='z').chain('A'..='Z').chain('0'..='9').collect();
    for n in 0..=40 {
        let s: String = alphabet[..n].iter().collect();
        same(&s);
        same(&BTreeMap::from([(s.clone(), s.clone())]));
    }
}

#[test]
fn every_byte_in_every_position_of_a_word() {
    for fill in [b'a', 0x20, 0xFF, 0x80, 0x21, 0x5D] {
        for b in 0..=255u8 {
            for pos in 0..8 {
                let mut word = [fill; 8];
                word[pos] = b;
                let want = byte_needs_escape(b);
                assert_eq!(
                    word_needs_escape(u64::from_ne_bytes(word)),
                    want,
                    "{word:?}"
                );
                let len = pos + 1 + usize::from(fill) % 9;
                let s = String::from_utf8_lossy(&[fill; 20][..len]).into_owned();
                let s = format!("{}{}", s, char::from(b));
                same(&s);
            }
        }
    }
}

#[test]
fn extremes_floats_and_odd_keys() {
    same(&(i8::MIN, i16::MIN, i32::MIN, i64::MIN, i128::MIN));
    same(&(u8::MAX, u16::MAX, u32::MAX, u64::MAX, u128::MAX, i128::MAX));
    for f in [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.1,
        1e300,
        5e-324,
        1.0,
    ] {
        same(&f);
        same(&BTreeMap::from([(f.to_bits(), f)]));
        same(&AsMap(vec![(f, 1)]));
        same(&AsMap(vec![(f as f32, 1)]));
    }
    same(&(f32::NAN, f32::MAX, f32::MIN_POSITIVE, 0.1f32));
    same(&BTreeMap::from([(true, 1), (false, 2)]));
    same(&BTreeMap::from([('"', 1), ('x', 2)]));
    same(&BTreeMap::from([(Some(3), 1)]));
    same(&BTreeMap::from([(None::<u8>, 1)]));
    same(&BTreeMap::from([(vec![1], 1)]));
    same(&BTreeMap::from([((), 1)]));
    same(&AsMap(vec![(Node::Unit, 1)]));
    same(&AsMap(vec![(Node::Int(1), 1)]));
    same(&AsMap(vec![(Node::Text("\u{1}".into()), 1)]));
    same(&BTreeMap::<String, u8>::new());
    same(&Vec::<u8>::new());
    same(&((), 'é', "", Some(()), Option::<u8>::None));
    same(&Odd::Bytes(b"\x00\xff"));
    same(&Odd::Bytes(b""));
}

#[test]
fn raw_values_are_copied_and_misuse_fails_as_in_serde_json() {
    let raw = RawValue::from_string("{ \"a\" : [1, 2.50] }".to_string()).expect("raw");
    same(&raw);
    let d = crate::canonical::Decimal::parse("-012.50").expect("decimal");
    same(&d);
    same(&AsMap(vec![(&d, 1)]));
    same(&AsMap(vec![(&raw, 1)]));
    same(&BTreeMap::from([("d", d)]));
    same(&vec![raw.clone(), raw]);
    same(&Odd::Failing);
    same(&Odd::BadRaw);
}

/// Pairs written as a map, for keys that cannot go in a `BTreeMap`.
#[derive(Debug)]
struct AsMap<K, V>(Vec<(K, V)>);
impl<K: Serialize, V: Serialize> Serialize for AsMap<K, V> {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}
/// Values serde derive does not make: bytes, a failing value, a misused raw-value name.
#[derive(Debug)]
enum Odd {
    Bytes(&'static [u8]),
    Failing,
    BadRaw,
}
impl Serialize for Odd {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use ser::SerializeStruct;
        match self {
            Odd::Bytes(b) => s.serialize_bytes(b),
            Odd::Failing => Err(ser::Error::custom("no")),
            Odd::BadRaw => {
                let mut st = s.serialize_struct(RAW_VALUE_TOKEN, 1)?;
                st.serialize_field(RAW_VALUE_TOKEN, &5)?;
                st.end()
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The record path (`records`): the same bytes, without serde.
// ---------------------------------------------------------------------------------------------

/// Asserts the record path writes serde_json's bytes for `value`, after what `out` held.
fn same_record<T: records::WriteJson + Serialize + std::fmt::Debug>(value: &T) {
    let mut out = b"kept|".to_vec();
    value.write(&mut out).expect("record types always write");
    let theirs = serde_json::to_vec(value).expect("serde_json");
    assert_eq!(
        String::from_utf8_lossy(&out[5..]),
        String::from_utf8_lossy(&theirs),
        "{value:?}"
    );
    assert!(out.starts_with(b"kept|"));
}

#[test]
fn every_fixture_record_is_serde_jsons_bytes_on_the_record_path() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/x12");
    let profiles = Profiles::new(Grammars::embedded().expect("grammars"), Policy::Standard);
    let mut count = 0;
    for sub in ["sets", "quirks", "bad"] {
        for entry in std::fs::read_dir(root.join(sub)).expect("fixtures") {
            let path = entry.expect("entry").path();
            let text = std::fs::read(&path).expect("fixture");
            let mut sink = Collect::default();
            let name = path.display().to_string();
            let mut tracker = ControlTracker::default();
            let _ = translate(&name, || Ok(&text[..]), &profiles, &mut tracker, &mut sink);
            for record in &sink.records {
                same_record(record);
                let mut out = Vec::new();
                write_record(&mut out, record).expect("json");
                assert_eq!(out, serde_json::to_vec(record).expect("json"));
            }
            count += sink.records.len();
        }
    }
    assert!(count > 50, "only {count} records");
}

/// A deserializer that only takes the field names a serde derive asks for.
struct FieldNames<'a>(&'a std::cell::Cell<&'static [&'static str]>);

impl<'de> serde::Deserializer<'de> for FieldNames<'_> {
    type Error = serde::de::value::Error;
    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("only a struct's field names"))
    }
    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.set(fields);
        Err(serde::de::Error::custom("field names taken"))
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// The fields of `T` in declaration order, with their JSON names, as its serde derive knows them
/// (for `Record`, those of the `RecordWire` it is read through: the same list).
fn serde_fields<T: for<'de> serde::Deserialize<'de>>() -> &'static [&'static str] {
    let cell = std::cell::Cell::new(&[][..]);
    let _ = T::deserialize(FieldNames(&cell));
    cell.get()
}

#[test]
fn record_path_lists_serdes_fields_in_order() {
    use crate::canonical::record::*;
    use records::Keys;
    macro_rules! check {
        ($($t:ty),*) => {$(
            let theirs = serde_fields::<$t>();
            assert!(!theirs.is_empty(), stringify!($t));
            assert_eq!(<$t as Keys>::KEYS, theirs, stringify!($t));
        )*};
    }
    check!(
        Record,
        Source,
        References,
        Party,
        Address,
        ItemIds,
        Carrier,
        WarehouseOrder,
        OrderDates,
        OrderLine,
        OrderTotals,
        ShipmentAdvice,
        AdviceLine,
        AdviceTotals,
        ShipNotice,
        Packaging,
        NoticeOrder,
        Pack,
        NoticeItem,
        NoticeTotals,
        ShipmentStatus,
        StatusEvent,
        Location,
        Equipment,
        FunctionalAck,
        AckTransaction,
        SegmentError,
        ElementError,
        InterchangeAck
    );
}

#[test]
fn record_path_leaves_out_what_serde_leaves_out() {
    use crate::canonical::record::*;
    // Every record type with nothing in it: each `omit` field is left out and each `keep` field
    // written (an empty list as `[]`), as serde does.
    macro_rules! empty {
        ($($t:ty),*) => {$( same_record(&<$t>::default()); )*};
    }
    empty!(
        References,
        Address,
        ItemIds,
        Carrier,
        WarehouseOrder,
        OrderDates,
        OrderLine,
        OrderTotals,
        ShipmentAdvice,
        AdviceLine,
        AdviceTotals,
        ShipNotice,
        Packaging,
        NoticeOrder,
        Pack,
        NoticeItem,
        NoticeTotals,
        ShipmentStatus,
        Location,
        Equipment,
        FunctionalAck,
        AckTransaction,
        SegmentError,
        ElementError,
        InterchangeAck
    );
    same_record(&Source::new(SourceFormat::Csv));
    same_record(&Party::new(PartyRole::Other));
    same_record(&StatusEvent::new(Milestone::EtaUpdated));
    let mut record = Record::new(
        "".into(),
        "".into(),
        true,
        Source::new(SourceFormat::Fixed),
        References::default(),
        Payload::InterchangeAck(InterchangeAck::default()),
    );
    same_record(&record);
    record.warnings.push("a \"warning\"\n".into());
    same_record(&record);
    same_record(&Some(
        crate::canonical::Decimal::parse("-0.50").expect("decimal"),
    ));
    same_record(&None::<crate::canonical::Decimal>);
    same_record(&None::<Text>);
    same_record(&Some(u64::MAX));
}

/// A 214 record, a 997 and an 856 item built from generated texts (escapes, non-ASCII), numbers
/// and flags; a `None` text leaves its field empty.
fn generated_records(
    texts: Vec<Option<String>>,
    numbers: Vec<Option<u64>>,
    flags: Vec<bool>,
) -> Vec<crate::canonical::record::Record> {
    use crate::canonical::Decimal;
    use crate::canonical::record::*;
    let mut texts = texts.into_iter().cycle();
    let mut t = move || texts.next().flatten().map(Text::from);
    let mut numbers = numbers.into_iter().cycle();
    let mut n = move || numbers.next().flatten();
    let mut d = {
        let mut n = n.clone();
        move || {
            n().map(|v| Decimal::parse(&format!("-{}.{:02}", v / 100, v % 100)).expect("decimal"))
        }
    };
    let mut flags = flags.into_iter().cycle();
    let mut f = move || flags.next().unwrap_or(false);
    let map = |t: &mut dyn FnMut() -> Option<Text>| {
        (0..3)
            .filter_map(|_| Some((t()?, t().unwrap_or_default())))
            .collect()
    };
    let party = |t: &mut dyn FnMut() -> Option<Text>| Party {
        code: t(),
        name: t(),
        id_qualifier: t(),
        id: t(),
        address: Address {
            lines: (0..2).filter_map(|_| t()).collect(),
            city: t(),
            state: t(),
            postal_code: t(),
            country: t(),
        },
        ..Party::new(PartyRole::ShipTo)
    };
    let mut events = Vec::new();
    for milestone in [
        Milestone::InTransit,
        Milestone::Unmapped,
        Milestone::EtaUpdated,
    ] {
        events.push(StatusEvent {
            status_code: t(),
            reason_code: t(),
            appointment_code: t(),
            milestone,
            sub_status: t(),
            exception_reason: t(),
            is_estimate: f(),
            date: t(),
            time: t(),
            time_code: t(),
            at: t(),
            location: Location {
                city: t(),
                state: t(),
                country: t(),
                latitude: d(),
                longitude: d(),
            },
            equipment: Equipment {
                scac: t(),
                number: t(),
            },
            weight: d(),
            weight_uom: t(),
            lading_quantity: d(),
        });
    }
    let mut source = Source::new(SourceFormat::X12);
    source.file = t();
    source.sender = t();
    source.position = n();
    let references = References {
        order_number: t(),
        tracking_numbers: (0..2).filter_map(|_| t()).collect(),
        scac: t(),
        ..References::default()
    };
    let status = ShipmentStatus {
        carrier_reference: t(),
        shipment_id: t(),
        scac: t(),
        references_extra: map(&mut t),
        parties: vec![party(&mut t), party(&mut t)],
        events,
        milestone: f().then_some(Milestone::Delivered),
    };
    let ack = FunctionalAck {
        functional_id: t(),
        group_status: f().then_some(AckStatus::Rejected),
        sets_included: n(),
        group_errors: (0..2).filter_map(|_| t()).collect(),
        transactions: vec![AckTransaction {
            set_id: t(),
            errors: (0..2).filter_map(|_| t()).collect(),
            segment_errors: vec![SegmentError {
                position: n(),
                elements: vec![ElementError {
                    component: n(),
                    bad_value: t(),
                    ..ElementError::default()
                }],
                ..SegmentError::default()
            }],
            ..AckTransaction::default()
        }],
        ..FunctionalAck::default()
    };
    let notice = ShipNotice {
        purpose: f().then_some(Purpose::Replace),
        orders: vec![NoticeOrder {
            purchase_order: t(),
            packs: vec![Pack {
                sscc: t(),
                items: vec![NoticeItem {
                    item: ItemIds {
                        upc: t(),
                        sku: t(),
                        other: map(&mut t),
                        ..ItemIds::default()
                    },
                    quantity_shipped: d(),
                    description: t(),
                    ..NoticeItem::default()
                }],
                ..Pack::default()
            }],
            ..NoticeOrder::default()
        }],
        totals: NoticeTotals {
            hl_count: d(),
            hl_count_actual: n(),
        },
        ..ShipNotice::default()
    };
    let mut record = |payload| {
        let mut r = Record::new(
            "id".into(),
            "partner".into(),
            false,
            source.clone(),
            references.clone(),
            payload,
        );
        r.warnings = (0..2).filter_map(|_| t()).map(String::from).collect();
        r
    };
    vec![
        record(Payload::ShipmentStatus(status)),
        record(Payload::FunctionalAck(ack)),
        record(Payload::ShipNotice(notice)),
    ]
}

proptest! {
    #[test]
    fn generated_records_match_on_the_record_path(
        texts in prop::collection::vec(proptest::option::of(text()), 1..60),
        numbers in prop::collection::vec(proptest::option::of(any::<u64>()), 1..8),
        flags in prop::collection::vec(any::<bool>(), 1..4),
    ) {
        for record in generated_records(texts, numbers, flags) {
            same_record(&record);
        }
    }
}

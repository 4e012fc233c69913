//! Serde types for canonical-v1 records (`/work/shared/contracts/canonical-v1.md`): field names are a public API.
//!
//! Conventions held throughout this file:
//! - Absent scalar data is `None` and is omitted from JSON; nothing is ever written as `""`.
//! - Nested value objects (address, item ids, carrier, totals, dates, location, equipment,
//!   packaging) are plain structs with `Default`; they are omitted when every field is absent.
//! - Collections that are the body of a document (`parties`, `lines`, `events`, `orders`, `packs`,
//!   `items`, `transactions`, `segment_errors`, `elements`, `errors`, `group_errors`) are always
//!   written, possibly as `[]`: an empty list is a fact about the document, not missing data.
//! - Optional keys that happen to be lists or maps (`references.tracking_numbers`,
//!   `references.sscc`, `warnings`, `references_extra`, `dates.other`, `item.other`, address
//!   `lines`, a 945 line's `sscc`) are omitted when empty, as the contract says for references and
//!   warnings.
//! - Derived booleans (`test`, `short_shipped`, `is_estimate`) are always written.
//! - Unknown fields are accepted when reading: v1 may gain optional fields.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use super::decimal::Decimal;

/// Text in a record: short values (most X12 elements) are held inline, without an allocation.
pub type Text = compact_str::CompactString;

/// The value of every record's `schema` field.
pub const SCHEMA_V1: &str = "edigate.canonical/v1";

/// One canonical record: the envelope around a kind-specific payload.
///
/// Invariant: `kind` equals `payload.kind()`; [`Record::new`] sets it, and reading JSON parses the
/// payload by `kind`, so the two cannot disagree in records this crate produces.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// Always [`SCHEMA_V1`].
    pub schema: Text,
    /// Which document this is.
    pub kind: Kind,
    /// Idempotency key: 32 lower-case hex characters (see `canonical::id`).
    pub id: Text,
    /// Partner id from its config file, or `"unknown"`.
    pub partner: Text,
    /// True for test data (ISA15 = `T`).
    pub test: bool,
    /// Where the record came from.
    pub source: Source,
    /// Business keys for correlation.
    pub references: References,
    /// The kind-specific body.
    pub payload: Payload,
    /// Tolerated deviations found in this document.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Record {
    /// Builds a record whose `schema` and `kind` follow from the payload.
    pub fn new(
        id: Text,
        partner: Text,
        test: bool,
        source: Source,
        references: References,
        payload: Payload,
    ) -> Self {
        Record {
            schema: Text::const_new(SCHEMA_V1),
            kind: payload.kind(),
            id,
            partner,
            test,
            source,
            references,
            payload,
            warnings: Vec::new(),
        }
    }
}

/// The envelope as read from JSON, before the payload is parsed by kind.
#[derive(Deserialize)]
struct RecordWire {
    schema: Text,
    kind: Kind,
    id: Text,
    partner: Text,
    test: bool,
    source: Source,
    #[serde(default)]
    references: References,
    payload: Box<RawValue>,
    #[serde(default)]
    warnings: Vec<String>,
}

impl<'de> Deserialize<'de> for Record {
    /// Reads a record from JSON (serde_json only: the payload goes through `RawValue`).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = RecordWire::deserialize(deserializer)?;
        if wire.schema != SCHEMA_V1 {
            return Err(D::Error::custom(format!(
                "schema is {:?}, expected {SCHEMA_V1:?}",
                wire.schema
            )));
        }
        let payload =
            Payload::from_json(wire.kind, wire.payload.get()).map_err(D::Error::custom)?;
        Ok(Record {
            schema: wire.schema,
            kind: wire.kind,
            id: wire.id,
            partner: wire.partner,
            test: wire.test,
            source: wire.source,
            references: wire.references,
            payload,
            warnings: wire.warnings,
        })
    }
}

/// The document kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// 940 Warehouse Shipping Order.
    WarehouseOrder,
    /// 945 Warehouse Shipping Advice.
    ShipmentAdvice,
    /// 856 Ship Notice/Manifest.
    ShipNotice,
    /// 214 Transportation Carrier Shipment Status.
    ShipmentStatus,
    /// 997/999 received.
    FunctionalAck,
    /// TA1 received.
    InterchangeAck,
}

impl Kind {
    /// The snake_case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::WarehouseOrder => "warehouse_order",
            Kind::ShipmentAdvice => "shipment_advice",
            Kind::ShipNotice => "ship_notice",
            Kind::ShipmentStatus => "shipment_status",
            Kind::FunctionalAck => "functional_ack",
            Kind::InterchangeAck => "interchange_ack",
        }
    }
}

/// Input format of the source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceFormat {
    /// An X12 interchange.
    X12,
    /// A partner CSV layout.
    Csv,
    /// A partner fixed-width layout.
    Fixed,
}

/// Where a record came from (contract 1.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// Input format.
    pub format: SourceFormat,
    /// Original file name as received, without directories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<Text>,
    /// SHA-256 of the file bytes as received, lower-case hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_sha256: Option<Text>,
    /// ST01 (X12 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_set: Option<Text>,
    /// GS08, full value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Text>,
    /// ISA05:ISA06, trimmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<Text>,
    /// ISA07:ISA08, trimmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver: Option<Text>,
    /// GS02.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gs_sender: Option<Text>,
    /// GS03.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gs_receiver: Option<Text>,
    /// ISA13 as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interchange_control: Option<Text>,
    /// GS06 as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_control: Option<Text>,
    /// ST02 as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_control: Option<Text>,
    /// ISA09 + ISA10 as a datetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interchange_date: Option<Text>,
    /// 1-based ordinal of this transaction set (or flat record) within the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
}

impl Source {
    /// A source with only the format set.
    pub fn new(format: SourceFormat) -> Self {
        Source {
            format,
            file: None,
            file_sha256: None,
            transaction_set: None,
            version: None,
            sender: None,
            receiver: None,
            gs_sender: None,
            gs_receiver: None,
            interchange_control: None,
            group_control: None,
            transaction_control: None,
            interchange_date: None,
            position: None,
        }
    }
}

/// Business keys present in the document (contract 1.3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct References {
    /// Depositor order number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_number: Option<Text>,
    /// Purchase order number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase_order: Option<Text>,
    /// Shipment id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipment_id: Option<Text>,
    /// Bill of lading number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bill_of_lading: Option<Text>,
    /// Carrier PRO number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pro_number: Option<Text>,
    /// Parcel tracking numbers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tracking_numbers: Vec<Text>,
    /// 18-digit SSCCs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sscc: Vec<Text>,
    /// Carrier SCAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scac: Option<Text>,
    /// Load number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_number: Option<Text>,
    /// Appointment number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appointment_number: Option<Text>,
}

/// A party's role, from N101.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartyRole {
    /// `ST`
    ShipTo,
    /// `SF`
    ShipFrom,
    /// `BT`
    BillTo,
    /// `BY`
    Buyer,
    /// `CN`
    Consignee,
    /// `SH`
    Shipper,
    /// `WH`
    Warehouse,
    /// `DE`
    Depositor,
    /// `SU`
    Supplier,
    /// `VN`
    Vendor,
    /// Any other code (kept in `Party::code`).
    Other,
}

impl PartyRole {
    /// Every role except `Other`, with its N101 code and snake_case name.
    pub const NAMED: [(PartyRole, &'static str, &'static str); 10] = [
        (PartyRole::ShipTo, "ST", "ship_to"),
        (PartyRole::ShipFrom, "SF", "ship_from"),
        (PartyRole::BillTo, "BT", "bill_to"),
        (PartyRole::Buyer, "BY", "buyer"),
        (PartyRole::Consignee, "CN", "consignee"),
        (PartyRole::Shipper, "SH", "shipper"),
        (PartyRole::Warehouse, "WH", "warehouse"),
        (PartyRole::Depositor, "DE", "depositor"),
        (PartyRole::Supplier, "SU", "supplier"),
        (PartyRole::Vendor, "VN", "vendor"),
    ];

    /// Maps an N101 code to its role (`Other` when unknown).
    pub fn from_code(code: &str) -> Self {
        Self::NAMED
            .iter()
            .find(|(_, c, _)| *c == code)
            .map_or(PartyRole::Other, |(role, _, _)| *role)
    }

    /// The N101 code of a named role (`None` for `Other`).
    pub fn code(self) -> Option<&'static str> {
        Self::NAMED
            .iter()
            .find(|(r, _, _)| *r == self)
            .map(|(_, code, _)| *code)
    }

    /// Finds a named role by its snake_case name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::NAMED
            .iter()
            .find(|(_, _, n)| *n == name)
            .map(|(role, _, _)| *role)
    }
}

/// A party (N1 loop).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    /// Normalised role.
    pub role: PartyRole,
    /// Raw N101 code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Text>,
    /// N102.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text>,
    /// N103.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_qualifier: Option<Text>,
    /// N104.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Text>,
    /// N3/N4.
    #[serde(default, skip_serializing_if = "Address::is_empty")]
    pub address: Address,
}

impl Party {
    /// A party with only its role (and the role's code) set.
    pub fn new(role: PartyRole) -> Self {
        Party {
            role,
            code: role.code().map(Text::const_new),
            name: None,
            id_qualifier: None,
            id: None,
            address: Address::default(),
        }
    }
}

/// A postal address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// Street lines in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<Text>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<Text>,
    /// State or province code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Text>,
    /// Postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<Text>,
    /// Country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<Text>,
}

impl Address {
    /// True when no field is present.
    pub fn is_empty(&self) -> bool {
        *self == Address::default()
    }
}

/// Item identifiers from qualifier/ID pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemIds {
    /// `UP`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upc: Option<Text>,
    /// `UK`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtin: Option<Text>,
    /// `EN`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ean: Option<Text>,
    /// `VN`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_item: Option<Text>,
    /// `BP`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_item: Option<Text>,
    /// `SK`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<Text>,
    /// `LT`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot: Option<Text>,
    /// `SN`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<Text>,
    /// Unknown qualifiers: `{"QQ": "value"}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub other: BTreeMap<Text, Text>,
}

impl ItemIds {
    /// True when no id is present.
    pub fn is_empty(&self) -> bool {
        *self == ItemIds::default()
    }
}

/// Carrier details (W66, W27, TD5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Carrier {
    /// SCAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scac: Option<Text>,
    /// Transportation method code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_method: Option<Text>,
    /// Routing text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<Text>,
    /// Shipment payment method code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<Text>,
}

impl Carrier {
    /// True when no field is present.
    pub fn is_empty(&self) -> bool {
        *self == Carrier::default()
    }
}

/// The kind-specific body. Serialized without a tag: the envelope's `kind` says which it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Payload {
    /// 940.
    WarehouseOrder(WarehouseOrder),
    /// 945.
    ShipmentAdvice(ShipmentAdvice),
    /// 856.
    ShipNotice(ShipNotice),
    /// 214.
    ShipmentStatus(ShipmentStatus),
    /// 997/999.
    FunctionalAck(FunctionalAck),
    /// TA1.
    InterchangeAck(InterchangeAck),
}

impl Payload {
    /// The kind this payload belongs to.
    pub fn kind(&self) -> Kind {
        match self {
            Payload::WarehouseOrder(_) => Kind::WarehouseOrder,
            Payload::ShipmentAdvice(_) => Kind::ShipmentAdvice,
            Payload::ShipNotice(_) => Kind::ShipNotice,
            Payload::ShipmentStatus(_) => Kind::ShipmentStatus,
            Payload::FunctionalAck(_) => Kind::FunctionalAck,
            Payload::InterchangeAck(_) => Kind::InterchangeAck,
        }
    }

    /// Parses a payload's JSON text as the given kind.
    pub fn from_json(kind: Kind, json: &str) -> Result<Self, serde_json::Error> {
        Ok(match kind {
            Kind::WarehouseOrder => Payload::WarehouseOrder(serde_json::from_str(json)?),
            Kind::ShipmentAdvice => Payload::ShipmentAdvice(serde_json::from_str(json)?),
            Kind::ShipNotice => Payload::ShipNotice(serde_json::from_str(json)?),
            Kind::ShipmentStatus => Payload::ShipmentStatus(serde_json::from_str(json)?),
            Kind::FunctionalAck => Payload::FunctionalAck(serde_json::from_str(json)?),
            Kind::InterchangeAck => Payload::InterchangeAck(serde_json::from_str(json)?),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// 940 warehouse_order
// ---------------------------------------------------------------------------------------------

/// W0501 mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// `N`
    Original,
    /// `R`
    Change,
    /// `F`
    Cancel,
    /// `C`
    Confirmation,
    /// `D`
    Delete,
    /// Anything else.
    Other,
}

impl OrderStatus {
    /// Maps a W0501 code.
    pub fn from_code(code: &str) -> Self {
        match code {
            "N" => OrderStatus::Original,
            "R" => OrderStatus::Change,
            "F" => OrderStatus::Cancel,
            "C" => OrderStatus::Confirmation,
            "D" => OrderStatus::Delete,
            _ => OrderStatus::Other,
        }
    }
}

/// A 940 warehouse shipping order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WarehouseOrder {
    /// W0501 mapped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<OrderStatus>,
    /// W0501 raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<Text>,
    /// W0502.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_number: Option<Text>,
    /// W0503.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase_order: Option<Text>,
    /// N1 loops.
    #[serde(default)]
    pub parties: Vec<Party>,
    /// N9 qualifier → value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub references_extra: BTreeMap<Text, Text>,
    /// G62 dates.
    #[serde(default, skip_serializing_if = "OrderDates::is_empty")]
    pub dates: OrderDates,
    /// W66.
    #[serde(default, skip_serializing_if = "Carrier::is_empty")]
    pub carrier: Carrier,
    /// LX loops.
    #[serde(default)]
    pub lines: Vec<OrderLine>,
    /// W76.
    #[serde(default, skip_serializing_if = "OrderTotals::is_empty")]
    pub totals: OrderTotals,
}

/// G62 dates of a 940, as `YYYY-MM-DD`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderDates {
    /// Requested ship date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_ship: Option<Text>,
    /// Requested delivery date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_delivery: Option<Text>,
    /// Ship not before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_not_before: Option<Text>,
    /// Ship no later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_no_later: Option<Text>,
    /// Deliver not before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deliver_not_before: Option<Text>,
    /// Deliver no later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deliver_no_later: Option<Text>,
    /// Other G62 qualifiers → date.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub other: BTreeMap<Text, Text>,
}

impl OrderDates {
    /// True when no date is present.
    pub fn is_empty(&self) -> bool {
        *self == OrderDates::default()
    }
}

/// One 940 line (LX loop).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderLine {
    /// LX01 as sent (text: flat files may number lines `001` or `A1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_number: Option<Text>,
    /// W0101.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Decimal>,
    /// W0102.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uom: Option<Text>,
    /// Item ids.
    #[serde(default, skip_serializing_if = "ItemIds::is_empty")]
    pub item: ItemIds,
    /// G69.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Text>,
    /// W0113.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot: Option<Text>,
}

/// W76 totals of a 940.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderTotals {
    /// W7601.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Decimal>,
    /// Weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<Decimal>,
    /// Weight unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_uom: Option<Text>,
    /// Volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<Decimal>,
    /// Volume unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_uom: Option<Text>,
}

impl OrderTotals {
    /// True when no total is present.
    pub fn is_empty(&self) -> bool {
        *self == OrderTotals::default()
    }
}

// ---------------------------------------------------------------------------------------------
// 945 shipment_advice
// ---------------------------------------------------------------------------------------------

/// W1201 mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineStatus {
    /// `CC`
    Complete,
    /// `CP`
    PartialNoBackorder,
    /// `PR`
    Partial,
    /// `BP`
    PartialBackorder,
    /// `CS`
    CompleteSubstituted,
    /// `IS`
    Substituted,
    /// `IC`
    Cancelled,
    /// Anything else.
    Other,
}

impl LineStatus {
    /// Maps a W1201 code.
    pub fn from_code(code: &str) -> Self {
        match code {
            "CC" => LineStatus::Complete,
            "CP" => LineStatus::PartialNoBackorder,
            "PR" => LineStatus::Partial,
            "BP" => LineStatus::PartialBackorder,
            "CS" => LineStatus::CompleteSubstituted,
            "IS" => LineStatus::Substituted,
            "IC" => LineStatus::Cancelled,
            _ => LineStatus::Other,
        }
    }
}

/// A 945 warehouse shipping advice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShipmentAdvice {
    /// W0601.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporting_code: Option<Text>,
    /// W0602.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_number: Option<Text>,
    /// W0603 as `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipped_on: Option<Text>,
    /// W0604.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipment_id: Option<Text>,
    /// W0605.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_shipment_id: Option<Text>,
    /// W0606.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase_order: Option<Text>,
    /// N1 loops.
    #[serde(default)]
    pub parties: Vec<Party>,
    /// N9 qualifier → value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub references_extra: BTreeMap<Text, Text>,
    /// W27.
    #[serde(default, skip_serializing_if = "Carrier::is_empty")]
    pub carrier: Carrier,
    /// LX loops.
    #[serde(default)]
    pub lines: Vec<AdviceLine>,
    /// True when any line's status code is not `CC`.
    #[serde(default)]
    pub short_shipped: bool,
    /// W03.
    #[serde(default, skip_serializing_if = "AdviceTotals::is_empty")]
    pub totals: AdviceTotals,
}

/// One 945 line (W12 in an LX loop).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AdviceLine {
    /// LX01 as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_number: Option<Text>,
    /// W1201 mapped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<LineStatus>,
    /// W1201 raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<Text>,
    /// W1202.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity_ordered: Option<Decimal>,
    /// W1203.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity_shipped: Option<Decimal>,
    /// W1204.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity_difference: Option<Decimal>,
    /// W1205.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uom: Option<Text>,
    /// Item ids.
    #[serde(default, skip_serializing_if = "ItemIds::is_empty")]
    pub item: ItemIds,
    /// W1209.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot: Option<Text>,
    /// MAN GM marks in the LX loop (an LX loop may carry several).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sscc: Vec<Text>,
}

/// W03 totals of a 945.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AdviceTotals {
    /// W0301.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units_shipped: Option<Decimal>,
    /// Weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<Decimal>,
    /// Weight unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_uom: Option<Text>,
    /// Volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<Decimal>,
    /// Volume unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_uom: Option<Text>,
    /// Lading quantity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lading_quantity: Option<Decimal>,
}

impl AdviceTotals {
    /// True when no total is present.
    pub fn is_empty(&self) -> bool {
        *self == AdviceTotals::default()
    }
}

// ---------------------------------------------------------------------------------------------
// 856 ship_notice
// ---------------------------------------------------------------------------------------------

/// BSN01 mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// `00`
    Original,
    /// `01`
    Cancellation,
    /// `05`
    Replace,
    /// `06`
    Confirmation,
    /// `07`
    Duplicate,
    /// Anything else.
    Other,
}

impl Purpose {
    /// Maps a BSN01 code.
    pub fn from_code(code: &str) -> Self {
        match code {
            "00" => Purpose::Original,
            "01" => Purpose::Cancellation,
            "05" => Purpose::Replace,
            "06" => Purpose::Confirmation,
            "07" => Purpose::Duplicate,
            _ => Purpose::Other,
        }
    }
}

/// An 856 ship notice, its HL tree flattened into orders, packs and items.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShipNotice {
    /// BSN01 mapped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<Purpose>,
    /// BSN01 raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose_code: Option<Text>,
    /// BSN02.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipment_id: Option<Text>,
    /// BSN03 + BSN04.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<Text>,
    /// BSN05.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structure_code: Option<Text>,
    /// DTM 011.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipped_at: Option<Text>,
    /// DTM 017.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_delivery: Option<Text>,
    /// TD5.
    #[serde(default, skip_serializing_if = "Carrier::is_empty")]
    pub carrier: Carrier,
    /// TD1.
    #[serde(default, skip_serializing_if = "Packaging::is_empty")]
    pub packaging: Packaging,
    /// N1 loops.
    #[serde(default)]
    pub parties: Vec<Party>,
    /// Order levels.
    #[serde(default)]
    pub orders: Vec<NoticeOrder>,
    /// CTT.
    #[serde(default, skip_serializing_if = "NoticeTotals::is_empty")]
    pub totals: NoticeTotals,
}

/// TD1 of an 856.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Packaging {
    /// TD101.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Text>,
    /// TD102.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lading_quantity: Option<Decimal>,
    /// TD107.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<Decimal>,
    /// TD108.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_uom: Option<Text>,
}

impl Packaging {
    /// True when no field is present.
    pub fn is_empty(&self) -> bool {
        *self == Packaging::default()
    }
}

/// An order level (HL `O`) of an 856.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NoticeOrder {
    /// PRF01.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase_order: Option<Text>,
    /// PRF04 as `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_date: Option<Text>,
    /// Pack levels under this order.
    #[serde(default)]
    pub packs: Vec<Pack>,
    /// Items directly under the order (structure 0004).
    #[serde(default)]
    pub items: Vec<NoticeItem>,
}

/// A pack level (HL `P`) of an 856.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pack {
    /// MAN GM of the pack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sscc: Option<Text>,
    /// MAN GM of the enclosing tare level, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tare_sscc: Option<Text>,
    /// Items in the pack.
    #[serde(default)]
    pub items: Vec<NoticeItem>,
}

/// An item level (HL `I`) of an 856.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NoticeItem {
    /// LIN ids.
    #[serde(default, skip_serializing_if = "ItemIds::is_empty")]
    pub item: ItemIds,
    /// SN102.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity_shipped: Option<Decimal>,
    /// SN103.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uom: Option<Text>,
    /// SN105.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity_ordered: Option<Decimal>,
    /// PID05.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Text>,
}

/// CTT of an 856.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NoticeTotals {
    /// CTT01 as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hl_count: Option<Decimal>,
    /// HL segments actually counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hl_count_actual: Option<u64>,
}

impl NoticeTotals {
    /// True when no field is present.
    pub fn is_empty(&self) -> bool {
        *self == NoticeTotals::default()
    }
}

// ---------------------------------------------------------------------------------------------
// 214 shipment_status
// ---------------------------------------------------------------------------------------------

/// Normalised shipment milestone (contract section 6, x12-reference 5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Milestone {
    /// Carrier has received or acknowledged the load.
    Tendered,
    /// Pickup or delivery appointment set or changed (overlay).
    AppointmentScheduled,
    /// At the pickup dock.
    ArrivedAtPickup,
    /// Loading started or completed.
    Loaded,
    /// Departed pickup with freight.
    PickedUp,
    /// En route.
    InTransit,
    /// On the final delivery vehicle.
    OutForDelivery,
    /// At the consignee.
    ArrivedAtDestination,
    /// Delivery attempt failed.
    DeliveryAttempted,
    /// Delivered (terminal).
    Delivered,
    /// Returned to shipper (terminal).
    ReturnedToShipper,
    /// Cancelled (terminal).
    Cancelled,
    /// Delayed (overlay).
    Delayed,
    /// Damage, refusal, hold (overlay).
    Exception,
    /// ETA update only.
    EtaUpdated,
    /// Known, not meaningful for the timeline.
    Info,
    /// Unknown code: kept, never dropped.
    Unmapped,
}

impl Milestone {
    /// Progress rank from x12-reference 5.1; `None` for overlays and info milestones.
    pub fn rank(self) -> Option<u8> {
        Some(match self {
            Milestone::Tendered => 10,
            Milestone::ArrivedAtPickup => 20,
            Milestone::Loaded => 25,
            Milestone::PickedUp => 30,
            Milestone::InTransit => 40,
            Milestone::OutForDelivery => 50,
            Milestone::ArrivedAtDestination => 60,
            Milestone::DeliveryAttempted => 65,
            Milestone::Delivered => 90,
            Milestone::ReturnedToShipper => 95,
            Milestone::Cancelled => 99,
            _ => return None,
        })
    }

    /// Delivered, returned to shipper and cancelled are sticky.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Milestone::Delivered | Milestone::ReturnedToShipper | Milestone::Cancelled
        )
    }

    /// One step of the state rules (x12-reference 5.1): the highest-ranked progress milestone
    /// wins, terminal states stick, and `delivery_attempted` may fall back to `in_transit` or
    /// `out_for_delivery`. Overlays and info events leave the state as it is.
    pub fn advance(current: Option<Milestone>, event: Milestone) -> Option<Milestone> {
        let Some(event_rank) = event.rank() else {
            return current;
        };
        let Some(cur) = current else {
            return Some(event);
        };
        if cur.is_terminal() {
            return Some(cur);
        }
        let retry = cur == Milestone::DeliveryAttempted
            && matches!(event, Milestone::InTransit | Milestone::OutForDelivery);
        match cur.rank() {
            Some(cur_rank) if event_rank < cur_rank && !retry => Some(cur),
            _ => Some(event),
        }
    }
}

/// Resolves an AT701 status code (and AT702 reason, when sent) to a milestone. The X12 engine
/// plugs in the default table of x12-reference 5.2 plus partner overrides; [`NoMilestones`]
/// maps everything to `unmapped`. Any `Fn(&str, Option<&str>) -> Milestone` is a lookup.
pub trait MilestoneLookup {
    /// The milestone for a status code and optional reason code.
    fn milestone(&self, status_code: &str, reason_code: Option<&str>) -> Milestone;

    /// Everything an event's codes mean. The default knows only [`Self::milestone`]: no
    /// sub-status or exception reason, an estimate only for `eta_updated`, and no milestone
    /// without a status code.
    fn meaning(
        &self,
        status_code: Option<&str>,
        reason_code: Option<&str>,
        _appointment_code: Option<&str>,
    ) -> EventMeaning {
        let milestone = status_code.map_or(Milestone::Unmapped, |s| self.milestone(s, reason_code));
        EventMeaning {
            milestone,
            sub_status: None,
            exception_reason: None,
            is_estimate: milestone == Milestone::EtaUpdated,
            ignored: false,
        }
    }

    /// The zone of event times that state none (the partner's `timezone`); `None` leaves such
    /// times without an offset.
    fn default_timezone(&self) -> Option<chrono_tz::Tz> {
        None
    }
}

/// What one status event's codes mean (see [`MilestoneLookup::meaning`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMeaning {
    /// The event's milestone.
    pub milestone: Milestone,
    /// Detail recorded beside it.
    pub sub_status: Option<Text>,
    /// The exception reason (the reason code, or an override's).
    pub exception_reason: Option<Text>,
    /// The event's time is an estimate or appointment, not when something happened.
    pub is_estimate: bool,
    /// A partner override keeps the event off the shipment's timeline.
    pub ignored: bool,
}

/// A lookup that knows no codes: every event is `unmapped` (kept, never dropped).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMilestones;

impl MilestoneLookup for NoMilestones {
    fn milestone(&self, _status_code: &str, _reason_code: Option<&str>) -> Milestone {
        Milestone::Unmapped
    }
}

impl<F: Fn(&str, Option<&str>) -> Milestone> MilestoneLookup for F {
    fn milestone(&self, status_code: &str, reason_code: Option<&str>) -> Milestone {
        self(status_code, reason_code)
    }
}

/// A 214 carrier shipment status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShipmentStatus {
    /// B1001, usually the PRO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier_reference: Option<Text>,
    /// B1002.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipment_id: Option<Text>,
    /// B1003.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scac: Option<Text>,
    /// L11 qualifier → value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub references_extra: BTreeMap<Text, Text>,
    /// N1 loops.
    #[serde(default)]
    pub parties: Vec<Party>,
    /// Status events in document order.
    #[serde(default)]
    pub events: Vec<StatusEvent>,
    /// Current milestone after applying the events by the state rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub milestone: Option<Milestone>,
}

/// One AT7 status event with its MS1/MS2/AT8 details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusEvent {
    /// AT701.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<Text>,
    /// AT702.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<Text>,
    /// AT703.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appointment_code: Option<Text>,
    /// Normalised milestone (`unmapped` when the code is unknown).
    pub milestone: Milestone,
    /// Detail from the mapping table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_status: Option<Text>,
    /// Exception reason from the mapping table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception_reason: Option<Text>,
    /// True for estimated times (ETA updates).
    #[serde(default)]
    pub is_estimate: bool,
    /// AT705 as `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<Text>,
    /// AT706 as `HH:MM[:SS]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Text>,
    /// AT707 raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_code: Option<Text>,
    /// Date and time combined: `YYYY-MM-DDTHH:MM[:SS]` plus an offset when the zone is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Text>,
    /// MS1.
    #[serde(default, skip_serializing_if = "Location::is_empty")]
    pub location: Location,
    /// MS2.
    #[serde(default, skip_serializing_if = "Equipment::is_empty")]
    pub equipment: Equipment,
    /// AT801 weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<Decimal>,
    /// Weight unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_uom: Option<Text>,
    /// Lading quantity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lading_quantity: Option<Decimal>,
}

impl StatusEvent {
    /// An event with only its milestone set.
    pub fn new(milestone: Milestone) -> Self {
        StatusEvent {
            status_code: None,
            reason_code: None,
            appointment_code: None,
            milestone,
            sub_status: None,
            exception_reason: None,
            is_estimate: milestone == Milestone::EtaUpdated,
            date: None,
            time: None,
            time_code: None,
            at: None,
            location: Location::default(),
            equipment: Equipment::default(),
            weight: None,
            weight_uom: None,
            lading_quantity: None,
        }
    }
}

/// MS1 event location.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<Text>,
    /// State or province.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Text>,
    /// Country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<Text>,
    /// Latitude in decimal degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latitude: Option<Decimal>,
    /// Longitude in decimal degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longitude: Option<Decimal>,
}

impl Location {
    /// True when no field is present.
    pub fn is_empty(&self) -> bool {
        *self == Location::default()
    }
}

/// MS2 equipment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Equipment {
    /// Equipment owner SCAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scac: Option<Text>,
    /// Equipment (trailer) number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<Text>,
}

impl Equipment {
    /// True when no field is present.
    pub fn is_empty(&self) -> bool {
        *self == Equipment::default()
    }
}

// ---------------------------------------------------------------------------------------------
// 997/999 functional_ack and TA1 interchange_ack
// ---------------------------------------------------------------------------------------------

/// AK901 / AK501 / TA104 mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckStatus {
    /// `A`
    Accepted,
    /// `E`
    AcceptedWithErrors,
    /// `P`
    PartiallyAccepted,
    /// `R`
    Rejected,
    /// Anything else.
    Other,
}

impl AckStatus {
    /// Maps an AK901/AK501/TA104 code.
    pub fn from_code(code: &str) -> Self {
        match code {
            "A" => AckStatus::Accepted,
            "E" => AckStatus::AcceptedWithErrors,
            "P" => AckStatus::PartiallyAccepted,
            "R" => AckStatus::Rejected,
            _ => AckStatus::Other,
        }
    }
}

/// A received 997/999.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionalAck {
    /// AK101.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub functional_id: Option<Text>,
    /// AK102.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_control: Option<Text>,
    /// AK103.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Text>,
    /// AK901 mapped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_status: Option<AckStatus>,
    /// AK901 raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_status_code: Option<Text>,
    /// AK902.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sets_included: Option<u64>,
    /// AK903.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sets_received: Option<u64>,
    /// AK904.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sets_accepted: Option<u64>,
    /// AK905..AK909.
    #[serde(default)]
    pub group_errors: Vec<Text>,
    /// AK2 loops.
    #[serde(default)]
    pub transactions: Vec<AckTransaction>,
}

/// One AK2 loop.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckTransaction {
    /// AK201.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_id: Option<Text>,
    /// AK202.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<Text>,
    /// AK501 (IK501) mapped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AckStatus>,
    /// AK501 raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<Text>,
    /// AK502..AK506.
    #[serde(default)]
    pub errors: Vec<Text>,
    /// AK3 (IK3) loops.
    #[serde(default)]
    pub segment_errors: Vec<SegmentError>,
}

/// One AK3 loop.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentError {
    /// AK301.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_id: Option<Text>,
    /// AK302.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
    /// AK303.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loop_id: Option<Text>,
    /// AK304.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Text>,
    /// AK4 (IK4) entries.
    #[serde(default)]
    pub elements: Vec<ElementError>,
}

/// One AK4 entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElementError {
    /// AK401-1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
    /// AK401-2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<u64>,
    /// AK402.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub element_ref: Option<Text>,
    /// AK403.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Text>,
    /// AK404.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bad_value: Option<Text>,
}

/// A received TA1.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterchangeAck {
    /// TA101.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interchange_control: Option<Text>,
    /// TA102 as `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<Text>,
    /// TA103 as `HH:MM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Text>,
    /// TA104 mapped (`partially_accepted` does not occur in TA1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AckStatus>,
    /// TA104 raw (kept beside the mapped value, as for every other code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<Text>,
    /// TA105.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note_code: Option<Text>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        Decimal::parse(text).unwrap()
    }

    fn x12_source(set: &str) -> Source {
        Source {
            file: Some("IN_20260105.edi".into()),
            file_sha256: Some("ab".repeat(32).into()),
            transaction_set: Some(set.into()),
            version: Some("004010".into()),
            sender: Some("ZZ:ACME3PL".into()),
            receiver: Some("ZZ:SHIPPERCO".into()),
            gs_sender: Some("ACME3PL".into()),
            gs_receiver: Some("SHIPPERCO".into()),
            interchange_control: Some("000000905".into()),
            group_control: Some("905".into()),
            transaction_control: Some("0001".into()),
            interchange_date: Some("2026-01-05T14:30".into()),
            position: Some(1),
            ..Source::new(SourceFormat::X12)
        }
    }

    fn record(payload: Payload, set: &str) -> Record {
        Record::new(
            "0123456789abcdef0123456789abcdef".into(),
            "acme".into(),
            false,
            x12_source(set),
            References {
                order_number: Some("SO1".into()),
                tracking_numbers: vec!["1Z999".into()],
                sscc: vec!["000123456789012345".into()],
                ..References::default()
            },
            payload,
        )
    }

    fn ship_to() -> Party {
        Party {
            name: Some("Store 12".into()),
            id_qualifier: Some("92".into()),
            id: Some("0012".into()),
            address: Address {
                lines: vec!["1 Main St".into()],
                city: Some("Austin".into()),
                state: Some("TX".into()),
                postal_code: Some("78701".into()),
                country: Some("US".into()),
            },
            ..Party::new(PartyRole::ShipTo)
        }
    }

    fn items() -> ItemIds {
        ItemIds {
            upc: Some("012345678905".into()),
            vendor_item: Some("V-1".into()),
            other: BTreeMap::from([("ZZ".into(), "X".into())]),
            ..ItemIds::default()
        }
    }

    /// Serializes, checks the text, parses back and checks equality.
    fn round_trip(rec: &Record, want_payload: &str) {
        let json = serde_json::to_string(rec).unwrap();
        let mut fast = Vec::new();
        crate::canonical::json::write_record(&mut fast, rec).unwrap();
        assert_eq!(
            String::from_utf8(fast).unwrap(),
            json,
            "the NDJSON writer's record path"
        );
        let envelope = format!(
            concat!(
                r#"{{"schema":"edigate.canonical/v1","kind":"{kind}","id":"0123456789abcdef0123456789abcdef","#,
                r#""partner":"acme","test":false,"source":{{"format":"x12","file":"IN_20260105.edi","#,
                r#""file_sha256":"{sha}","transaction_set":"{set}","version":"004010","sender":"ZZ:ACME3PL","#,
                r#""receiver":"ZZ:SHIPPERCO","gs_sender":"ACME3PL","gs_receiver":"SHIPPERCO","#,
                r#""interchange_control":"000000905","group_control":"905","transaction_control":"0001","#,
                r#""interchange_date":"2026-01-05T14:30","position":1}},"#,
                r#""references":{{"order_number":"SO1","tracking_numbers":["1Z999"],"sscc":["000123456789012345"]}},"#,
                r#""payload":{payload}}}"#
            ),
            kind = rec.kind.as_str(),
            sha = "ab".repeat(32),
            set = rec.source.transaction_set.as_deref().unwrap_or_default(),
            payload = want_payload,
        );
        assert_eq!(json, envelope);
        let back: Record = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, rec);
    }

    const PARTY_JSON: &str = r#"{"role":"ship_to","code":"ST","name":"Store 12","id_qualifier":"92","id":"0012","address":{"lines":["1 Main St"],"city":"Austin","state":"TX","postal_code":"78701","country":"US"}}"#;
    const ITEM_JSON: &str = r#"{"upc":"012345678905","vendor_item":"V-1","other":{"ZZ":"X"}}"#;

    #[test]
    fn warehouse_order_round_trip_has_contract_names() {
        let payload = WarehouseOrder {
            status: Some(OrderStatus::Original),
            status_code: Some("N".into()),
            order_number: Some("SO1".into()),
            purchase_order: Some("PO9".into()),
            parties: vec![ship_to()],
            references_extra: BTreeMap::from([("DP".into(), "42".into())]),
            dates: OrderDates {
                requested_ship: Some("2026-01-06".into()),
                other: BTreeMap::from([("99".into(), "2026-01-09".into())]),
                ..OrderDates::default()
            },
            carrier: Carrier {
                scac: Some("UPSN".into()),
                transport_method: Some("M".into()),
                routing: Some("UPS GROUND".into()),
                payment_method: Some("PP".into()),
            },
            lines: vec![OrderLine {
                line_number: Some("1".into()),
                quantity: Some(dec("12")),
                uom: Some("EA".into()),
                item: items(),
                description: Some("Widget".into()),
                lot: Some("L1".into()),
            }],
            totals: OrderTotals {
                quantity: Some(dec("12")),
                weight: Some(dec("30.5")),
                weight_uom: Some("LB".into()),
                volume: Some(dec("0.1")),
                volume_uom: Some("CF".into()),
            },
        };
        let want = format!(
            concat!(
                r#"{{"status":"original","status_code":"N","order_number":"SO1","purchase_order":"PO9","#,
                r#""parties":[{party}],"references_extra":{{"DP":"42"}},"#,
                r#""dates":{{"requested_ship":"2026-01-06","other":{{"99":"2026-01-09"}}}},"#,
                r#""carrier":{{"scac":"UPSN","transport_method":"M","routing":"UPS GROUND","payment_method":"PP"}},"#,
                r#""lines":[{{"line_number":"1","quantity":12,"uom":"EA","item":{item},"description":"Widget","lot":"L1"}}],"#,
                r#""totals":{{"quantity":12,"weight":30.5,"weight_uom":"LB","volume":0.1,"volume_uom":"CF"}}}}"#
            ),
            party = PARTY_JSON,
            item = ITEM_JSON
        );
        round_trip(&record(Payload::WarehouseOrder(payload), "940"), &want);
    }

    #[test]
    fn shipment_advice_round_trip_has_contract_names() {
        let payload = ShipmentAdvice {
            reporting_code: Some("F".into()),
            order_number: Some("SO1".into()),
            shipped_on: Some("2026-01-07".into()),
            shipment_id: Some("SH1".into()),
            agent_shipment_id: Some("AG1".into()),
            purchase_order: Some("PO9".into()),
            parties: vec![],
            references_extra: BTreeMap::new(),
            carrier: Carrier {
                scac: Some("RDWY".into()),
                ..Carrier::default()
            },
            lines: vec![AdviceLine {
                line_number: Some("1".into()),
                status: Some(LineStatus::Partial),
                status_code: Some("PR".into()),
                quantity_ordered: Some(dec("10")),
                quantity_shipped: Some(dec("8")),
                quantity_difference: Some(dec("2")),
                uom: Some("CA".into()),
                item: ItemIds {
                    sku: Some("S1".into()),
                    ..ItemIds::default()
                },
                lot: None,
                sscc: vec!["000123456789012345".into()],
            }],
            short_shipped: true,
            totals: AdviceTotals {
                units_shipped: Some(dec("8")),
                lading_quantity: Some(dec("1")),
                ..AdviceTotals::default()
            },
        };
        let want = concat!(
            r#"{"reporting_code":"F","order_number":"SO1","shipped_on":"2026-01-07","shipment_id":"SH1","#,
            r#""agent_shipment_id":"AG1","purchase_order":"PO9","parties":[],"carrier":{"scac":"RDWY"},"#,
            r#""lines":[{"line_number":"1","status":"partial","status_code":"PR","quantity_ordered":10,"#,
            r#""quantity_shipped":8,"quantity_difference":2,"uom":"CA","item":{"sku":"S1"},"sscc":["000123456789012345"]}],"#,
            r#""short_shipped":true,"totals":{"units_shipped":8,"lading_quantity":1}}"#
        );
        round_trip(&record(Payload::ShipmentAdvice(payload), "945"), want);
    }

    #[test]
    fn ship_notice_round_trip_has_contract_names() {
        let item = NoticeItem {
            item: items(),
            quantity_shipped: Some(dec("6")),
            uom: Some("EA".into()),
            quantity_ordered: Some(dec("6")),
            description: Some("Widget".into()),
        };
        let payload = ShipNotice {
            purpose: Some(Purpose::Original),
            purpose_code: Some("00".into()),
            shipment_id: Some("SH1".into()),
            issued_at: Some("2026-01-05T14:30".into()),
            structure_code: Some("0001".into()),
            shipped_at: Some("2026-01-05T15:00".into()),
            estimated_delivery: Some("2026-01-08T00:00".into()),
            carrier: Carrier::default(),
            packaging: Packaging {
                code: Some("CTN25".into()),
                lading_quantity: Some(dec("2")),
                weight: Some(dec("40.25")),
                weight_uom: Some("LB".into()),
            },
            parties: vec![],
            orders: vec![NoticeOrder {
                purchase_order: Some("PO9".into()),
                order_date: Some("2026-01-01".into()),
                packs: vec![Pack {
                    sscc: Some("000123456789012345".into()),
                    tare_sscc: Some("000123456789099999".into()),
                    items: vec![item.clone()],
                }],
                items: vec![],
            }],
            totals: NoticeTotals {
                hl_count: Some(dec("3")),
                hl_count_actual: Some(3),
            },
        };
        let want = format!(
            concat!(
                r#"{{"purpose":"original","purpose_code":"00","shipment_id":"SH1","issued_at":"2026-01-05T14:30","#,
                r#""structure_code":"0001","shipped_at":"2026-01-05T15:00","estimated_delivery":"2026-01-08T00:00","#,
                r#""packaging":{{"code":"CTN25","lading_quantity":2,"weight":40.25,"weight_uom":"LB"}},"parties":[],"#,
                r#""orders":[{{"purchase_order":"PO9","order_date":"2026-01-01","packs":[{{"sscc":"000123456789012345","#,
                r#""tare_sscc":"000123456789099999","items":[{{"item":{item},"quantity_shipped":6,"uom":"EA","#,
                r#""quantity_ordered":6,"description":"Widget"}}]}}],"items":[]}}],"#,
                r#""totals":{{"hl_count":3,"hl_count_actual":3}}}}"#
            ),
            item = ITEM_JSON
        );
        round_trip(&record(Payload::ShipNotice(payload), "856"), &want);
    }

    #[test]
    fn shipment_status_round_trip_has_contract_names() {
        let event = StatusEvent {
            status_code: Some("X6".into()),
            reason_code: Some("NS".into()),
            appointment_code: Some("AA".into()),
            sub_status: Some("en_route".into()),
            date: Some("2026-01-05".into()),
            time: Some("14:30".into()),
            time_code: Some("CT".into()),
            at: Some("2026-01-05T14:30-06:00".into()),
            location: Location {
                city: Some("Dallas".into()),
                state: Some("TX".into()),
                country: Some("US".into()),
                latitude: Some(dec("32.7767")),
                longitude: Some(dec("-96.7970")),
            },
            equipment: Equipment {
                scac: Some("ODFL".into()),
                number: Some("TRL123".into()),
            },
            weight: Some(dec("1200.5")),
            weight_uom: Some("L".into()),
            lading_quantity: Some(dec("4")),
            ..StatusEvent::new(Milestone::InTransit)
        };
        let payload = ShipmentStatus {
            carrier_reference: Some("PRO1".into()),
            shipment_id: Some("SH1".into()),
            scac: Some("ODFL".into()),
            references_extra: BTreeMap::from([("BM".into(), "BOL1".into())]),
            parties: vec![],
            events: vec![event],
            milestone: Some(Milestone::InTransit),
        };
        let want = concat!(
            r#"{"carrier_reference":"PRO1","shipment_id":"SH1","scac":"ODFL","references_extra":{"BM":"BOL1"},"#,
            r#""parties":[],"events":[{"status_code":"X6","reason_code":"NS","appointment_code":"AA","#,
            r#""milestone":"in_transit","sub_status":"en_route","is_estimate":false,"date":"2026-01-05","#,
            r#""time":"14:30","time_code":"CT","at":"2026-01-05T14:30-06:00","location":{"city":"Dallas","#,
            r#""state":"TX","country":"US","latitude":32.7767,"longitude":-96.7970},"#,
            r#""equipment":{"scac":"ODFL","number":"TRL123"},"weight":1200.5,"weight_uom":"L","lading_quantity":4}],"#,
            r#""milestone":"in_transit"}"#
        );
        round_trip(&record(Payload::ShipmentStatus(payload), "214"), want);
    }

    #[test]
    fn functional_ack_round_trip_has_contract_names() {
        let payload = FunctionalAck {
            functional_id: Some("SH".into()),
            group_control: Some("905".into()),
            version: Some("004010".into()),
            group_status: Some(AckStatus::PartiallyAccepted),
            group_status_code: Some("P".into()),
            sets_included: Some(2),
            sets_received: Some(2),
            sets_accepted: Some(1),
            group_errors: vec!["5".into()],
            transactions: vec![AckTransaction {
                set_id: Some("856".into()),
                control: Some("0001".into()),
                status: Some(AckStatus::Rejected),
                status_code: Some("R".into()),
                errors: vec!["5".into()],
                segment_errors: vec![SegmentError {
                    segment_id: Some("HL".into()),
                    position: Some(7),
                    loop_id: Some("HL".into()),
                    code: Some("8".into()),
                    elements: vec![ElementError {
                        position: Some(2),
                        component: Some(1),
                        element_ref: Some("734".into()),
                        code: Some("7".into()),
                        bad_value: Some("X".into()),
                    }],
                }],
            }],
        };
        let want = concat!(
            r#"{"functional_id":"SH","group_control":"905","version":"004010","group_status":"partially_accepted","#,
            r#""group_status_code":"P","sets_included":2,"sets_received":2,"sets_accepted":1,"group_errors":["5"],"#,
            r#""transactions":[{"set_id":"856","control":"0001","status":"rejected","status_code":"R","errors":["5"],"#,
            r#""segment_errors":[{"segment_id":"HL","position":7,"loop_id":"HL","code":"8","elements":[{"position":2,"#,
            r#""component":1,"element_ref":"734","code":"7","bad_value":"X"}]}]}]}"#
        );
        round_trip(&record(Payload::FunctionalAck(payload), "997"), want);
    }

    #[test]
    fn interchange_ack_round_trip_has_contract_names() {
        let payload = InterchangeAck {
            interchange_control: Some("000000905".into()),
            date: Some("2026-01-05".into()),
            time: Some("14:30".into()),
            status: Some(AckStatus::AcceptedWithErrors),
            status_code: Some("E".into()),
            note_code: Some("000".into()),
        };
        let want = concat!(
            r#"{"interchange_control":"000000905","date":"2026-01-05","time":"14:30","#,
            r#""status":"accepted_with_errors","status_code":"E","note_code":"000"}"#
        );
        let mut rec = record(Payload::InterchangeAck(payload), "TA1");
        rec.source.transaction_set = None;
        let json = serde_json::to_string(&rec).unwrap();
        assert!(json.contains(&format!(r#""payload":{want}}}"#)), "{json}");
        assert!(!json.contains("warnings"));
        let back: Record = serde_json::from_str(&json).unwrap();
        assert_eq!(back, rec);
    }

    #[test]
    fn warnings_are_written_only_when_present() {
        let mut rec = record(Payload::ShipmentStatus(ShipmentStatus::default()), "214");
        rec.warnings
            .push("SE01 counts 12 segments, actual 13".into());
        let json = serde_json::to_string(&rec).unwrap();
        assert!(json.ends_with(r#""warnings":["SE01 counts 12 segments, actual 13"]}"#));
    }

    #[test]
    fn reading_refuses_other_schema_and_parses_payload_by_kind() {
        let rec = record(Payload::ShipmentStatus(ShipmentStatus::default()), "214");
        let json = serde_json::to_string(&rec).unwrap();
        let other = json.replace("canonical/v1", "canonical/v2");
        assert!(serde_json::from_str::<Record>(&other).is_err());
        // The same empty payload read as another kind becomes that kind.
        let as_order = json.replace("shipment_status", "warehouse_order");
        let back: Record = serde_json::from_str(&as_order).unwrap();
        assert_eq!(back.payload.kind(), Kind::WarehouseOrder);
    }

    #[test]
    fn milestone_names_are_the_seventeen_of_the_contract() {
        let all = [
            Milestone::Tendered,
            Milestone::AppointmentScheduled,
            Milestone::ArrivedAtPickup,
            Milestone::Loaded,
            Milestone::PickedUp,
            Milestone::InTransit,
            Milestone::OutForDelivery,
            Milestone::ArrivedAtDestination,
            Milestone::DeliveryAttempted,
            Milestone::Delivered,
            Milestone::ReturnedToShipper,
            Milestone::Cancelled,
            Milestone::Delayed,
            Milestone::Exception,
            Milestone::EtaUpdated,
            Milestone::Info,
            Milestone::Unmapped,
        ];
        let names = serde_json::to_string(&all).unwrap();
        assert_eq!(
            names,
            concat!(
                r#"["tendered","appointment_scheduled","arrived_at_pickup","loaded","picked_up","#,
                r#""in_transit","out_for_delivery","arrived_at_destination","delivery_attempted","#,
                r#""delivered","returned_to_shipper","cancelled","delayed","exception","eta_updated","#,
                r#""info","unmapped"]"#
            )
        );
    }

    #[test]
    fn milestone_state_rules() {
        use Milestone::*;
        let run = |events: &[Milestone]| events.iter().fold(None, |s, e| Milestone::advance(s, *e));
        assert_eq!(run(&[PickedUp, InTransit, Delayed]), Some(InTransit));
        assert_eq!(run(&[InTransit, PickedUp]), Some(InTransit));
        assert_eq!(
            run(&[DeliveryAttempted, OutForDelivery]),
            Some(OutForDelivery)
        );
        assert_eq!(run(&[Delivered, InTransit]), Some(Delivered));
        assert_eq!(run(&[Info, Unmapped]), None);
    }

    #[test]
    fn code_maps() {
        assert_eq!(PartyRole::from_code("ST"), PartyRole::ShipTo);
        assert_eq!(PartyRole::from_code("ZZ"), PartyRole::Other);
        assert_eq!(LineStatus::from_code("IC"), LineStatus::Cancelled);
        assert_eq!(Purpose::from_code("05"), Purpose::Replace);
        assert_eq!(OrderStatus::from_code("F"), OrderStatus::Cancel);
        assert_eq!(AckStatus::from_code("X"), AckStatus::Other);
    }
}

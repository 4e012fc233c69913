//! Partner flat-file layouts: the `[[flat]]` config a partner file embeds, its validation, and the target paths it may map to.
//!
//! A layout is checked once, without side effects, by [`FlatLayout::from_config`], which reports
//! every problem at once; parsing only ever sees a validated [`FlatLayout`].
//!
//! # Target paths
//! Record-level targets (one value per record; in a group, the first row's value is kept and a
//! different later value adds a warning to the record):
//! - all kinds: `references.order_number`, `references.purchase_order`,
//!   `references.shipment_id`, `references.bill_of_lading`, `references.pro_number`,
//!   `references.tracking_numbers` (values of all rows collected), `references.sscc` (same,
//!   SSCC), `references.scac`, `references.load_number`, `references.appointment_number`,
//!   `references_extra.<QUALIFIER>` (1–3 upper-case letters or digits),
//!   `party.<role>.<field>` with role one of `ship_to ship_from bill_to buyer consignee shipper
//!   warehouse depositor supplier vendor` and field one of `name id id_qualifier
//!   address.line1`..`address.line4` `address.city address.state address.postal_code
//!   address.country`.
//! - `warehouse_order`: `payload.status_code`, `payload.order_number`,
//!   `payload.purchase_order`, `payload.dates.{requested_ship, requested_delivery,
//!   ship_not_before, ship_no_later, deliver_not_before, deliver_no_later}` (date),
//!   `payload.carrier.{scac, transport_method, routing, payment_method}`,
//!   `payload.totals.{quantity, weight, volume}` (decimal), `payload.totals.{weight_uom,
//!   volume_uom}`.
//! - `shipment_advice`: `payload.reporting_code`, `payload.order_number`, `payload.shipped_on`
//!   (date), `payload.shipment_id`, `payload.agent_shipment_id`, `payload.purchase_order`,
//!   `payload.carrier.*` as above, `payload.totals.{units_shipped, weight, volume,
//!   lading_quantity}` (decimal), `payload.totals.{weight_uom, volume_uom}`.
//! - `shipment_status`: `payload.carrier_reference`, `payload.shipment_id`, `payload.scac`.
//!
//! Line-level targets (each row adds one line or event when it has any of them):
//! - `warehouse_order` lines: `line.line_number`, `line.quantity` (decimal), `line.uom`,
//!   `line.description`, `line.lot`, `line.item.{upc, gtin, ean, vendor_item, buyer_item, sku,
//!   lot, serial}`.
//! - `shipment_advice` lines: `line.line_number`, `line.status_code`,
//!   `line.quantity_ordered`, `line.quantity_shipped`, `line.quantity_difference` (decimal),
//!   `line.uom`, `line.lot`, `line.sscc` (SSCC), `line.item.*` as above.
//! - `shipment_status` events: `event.status_code`, `event.reason_code`,
//!   `event.appointment_code`, `event.date` (date), `event.time` (time), `event.time_code`,
//!   `event.at` (datetime), `event.location.{city, state, country}`,
//!   `event.location.{latitude, longitude}` (decimal), `event.equipment.{scac, number}`,
//!   `event.weight` (decimal), `event.weight_uom`, `event.lading_quantity` (decimal).
//!
//! Value types: text is trimmed, and empty means absent. Decimals follow the column's
//! `decimal_separator`, `implied_decimals` and `trailing_minus`. Dates, times and datetimes use
//! the column's chrono `format` (defaults `%Y-%m-%d`, `%H:%M`, `%Y-%m-%dT%H:%M`); a datetime
//! format with `%z` keeps the offset. An SSCC is 18 digits (20 with the `00` prefix are cut to 18).

use std::collections::HashSet;
use std::fmt::Write as _;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use serde::Deserialize;

use crate::canonical::{DecimalSyntax, Kind, PartyRole};

/// Input format of a layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlatFormat {
    /// Delimited text.
    Csv,
    /// Fixed-width text lines.
    Fixed,
}

/// The canonical kinds a flat layout can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlatKind {
    /// Carrier status events (like a 214).
    ShipmentStatus,
    /// Warehouse shipping advice (like a 945).
    ShipmentAdvice,
    /// Warehouse shipping order (like a 940).
    WarehouseOrder,
}

impl FlatKind {
    /// The canonical record kind.
    pub fn kind(self) -> Kind {
        match self {
            FlatKind::ShipmentStatus => Kind::ShipmentStatus,
            FlatKind::ShipmentAdvice => Kind::ShipmentAdvice,
            FlatKind::WarehouseOrder => Kind::WarehouseOrder,
        }
    }
}

/// Text encoding of a flat file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum FlatEncoding {
    /// UTF-8 (a leading byte-order mark is ignored).
    #[default]
    #[serde(rename = "utf-8")]
    Utf8,
    /// ISO-8859-1: every byte is one character.
    #[serde(rename = "latin1")]
    Latin1,
}

/// What a bad row inside a group does to the group's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BadRowPolicy {
    /// No record for the group (a short order is worse than none); every error is reported.
    #[default]
    RejectGroup,
    /// The record is produced without the bad row, with a warning naming it.
    DropRow,
}

/// One `[[flat]]` layout as written in a partner's config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlatLayoutConfig {
    /// Name of the layout, shown in errors and logs (e.g. `"acme_status_csv"`).
    pub name: String,
    /// `"csv"` or `"fixed"`.
    pub format: FlatFormat,
    /// Record kind produced: `"shipment_status"`, `"shipment_advice"` or `"warehouse_order"`.
    pub kind: FlatKind,
    /// Text encoding: `"utf-8"` (default) or `"latin1"`.
    #[serde(default)]
    pub encoding: FlatEncoding,
    /// CSV options; only for `format = "csv"` (defaults apply when absent).
    #[serde(default)]
    pub csv: Option<CsvConfig>,
    /// Fixed-width options; only for `format = "fixed"`.
    #[serde(default)]
    pub fixed: Option<FixedConfig>,
    /// Column whose equal consecutive values group rows into one record with several lines or
    /// events; absent means one record per row.
    #[serde(default)]
    pub group_by: Option<SourceConfig>,
    /// A bad row inside a group: `"reject_group"` (default: no record for the group) or
    /// `"drop_row"` (record without that row, plus a warning).
    #[serde(default)]
    pub on_bad_row: BadRowPolicy,
    /// Where each canonical field comes from.
    pub columns: Vec<ColumnConfig>,
}

/// CSV options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvConfig {
    /// Field delimiter, one ASCII character (default `","`; `"\t"` for tabs).
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    /// Quote character, one ASCII character (default `'"'`); a doubled quote inside quotes is a
    /// literal quote.
    #[serde(default = "default_quote")]
    pub quote: char,
    /// True (default) when the first row after `skip_rows` names the columns; columns are then
    /// found by `header`, otherwise by 1-based `index`.
    #[serde(default = "default_true")]
    pub header: bool,
    /// Rows to ignore at the top of the file, before the header.
    #[serde(default)]
    pub skip_rows: u64,
}

impl Default for CsvConfig {
    fn default() -> Self {
        CsvConfig {
            delimiter: default_delimiter(),
            quote: default_quote(),
            header: true,
            skip_rows: 0,
        }
    }
}

fn default_delimiter() -> char {
    ','
}
fn default_quote() -> char {
    '"'
}
fn default_true() -> bool {
    true
}

/// Fixed-width options.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedConfig {
    /// Expected line length in characters; a longer line is a bad row (shorter lines are
    /// accepted: trailing padding is often trimmed in transit).
    #[serde(default)]
    pub record_length: Option<usize>,
    /// A record-type column; only lines whose type is listed in `keep` are read (headers and
    /// trailers of other types are skipped).
    #[serde(default)]
    pub record_type: Option<RecordTypeConfig>,
    /// Lines to ignore at the top of the file.
    #[serde(default)]
    pub skip_rows: u64,
}

/// A record-type column of a fixed-width file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordTypeConfig {
    /// 1-based first character of the type.
    pub start: usize,
    /// Length of the type in characters.
    pub length: usize,
    /// Record types to read (trimmed), e.g. `["D"]`.
    pub keep: Vec<String>,
}

/// Where a value sits in a row: `header` (CSV with header), `index` (CSV without header,
/// 1-based), or `start` + `length` (fixed width, 1-based characters).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Header name of the column (CSV with `header = true`).
    #[serde(default)]
    pub header: Option<String>,
    /// 1-based field number (CSV with `header = false`).
    #[serde(default)]
    pub index: Option<usize>,
    /// 1-based first character (fixed width).
    #[serde(default)]
    pub start: Option<usize>,
    /// Length in characters (fixed width).
    #[serde(default)]
    pub length: Option<usize>,
}

/// One column mapping.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnConfig {
    /// Header name of the column (CSV with `header = true`).
    #[serde(default)]
    pub header: Option<String>,
    /// 1-based field number (CSV with `header = false`).
    #[serde(default)]
    pub index: Option<usize>,
    /// 1-based first character (fixed width).
    #[serde(default)]
    pub start: Option<usize>,
    /// Length in characters (fixed width).
    #[serde(default)]
    pub length: Option<usize>,
    /// Canonical target path, e.g. `"references.pro_number"` or `"line.item.upc"` (see the
    /// module documentation for the list per kind).
    pub target: String,
    /// True when every row must have a value here; an empty value makes the row bad.
    #[serde(default)]
    pub required: bool,
    /// chrono format for date, time and datetime targets, e.g. `"%m/%d/%Y"` or `"%Y%m%d%H%M"`.
    #[serde(default)]
    pub format: Option<String>,
    /// Decimal separator for decimal targets: `"."` (default) or `","`.
    #[serde(default)]
    pub decimal_separator: Option<char>,
    /// Implied decimal places for decimal targets (`12345` with 2 is `123.45`).
    #[serde(default)]
    pub implied_decimals: Option<u8>,
    /// Accept a trailing minus sign (`5-` is `-5`) for decimal targets.
    #[serde(default)]
    pub trailing_minus: bool,
}

/// The type a target path takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// Trimmed text.
    Text,
    /// An exact decimal.
    Decimal,
    /// A date, written `YYYY-MM-DD`.
    Date,
    /// A time of day, written `HH:MM[:SS]`.
    Time,
    /// A date and time, written `YYYY-MM-DDTHH:MM[:SS]` (plus the offset when the format has one).
    DateTime,
    /// An 18-digit SSCC.
    Sscc,
}

/// Whether a target belongs to the record or to one line/event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// One value per record.
    Record,
    /// One value per line (or event).
    Line,
}

/// A fixed target path with its type, level and the kinds that accept it.
#[derive(Debug)]
pub struct TargetSpec {
    /// The path.
    pub path: &'static str,
    /// Its value type.
    pub value_type: ValueType,
    /// Record or line level.
    pub level: Level,
    /// Kinds that accept it.
    pub kinds: &'static [FlatKind],
}

const ALL: &[FlatKind] = &[
    FlatKind::ShipmentStatus,
    FlatKind::ShipmentAdvice,
    FlatKind::WarehouseOrder,
];
const ORDER: &[FlatKind] = &[FlatKind::WarehouseOrder];
const ADVICE: &[FlatKind] = &[FlatKind::ShipmentAdvice];
const STATUS: &[FlatKind] = &[FlatKind::ShipmentStatus];
const WAREHOUSE: &[FlatKind] = &[FlatKind::WarehouseOrder, FlatKind::ShipmentAdvice];

const fn spec(
    path: &'static str,
    value_type: ValueType,
    level: Level,
    kinds: &'static [FlatKind],
) -> TargetSpec {
    TargetSpec {
        path,
        value_type,
        level,
        kinds,
    }
}

use Level::{Line, Record};
use ValueType::{Date, Decimal as Dec, Sscc, Text, Time};

/// Every fixed target path (party and `references_extra` paths are built from patterns).
pub const TARGETS: &[TargetSpec] = &[
    spec("references.order_number", Text, Record, ALL),
    spec("references.purchase_order", Text, Record, ALL),
    spec("references.shipment_id", Text, Record, ALL),
    spec("references.bill_of_lading", Text, Record, ALL),
    spec("references.pro_number", Text, Record, ALL),
    spec("references.tracking_numbers", Text, Record, ALL),
    spec("references.sscc", Sscc, Record, ALL),
    spec("references.scac", Text, Record, ALL),
    spec("references.load_number", Text, Record, ALL),
    spec("references.appointment_number", Text, Record, ALL),
    // warehouse_order
    spec("payload.status_code", Text, Record, ORDER),
    spec("payload.order_number", Text, Record, WAREHOUSE),
    spec("payload.purchase_order", Text, Record, WAREHOUSE),
    spec("payload.dates.requested_ship", Date, Record, ORDER),
    spec("payload.dates.requested_delivery", Date, Record, ORDER),
    spec("payload.dates.ship_not_before", Date, Record, ORDER),
    spec("payload.dates.ship_no_later", Date, Record, ORDER),
    spec("payload.dates.deliver_not_before", Date, Record, ORDER),
    spec("payload.dates.deliver_no_later", Date, Record, ORDER),
    spec("payload.carrier.scac", Text, Record, WAREHOUSE),
    spec("payload.carrier.transport_method", Text, Record, WAREHOUSE),
    spec("payload.carrier.routing", Text, Record, WAREHOUSE),
    spec("payload.carrier.payment_method", Text, Record, WAREHOUSE),
    spec("payload.totals.quantity", Dec, Record, ORDER),
    spec("payload.totals.weight", Dec, Record, WAREHOUSE),
    spec("payload.totals.weight_uom", Text, Record, WAREHOUSE),
    spec("payload.totals.volume", Dec, Record, WAREHOUSE),
    spec("payload.totals.volume_uom", Text, Record, WAREHOUSE),
    // shipment_advice
    spec("payload.reporting_code", Text, Record, ADVICE),
    spec("payload.shipped_on", Date, Record, ADVICE),
    spec(
        "payload.shipment_id",
        Text,
        Record,
        &[FlatKind::ShipmentAdvice, FlatKind::ShipmentStatus],
    ),
    spec("payload.agent_shipment_id", Text, Record, ADVICE),
    spec("payload.totals.units_shipped", Dec, Record, ADVICE),
    spec("payload.totals.lading_quantity", Dec, Record, ADVICE),
    // shipment_status
    spec("payload.carrier_reference", Text, Record, STATUS),
    spec("payload.scac", Text, Record, STATUS),
    // order and advice lines
    spec("line.line_number", Text, Line, WAREHOUSE),
    spec("line.quantity", Dec, Line, ORDER),
    spec("line.uom", Text, Line, WAREHOUSE),
    spec("line.description", Text, Line, ORDER),
    spec("line.lot", Text, Line, WAREHOUSE),
    spec("line.item.upc", Text, Line, WAREHOUSE),
    spec("line.item.gtin", Text, Line, WAREHOUSE),
    spec("line.item.ean", Text, Line, WAREHOUSE),
    spec("line.item.vendor_item", Text, Line, WAREHOUSE),
    spec("line.item.buyer_item", Text, Line, WAREHOUSE),
    spec("line.item.sku", Text, Line, WAREHOUSE),
    spec("line.item.lot", Text, Line, WAREHOUSE),
    spec("line.item.serial", Text, Line, WAREHOUSE),
    spec("line.status_code", Text, Line, ADVICE),
    spec("line.quantity_ordered", Dec, Line, ADVICE),
    spec("line.quantity_shipped", Dec, Line, ADVICE),
    spec("line.quantity_difference", Dec, Line, ADVICE),
    spec("line.sscc", Sscc, Line, ADVICE),
    // status events
    spec("event.status_code", Text, Line, STATUS),
    spec("event.reason_code", Text, Line, STATUS),
    spec("event.appointment_code", Text, Line, STATUS),
    spec("event.date", Date, Line, STATUS),
    spec("event.time", Time, Line, STATUS),
    spec("event.time_code", Text, Line, STATUS),
    spec("event.at", ValueType::DateTime, Line, STATUS),
    spec("event.location.city", Text, Line, STATUS),
    spec("event.location.state", Text, Line, STATUS),
    spec("event.location.country", Text, Line, STATUS),
    spec("event.location.latitude", Dec, Line, STATUS),
    spec("event.location.longitude", Dec, Line, STATUS),
    spec("event.equipment.scac", Text, Line, STATUS),
    spec("event.equipment.number", Text, Line, STATUS),
    spec("event.weight", Dec, Line, STATUS),
    spec("event.weight_uom", Text, Line, STATUS),
    spec("event.lading_quantity", Dec, Line, STATUS),
];

/// A field of a party.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartyField {
    /// N102.
    Name,
    /// N104.
    Id,
    /// N103.
    IdQualifier,
    /// Address line 1..=4.
    AddressLine(u8),
    /// City.
    City,
    /// State.
    State,
    /// Postal code.
    PostalCode,
    /// Country.
    Country,
}

impl PartyField {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "name" => PartyField::Name,
            "id" => PartyField::Id,
            "id_qualifier" => PartyField::IdQualifier,
            "address.line1" => PartyField::AddressLine(1),
            "address.line2" => PartyField::AddressLine(2),
            "address.line3" => PartyField::AddressLine(3),
            "address.line4" => PartyField::AddressLine(4),
            "address.city" => PartyField::City,
            "address.state" => PartyField::State,
            "address.postal_code" => PartyField::PostalCode,
            "address.country" => PartyField::Country,
            _ => return None,
        })
    }
}

/// A resolved target path.
#[derive(Debug, Clone)]
pub enum Target {
    /// A fixed path from [`TARGETS`].
    Fixed(&'static TargetSpec),
    /// `party.<role>.<field>`.
    Party(PartyRole, PartyField),
    /// `references_extra.<QUALIFIER>`.
    ReferenceExtra(String),
}

impl Target {
    /// Resolves a path for a kind, or says why it is not accepted.
    pub fn resolve(path: &str, kind: FlatKind) -> Result<Target, String> {
        if let Some(spec) = TARGETS.iter().find(|s| s.path == path) {
            if spec.kinds.contains(&kind) {
                return Ok(Target::Fixed(spec));
            }
            return Err(format!(
                "target {path:?} does not exist for kind {:?}",
                kind.kind().as_str()
            ));
        }
        if let Some(rest) = path.strip_prefix("party.") {
            let (role, field) = rest.split_once('.').unwrap_or((rest, ""));
            let role = PartyRole::from_name(role).ok_or_else(|| {
                format!("{path:?} names an unknown party role {role:?} (ship_to, ship_from, bill_to, buyer, consignee, shipper, warehouse, depositor, supplier, vendor)")
            })?;
            let field = PartyField::parse(field).ok_or_else(|| {
                format!("{path:?} names an unknown party field (name, id, id_qualifier, address.line1..line4, address.city, address.state, address.postal_code, address.country)")
            })?;
            return Ok(Target::Party(role, field));
        }
        if let Some(qualifier) = path.strip_prefix("references_extra.") {
            let ok = (1..=3).contains(&qualifier.len())
                && qualifier
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
            if ok {
                return Ok(Target::ReferenceExtra(qualifier.to_string()));
            }
            return Err(format!(
                "{path:?}: a reference qualifier is 1 to 3 upper-case letters or digits"
            ));
        }
        Err(format!(
            "unknown target {path:?} for kind {:?} (see the list of target paths in the flat layout documentation)",
            kind.kind().as_str()
        ))
    }

    /// The target's value type.
    pub fn value_type(&self) -> ValueType {
        match self {
            Target::Fixed(spec) => spec.value_type,
            Target::Party(..) | Target::ReferenceExtra(_) => ValueType::Text,
        }
    }

    /// The target's level.
    pub fn level(&self) -> Level {
        match self {
            Target::Fixed(spec) => spec.level,
            Target::Party(..) | Target::ReferenceExtra(_) => Level::Record,
        }
    }
}

/// Where a value sits in a row, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnRef {
    /// A CSV header name (resolved to a position when the header row is read).
    Header(String),
    /// A 0-based CSV field position.
    Index(usize),
    /// A fixed-width span, 0-based start, in characters.
    Span {
        /// 0-based first character.
        start: usize,
        /// Length in characters.
        length: usize,
    },
}

impl ColumnRef {
    /// The 1-based column reported in errors: field number (CSV) or first character (fixed).
    /// Header columns report 0 until resolved (the parser reports the resolved position).
    pub fn column(&self) -> u64 {
        match self {
            ColumnRef::Header(_) => 0,
            ColumnRef::Index(i) => *i as u64 + 1,
            ColumnRef::Span { start, .. } => *start as u64 + 1,
        }
    }
}

/// How a column's text becomes a value.
#[derive(Debug, Clone)]
pub enum ValueParser {
    /// Trimmed text.
    Text,
    /// An 18-digit SSCC.
    Sscc,
    /// A decimal with this syntax.
    Decimal(DecimalSyntax),
    /// A date with this chrono format.
    Date(String),
    /// A time with this chrono format; `seconds` when the format has them.
    Time {
        /// chrono format.
        format: String,
        /// Whether to write seconds.
        seconds: bool,
    },
    /// A datetime; `seconds` and `offset` follow the format.
    DateTime {
        /// chrono format.
        format: String,
        /// Whether to write seconds.
        seconds: bool,
        /// Whether the format parses a UTC offset.
        offset: bool,
    },
}

/// A validated column.
#[derive(Debug, Clone)]
pub struct Column {
    /// Where the value sits.
    pub source: ColumnRef,
    /// Where it goes.
    pub target: Target,
    /// The target path as configured (for messages).
    pub path: String,
    /// Whether an empty value makes the row bad.
    pub required: bool,
    /// How the text is read.
    pub parser: ValueParser,
}

/// Validated CSV options.
#[derive(Debug, Clone, Copy)]
pub struct CsvOptions {
    /// Delimiter byte.
    pub delimiter: u8,
    /// Quote byte.
    pub quote: u8,
    /// Whether a header row names the columns.
    pub header: bool,
    /// Rows skipped before the header.
    pub skip_rows: u64,
}

/// Validated fixed-width options.
#[derive(Debug, Clone)]
pub struct FixedOptions {
    /// Maximum line length in characters.
    pub record_length: Option<usize>,
    /// Record-type span and the types to keep.
    pub record_type: Option<(ColumnRef, Vec<String>)>,
    /// Lines skipped at the top.
    pub skip_rows: u64,
}

/// A validated layout, ready for parsing.
#[derive(Debug, Clone)]
pub struct FlatLayout {
    /// Layout name.
    pub name: String,
    /// Input format.
    pub format: FlatFormat,
    /// Kind produced.
    pub kind: FlatKind,
    /// Text encoding.
    pub encoding: FlatEncoding,
    /// CSV options (defaults for fixed layouts; unused there).
    pub csv: CsvOptions,
    /// Fixed-width options (defaults for CSV layouts; unused there).
    pub fixed: FixedOptions,
    /// Grouping column.
    pub group_by: Option<ColumnRef>,
    /// Bad-row policy inside groups.
    pub on_bad_row: BadRowPolicy,
    /// Column mappings in config order.
    pub columns: Vec<Column>,
}

/// One problem in a layout; validation reports all of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("flat layout {layout:?}{}: {message}", location.as_deref().map(|w| format!(", {w}")).unwrap_or_default())]
pub struct LayoutProblem {
    /// The layout's name.
    pub layout: String,
    /// Which part: `columns[3] (target "line.quantity")`, `group_by`, `csv`, ...
    pub location: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl FlatLayout {
    /// Validates a layout config, returning every problem found.
    pub fn from_config(config: &FlatLayoutConfig) -> Result<FlatLayout, Vec<LayoutProblem>> {
        let mut problems = Problems {
            layout: config.name.clone(),
            list: Vec::new(),
        };
        if config.name.trim().is_empty() {
            problems.add(None, "the layout needs a non-empty name".into());
        }
        let csv = check_csv(config, &mut problems);
        let fixed = check_fixed(config, &mut problems);
        let header = config.format == FlatFormat::Csv && csv.header;
        let group_by = config.group_by.as_ref().and_then(|g| {
            let source = check_source(g, config.format, header, fixed.record_length);
            source
                .map_err(|m| problems.add(Some("group_by".into()), m))
                .ok()
        });
        if config.columns.is_empty() {
            problems.add(None, "the layout maps no columns".into());
        }
        let mut seen = HashSet::new();
        let mut columns = Vec::new();
        for (i, column) in config.columns.iter().enumerate() {
            let location = format!("columns[{}] (target {:?})", i + 1, column.target);
            if !seen.insert(column.target.as_str()) {
                problems.add(Some(location.clone()), "the target is mapped twice".into());
            }
            let source = check_source(
                &SourceConfig {
                    header: column.header.clone(),
                    index: column.index,
                    start: column.start,
                    length: column.length,
                },
                config.format,
                header,
                fixed.record_length,
            );
            let target = Target::resolve(&column.target, config.kind);
            let parser = target
                .as_ref()
                .ok()
                .map(|t| check_parser(column, t.value_type()));
            match (source, target, parser) {
                (Ok(source), Ok(target), Some(Ok(parser))) => columns.push(Column {
                    source,
                    target,
                    path: column.target.clone(),
                    required: column.required,
                    parser,
                }),
                (source, target, parser) => {
                    for message in [source.err(), target.err(), parser.and_then(Result::err)]
                        .into_iter()
                        .flatten()
                    {
                        problems.add(Some(location.clone()), message);
                    }
                }
            }
        }
        if group_by.is_some() && !columns.iter().any(|c| c.target.level() == Level::Line) {
            problems.add(
                Some("group_by".into()),
                "rows are grouped, but no column maps to a line. or event. target".into(),
            );
        }
        if !problems.list.is_empty() {
            return Err(problems.list);
        }
        Ok(FlatLayout {
            name: config.name.clone(),
            format: config.format,
            kind: config.kind,
            encoding: config.encoding,
            csv,
            fixed,
            group_by,
            on_bad_row: config.on_bad_row,
            columns,
        })
    }
}

/// Collects problems for one layout.
struct Problems {
    layout: String,
    list: Vec<LayoutProblem>,
}

impl Problems {
    fn add(&mut self, location: Option<String>, message: String) {
        self.list.push(LayoutProblem {
            layout: self.layout.clone(),
            location,
            message,
        });
    }
}

fn check_csv(config: &FlatLayoutConfig, problems: &mut Problems) -> CsvOptions {
    if config.format == FlatFormat::Fixed && config.csv.is_some() {
        problems.add(
            Some("csv".into()),
            "[csv] options are given for a fixed-width layout".into(),
        );
    }
    let raw = config.csv.clone().unwrap_or_default();
    let byte = |c: char, what: &str, problems: &mut Problems| -> u8 {
        if c.is_ascii() && c != '\n' && c != '\r' {
            c as u8
        } else {
            problems.add(
                Some("csv".into()),
                format!(
                    "the {what} must be one ASCII character other than a line break, not {c:?}"
                ),
            );
            b','
        }
    };
    let delimiter = byte(raw.delimiter, "delimiter", problems);
    let quote = byte(raw.quote, "quote", problems);
    if raw.delimiter == raw.quote {
        problems.add(
            Some("csv".into()),
            "the delimiter and the quote are the same character".into(),
        );
    }
    CsvOptions {
        delimiter,
        quote,
        header: raw.header,
        skip_rows: raw.skip_rows,
    }
}

fn check_fixed(config: &FlatLayoutConfig, problems: &mut Problems) -> FixedOptions {
    if config.format == FlatFormat::Csv && config.fixed.is_some() {
        problems.add(
            Some("fixed".into()),
            "[fixed] options are given for a CSV layout".into(),
        );
    }
    let raw = config.fixed.clone().unwrap_or_default();
    if raw.record_length == Some(0) {
        problems.add(
            Some("fixed".into()),
            "record_length must be at least 1".into(),
        );
    }
    let record_type = raw.record_type.as_ref().and_then(|rt| {
        let source = SourceConfig {
            start: Some(rt.start),
            length: Some(rt.length),
            ..SourceConfig::default()
        };
        if rt.keep.is_empty() {
            problems.add(
                Some("fixed.record_type".into()),
                "keep lists no record types, so every line would be skipped".into(),
            );
        }
        match check_source(&source, FlatFormat::Fixed, false, raw.record_length) {
            Ok(span) => Some((span, rt.keep.iter().map(|k| k.trim().to_string()).collect())),
            Err(message) => {
                problems.add(Some("fixed.record_type".into()), message);
                None
            }
        }
    });
    FixedOptions {
        record_length: raw.record_length,
        record_type,
        skip_rows: raw.skip_rows,
    }
}

/// Checks that exactly the source form the format expects is given.
fn check_source(
    source: &SourceConfig,
    format: FlatFormat,
    header: bool,
    record_length: Option<usize>,
) -> Result<ColumnRef, String> {
    let given = |h: bool, i: bool, s: bool| {
        source.header.is_some() == h
            && source.index.is_some() == i
            && (source.start.is_some() || source.length.is_some()) == s
    };
    match format {
        FlatFormat::Csv if header => match (&source.header, given(true, false, false)) {
            (Some(name), true) if !name.trim().is_empty() => Ok(ColumnRef::Header(name.trim().to_string())),
            _ => Err("a CSV layout with a header row finds columns by `header = \"NAME\"` only".into()),
        },
        FlatFormat::Csv => match (source.index, given(false, true, false)) {
            (Some(index), true) if index >= 1 => Ok(ColumnRef::Index(index - 1)),
            _ => Err("a CSV layout without a header row finds columns by 1-based `index` only".into()),
        },
        FlatFormat::Fixed => match (source.start, source.length, given(false, false, true)) {
            (Some(start), Some(length), true) if start >= 1 && length >= 1 => {
                if let Some(max) = record_length
                    && start - 1 + length > max
                {
                    return Err(format!(
                        "characters {start}..{} run past the record length of {max}",
                        start - 1 + length
                    ));
                }
                Ok(ColumnRef::Span {
                    start: start - 1,
                    length,
                })
            }
            _ => Err("a fixed-width layout finds columns by 1-based `start` and `length` (both at least 1) only".into()),
        },
    }
}

/// Checks the column's value options against its target type.
fn check_parser(column: &ColumnConfig, value_type: ValueType) -> Result<ValueParser, String> {
    let decimal_options = column.decimal_separator.is_some()
        || column.implied_decimals.is_some()
        || column.trailing_minus;
    if decimal_options && value_type != ValueType::Decimal {
        return Err(
            "decimal_separator, implied_decimals and trailing_minus apply only to decimal targets"
                .into(),
        );
    }
    if column.format.is_some()
        && !matches!(
            value_type,
            ValueType::Date | ValueType::Time | ValueType::DateTime
        )
    {
        return Err("format applies only to date, time and datetime targets".into());
    }
    let format = |default: &str| column.format.clone().unwrap_or_else(|| default.to_string());
    Ok(match value_type {
        ValueType::Text => ValueParser::Text,
        ValueType::Sscc => ValueParser::Sscc,
        ValueType::Decimal => {
            let separator = column.decimal_separator.unwrap_or('.');
            if separator != '.' && separator != ',' {
                return Err(format!(
                    "decimal_separator must be \".\" or \",\", not {separator:?}"
                ));
            }
            let implied = column.implied_decimals.unwrap_or(0);
            if implied > 18 {
                return Err("implied_decimals must be at most 18".into());
            }
            ValueParser::Decimal(DecimalSyntax {
                decimal_separator: separator,
                trailing_minus: column.trailing_minus,
                implied_decimals: implied,
            })
        }
        ValueType::Date => {
            let format = format("%Y-%m-%d");
            check_time_format(&format, value_type)?;
            ValueParser::Date(format)
        }
        ValueType::Time => {
            let format = format("%H:%M");
            check_time_format(&format, value_type)?;
            let seconds = has_seconds(&format);
            ValueParser::Time { format, seconds }
        }
        ValueType::DateTime => {
            let format = format("%Y-%m-%dT%H:%M");
            check_time_format(&format, value_type)?;
            let seconds = has_seconds(&format);
            let offset = has_offset(&format);
            ValueParser::DateTime {
                format,
                seconds,
                offset,
            }
        }
    })
}

fn has_seconds(format: &str) -> bool {
    format.contains("%S") || format.contains("%T")
}

fn has_offset(format: &str) -> bool {
    format.contains("%z")
        || format.contains("%:z")
        || format.contains("%#z")
        || format.contains("%::z")
}

/// A format must parse, and must read back a sample value it wrote, so it names every part the
/// target needs (a date format without a year fails here, not on the first file).
fn check_time_format(format: &str, value_type: ValueType) -> Result<(), String> {
    if StrftimeItems::new(format).any(|item| matches!(item, Item::Error)) {
        return Err(format!("format {format:?} is not a valid chrono format"));
    }
    let offset = FixedOffset::west_opt(5 * 3600).ok_or("offset")?;
    let sample_naive = NaiveDate::from_ymd_opt(2026, 1, 5)
        .and_then(|d| d.and_hms_opt(13, 45, 30))
        .ok_or("sample date")?;
    let sample: DateTime<FixedOffset> = offset
        .from_local_datetime(&sample_naive)
        .single()
        .ok_or("sample date")?;
    let mut text = String::new();
    if write!(text, "{}", sample.format(format)).is_err() {
        return Err(format!(
            "format {format:?} cannot be used for a {}",
            type_name(value_type)
        ));
    }
    let reads_back = match value_type {
        ValueType::Date => {
            NaiveDate::parse_from_str(&text, format).is_ok_and(|d| d == sample_naive.date())
        }
        ValueType::Time => NaiveTime::parse_from_str(&text, format)
            .is_ok_and(|t| t.format("%H%M").to_string() == "1345"),
        _ if has_offset(format) => {
            DateTime::parse_from_str(&text, format).is_ok_and(|d| d == sample)
        }
        _ => NaiveDateTime::parse_from_str(&text, format)
            .is_ok_and(|d| d.format("%Y%m%d%H%M").to_string() == "202601051345"),
    };
    if reads_back {
        Ok(())
    } else {
        Err(format!(
            "format {format:?} does not describe a complete {} (it wrote {text:?} and could not read it back)",
            type_name(value_type)
        ))
    }
}

fn type_name(value_type: ValueType) -> &'static str {
    match value_type {
        ValueType::Date => "date",
        ValueType::Time => "time",
        ValueType::DateTime => "datetime",
        ValueType::Decimal => "decimal",
        ValueType::Text => "text",
        ValueType::Sscc => "SSCC",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml_text: &str) -> FlatLayoutConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn valid_csv_layout_resolves() {
        let layout = FlatLayout::from_config(&config(
            r#"
            name = "acme_status"
            format = "csv"
            kind = "shipment_status"
            group_by = { header = "PRO" }
            [csv]
            delimiter = ";"
            [[columns]]
            header = "PRO"
            target = "payload.carrier_reference"
            required = true
            [[columns]]
            header = "WHEN"
            target = "event.at"
            format = "%m/%d/%Y %H:%M"
            [[columns]]
            header = "WT"
            target = "event.weight"
            decimal_separator = ","
            [[columns]]
            header = "CITY"
            target = "party.consignee.address.city"
            [[columns]]
            header = "BOL"
            target = "references_extra.BM"
            "#,
        ))
        .unwrap();
        assert_eq!(layout.csv.delimiter, b';');
        assert_eq!(layout.group_by, Some(ColumnRef::Header("PRO".into())));
        assert_eq!(layout.columns.len(), 5);
        assert!(matches!(
            layout.columns[3].target,
            Target::Party(PartyRole::Consignee, PartyField::City)
        ));
    }

    #[test]
    fn validation_reports_every_problem() {
        let problems = FlatLayout::from_config(&config(
            r#"
            name = "bad"
            format = "fixed"
            kind = "warehouse_order"
            group_by = { header = "ORDER" }
            [fixed]
            record_length = 20
            [[columns]]
            start = 1
            length = 10
            target = "event.status_code"
            [[columns]]
            start = 1
            length = 10
            target = "payload.order_number"
            [[columns]]
            start = 11
            length = 10
            target = "payload.order_number"
            [[columns]]
            start = 15
            length = 10
            target = "line.quantity"
            [[columns]]
            start = 1
            length = 8
            target = "payload.dates.requested_ship"
            format = "%Q%m"
            [[columns]]
            start = 1
            length = 4
            target = "payload.dates.ship_no_later"
            format = "%m%d"
            [[columns]]
            start = 1
            length = 4
            target = "line.uom"
            implied_decimals = 2
            [[columns]]
            index = 3
            target = "line.lot"
            [[columns]]
            start = 1
            length = 2
            target = "party.martian.name"
            "#,
        ))
        .unwrap_err();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        let expect = [
            "group_by: a fixed-width layout finds columns",
            "columns[1] (target \"event.status_code\"): target \"event.status_code\" does not exist for kind \"warehouse_order\"",
            "columns[3] (target \"payload.order_number\"): the target is mapped twice",
            "columns[4] (target \"line.quantity\"): characters 15..24 run past the record length of 20",
            "columns[5] (target \"payload.dates.requested_ship\"): format \"%Q%m\" is not a valid chrono format",
            "columns[6] (target \"payload.dates.ship_no_later\"): format \"%m%d\" does not describe a complete date",
            "columns[7] (target \"line.uom\"): decimal_separator, implied_decimals and trailing_minus apply only to decimal targets",
            "columns[8] (target \"line.lot\"): a fixed-width layout finds columns by 1-based `start` and `length`",
            "columns[9] (target \"party.martian.name\"): \"party.martian.name\" names an unknown party role",
        ];
        for want in expect {
            assert!(
                text.iter().any(|t| t.contains(want)),
                "missing problem {want:?} in:\n{}",
                text.join("\n")
            );
        }
        assert_eq!(text.len(), expect.len(), "{}", text.join("\n"));
        assert!(text[0].starts_with("flat layout \"bad\", "));
    }

    #[test]
    fn unknown_config_fields_are_refused() {
        let err = toml::from_str::<FlatLayoutConfig>(
            r#"
            name = "x"
            format = "csv"
            kind = "shipment_status"
            colums = []
            "#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("colums"), "{err}");
    }

    #[test]
    fn formats_with_offsets_and_seconds() {
        let layout = FlatLayout::from_config(&config(
            r#"
            name = "t"
            format = "csv"
            kind = "shipment_status"
            [csv]
            header = false
            [[columns]]
            index = 1
            target = "event.at"
            format = "%Y%m%d%H%M%S%z"
            [[columns]]
            index = 2
            target = "event.time"
            format = "%H%M"
            "#,
        ))
        .unwrap();
        assert!(matches!(
            layout.columns[0].parser,
            ValueParser::DateTime {
                seconds: true,
                offset: true,
                ..
            }
        ));
        assert!(matches!(
            layout.columns[1].parser,
            ValueParser::Time { seconds: false, .. }
        ));
        assert_eq!(layout.columns[0].source, ColumnRef::Index(0));
    }

    #[test]
    fn target_table_has_no_duplicates() {
        let mut seen = HashSet::new();
        for spec in TARGETS {
            assert!(seen.insert(spec.path), "{} twice", spec.path);
        }
    }
}

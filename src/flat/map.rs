//! Turns parsed flat rows into canonical records: value parsing, grouping, and record assembly.
//!
//! Invariants:
//! - Memory is bounded by one group: a group is held only until its key changes, then its
//!   record is emitted (or rejected) and dropped.
//! - A row is all or nothing: if any of its columns is bad, none of its values are used, and
//!   every bad column is reported with file, line and column.
//! - Record ordinals count groups (rows when ungrouped) in file order, rejected ones included,
//!   so a record's id does not move when an earlier group is fixed or breaks.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};
use serde::Serialize;

use super::layout::{
    BadRowPolicy, Column, ColumnRef, FlatFormat, FlatKind, FlatLayout, Level, PartyField, Target,
    ValueParser,
};
use crate::canonical::milestone::{self, TimedEvent};
use crate::canonical::x12util::{format_offset, resolve_offset};
use crate::canonical::{
    AdviceLine, Decimal, LineStatus, Milestone, MilestoneLookup, OrderLine, OrderStatus, Party,
    PartyRole, Payload, Record, References, ShipmentAdvice, ShipmentStatus, Source, SourceFormat,
    StatusEvent, Text, WarehouseOrder, flat_record_id,
};

/// Identity of the file being parsed.
#[derive(Debug, Clone, Copy)]
pub struct FlatSource<'a> {
    /// Partner id from its config.
    pub partner: &'a str,
    /// File name as received, without directories.
    pub file_name: &'a str,
    /// SHA-256 of the file bytes, lower-case hex (the intake hashes before parsing).
    pub file_sha256: &'a str,
    /// Whether the partner's file is test data.
    pub test: bool,
}

/// What a row error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowErrorCode {
    /// A decimal column does not hold a number.
    BadDecimal,
    /// A date column does not match its format.
    BadDate,
    /// A time column does not match its format.
    BadTime,
    /// A datetime column does not match its format.
    BadDatetime,
    /// An SSCC column does not hold 18 digits.
    BadSscc,
    /// A required column is empty.
    MissingRequired,
    /// The group-by column is empty.
    MissingGroupKey,
    /// The row has fewer fields than a column needs.
    ShortRow,
    /// The bytes are not valid in the layout's encoding.
    BadEncoding,
    /// A line is longer than the reader accepts.
    LineTooLong,
    /// A fixed-width line is longer than `record_length`.
    BadLength,
    /// A group's record was not produced because some of its rows are bad.
    GroupRejected,
}

impl RowErrorCode {
    /// The code as written in JSON and on the command line (`bad_date`).
    pub fn as_str(self) -> &'static str {
        match self {
            RowErrorCode::BadDecimal => "bad_decimal",
            RowErrorCode::BadDate => "bad_date",
            RowErrorCode::BadTime => "bad_time",
            RowErrorCode::BadDatetime => "bad_datetime",
            RowErrorCode::BadSscc => "bad_sscc",
            RowErrorCode::MissingRequired => "missing_required",
            RowErrorCode::MissingGroupKey => "missing_group_key",
            RowErrorCode::ShortRow => "short_row",
            RowErrorCode::BadEncoding => "bad_encoding",
            RowErrorCode::LineTooLong => "line_too_long",
            RowErrorCode::BadLength => "bad_length",
            RowErrorCode::GroupRejected => "group_rejected",
        }
    }
}

/// One problem with one row (or group), located in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{file}:{line}:{}: {message}", column.map(|c| c.to_string()).unwrap_or_else(|| "-".into()))]
pub struct RowError {
    /// File name as received.
    pub file: String,
    /// 1-based line where the row starts.
    pub line: u64,
    /// 1-based column: field number (CSV) or first character (fixed); `None` for the whole row.
    pub column: Option<u64>,
    /// What kind of problem.
    pub code: RowErrorCode,
    /// One sentence for the operator.
    pub message: String,
}

/// What parsing yields, in file order.
#[derive(Debug)]
pub enum FlatItem {
    /// A canonical record.
    Record(Box<Record>),
    /// A bad row or a rejected group.
    RowError(RowError),
}

/// Counts for one parsed file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlatSummary {
    /// Data rows read (skipped rows, headers and blank lines not included).
    pub rows: u64,
    /// Rows skipped by `skip_rows`, the header, blank lines or the record-type filter.
    pub skipped: u64,
    /// Records produced.
    pub records: u64,
    /// Row errors reported (group rejections included).
    pub errors: u64,
}

/// A parsed value: text (dates and times already normalised) or an exact decimal.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Text(Text),
    Decimal(Decimal),
}

impl Value {
    fn text(self) -> Text {
        match self {
            Value::Text(text) => text,
            Value::Decimal(d) => Text::from(d.as_str()),
        }
    }

    fn decimal(self) -> Option<Decimal> {
        match self {
            Value::Decimal(d) => Some(d),
            Value::Text(text) => Decimal::parse(&text).ok(),
        }
    }

    fn as_text(&self) -> Text {
        match self {
            Value::Text(text) => text.clone(),
            Value::Decimal(d) => Text::from(d.as_str()),
        }
    }
}

/// Access to the fields of one row, whatever the format.
pub(crate) trait RowFields {
    /// The raw text at `source` and its 1-based column, or `Err(column)` when the row is too
    /// short for a CSV field. Fixed-width fields past the end of a line are empty.
    fn field(&self, source: &ColumnRef) -> Result<(&str, u64), u64>;
}

/// Why a value could not be parsed.
struct ValueError {
    code: RowErrorCode,
    message: String,
}

fn parse_value(parser: &ValueParser, raw: &str) -> Result<Value, ValueError> {
    let bad = |code, what: &str, expected: &str| ValueError {
        code,
        message: format!("{raw:?} is not a {what} in the format {expected:?}"),
    };
    match parser {
        ValueParser::Text => Ok(Value::Text(raw.to_string().into())),
        ValueParser::Sscc => normalise_sscc(raw).map(Value::Text).ok_or(ValueError {
            code: RowErrorCode::BadSscc,
            message: format!("{raw:?} is not an SSCC (18 digits, or 20 starting with 00)"),
        }),
        ValueParser::Decimal(syntax) => Decimal::parse_with(raw, syntax)
            .map(Value::Decimal)
            .map_err(|e| ValueError {
                code: RowErrorCode::BadDecimal,
                message: e.to_string(),
            }),
        ValueParser::Date(format) => NaiveDate::parse_from_str(raw, format)
            .map(|d| Value::Text(d.format("%Y-%m-%d").to_string().into()))
            .map_err(|_| bad(RowErrorCode::BadDate, "date", format)),
        ValueParser::Time { format, seconds } => NaiveTime::parse_from_str(raw, format)
            .map(|t| Value::Text(t.format(time_pattern(*seconds)).to_string().into()))
            .map_err(|_| bad(RowErrorCode::BadTime, "time", format)),
        ValueParser::DateTime {
            format,
            seconds,
            offset,
        } => {
            let pattern = if *seconds {
                "%Y-%m-%dT%H:%M:%S"
            } else {
                "%Y-%m-%dT%H:%M"
            };
            let text = if *offset {
                DateTime::parse_from_str(raw, format).map(|d| {
                    let zone = if d.offset().local_minus_utc() == 0 {
                        "Z".to_string()
                    } else {
                        d.format("%:z").to_string()
                    };
                    format!("{}{zone}", d.format(pattern))
                })
            } else {
                NaiveDateTime::parse_from_str(raw, format).map(|d| d.format(pattern).to_string())
            };
            text.map(|t| Value::Text(t.into()))
                .map_err(|_| bad(RowErrorCode::BadDatetime, "datetime", format))
        }
    }
}

fn time_pattern(seconds: bool) -> &'static str {
    if seconds { "%H:%M:%S" } else { "%H:%M" }
}

/// 18 digits, or 20 digits with the `00` application identifier (which is cut).
fn normalise_sscc(raw: &str) -> Option<Text> {
    if !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match raw.len() {
        18 => Some(raw.to_string().into()),
        20 if raw.starts_with("00") => Some(raw[2..].to_string().into()),
        _ => None,
    }
}

/// The kind-specific part of a record under construction.
enum Body {
    Order(WarehouseOrder),
    Advice(ShipmentAdvice),
    Status(ShipmentStatus),
}

/// One line or event under construction.
enum LineDraft {
    Order(OrderLine),
    Advice(AdviceLine),
    Status(StatusEvent),
}

/// A record being assembled from the rows of one group.
struct RecordDraft {
    references: References,
    parties: Vec<Party>,
    body: Body,
    /// Record-level values already set, by target path, to notice disagreeing rows.
    seen: BTreeMap<String, Text>,
    warnings: Vec<String>,
    /// Status events as the shipment's timeline sees them, in row order.
    timeline: Vec<TimedEvent>,
}

impl RecordDraft {
    fn new(kind: FlatKind) -> Self {
        RecordDraft {
            references: References::default(),
            parties: Vec::new(),
            body: match kind {
                FlatKind::WarehouseOrder => Body::Order(WarehouseOrder::default()),
                FlatKind::ShipmentAdvice => Body::Advice(ShipmentAdvice::default()),
                FlatKind::ShipmentStatus => Body::Status(ShipmentStatus::default()),
            },
            seen: BTreeMap::new(),
            warnings: Vec::new(),
            timeline: Vec::new(),
        }
    }

    /// Sets a record-level value; list targets collect, others keep the first value.
    fn set_record(&mut self, path: &str, target: &Target, value: Value, line: u64) {
        if let Target::Fixed(spec) = target {
            let list = match spec.path {
                "references.tracking_numbers" => Some(&mut self.references.tracking_numbers),
                "references.sscc" => Some(&mut self.references.sscc),
                _ => None,
            };
            if let Some(list) = list {
                let text = value.text();
                if !list.contains(&text) {
                    list.push(text);
                }
                return;
            }
        }
        let text = value.as_text();
        if let Some(first) = self.seen.get(path) {
            if *first != text {
                self.warnings.push(format!(
                    "line {line}: {path} is {text:?}, but the record keeps the first row's {first:?}"
                ));
            }
            return;
        }
        self.seen.insert(path.to_string(), text);
        match target {
            Target::Fixed(spec) => self.set_fixed(spec.path, value),
            Target::Party(role, field) => self.set_party(*role, *field, value.text()),
            Target::ReferenceExtra(qualifier) => {
                self.references_extra()
                    .insert(qualifier.clone().into(), value.text());
            }
        }
    }

    fn references_extra(&mut self) -> &mut BTreeMap<Text, Text> {
        match &mut self.body {
            Body::Order(o) => &mut o.references_extra,
            Body::Advice(a) => &mut a.references_extra,
            Body::Status(s) => &mut s.references_extra,
        }
    }

    fn set_party(&mut self, role: PartyRole, field: PartyField, text: Text) {
        let index = match self.parties.iter().position(|p| p.role == role) {
            Some(index) => index,
            None => {
                self.parties.push(Party::new(role));
                self.parties.len() - 1
            }
        };
        let party = &mut self.parties[index];
        match field {
            PartyField::Name => party.name = Some(text),
            PartyField::Id => party.id = Some(text),
            PartyField::IdQualifier => party.id_qualifier = Some(text),
            PartyField::AddressLine(n) => {
                // Lines are kept in line-number order whatever the column order.
                let lines = &mut party.address.lines;
                let slot = usize::from(n).saturating_sub(1).min(lines.len());
                lines.insert(slot, text);
            }
            PartyField::City => party.address.city = Some(text),
            PartyField::State => party.address.state = Some(text),
            PartyField::PostalCode => party.address.postal_code = Some(text),
            PartyField::Country => party.address.country = Some(text),
        }
    }

    fn set_fixed(&mut self, path: &'static str, value: Value) {
        let refs = &mut self.references;
        match path {
            "references.order_number" => refs.order_number = Some(value.text()),
            "references.purchase_order" => refs.purchase_order = Some(value.text()),
            "references.shipment_id" => refs.shipment_id = Some(value.text()),
            "references.bill_of_lading" => refs.bill_of_lading = Some(value.text()),
            "references.pro_number" => refs.pro_number = Some(value.text()),
            "references.scac" => refs.scac = Some(value.text()),
            "references.load_number" => refs.load_number = Some(value.text()),
            "references.appointment_number" => refs.appointment_number = Some(value.text()),
            _ => match &mut self.body {
                Body::Order(order) => set_order(order, path, value),
                Body::Advice(advice) => set_advice(advice, path, value),
                Body::Status(status) => set_status(status, path, value),
            },
        }
    }

    fn new_line(&self, milestone_placeholder: Milestone) -> LineDraft {
        match self.body {
            Body::Order(_) => LineDraft::Order(OrderLine::default()),
            Body::Advice(_) => LineDraft::Advice(AdviceLine::default()),
            Body::Status(_) => LineDraft::Status(StatusEvent::new(milestone_placeholder)),
        }
    }

    fn push_line(&mut self, draft: LineDraft, line: u64, milestones: &dyn MilestoneLookup) {
        match (&mut self.body, draft) {
            (Body::Order(order), LineDraft::Order(l)) => order.lines.push(l),
            (Body::Advice(advice), LineDraft::Advice(mut l)) => {
                l.status = l.status_code.as_deref().map(LineStatus::from_code);
                advice.lines.push(l);
            }
            (Body::Status(status), LineDraft::Status(mut event)) => {
                let meaning = milestones.meaning(
                    event.status_code.as_deref(),
                    event.reason_code.as_deref(),
                    event.appointment_code.as_deref(),
                );
                event.milestone = meaning.milestone;
                event.sub_status = meaning.sub_status;
                event.exception_reason = meaning.exception_reason;
                event.is_estimate = meaning.is_estimate;
                if event.milestone == Milestone::Unmapped {
                    let what = match (&event.status_code, &event.appointment_code) {
                        (Some(s), _) => format!("status code {s:?}"),
                        (None, Some(a)) => format!("appointment code {a:?}"),
                        (None, None) => "an event without status or appointment code".into(),
                    };
                    self.warnings.push(format!(
                        "line {line}: {what} has no milestone mapping; event kept as unmapped"
                    ));
                }
                if event.at.is_none()
                    && let (Some(date), Some(time)) = (&event.date, &event.time)
                {
                    event.at = Some(format!("{date}T{time}").into());
                }
                let key = match zone_event(&mut event, milestones.default_timezone()) {
                    Ok(key) => key,
                    Err(warning) => {
                        self.warnings.push(format!("line {line}: {warning}"));
                        None
                    }
                };
                self.timeline.push(TimedEvent {
                    key,
                    estimate: meaning.is_estimate,
                    ignored: meaning.ignored,
                    milestone: event.milestone,
                });
                status.events.push(event);
            }
            // A draft always matches its body: both come from the layout's kind.
            _ => {}
        }
    }

    /// Fills derived fields and the references the contract derives from the payload.
    fn finish(mut self) -> (References, Payload, Vec<String>) {
        let mut refs = self.references;
        let parties = std::mem::take(&mut self.parties);
        let payload = match self.body {
            Body::Order(mut order) => {
                order.parties = parties;
                order.status = order.status_code.as_deref().map(OrderStatus::from_code);
                fill(&mut refs.order_number, &order.order_number);
                fill(&mut refs.purchase_order, &order.purchase_order);
                fill(&mut refs.scac, &order.carrier.scac);
                extra_references(&mut refs, &order.references_extra);
                Payload::WarehouseOrder(order)
            }
            Body::Advice(mut advice) => {
                advice.parties = parties;
                advice.short_shipped = advice
                    .lines
                    .iter()
                    .any(|l| l.status_code.as_deref().is_some_and(|c| c != "CC"));
                fill(&mut refs.order_number, &advice.order_number);
                fill(&mut refs.purchase_order, &advice.purchase_order);
                fill(&mut refs.shipment_id, &advice.shipment_id);
                fill(&mut refs.scac, &advice.carrier.scac);
                for sscc in advice.lines.iter().flat_map(|l| &l.sscc) {
                    if !refs.sscc.contains(sscc) {
                        refs.sscc.push(sscc.clone());
                    }
                }
                extra_references(&mut refs, &advice.references_extra);
                Payload::ShipmentAdvice(advice)
            }
            Body::Status(mut status) => {
                status.parties = parties;
                status.milestone = milestone::shipment_milestone(self.timeline);
                extra_references(&mut refs, &status.references_extra);
                fill(&mut refs.pro_number, &status.carrier_reference);
                fill(&mut refs.shipment_id, &status.shipment_id);
                fill(&mut refs.scac, &status.scac);
                Payload::ShipmentStatus(status)
            }
        };
        (refs, payload, self.warnings)
    }
}

/// Gives an event time without an offset the offset its time code (`event.time_code`, X12
/// AT707 codes) or the partner's default zone states, and returns the time's sort key (UTC
/// seconds, or naive seconds when the zone is unknown). An unknown code or a time in a daylight
/// saving gap leaves the time as sent, with a warning.
fn zone_event(event: &mut StatusEvent, zone: Option<chrono_tz::Tz>) -> Result<Option<i64>, String> {
    let Some(at) = &event.at else {
        return Ok(None);
    };
    let (naive_text, stated) = split_offset(at);
    let Some(local) = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(naive_text, f).ok())
    else {
        return Ok(None);
    };
    let naive_key = local.and_utc().timestamp();
    if let Some(offset) = stated {
        return Ok(Some(naive_key - i64::from(offset)));
    }
    let offset = resolve_offset(event.time_code.as_deref(), local, zone)?;
    if let Some(o) = offset {
        event.at = Some(format!("{naive_text}{}", format_offset(o)).into());
    }
    Ok(Some(naive_key - i64::from(offset.unwrap_or(0))))
}

/// Splits `2026-01-05T14:30-05:00` / `...Z` into the local part and the offset in seconds east.
fn split_offset(at: &str) -> (&str, Option<i32>) {
    if let Some(local) = at.strip_suffix('Z') {
        return (local, Some(0));
    }
    let cut = at.len().saturating_sub(6);
    if let (Some(local), Some(zone)) = (at.get(..cut), at.get(cut..)) {
        let b = zone.as_bytes();
        let num = |s: Option<&str>| s.and_then(|s| s.parse::<i32>().ok());
        if matches!(b.first(), Some(b'+' | b'-'))
            && b.get(3) == Some(&b':')
            && let (Some(h), Some(m)) = (num(zone.get(1..3)), num(zone.get(4..6)))
        {
            let seconds = h * 3600 + m * 60;
            return (local, Some(if b[0] == b'-' { -seconds } else { seconds }));
        }
    }
    (at, None)
}

fn fill(slot: &mut Option<Text>, value: &Option<Text>) {
    if slot.is_none() {
        slot.clone_from(value);
    }
}

/// Contract 1.3: qualifiers `PO`, `BM`, `CN`, `2I`, `LO`, `AO` feed the references.
fn extra_references(refs: &mut References, extra: &BTreeMap<Text, Text>) {
    for (qualifier, value) in extra {
        let slot = match qualifier.as_str() {
            "PO" => &mut refs.purchase_order,
            "BM" => &mut refs.bill_of_lading,
            "CN" => &mut refs.pro_number,
            "LO" => &mut refs.load_number,
            "AO" => &mut refs.appointment_number,
            "2I" => {
                if !refs.tracking_numbers.contains(value) {
                    refs.tracking_numbers.push(value.clone());
                }
                continue;
            }
            _ => continue,
        };
        fill(slot, &Some(value.clone()));
    }
}

fn set_order(order: &mut WarehouseOrder, path: &str, value: Value) {
    let dates = &mut order.dates;
    match path {
        "payload.status_code" => order.status_code = Some(value.text()),
        "payload.order_number" => order.order_number = Some(value.text()),
        "payload.purchase_order" => order.purchase_order = Some(value.text()),
        "payload.dates.requested_ship" => dates.requested_ship = Some(value.text()),
        "payload.dates.requested_delivery" => dates.requested_delivery = Some(value.text()),
        "payload.dates.ship_not_before" => dates.ship_not_before = Some(value.text()),
        "payload.dates.ship_no_later" => dates.ship_no_later = Some(value.text()),
        "payload.dates.deliver_not_before" => dates.deliver_not_before = Some(value.text()),
        "payload.dates.deliver_no_later" => dates.deliver_no_later = Some(value.text()),
        "payload.totals.quantity" => order.totals.quantity = value.decimal(),
        "payload.totals.weight" => order.totals.weight = value.decimal(),
        "payload.totals.weight_uom" => order.totals.weight_uom = Some(value.text()),
        "payload.totals.volume" => order.totals.volume = value.decimal(),
        "payload.totals.volume_uom" => order.totals.volume_uom = Some(value.text()),
        _ => set_carrier(&mut order.carrier, path, value),
    }
}

fn set_advice(advice: &mut ShipmentAdvice, path: &str, value: Value) {
    let totals = &mut advice.totals;
    match path {
        "payload.reporting_code" => advice.reporting_code = Some(value.text()),
        "payload.order_number" => advice.order_number = Some(value.text()),
        "payload.shipped_on" => advice.shipped_on = Some(value.text()),
        "payload.shipment_id" => advice.shipment_id = Some(value.text()),
        "payload.agent_shipment_id" => advice.agent_shipment_id = Some(value.text()),
        "payload.purchase_order" => advice.purchase_order = Some(value.text()),
        "payload.totals.units_shipped" => totals.units_shipped = value.decimal(),
        "payload.totals.weight" => totals.weight = value.decimal(),
        "payload.totals.weight_uom" => totals.weight_uom = Some(value.text()),
        "payload.totals.volume" => totals.volume = value.decimal(),
        "payload.totals.volume_uom" => totals.volume_uom = Some(value.text()),
        "payload.totals.lading_quantity" => totals.lading_quantity = value.decimal(),
        _ => set_carrier(&mut advice.carrier, path, value),
    }
}

fn set_carrier(carrier: &mut crate::canonical::Carrier, path: &str, value: Value) {
    match path {
        "payload.carrier.scac" => carrier.scac = Some(value.text()),
        "payload.carrier.transport_method" => carrier.transport_method = Some(value.text()),
        "payload.carrier.routing" => carrier.routing = Some(value.text()),
        "payload.carrier.payment_method" => carrier.payment_method = Some(value.text()),
        _ => {}
    }
}

fn set_status(status: &mut ShipmentStatus, path: &str, value: Value) {
    match path {
        "payload.carrier_reference" => status.carrier_reference = Some(value.text()),
        "payload.shipment_id" => status.shipment_id = Some(value.text()),
        "payload.scac" => status.scac = Some(value.text()),
        _ => {}
    }
}

fn set_line(line: &mut LineDraft, path: &str, value: Value) {
    match line {
        LineDraft::Order(l) => match path {
            "line.line_number" => l.line_number = Some(value.text()),
            "line.quantity" => l.quantity = value.decimal(),
            "line.uom" => l.uom = Some(value.text()),
            "line.description" => l.description = Some(value.text()),
            "line.lot" => l.lot = Some(value.text()),
            _ => set_item(&mut l.item, path, value),
        },
        LineDraft::Advice(l) => match path {
            "line.line_number" => l.line_number = Some(value.text()),
            "line.status_code" => l.status_code = Some(value.text()),
            "line.quantity_ordered" => l.quantity_ordered = value.decimal(),
            "line.quantity_shipped" => l.quantity_shipped = value.decimal(),
            "line.quantity_difference" => l.quantity_difference = value.decimal(),
            "line.uom" => l.uom = Some(value.text()),
            "line.lot" => l.lot = Some(value.text()),
            "line.sscc" => l.sscc.push(value.text()),
            _ => set_item(&mut l.item, path, value),
        },
        LineDraft::Status(e) => match path {
            "event.status_code" => e.status_code = Some(value.text()),
            "event.reason_code" => e.reason_code = Some(value.text()),
            "event.appointment_code" => e.appointment_code = Some(value.text()),
            "event.date" => e.date = Some(value.text()),
            "event.time" => e.time = Some(value.text()),
            "event.time_code" => e.time_code = Some(value.text()),
            "event.at" => e.at = Some(value.text()),
            "event.location.city" => e.location.city = Some(value.text()),
            "event.location.state" => e.location.state = Some(value.text()),
            "event.location.country" => e.location.country = Some(value.text()),
            "event.location.latitude" => e.location.latitude = value.decimal(),
            "event.location.longitude" => e.location.longitude = value.decimal(),
            "event.equipment.scac" => e.equipment.scac = Some(value.text()),
            "event.equipment.number" => e.equipment.number = Some(value.text()),
            "event.weight" => e.weight = value.decimal(),
            "event.weight_uom" => e.weight_uom = Some(value.text()),
            "event.lading_quantity" => e.lading_quantity = value.decimal(),
            _ => {}
        },
    }
}

fn set_item(item: &mut crate::canonical::ItemIds, path: &str, value: Value) {
    let slot = match path {
        "line.item.upc" => &mut item.upc,
        "line.item.gtin" => &mut item.gtin,
        "line.item.ean" => &mut item.ean,
        "line.item.vendor_item" => &mut item.vendor_item,
        "line.item.buyer_item" => &mut item.buyer_item,
        "line.item.sku" => &mut item.sku,
        "line.item.lot" => &mut item.lot,
        "line.item.serial" => &mut item.serial,
        _ => return,
    };
    *slot = Some(value.text());
}

/// The group in progress.
struct Group {
    key: Option<String>,
    ordinal: u64,
    first_line: u64,
    last_line: u64,
    draft: RecordDraft,
    good_rows: u64,
    bad_lines: Vec<u64>,
}

/// Receives rows in file order and emits records and row errors.
pub(crate) struct Assembler<'a> {
    layout: &'a FlatLayout,
    source: FlatSource<'a>,
    milestones: &'a dyn MilestoneLookup,
    emit: &'a mut dyn FnMut(FlatItem),
    group: Option<Group>,
    ordinal: u64,
    pub(crate) summary: FlatSummary,
}

impl<'a> Assembler<'a> {
    pub(crate) fn new(
        layout: &'a FlatLayout,
        source: FlatSource<'a>,
        milestones: &'a dyn MilestoneLookup,
        emit: &'a mut dyn FnMut(FlatItem),
    ) -> Self {
        Assembler {
            layout,
            source,
            milestones,
            emit,
            group: None,
            ordinal: 0,
            summary: FlatSummary::default(),
        }
    }

    /// Reports a problem with a row that is not tied to a column value (encoding, length).
    /// The row is a bad row of its group: found by its key when `fields` can still be read,
    /// else the group in progress.
    pub(crate) fn bad_row(
        &mut self,
        line: u64,
        column: Option<u64>,
        code: RowErrorCode,
        message: String,
        fields: Option<&dyn RowFields>,
    ) {
        self.summary.rows += 1;
        self.place(line, fields);
        let error = self.error(line, column, code, message);
        self.mark_bad(line, std::slice::from_ref(&error));
        self.report(error);
    }

    /// Takes one data row.
    pub(crate) fn row(&mut self, line: u64, fields: &dyn RowFields) {
        self.summary.rows += 1;
        if let Some(column) = self.place(line, Some(fields)) {
            let error = self.error(
                line,
                Some(column),
                RowErrorCode::MissingGroupKey,
                "the group-by column is empty, so the row cannot be placed in a record".into(),
            );
            self.mark_bad(line, std::slice::from_ref(&error));
            self.report(error);
            return;
        }
        let (values, errors) = self.parse_row(line, fields);
        if !errors.is_empty() {
            self.mark_bad(line, &errors);
            for error in errors {
                self.report(error);
            }
            return;
        }
        self.apply(line, values);
    }

    /// Makes the row's group current, starting a new one when the key changes (always, when
    /// ungrouped). Returns the group-by column when the row has no key: such a row most
    /// likely belongs to the group in progress, so it spoils that group rather than silently
    /// starting or joining another.
    fn place(&mut self, line: u64, fields: Option<&dyn RowFields>) -> Option<u64> {
        let Some(source) = &self.layout.group_by else {
            self.start_group(None, line);
            return None;
        };
        let found = fields.map(|f| f.field(source));
        match found {
            Some(Ok((raw, _))) if !raw.trim().is_empty() => {
                let key = Some(raw.trim().to_string());
                if self.group.as_ref().is_none_or(|g| g.key != key) {
                    self.start_group(key, line);
                }
                None
            }
            other => {
                if self.group.is_none() {
                    self.start_group(None, line);
                }
                Some(match other {
                    Some(Ok((_, column)) | Err(column)) => column,
                    None => source.column(),
                })
            }
        }
    }

    /// Finishes the last group; call once at the end of the file.
    pub(crate) fn finish(mut self) -> FlatSummary {
        self.close_group();
        self.summary
    }

    fn parse_row<'c>(
        &self,
        line: u64,
        fields: &dyn RowFields,
    ) -> (Vec<(&'c Column, Value)>, Vec<RowError>)
    where
        'a: 'c,
    {
        let mut values = Vec::new();
        let mut errors = Vec::new();
        let layout: &'a FlatLayout = self.layout;
        for column in &layout.columns {
            let (raw, col) = match fields.field(&column.source) {
                Ok((raw, col)) => (raw.trim(), col),
                Err(col) => {
                    errors.push(self.error(
                        line,
                        Some(col),
                        RowErrorCode::ShortRow,
                        format!("the row has no field {col} for {}", column.path),
                    ));
                    continue;
                }
            };
            if raw.is_empty() {
                if column.required {
                    errors.push(self.error(
                        line,
                        Some(col),
                        RowErrorCode::MissingRequired,
                        format!("{} is required but the field is empty", column.path),
                    ));
                }
                continue;
            }
            match parse_value(&column.parser, raw) {
                Ok(value) => values.push((column, value)),
                Err(e) => errors.push(self.error(
                    line,
                    Some(col),
                    e.code,
                    format!("{}: {}", column.path, e.message),
                )),
            }
        }
        (values, errors)
    }

    fn apply(&mut self, line: u64, values: Vec<(&Column, Value)>) {
        let milestones = self.milestones;
        let Some(group) = self.group.as_mut() else {
            return;
        };
        group.good_rows += 1;
        group.last_line = line;
        let mut draft_line = None;
        for (column, value) in values {
            match column.target.level() {
                Level::Record => group
                    .draft
                    .set_record(&column.path, &column.target, value, line),
                Level::Line => {
                    let l =
                        draft_line.get_or_insert_with(|| group.draft.new_line(Milestone::Unmapped));
                    set_line(l, &column.path, value);
                }
            }
        }
        if let Some(l) = draft_line {
            group.draft.push_line(l, line, milestones);
        }
    }

    fn start_group(&mut self, key: Option<String>, line: u64) {
        self.close_group();
        self.ordinal += 1;
        self.group = Some(Group {
            key,
            ordinal: self.ordinal,
            first_line: line,
            last_line: line,
            draft: RecordDraft::new(self.layout.kind),
            good_rows: 0,
            bad_lines: Vec::new(),
        });
    }

    fn mark_bad(&mut self, line: u64, errors: &[RowError]) {
        let policy = self.layout.on_bad_row;
        if let Some(group) = self.group.as_mut() {
            group.bad_lines.push(line);
            group.last_line = line;
            if policy == BadRowPolicy::DropRow
                && let Some(first) = errors.first()
            {
                group.draft.warnings.push(format!(
                    "the row at line {line} was dropped: {}",
                    first.message
                ));
            }
        }
    }

    fn close_group(&mut self) {
        let Some(group) = self.group.take() else {
            return;
        };
        let grouped = self.layout.group_by.is_some();
        let rejected = grouped
            && !group.bad_lines.is_empty()
            && (self.layout.on_bad_row == BadRowPolicy::RejectGroup || group.good_rows == 0);
        if rejected {
            let key = group.key.as_deref().unwrap_or("");
            let lines: Vec<String> = group.bad_lines.iter().map(u64::to_string).collect();
            let error = self.error(
                group.first_line,
                None,
                RowErrorCode::GroupRejected,
                format!(
                    "no record for group {key:?} (lines {}-{}): bad rows at line {}",
                    group.first_line,
                    group.last_line,
                    lines.join(", ")
                ),
            );
            self.report(error);
            return;
        }
        if group.good_rows == 0 {
            return;
        }
        let (references, payload, warnings) = group.draft.finish();
        let mut source = Source::new(match self.layout.format {
            FlatFormat::Csv => SourceFormat::Csv,
            FlatFormat::Fixed => SourceFormat::Fixed,
        });
        source.file = Some(self.source.file_name.to_string().into());
        source.file_sha256 = Some(self.source.file_sha256.to_ascii_lowercase().into());
        source.position = Some(group.ordinal);
        let mut record = Record::new(
            flat_record_id(self.source.partner, self.source.file_sha256, group.ordinal).into(),
            self.source.partner.to_string().into(),
            self.source.test,
            source,
            references,
            payload,
        );
        record.warnings = warnings;
        self.summary.records += 1;
        (self.emit)(FlatItem::Record(Box::new(record)));
    }

    fn error(
        &self,
        line: u64,
        column: Option<u64>,
        code: RowErrorCode,
        message: String,
    ) -> RowError {
        RowError {
            file: self.source.file_name.to_string(),
            line,
            column,
            code,
            message,
        }
    }

    fn report(&mut self, error: RowError) {
        self.summary.errors += 1;
        (self.emit)(FlatItem::RowError(error));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_by_type() {
        let p = |parser: ValueParser, raw: &str| parse_value(&parser, raw).map_err(|e| e.code);
        assert_eq!(
            p(ValueParser::Date("%m/%d/%Y".into()), "01/05/2026"),
            Ok(Value::Text("2026-01-05".into()))
        );
        assert_eq!(
            p(ValueParser::Date("%m/%d/%Y".into()), "13/05/2026"),
            Err(RowErrorCode::BadDate)
        );
        let dt = ValueParser::DateTime {
            format: "%Y%m%d%H%M%z".into(),
            seconds: false,
            offset: true,
        };
        assert_eq!(
            p(dt.clone(), "202601051430-0500"),
            Ok(Value::Text("2026-01-05T14:30-05:00".into()))
        );
        assert_eq!(
            p(dt, "202601051430+0000"),
            Ok(Value::Text("2026-01-05T14:30Z".into()))
        );
        let time = ValueParser::Time {
            format: "%H%M%S".into(),
            seconds: true,
        };
        assert_eq!(p(time, "143005"), Ok(Value::Text("14:30:05".into())));
        assert_eq!(
            p(ValueParser::Sscc, "00012345678901234567"),
            Ok(Value::Text("012345678901234567".into()))
        );
        assert_eq!(p(ValueParser::Sscc, "12345"), Err(RowErrorCode::BadSscc));
    }

    #[test]
    fn row_error_codes_read_as_they_serialize() {
        use RowErrorCode::*;
        for code in [
            BadDecimal,
            BadDate,
            BadTime,
            BadDatetime,
            BadSscc,
            MissingRequired,
            MissingGroupKey,
            ShortRow,
            BadEncoding,
            LineTooLong,
            BadLength,
            GroupRejected,
        ] {
            let json = serde_json::to_string(&code).expect("serializes");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn row_error_display_has_file_line_column() {
        let e = RowError {
            file: "a.csv".into(),
            line: 4,
            column: Some(3),
            code: RowErrorCode::BadDate,
            message: "x".into(),
        };
        assert_eq!(e.to_string(), "a.csv:4:3: x");
    }
}

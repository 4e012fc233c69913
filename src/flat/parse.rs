//! Entry points for parsing a flat file with a validated layout, and the file-level errors.

use std::borrow::Cow;
use std::io::{self, Read};

use super::csv::read_csv;
use super::fixed::read_fixed;
use super::layout::{FlatEncoding, FlatFormat, FlatLayout};
use super::map::{Assembler, FlatItem, FlatSource, FlatSummary, RowError};
use crate::canonical::{MilestoneLookup, Record};

/// A problem with the file as a whole: nothing after it was read.
#[derive(Debug, thiserror::Error)]
pub enum FlatFileError {
    /// The input failed to read.
    #[error("{file}: cannot be read: {source}")]
    Io {
        /// File name.
        file: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The header row lacks columns the layout names.
    #[error(
        "{file}:{line}: the header row has no column named {}",
        quote_list(names)
    )]
    MissingColumns {
        /// File name.
        file: String,
        /// Line of the header row.
        line: u64,
        /// The missing header names.
        names: Vec<String>,
    },
}

fn quote_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Everything parsed from one file, for callers that want it in memory.
#[derive(Debug, Default)]
pub struct FlatOutput {
    /// Records in file order.
    pub records: Vec<Record>,
    /// Row errors in file order.
    pub errors: Vec<RowError>,
    /// Counts.
    pub summary: FlatSummary,
}

/// Streams `input` through `layout`, calling `on_item` with each record and row error in file
/// order. Memory is bounded by one group of rows. Event milestones come from `milestones`.
/// Row errors that were emitted before a file-level error stay valid.
pub fn parse_flat<R: Read>(
    layout: &FlatLayout,
    input: R,
    source: &FlatSource<'_>,
    milestones: &dyn MilestoneLookup,
    on_item: &mut dyn FnMut(FlatItem),
) -> Result<FlatSummary, FlatFileError> {
    let mut assembler = Assembler::new(layout, *source, milestones, on_item);
    match layout.format {
        FlatFormat::Csv => read_csv(layout, input, source.file_name, &mut assembler)?,
        FlatFormat::Fixed => read_fixed(layout, input, source.file_name, &mut assembler)?,
    }
    Ok(assembler.finish())
}

/// [`parse_flat`] collecting everything into a [`FlatOutput`].
pub fn parse_flat_all<R: Read>(
    layout: &FlatLayout,
    input: R,
    source: &FlatSource<'_>,
    milestones: &dyn MilestoneLookup,
) -> Result<FlatOutput, FlatFileError> {
    let mut output = FlatOutput::default();
    let summary = parse_flat(layout, input, source, milestones, &mut |item| match item {
        FlatItem::Record(record) => output.records.push(*record),
        FlatItem::RowError(error) => output.errors.push(error),
    })?;
    output.summary = summary;
    Ok(output)
}

/// Decodes bytes in the layout's encoding; `None` for invalid UTF-8.
pub(crate) fn decode(bytes: &[u8], encoding: FlatEncoding) -> Option<Cow<'_, str>> {
    match encoding {
        FlatEncoding::Utf8 => std::str::from_utf8(bytes).ok().map(Cow::Borrowed),
        FlatEncoding::Latin1 => Some(match std::str::from_utf8(bytes) {
            Ok(text) if text.is_ascii() => Cow::Borrowed(text),
            _ => Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::{Milestone, NoMilestones, Payload, SourceFormat, flat_record_id};
    use crate::flat::layout::FlatLayoutConfig;
    use crate::flat::map::RowErrorCode;
    use std::collections::BTreeMap;

    const SHA: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn layout(toml_text: &str) -> FlatLayout {
        let config: FlatLayoutConfig = toml::from_str(toml_text).unwrap();
        FlatLayout::from_config(&config).unwrap()
    }

    fn source() -> FlatSource<'static> {
        FlatSource {
            partner: "acme",
            file_name: "in.txt",
            file_sha256: SHA,
            test: false,
        }
    }

    fn parse(layout: &FlatLayout, text: &str) -> FlatOutput {
        parse_flat_all(layout, text.as_bytes(), &source(), &NoMilestones).unwrap()
    }

    fn json(record: &Record) -> String {
        serde_json::to_string(record).unwrap()
    }

    fn status_lookup(code: &str, _reason: Option<&str>) -> Milestone {
        match code {
            "AF" => Milestone::PickedUp,
            "D1" => Milestone::Delivered,
            _ => Milestone::Unmapped,
        }
    }

    const STATUS_CSV_LAYOUT: &str = r#"
        name = "acme_status"
        format = "csv"
        kind = "shipment_status"
        [[columns]]
        header = "PRO"
        target = "payload.carrier_reference"
        required = true
        [[columns]]
        header = "Status"
        target = "event.status_code"
        [[columns]]
        header = "Date"
        target = "event.date"
        format = "%m/%d/%Y"
        [[columns]]
        header = "Time"
        target = "event.time"
        format = "%H%M"
        [[columns]]
        header = "Weight"
        target = "event.weight"
        [[columns]]
        header = "City"
        target = "event.location.city"
    "#;

    #[test]
    fn csv_with_header_gives_one_record_per_row() {
        let layout = layout(STATUS_CSV_LAYOUT);
        let text = "\u{feff}PRO,Status,Date,Time,Weight,City\r\n\
                    P1,AF,01/05/2026,1430,120.50,Dallas\r\n\
                    P2,D1,01/06/2026,0915,,\r\n";
        let out = parse_flat_all(&layout, text.as_bytes(), &source(), &status_lookup).unwrap();
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        assert_eq!(out.records.len(), 2);
        let first = &out.records[0];
        assert_eq!(first.id, flat_record_id("acme", SHA, 1));
        assert_eq!(first.source.format, SourceFormat::Csv);
        assert_eq!(first.source.position, Some(1));
        assert_eq!(first.references.pro_number.as_deref(), Some("P1"));
        let text = json(first);
        assert!(
            text.contains(concat!(
                r#""payload":{"carrier_reference":"P1","parties":[],"events":[{"status_code":"AF","#,
                r#""milestone":"picked_up","is_estimate":false,"date":"2026-01-05","time":"14:30","#,
                r#""at":"2026-01-05T14:30","location":{"city":"Dallas"},"weight":120.50}],"milestone":"picked_up"}"#
            )),
            "{text}"
        );
        assert!(json(&out.records[1]).contains(r#""milestone":"delivered""#));
        assert_eq!(out.summary.rows, 2);
        assert_eq!(out.summary.records, 2);
    }

    #[test]
    fn partner_milestones_and_time_zone_apply_to_status_rows() {
        use crate::canonical::map::MilestoneOverride;
        use crate::canonical::milestone::PartnerMilestones;
        let layout = layout(
            r#"
            name = "partner_status"
            format = "csv"
            kind = "shipment_status"
            group_by = { header = "PRO" }
            [[columns]]
            header = "PRO"
            target = "payload.carrier_reference"
            [[columns]]
            header = "Status"
            target = "event.status_code"
            [[columns]]
            header = "Reason"
            target = "event.reason_code"
            [[columns]]
            header = "When"
            target = "event.at"
            format = "%Y%m%d%H%M"
            [[columns]]
            header = "Zone"
            target = "event.time_code"
            "#,
        );
        let text = "PRO,Status,Reason,When,Zone\n\
                    P1,AF,NS,202601051430,\n\
                    P1,SD,AO,202601061000,ET\n\
                    P1,D1,NS,202601081200,UT\n\
                    P1,X6,NS,202601071200,\n\
                    P1,QQ,,202601071300,\n";
        let overrides = BTreeMap::from([
            (
                "X6".to_string(),
                MilestoneOverride {
                    milestone: Some(Milestone::OutForDelivery),
                    ..MilestoneOverride::default()
                },
            ),
            (
                "SD+AO".to_string(),
                MilestoneOverride {
                    milestone: Some(Milestone::Delayed),
                    exception_reason: Some("weather".into()),
                    ..MilestoneOverride::default()
                },
            ),
        ]);
        let chicago = PartnerMilestones::new(&overrides, Some(chrono_tz::America::Chicago));
        let out = parse_flat_all(&layout, text.as_bytes(), &source(), &chicago).unwrap();
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        let Payload::ShipmentStatus(status) = &out.records[0].payload else {
            panic!("wrong payload");
        };
        let seen: Vec<_> = status
            .events
            .iter()
            .map(|e| (e.milestone, e.at.as_deref(), e.exception_reason.as_deref()))
            .collect();
        assert_eq!(
            seen,
            [
                (Milestone::PickedUp, Some("2026-01-05T14:30-06:00"), None),
                (
                    Milestone::Delayed,
                    Some("2026-01-06T10:00-05:00"),
                    Some("weather")
                ),
                (Milestone::Delivered, Some("2026-01-08T12:00Z"), None),
                (
                    Milestone::OutForDelivery,
                    Some("2026-01-07T12:00-06:00"),
                    None
                ),
                (Milestone::Unmapped, Some("2026-01-07T13:00-06:00"), None),
            ]
        );
        assert_eq!(
            status.events[0].sub_status.as_deref(),
            Some("departed_pickup")
        );
        // By event time the delivery is last, whatever the row order.
        assert_eq!(status.milestone, Some(Milestone::Delivered));
        assert_eq!(
            out.records[0].warnings,
            ["line 6: status code \"QQ\" has no milestone mapping; event kept as unmapped"]
        );
        // Without the partner: default table, no zone, no offset.
        let plain = parse_flat_all(
            &layout,
            text.as_bytes(),
            &source(),
            &PartnerMilestones::defaults(),
        )
        .unwrap();
        let Payload::ShipmentStatus(status) = &plain.records[0].payload else {
            panic!("wrong payload");
        };
        assert_eq!(status.events[0].at.as_deref(), Some("2026-01-05T14:30"));
        assert_eq!(status.events[3].milestone, Milestone::InTransit);
        assert_eq!(status.events[1].exception_reason.as_deref(), Some("AO"));
    }

    #[test]
    fn csv_by_position_with_pipes() {
        let layout = layout(
            r#"
            name = "by_position"
            format = "csv"
            kind = "shipment_status"
            [csv]
            delimiter = "|"
            header = false
            skip_rows = 1
            [[columns]]
            index = 2
            target = "payload.carrier_reference"
            [[columns]]
            index = 1
            target = "event.status_code"
            "#,
        );
        let out = parse(&layout, "REPORT 2026-01-05\nX6|P9\nD1|P10\n");
        assert!(out.errors.is_empty());
        let pros: Vec<_> = out
            .records
            .iter()
            .map(|r| r.references.pro_number.clone().unwrap_or_default())
            .collect();
        assert_eq!(pros, ["P9", "P10"]);
        assert_eq!(out.summary.skipped, 1);
        // Positions count data groups, so the skipped line does not shift ids.
        assert_eq!(out.records[0].source.position, Some(1));
    }

    #[test]
    fn quoted_fields_keep_delimiters_quotes_and_line_breaks() {
        let layout = layout(
            r#"
            name = "quoted"
            format = "csv"
            kind = "warehouse_order"
            [[columns]]
            header = "Order"
            target = "payload.order_number"
            [[columns]]
            header = "Name"
            target = "party.ship_to.name"
            [[columns]]
            header = "Street"
            target = "party.ship_to.address.line1"
            [[columns]]
            header = "Street 2"
            target = "party.ship_to.address.line2"
            "#,
        );
        let text = "Order,Name,Street,Street 2\nSO1,\"Smith, \"\"J\"\" & Co\",\"1 Main St\nSuite 5\",Dock 3\nSO2,Plain,x,\n";
        let out = parse(&layout, text);
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        let Payload::WarehouseOrder(order) = &out.records[0].payload else {
            panic!("wrong payload");
        };
        assert_eq!(order.parties[0].name.as_deref(), Some("Smith, \"J\" & Co"));
        assert_eq!(
            order.parties[0].address.lines,
            ["1 Main St\nSuite 5", "Dock 3"]
        );
        assert_eq!(
            out.records[0].references.order_number.as_deref(),
            Some("SO1")
        );
        // The second record starts on line 4: the quoted line break is inside record 1.
        assert_eq!(out.records.len(), 2);
    }

    const ORDER_CSV_LAYOUT: &str = r#"
        name = "orders"
        format = "csv"
        kind = "warehouse_order"
        group_by = { header = "Order" }
        [[columns]]
        header = "Order"
        target = "payload.order_number"
        [[columns]]
        header = "Ship By"
        target = "payload.dates.ship_no_later"
        format = "%Y%m%d"
        [[columns]]
        header = "Line"
        target = "line.line_number"
        [[columns]]
        header = "UPC"
        target = "line.item.upc"
        [[columns]]
        header = "Qty"
        target = "line.quantity"
        required = true
    "#;

    #[test]
    fn grouped_rows_become_one_order_with_lines() {
        let layout = layout(ORDER_CSV_LAYOUT);
        let text = "Order,Ship By,Line,UPC,Qty\n\
                    SO1,20260110,1,012345678905,12\n\
                    SO1,20260110,2,012345678912,0.5\n\
                    SO2,20260111,1,012345678905,3\n\
                    SO1,20260112,1,012345678905,1\n";
        let out = parse(&layout, text);
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        assert_eq!(
            out.records.len(),
            3,
            "a key seen again later starts a new record"
        );
        let Payload::WarehouseOrder(order) = &out.records[0].payload else {
            panic!("wrong payload");
        };
        assert_eq!(order.lines.len(), 2);
        assert_eq!(order.dates.ship_no_later.as_deref(), Some("2026-01-10"));
        assert!(json(&out.records[0]).contains(
            r#""lines":[{"line_number":"1","quantity":12,"item":{"upc":"012345678905"}},{"line_number":"2","quantity":0.5,"item":{"upc":"012345678912"}}]"#
        ));
        let ids: Vec<_> = out.records.iter().map(|r| r.id.clone()).collect();
        assert_eq!(ids[2], flat_record_id("acme", SHA, 3));
    }

    #[test]
    fn disagreeing_record_values_in_a_group_warn() {
        let layout = layout(ORDER_CSV_LAYOUT);
        let text = "Order,Ship By,Line,UPC,Qty\nSO1,20260110,1,A,1\nSO1,20260111,2,B,1\n";
        let out = parse(&layout, text);
        assert_eq!(
            out.records[0].warnings,
            [
                "line 3: payload.dates.ship_no_later is \"2026-01-11\", but the record keeps the first row's \"2026-01-10\""
            ]
        );
    }

    #[test]
    fn bad_rows_are_located_and_good_rows_still_come_out() {
        let layout = layout(STATUS_CSV_LAYOUT);
        let text = "PRO,Status,Date,Time,Weight,City\n\
                    P1,AF,01/05/2026,1430,1,A\n\
                    P2,AF,13/45/2026,1430,1,B\n\
                    P3,AF,01/05/2026,1430,12.3.4,C\n\
                    ,AF,01/05/2026,1430,1,D\n\
                    P5,D1,01/05/2026,1430,2,E\n";
        let out = parse(&layout, text);
        let pros: Vec<_> = out
            .records
            .iter()
            .map(|r| r.references.pro_number.clone().unwrap_or_default())
            .collect();
        assert_eq!(pros, ["P1", "P5"]);
        let errors: Vec<String> = out.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            errors,
            [
                "in.txt:3:3: event.date: \"13/45/2026\" is not a date in the format \"%m/%d/%Y\"",
                "in.txt:4:5: event.weight: \"12.3.4\" is not a decimal number: it has more than one decimal separator",
                "in.txt:5:1: payload.carrier_reference is required but the field is empty",
            ]
        );
        let codes: Vec<_> = out.errors.iter().map(|e| e.code).collect();
        assert_eq!(
            codes,
            [
                RowErrorCode::BadDate,
                RowErrorCode::BadDecimal,
                RowErrorCode::MissingRequired
            ]
        );
        // Ordinals count bad rows too: P5 is the fifth logical record.
        assert_eq!(out.records[1].source.position, Some(5));
    }

    #[test]
    fn bad_row_in_a_group_rejects_the_group_by_default() {
        let layout = layout(ORDER_CSV_LAYOUT);
        let text = "Order,Ship By,Line,UPC,Qty\n\
                    SO1,20260110,1,A,1\n\
                    SO1,20260110,2,B,\n\
                    SO2,20260110,1,C,4\n";
        let out = parse(&layout, text);
        assert_eq!(out.records.len(), 1);
        assert_eq!(
            out.records[0].references.order_number.as_deref(),
            Some("SO2")
        );
        assert_eq!(out.records[0].source.position, Some(2));
        let codes: Vec<_> = out.errors.iter().map(|e| e.code).collect();
        assert_eq!(
            codes,
            [RowErrorCode::MissingRequired, RowErrorCode::GroupRejected]
        );
        assert_eq!(
            out.errors[1].to_string(),
            "in.txt:2:-: no record for group \"SO1\" (lines 2-3): bad rows at line 3"
        );
    }

    #[test]
    fn drop_row_policy_keeps_the_group_with_a_warning() {
        let text_layout = ORDER_CSV_LAYOUT.replace(
            "group_by = { header = \"Order\" }",
            "group_by = { header = \"Order\" }\non_bad_row = \"drop_row\"",
        );
        let layout = layout(&text_layout);
        let text = "Order,Ship By,Line,UPC,Qty\nSO1,20260110,1,A,1\nSO1,20260110,2,B,x\n";
        let out = parse(&layout, text);
        assert_eq!(out.records.len(), 1);
        let Payload::WarehouseOrder(order) = &out.records[0].payload else {
            panic!("wrong payload");
        };
        assert_eq!(order.lines.len(), 1);
        assert_eq!(out.records[0].warnings.len(), 1);
        assert!(
            out.records[0].warnings[0].starts_with("the row at line 3 was dropped: line.quantity:")
        );
        assert_eq!(out.errors.len(), 1);
    }

    #[test]
    fn decimal_comma_and_trailing_minus() {
        let layout = layout(
            r#"
            name = "eu"
            format = "csv"
            kind = "shipment_advice"
            [csv]
            delimiter = ";"
            [[columns]]
            header = "Auftrag"
            target = "payload.order_number"
            [[columns]]
            header = "Menge"
            target = "line.quantity_shipped"
            decimal_separator = ","
            [[columns]]
            header = "Diff"
            target = "line.quantity_difference"
            decimal_separator = ","
            trailing_minus = true
            [[columns]]
            header = "Status"
            target = "line.status_code"
            "#,
        );
        let out = parse(&layout, "Auftrag;Menge;Diff;Status\nA1;1234,5;2,25-;PR\n");
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        let text = json(&out.records[0]);
        assert!(
            text.contains(r#""lines":[{"status":"partial","status_code":"PR","quantity_shipped":1234.5,"quantity_difference":-2.25}],"short_shipped":true"#),
            "{text}"
        );
    }

    const FIXED_LAYOUT: &str = r#"
        name = "fixed_orders"
        format = "fixed"
        kind = "warehouse_order"
        group_by = { start = 2, length = 6 }
        [fixed]
        record_length = 30
        record_type = { start = 1, length = 1, keep = ["D"] }
        [[columns]]
        start = 2
        length = 6
        target = "payload.order_number"
        [[columns]]
        start = 8
        length = 12
        target = "line.item.sku"
        [[columns]]
        start = 20
        length = 7
        target = "line.quantity"
        implied_decimals = 2
        [[columns]]
        start = 27
        length = 2
        target = "line.uom"
    "#;

    #[test]
    fn fixed_width_with_record_types_groups_and_implied_decimals() {
        let layout = layout(FIXED_LAYOUT);
        let text = "HACME WAREHOUSE FILE 20260105\n\
                    DSO0001WIDGET-A    0001250EA\n\
                    DSO0001GADGET      0000005CA\n\
                    DSO0002WIDGET-A    1234567EA\n\
                    T000003\n";
        let out = parse(&layout, text);
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        assert_eq!(out.records.len(), 2);
        assert_eq!(out.records[0].source.format, SourceFormat::Fixed);
        let text = json(&out.records[0]);
        assert!(
            text.contains(r#""lines":[{"quantity":12.50,"uom":"EA","item":{"sku":"WIDGET-A"}},{"quantity":0.05,"uom":"CA","item":{"sku":"GADGET"}}]"#),
            "{text}"
        );
        assert!(json(&out.records[1]).contains(r#""quantity":12345.67"#));
        assert_eq!(out.summary.skipped, 2);
    }

    #[test]
    fn fixed_width_bad_value_reports_its_start_column() {
        let layout = layout(FIXED_LAYOUT);
        let text = "DSO0001WIDGET-A    00012X0EA\nDSO0002WIDGET-A    0000100EA\nDSO0003WIDGET-A    0000100EA    TOO LONG\n";
        let out = parse(&layout, text);
        assert_eq!(out.records.len(), 1);
        assert_eq!(
            out.records[0].references.order_number.as_deref(),
            Some("SO0002")
        );
        let errors: Vec<String> = out.errors.iter().map(ToString::to_string).collect();
        assert!(
            errors[0].starts_with("in.txt:1:20: line.quantity:"),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("in.txt:3:31: the line has 40 characters")),
            "{errors:?}"
        );
    }

    #[test]
    fn missing_header_column_fails_the_file() {
        let layout = layout(STATUS_CSV_LAYOUT);
        let err = parse_flat_all(
            &layout,
            "PRO,Status\nP1,AF\n".as_bytes(),
            &source(),
            &NoMilestones,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "in.txt:1: the header row has no column named \"Date\", \"Time\", \"Weight\", \"City\""
        );
    }

    #[test]
    fn short_rows_and_latin1() {
        let layout = layout(
            r#"
            name = "l1"
            format = "csv"
            kind = "warehouse_order"
            encoding = "latin1"
            [csv]
            header = false
            [[columns]]
            index = 1
            target = "payload.order_number"
            [[columns]]
            index = 3
            target = "party.ship_to.name"
            "#,
        );
        let out = parse_flat_all(
            &layout,
            &b"SO1,x,M\xfcller\nSO2\n"[..],
            &source(),
            &NoMilestones,
        )
        .unwrap();
        assert_eq!(out.records.len(), 1);
        let Payload::WarehouseOrder(order) = &out.records[0].payload else {
            panic!("wrong payload");
        };
        assert_eq!(order.parties[0].name.as_deref(), Some("M\u{fc}ller"));
        assert_eq!(out.errors[0].code, RowErrorCode::ShortRow);
        assert_eq!(
            out.errors[0].to_string(),
            "in.txt:2:3: the row has no field 3 for party.ship_to.name"
        );
    }

    #[test]
    fn invalid_utf8_is_a_bad_row() {
        let layout = layout(STATUS_CSV_LAYOUT);
        let text = b"PRO,Status,Date,Time,Weight,City\nP1,AF,01/05/2026,1430,1,M\xfcnchen\nP2,AF,01/05/2026,1430,1,Berlin\n";
        let out = parse_flat_all(&layout, &text[..], &source(), &NoMilestones).unwrap();
        assert_eq!(out.records.len(), 1);
        assert_eq!(out.errors[0].code, RowErrorCode::BadEncoding);
        assert_eq!(out.errors[0].column, Some(6));
    }

    /// Hands out one byte per read, to prove parsing does not depend on chunk boundaries.
    struct OneByte<'a>(&'a [u8]);

    impl Read for OneByte<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((byte, rest)), Some(slot)) => {
                    *slot = *byte;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn tiny_chunks_parse_like_a_whole_buffer() {
        let cases = [
            (
                STATUS_CSV_LAYOUT,
                "PRO,Status,Date,Time,Weight,City\r\nP1,AF,01/05/2026,1430,1,\"A, \"\"B\"\"\"\r\nP2,X,bad,1430,1,C\n",
            ),
            (
                FIXED_LAYOUT,
                "HHEADER\r\nDSO0001WIDGET-A    0001250EA\r\nDSO0001GADGET      00000X5CA\nDSO0002WIDGET-A    1234567EA",
            ),
        ];
        for (layout_text, input) in cases {
            let layout = layout(layout_text);
            let whole = parse(&layout, input);
            let chunked =
                parse_flat_all(&layout, OneByte(input.as_bytes()), &source(), &NoMilestones)
                    .unwrap();
            let as_json = |out: &FlatOutput| {
                let records: Vec<String> = out.records.iter().map(json).collect();
                (records, out.errors.clone(), out.summary)
            };
            assert_eq!(as_json(&whole), as_json(&chunked));
            assert!(!whole.records.is_empty() && !whole.errors.is_empty());
        }
    }

    #[test]
    fn references_extra_feed_references() {
        let layout = layout(
            r#"
            name = "refs"
            format = "csv"
            kind = "shipment_status"
            [[columns]]
            header = "BOL"
            target = "references_extra.BM"
            [[columns]]
            header = "Track"
            target = "references.tracking_numbers"
            [[columns]]
            header = "SSCC"
            target = "references.sscc"
            "#,
        );
        let out = parse(&layout, "BOL,Track,SSCC\nB1,1Z1,00001234567890123456\n");
        let refs = &out.records[0].references;
        assert_eq!(refs.bill_of_lading.as_deref(), Some("B1"));
        assert_eq!(refs.tracking_numbers, ["1Z1"]);
        assert_eq!(refs.sscc, ["001234567890123456"]);
    }
}

//! Which flat layout fits a file: judged from the file's first bytes (its content), never its name.
//!
//! [`layout_fit`] says how well one layout describes a prefix of the file, from a header row
//! that names every column the layout reads (the strongest sign) down to "the lines are text"
//! (the weakest). [`best_layouts`] keeps the layouts of the strongest fit; the caller decides
//! what to do when that is not exactly one.

use std::collections::HashSet;

use super::layout::{ColumnRef, FlatFormat, FlatLayout};
use super::parse::decode;
use crate::intake::Sniffed;

/// How well a layout fits a file, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fit {
    /// A fixed-width layout without `record_length` or `record_type`: any text fits it.
    Loose,
    /// A fixed-width layout whose `record_length` no line exceeds.
    Length,
    /// The file's shape matches: the CSV delimiter and enough fields (header-less CSV), record
    /// types the layout keeps, or lines exactly `record_length` long (fixed width).
    Structure,
    /// A CSV header row names every column the layout reads.
    Header,
}

/// How well `layout` fits a file whose content sniffed as `sniffed` and starts with `prefix`;
/// `None` when it does not fit. Only text (CSV, fixed width, other text) can fit.
pub fn layout_fit(layout: &FlatLayout, sniffed: Sniffed, prefix: &[u8]) -> Option<Fit> {
    if !matches!(
        sniffed,
        Sniffed::Csv { .. } | Sniffed::FixedWidth { .. } | Sniffed::Text
    ) {
        return None;
    }
    match layout.format {
        FlatFormat::Csv => csv_fit(layout, sniffed, prefix),
        FlatFormat::Fixed => fixed_fit(layout, sniffed, prefix),
    }
}

/// The layouts (by index into `layouts`) of the strongest fit, with that fit.
pub fn best_layouts<'a>(
    layouts: impl IntoIterator<Item = &'a FlatLayout>,
    sniffed: Sniffed,
    prefix: &[u8],
) -> Option<(Fit, Vec<usize>)> {
    let mut best: Option<(Fit, Vec<usize>)> = None;
    for (i, layout) in layouts.into_iter().enumerate() {
        let Some(fit) = layout_fit(layout, sniffed, prefix) else {
            continue;
        };
        match &mut best {
            Some((top, list)) if *top == fit => list.push(i),
            Some((top, _)) if *top > fit => {}
            _ => best = Some((fit, vec![i])),
        }
    }
    best
}

/// The first CSV records of the prefix (a record cut off by the prefix's end is dropped), with
/// the layout's delimiter and quote; blank records are left out, as the reader skips them.
fn csv_records(layout: &FlatLayout, prefix: &[u8]) -> Vec<Vec<String>> {
    let body = prefix.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(prefix);
    let complete = match body.iter().rposition(|&b| b == b'\n') {
        Some(end) if end + 1 < body.len() => &body[..=end],
        _ => body,
    };
    let mut reader = ::csv::ReaderBuilder::new()
        .delimiter(layout.csv.delimiter)
        .quote(layout.csv.quote)
        .double_quote(true)
        .has_headers(false)
        .flexible(true)
        .from_reader(complete);
    let mut out = Vec::new();
    for record in reader.byte_records() {
        let Ok(record) = record else { break };
        let fields: Vec<String> = record
            .iter()
            .map(|f| decode(f, layout.encoding).map_or_else(String::new, |t| t.trim().to_string()))
            .collect();
        if fields.iter().any(|f| !f.is_empty()) {
            out.push(fields);
        }
    }
    out
}

fn csv_fit(layout: &FlatLayout, sniffed: Sniffed, prefix: &[u8]) -> Option<Fit> {
    let records = csv_records(layout, prefix);
    let skip = usize::try_from(layout.csv.skip_rows).unwrap_or(usize::MAX);
    let mut rows = records.iter().skip(skip);
    let sources = || {
        layout
            .columns
            .iter()
            .map(|c| &c.source)
            .chain(&layout.group_by)
    };
    if layout.csv.header {
        let header: HashSet<&str> = rows.next()?.iter().map(String::as_str).collect();
        let all_named = sources().all(|s| match s {
            ColumnRef::Header(name) => header.contains(name.as_str()),
            _ => true,
        });
        return all_named.then_some(Fit::Header);
    }
    // Without a header, only the shape speaks: the sniffed delimiter, and enough fields.
    if sniffed
        != (Sniffed::Csv {
            delimiter: layout.csv.delimiter,
        })
    {
        return None;
    }
    let needed = sources()
        .filter_map(|s| match s {
            ColumnRef::Index(i) => Some(i + 1),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let first = rows.next()?;
    (first.len() >= needed).then_some(Fit::Structure)
}

fn fixed_fit(layout: &FlatLayout, sniffed: Sniffed, prefix: &[u8]) -> Option<Fit> {
    let options = &layout.fixed;
    let body = prefix.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(prefix);
    let mut lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
    // The last piece is empty after a final line break, or possibly cut off by the prefix.
    if lines.len() > 1 {
        lines.pop();
    }
    let skip = usize::try_from(options.skip_rows).unwrap_or(usize::MAX);
    let lines: Vec<String> = lines
        .into_iter()
        .skip(skip)
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .filter_map(|l| decode(l, layout.encoding).map(|t| t.into_owned()))
        .collect();
    if lines.is_empty() {
        return None;
    }
    let mut fit = Fit::Loose;
    if let Some(max) = options.record_length {
        if lines.iter().any(|l| l.chars().count() > max) {
            return None;
        }
        fit = Fit::Length;
        if sniffed == (Sniffed::FixedWidth { line_length: max }) {
            fit = Fit::Structure;
        }
    }
    if let Some((ColumnRef::Span { start, length }, keep)) = &options.record_type {
        let kept = lines.iter().any(|l| {
            let kind: String = l.chars().skip(*start).take(*length).collect();
            keep.iter().any(|k| k == kind.trim())
        });
        if !kept {
            return None;
        }
        fit = Fit::Structure;
    }
    Some(fit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flat::layout::FlatLayoutConfig;
    use crate::intake::sniff;

    fn layout(text: &str) -> FlatLayout {
        let config: FlatLayoutConfig = toml::from_str(text).expect("layout toml");
        FlatLayout::from_config(&config).expect("valid layout")
    }

    const HEADER_CSV: &str = r#"
        name = "status_csv"
        format = "csv"
        kind = "shipment_status"
        [[columns]]
        header = "PRO"
        target = "payload.carrier_reference"
        [[columns]]
        header = "Status"
        target = "event.status_code"
    "#;

    const POSITION_CSV: &str = r#"
        name = "orders_by_position"
        format = "csv"
        kind = "warehouse_order"
        [csv]
        header = false
        [[columns]]
        index = 1
        target = "payload.order_number"
        [[columns]]
        index = 4
        target = "line.quantity"
    "#;

    const FIXED: &str = r#"
        name = "advice_fixed"
        format = "fixed"
        kind = "shipment_advice"
        [fixed]
        record_length = 20
        record_type = { start = 1, length = 1, keep = ["D"] }
        [[columns]]
        start = 2
        length = 6
        target = "payload.order_number"
    "#;

    fn fit(layout_text: &str, file: &[u8]) -> Option<Fit> {
        layout_fit(&layout(layout_text), sniff(file), file)
    }

    #[test]
    fn header_rows_decide_csv_layouts() {
        let file = b"\xEF\xBB\xBFStatus,PRO,Extra\r\nAF,P1,x\r\n";
        assert_eq!(fit(HEADER_CSV, file), Some(Fit::Header));
        assert_eq!(fit(HEADER_CSV, b"Status,Pro\nAF,P1\n"), None);
        // A quoted line break makes the sniffer call it text; the header still decides.
        let quoted = b"PRO,Status,Note\nP1,AF,\"two\nlines\"\nP2,D1,x\n";
        assert_eq!(sniff(quoted), Sniffed::Text);
        assert_eq!(fit(HEADER_CSV, quoted), Some(Fit::Header));
    }

    #[test]
    fn header_less_csv_needs_the_delimiter_and_enough_fields() {
        assert_eq!(
            fit(POSITION_CSV, b"SO1,1,A,12\nSO1,2,B,3\n"),
            Some(Fit::Structure)
        );
        assert_eq!(fit(POSITION_CSV, b"SO1,1,A\nSO1,2,B\n"), None);
        assert_eq!(fit(POSITION_CSV, b"SO1;1;A;12\nSO1;2;B;3\n"), None);
    }

    #[test]
    fn fixed_layouts_check_lengths_and_record_types() {
        let file = b"H20260105 HEADER\nDSO0001WIDGET 00012\nT000001\n";
        assert_eq!(fit(FIXED, file), Some(Fit::Structure));
        assert_eq!(fit(FIXED, b"XSO0001WIDGET 00012\n"), None, "no kept type");
        assert_eq!(
            fit(FIXED, b"DSO0001WIDGET 00012 AND MORE\n"),
            None,
            "too long"
        );
        let loose = FIXED.replace("record_length = 20\n", "").replace(
            "record_type = { start = 1, length = 1, keep = [\"D\"] }\n",
            "",
        );
        assert_eq!(fit(&loose, b"anything at all\n"), Some(Fit::Loose));
        assert_eq!(fit(&loose, b"ISA*00*"), None, "X12 is not flat");
    }

    #[test]
    fn the_strongest_fit_wins_and_ties_are_kept() {
        let layouts = [layout(HEADER_CSV), layout(POSITION_CSV), layout(FIXED)];
        let file = b"PRO,Status,a,b\nP1,AF,x,y\n";
        assert_eq!(
            best_layouts(&layouts, sniff(file), file),
            Some((Fit::Header, vec![0]))
        );
        let twins = [layout(POSITION_CSV), layout(POSITION_CSV)];
        let file = b"SO1,1,A,12\n";
        assert_eq!(
            best_layouts(&twins, sniff(file), file),
            Some((Fit::Structure, vec![0, 1]))
        );
        assert_eq!(best_layouts(&twins, Sniffed::Zip, b"PK\x03\x04"), None);
    }
}

//! CSV rows for flat layouts: streams records with the `csv` crate and hands each row to the assembler.

use std::collections::HashMap;
use std::io::Read;

use super::layout::{ColumnRef, FlatLayout};
use super::map::{Assembler, RowErrorCode, RowFields};
use super::parse::{FlatFileError, decode};

/// One decoded CSV row.
struct CsvRow<'r> {
    fields: &'r [String],
    headers: &'r HashMap<String, usize>,
}

impl RowFields for CsvRow<'_> {
    fn field(&self, source: &ColumnRef) -> Result<(&str, u64), u64> {
        let index = match source {
            ColumnRef::Index(i) => *i,
            // Header names were checked against the header row before any data row.
            ColumnRef::Header(name) => *self.headers.get(name).ok_or(0u64)?,
            ColumnRef::Span { .. } => return Err(0),
        };
        let column = index as u64 + 1;
        self.fields
            .get(index)
            .map(|f| (f.as_str(), column))
            .ok_or(column)
    }
}

/// Reads every row of a CSV file into the assembler.
pub(crate) fn read_csv<R: Read>(
    layout: &FlatLayout,
    input: R,
    file: &str,
    assembler: &mut Assembler<'_>,
) -> Result<(), FlatFileError> {
    let options = layout.csv;
    let mut reader = ::csv::ReaderBuilder::new()
        .delimiter(options.delimiter)
        .quote(options.quote)
        .double_quote(true)
        .has_headers(false)
        .flexible(true)
        .from_reader(input);
    let mut record = ::csv::ByteRecord::new();
    let mut fields: Vec<String> = Vec::new();
    let mut headers: HashMap<String, usize> = HashMap::new();
    let mut to_skip = options.skip_rows;
    let mut need_header = options.header;
    let mut first = true;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(error) => {
                let line = error.position().map_or(0, |p| p.line());
                if error.is_io_error() {
                    return Err(FlatFileError::Io {
                        file: file.to_string(),
                        source: std::io::Error::other(error),
                    });
                }
                assembler.bad_row(
                    line,
                    None,
                    RowErrorCode::BadEncoding,
                    error.to_string(),
                    None,
                );
                continue;
            }
        }
        let line = record.position().map_or(0, |p| p.line());
        if to_skip > 0 {
            to_skip -= 1;
            assembler.summary.skipped += 1;
            continue;
        }
        fields.clear();
        let mut bad_field = None;
        for (i, raw) in record.iter().enumerate() {
            let raw = if first && i == 0 {
                raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw)
            } else {
                raw
            };
            match decode(raw, layout.encoding) {
                Some(text) => fields.push(text.into_owned()),
                None => {
                    bad_field = Some(i as u64 + 1);
                    break;
                }
            }
        }
        first = false;
        if let Some(column) = bad_field {
            assembler.bad_row(
                line,
                Some(column),
                RowErrorCode::BadEncoding,
                "the field is not valid UTF-8 (set encoding = \"latin1\" if the partner sends ISO-8859-1)".into(),
                None,
            );
            continue;
        }
        if fields.iter().all(|f| f.trim().is_empty()) {
            assembler.summary.skipped += 1;
            continue;
        }
        if need_header {
            need_header = false;
            assembler.summary.skipped += 1;
            for (i, name) in fields.iter().enumerate() {
                headers.entry(name.trim().to_string()).or_insert(i);
            }
            check_headers(layout, &headers, file, line)?;
            continue;
        }
        let row = CsvRow {
            fields: &fields,
            headers: &headers,
        };
        assembler.row(line, &row);
    }
    Ok(())
}

/// Every `header = "NAME"` of the layout must be in the header row.
fn check_headers(
    layout: &FlatLayout,
    headers: &HashMap<String, usize>,
    file: &str,
    line: u64,
) -> Result<(), FlatFileError> {
    let wanted = layout
        .columns
        .iter()
        .map(|c| &c.source)
        .chain(layout.group_by.as_ref());
    let mut missing: Vec<String> = Vec::new();
    for source in wanted {
        if let ColumnRef::Header(name) = source
            && !headers.contains_key(name)
            && !missing.contains(name)
        {
            missing.push(name.clone());
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(FlatFileError::MissingColumns {
            file: file.to_string(),
            line,
            names: missing,
        })
    }
}

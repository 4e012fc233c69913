//! Fixed-width rows for flat layouts: reads bounded lines and slices columns by character position.

use std::io::{BufRead, BufReader, Read};

use super::layout::{ColumnRef, FlatLayout};
use super::map::{Assembler, RowErrorCode, RowFields};
use super::parse::{FlatFileError, decode};

/// Longest line read into memory; longer lines are reported and skipped.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// One decoded fixed-width line.
struct FixedRow<'r> {
    text: &'r str,
}

impl FixedRow<'_> {
    /// Characters `start..start+length`, clipped to the line (trimmed padding reads as empty).
    fn span(&self, start: usize, length: usize) -> &str {
        if self.text.is_ascii() {
            let from = start.min(self.text.len());
            let to = start.saturating_add(length).min(self.text.len());
            return &self.text[from..to];
        }
        let mut bounds = self
            .text
            .char_indices()
            .map(|(i, _)| i)
            .chain([self.text.len()]);
        let from = bounds.nth(start).unwrap_or(self.text.len());
        let to = if length == 0 {
            from
        } else {
            bounds.nth(length - 1).unwrap_or(self.text.len())
        };
        &self.text[from..to]
    }
}

impl RowFields for FixedRow<'_> {
    fn field(&self, source: &ColumnRef) -> Result<(&str, u64), u64> {
        match source {
            ColumnRef::Span { start, length } => {
                Ok((self.span(*start, *length), *start as u64 + 1))
            }
            ColumnRef::Header(_) | ColumnRef::Index(_) => Err(0),
        }
    }
}

/// What one bounded line read found.
enum LineRead {
    Line,
    TooLong,
    End,
}

/// Reads one line (without `\n` / `\r\n`) into `buf`, keeping at most `MAX_LINE_BYTES`.
fn next_line<R: BufRead>(reader: &mut R, buf: &mut Vec<u8>) -> std::io::Result<LineRead> {
    buf.clear();
    let mut any = false;
    let mut too_long = false;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            break;
        }
        any = true;
        let (take, done) = match memchr::memchr(b'\n', available) {
            Some(i) => (i, true),
            None => (available.len(), false),
        };
        if buf.len() + take <= MAX_LINE_BYTES {
            buf.extend_from_slice(&available[..take]);
        } else {
            too_long = true;
        }
        reader.consume(if done { take + 1 } else { take });
        if done {
            break;
        }
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(match (any, too_long) {
        (false, _) => LineRead::End,
        (true, true) => LineRead::TooLong,
        (true, false) => LineRead::Line,
    })
}

/// Reads every line of a fixed-width file into the assembler.
pub(crate) fn read_fixed<R: Read>(
    layout: &FlatLayout,
    input: R,
    file: &str,
    assembler: &mut Assembler<'_>,
) -> Result<(), FlatFileError> {
    let options = &layout.fixed;
    let mut reader = BufReader::with_capacity(64 * 1024, input);
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        let read = next_line(&mut reader, &mut buf).map_err(|source| FlatFileError::Io {
            file: file.to_string(),
            source,
        })?;
        line += 1;
        if let LineRead::End = read {
            break;
        }
        if line <= options.skip_rows {
            assembler.summary.skipped += 1;
            continue;
        }
        match read {
            LineRead::End => break,
            LineRead::TooLong => {
                assembler.bad_row(
                    line,
                    None,
                    RowErrorCode::LineTooLong,
                    format!("the line is longer than {MAX_LINE_BYTES} bytes"),
                    None,
                );
                continue;
            }
            LineRead::Line => {}
        }
        let bytes = if line == 1 {
            buf.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&buf)
        } else {
            &buf
        };
        let Some(text) = decode(bytes, layout.encoding) else {
            assembler.bad_row(
                line,
                None,
                RowErrorCode::BadEncoding,
                "the line is not valid UTF-8 (set encoding = \"latin1\" if the partner sends ISO-8859-1)".into(),
                None,
            );
            continue;
        };
        if text.trim().is_empty() {
            assembler.summary.skipped += 1;
            continue;
        }
        let row = FixedRow { text: &text };
        if let Some((ColumnRef::Span { start, length }, keep)) = &options.record_type {
            let record_type = row.span(*start, *length).trim();
            if !keep.iter().any(|k| k == record_type) {
                assembler.summary.skipped += 1;
                continue;
            }
        }
        if let Some(max) = options.record_length {
            let length = text.chars().count();
            if length > max {
                assembler.bad_row(
                    line,
                    Some(max as u64 + 1),
                    RowErrorCode::BadLength,
                    format!(
                        "the line has {length} characters, more than the record length of {max}"
                    ),
                    Some(&row),
                );
                continue;
            }
        }
        assembler.row(line, &row);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_count_characters_and_clip() {
        let row = FixedRow { text: "AB\u{e9}CD" };
        assert_eq!(row.span(1, 2), "B\u{e9}");
        assert_eq!(row.span(3, 10), "CD");
        assert_eq!(row.span(9, 2), "");
        let ascii = FixedRow { text: "HELLO" };
        assert_eq!(ascii.span(3, 5), "LO");
    }

    #[test]
    fn lines_are_bounded_and_crlf_stripped() {
        let mut reader = BufReader::with_capacity(4, &b"ab\r\ncd\nlast"[..]);
        let mut buf = Vec::new();
        let mut lines = Vec::new();
        while let LineRead::Line = next_line(&mut reader, &mut buf).unwrap() {
            lines.push(String::from_utf8(buf.clone()).unwrap());
        }
        assert_eq!(lines, ["ab", "cd", "last"]);
    }
}

//! Records as NDJSON, one JSON object per line: what `edigate translate` prints. The JSON is
//! [`super::json::write_record`]'s, byte for byte serde_json's compact form.

use std::io::{self, Write};

use super::json::write_record;
use super::record::Record;

/// Writes records as lines. Lines are built in a buffer and handed to the writer underneath in
/// chunks of about [`CHUNK`] bytes, so each byte of output is copied once on its way there.
/// Nothing reaches the writer underneath before [`NdjsonWriter::flush`] or a full chunk.
#[derive(Debug)]
pub struct NdjsonWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
}

/// Bytes of lines gathered before they are written.
pub const CHUNK: usize = 64 * 1024;

impl<W: Write> NdjsonWriter<W> {
    /// A writer of lines to `out`.
    pub fn new(out: W) -> Self {
        NdjsonWriter {
            out,
            buf: Vec::with_capacity(CHUNK + 8 * 1024),
        }
    }

    /// Writes `record` as one line.
    pub fn write_record(&mut self, record: &Record) -> io::Result<()> {
        let start = self.buf.len();
        if let Err(e) = write_record(&mut self.buf, record) {
            // Nothing of a record that cannot be written is kept.
            self.buf.truncate(start);
            return Err(io::Error::other(e));
        }
        self.buf.push(b'\n');
        if self.buf.len() >= CHUNK {
            self.write_buffered()?;
        }
        Ok(())
    }

    fn write_buffered(&mut self) -> io::Result<()> {
        let result = self.out.write_all(&self.buf);
        self.buf.clear();
        result
    }

    /// Writes the lines gathered so far and flushes the writer underneath.
    pub fn flush(&mut self) -> io::Result<()> {
        self.write_buffered()?;
        self.out.flush()
    }

    /// The writer underneath (it has not seen lines written since the last flush).
    pub fn get_ref(&self) -> &W {
        &self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::profile::Profiles;
    use crate::canonical::translate::{Collect, ControlTracker, translate};
    use crate::x12::grammar::Grammars;
    use crate::x12::policy::Policy;

    #[test]
    fn each_record_is_one_line_of_its_json() {
        let isa = "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *260105*1430*U*00401*000000001*0*P*>~";
        let text = format!(
            "{isa}GS*FA*SENDER*RECEIVER*20260105*1430*1*X*004010~ST*997*0001~AK1*OW*5~AK9*A*0*0*0~SE*4*0001~ST*997*0002~AK1*OW*6~AK9*A*0*0*0~SE*4*0002~GE*2*1~IEA*1*000000001~"
        );
        let profiles = Profiles::new(Grammars::embedded().expect("grammars"), Policy::Standard);
        let mut sink = Collect::default();
        translate(
            "t.edi",
            || Ok(text.as_bytes()),
            &profiles,
            &mut ControlTracker::default(),
            &mut sink,
        )
        .expect("in memory");
        let records = sink.records;
        assert_eq!(records.len(), 2, "{:?}", sink.rejected);
        let mut w = NdjsonWriter::new(Vec::new());
        for r in &records {
            w.write_record(r).expect("in memory");
        }
        assert!(w.get_ref().is_empty(), "nothing is written before a flush");
        w.flush().expect("in memory");
        let text = String::from_utf8(w.get_ref().clone()).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), records.len());
        for (line, record) in lines.iter().zip(&records) {
            assert_eq!(*line, serde_json::to_string(record).expect("json"));
        }
        assert!(text.ends_with('\n'));
    }
}

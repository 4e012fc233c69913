//! What translation reports besides records: the [`Sink`] it writes to, the in-memory
//! [`Collect`], and the [`Rejection`] and [`Skipped`] lines with their locations.

use std::fmt;
use std::io;

use crate::canonical::map::Unmapped;
use crate::canonical::record::Record;
use crate::x12::finding::Finding;

/// Where the translator's output goes, in document order.
pub trait Sink {
    /// A canonical record.
    fn record(&mut self, record: &Record) -> io::Result<()>;
    /// A set (or group, interchange, header) that was rejected and produced no record.
    fn rejected(&mut self, rejection: &Rejection) -> io::Result<()>;
    /// An accepted set edigate has no mapping for.
    fn skipped(&mut self, skipped: &Skipped) -> io::Result<()>;
}

/// A sink that keeps everything in memory (tests, small files); it is also an
/// [`InputSink`](crate::canonical::intake_translate::InputSink).
#[derive(Debug, Default)]
pub struct Collect {
    /// Records in order.
    pub records: Vec<Record>,
    /// Rejections in order.
    pub rejected: Vec<Rejection>,
    /// Skipped sets in order.
    pub skipped: Vec<Skipped>,
    /// Bad flat rows in order.
    pub row_errors: Vec<crate::flat::RowError>,
    /// Inputs that produced nothing, in order.
    pub problems: Vec<crate::canonical::intake_translate::InputProblem>,
}

impl Sink for Collect {
    fn record(&mut self, record: &Record) -> io::Result<()> {
        self.records.push(record.clone());
        Ok(())
    }
    fn rejected(&mut self, rejection: &Rejection) -> io::Result<()> {
        self.rejected.push(rejection.clone());
        Ok(())
    }
    fn skipped(&mut self, skipped: &Skipped) -> io::Result<()> {
        self.skipped.push(skipped.clone());
        Ok(())
    }
}

/// A transaction set's place in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetRef {
    /// 1-based ordinal of the set within the file.
    pub position: u32,
    /// ST01.
    pub set_id: String,
    /// ST02.
    pub control: String,
    /// ISA13.
    pub interchange: String,
    /// GS06.
    pub group: String,
}

impl fmt::Display for SetRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ST02 {} (ISA13 {}, GS06 {})",
            self.set_id, self.control, self.interchange, self.group
        )
    }
}

/// What a rejection covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// One transaction set (rejected itself, or by its group or interchange).
    Set(SetRef),
    /// A group that held no set.
    Group {
        /// ISA13.
        interchange: String,
        /// GS06.
        group: String,
    },
    /// An interchange that held no set.
    Interchange {
        /// ISA13.
        interchange: String,
    },
    /// Bytes that could not be read as an interchange (a broken ISA header).
    Input,
}

/// Something rejected, with the first error that rejected it (contract §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// File name as received.
    pub file: String,
    /// What was rejected.
    pub what: Rejected,
    /// The first error: X12 code, location (segment position and id, element) and message.
    /// `None` only when more findings were found than kept and none of the kept ones is an error.
    pub reason: Option<Finding>,
}

impl fmt::Display for Rejection {
    /// `rejected 856 ST02 0002 (ISA13 .., GS06 ..) at segment 7 HL03: AK403:7 message`
    /// (the file name is not included).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.what {
            Rejected::Set(s) => write!(f, "rejected {s}")?,
            Rejected::Group { interchange, group } => {
                write!(f, "rejected group GS06 {group} (ISA13 {interchange})")?;
            }
            Rejected::Interchange { interchange } => {
                write!(f, "rejected interchange ISA13 {interchange}")?;
            }
            Rejected::Input => write!(f, "rejected input")?,
        }
        let Some(reason) = &self.reason else {
            return write!(f, ": too many findings to name the error");
        };
        let loc = &reason.location;
        match (loc.segment_position, &loc.segment_id) {
            (Some(p), _) => write!(f, " at segment {p}")?,
            (None, Some(_)) => write!(f, " at")?,
            (None, None) => write!(f, " at byte {}", loc.offset)?,
        }
        if let Some(id) = &loc.segment_id {
            write!(f, " {id}")?;
            if let Some(e) = loc.element {
                write!(f, "{e:02}")?;
                if let Some(c) = loc.component {
                    write!(f, "-{c}")?;
                }
            }
        }
        write!(f, ":")?;
        if let Some(code) = &reason.code {
            write!(f, " {code}")?;
        }
        write!(f, " {}", reason.message)
    }
}

/// An accepted set that has no canonical mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// File name as received.
    pub file: String,
    /// The set.
    pub set: SetRef,
    /// Why.
    pub reason: Unmapped,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not translated: {}: {}", self.set, self.reason)
    }
}

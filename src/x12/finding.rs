//! Findings: what validation found, where, with the X12 code its acknowledgment carries.

use compact_str::CompactString;
use serde::Serialize;

use super::policy::{Policy, Rule};

/// Whether a finding rejects or only warns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Recorded; the data is accepted.
    Warning,
    /// The set, group or interchange it belongs to is rejected.
    Error,
}

/// Which acknowledgment element a code goes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CodeKind {
    /// TA105 interchange note code (I18).
    #[serde(rename = "TA105")]
    Ta105,
    /// AK905 functional group error code (716).
    #[serde(rename = "AK905")]
    Ak905,
    /// AK502 transaction set error code (718).
    #[serde(rename = "AK502")]
    Ak502,
    /// AK304 segment error code (720).
    #[serde(rename = "AK304")]
    Ak304,
    /// AK403 element error code (723).
    #[serde(rename = "AK403")]
    Ak403,
}

/// An X12 error code and the element it belongs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    /// Where the code goes.
    pub kind: CodeKind,
    /// The code value (`"001"`, `"4"`, `"7"`).
    pub value: &'static str,
}

impl Code {
    /// A TA105 code.
    pub const fn ta1(value: &'static str) -> Code {
        Code {
            kind: CodeKind::Ta105,
            value,
        }
    }
    /// An AK905 code.
    pub const fn group(value: &'static str) -> Code {
        Code {
            kind: CodeKind::Ak905,
            value,
        }
    }
    /// An AK502 code.
    pub const fn set(value: &'static str) -> Code {
        Code {
            kind: CodeKind::Ak502,
            value,
        }
    }
    /// An AK304 code.
    pub const fn segment(value: &'static str) -> Code {
        Code {
            kind: CodeKind::Ak304,
            value,
        }
    }
    /// An AK403 code.
    pub const fn element(value: &'static str) -> Code {
        Code {
            kind: CodeKind::Ak403,
            value,
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            CodeKind::Ta105 => "TA105",
            CodeKind::Ak905 => "AK905",
            CodeKind::Ak502 => "AK502",
            CodeKind::Ak304 => "AK304",
            CodeKind::Ak403 => "AK403",
        };
        write!(f, "{kind}:{}", self.value)
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Where a finding is: byte offset, envelope control numbers, segment and element.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Location {
    /// Byte offset in the file.
    pub offset: u64,
    /// ISA13 of the interchange.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interchange: Option<CompactString>,
    /// GS06 of the group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<CompactString>,
    /// ST01 of the set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_id: Option<CompactString>,
    /// ST02 of the set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set: Option<CompactString>,
    /// Segment position within the set (ST = 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment_position: Option<u32>,
    /// Segment tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment_id: Option<CompactString>,
    /// Loop id of the loop holding the segment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loop_id: Option<CompactString>,
    /// Element position (1-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub element: Option<u16>,
    /// Component position (1-based) inside a composite.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<u16>,
    /// Data element reference number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub element_ref: Option<CompactString>,
    /// A copy of the bad value (at most 99 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bad_value: Option<CompactString>,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "byte {}", self.offset)?;
        if let Some(v) = &self.interchange {
            write!(f, ", ISA13 {v}")?;
        }
        if let Some(v) = &self.group {
            write!(f, ", GS06 {v}")?;
        }
        if let Some(v) = &self.set {
            write!(f, ", ST02 {v}")?;
            if let Some(id) = &self.set_id {
                write!(f, " ({id})")?;
            }
        }
        if let Some(p) = self.segment_position {
            write!(f, ", segment {p}")?;
        }
        if let Some(s) = &self.segment_id {
            write!(f, " {s}")?;
            if let Some(e) = self.element {
                write!(f, "{e:02}")?;
                if let Some(c) = self.component {
                    write!(f, "-{c}")?;
                }
            }
        }
        if let Some(l) = &self.loop_id {
            write!(f, " (loop {l})")?;
        }
        Ok(())
    }
}

/// One thing validation found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Error or warning, decided by the policy.
    pub severity: Severity,
    /// The rule it breaks (what policies decide on).
    pub rule: Rule,
    /// The X12 code for the acknowledgment, when X12 has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<Code>,
    /// Where it is.
    pub location: Location,
    /// One plain sentence.
    pub message: String,
}

impl Finding {
    /// A finding whose severity the policy decides.
    pub fn new(
        policy: Policy,
        rule: Rule,
        code: Option<Code>,
        location: Location,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            severity: policy.severity(rule),
            rule,
            code,
            location,
            message: message.into(),
        }
    }

    /// Whether this finding rejects what it belongs to.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{sev}")?;
        if let Some(c) = &self.code {
            write!(f, " {c}")?;
        }
        write!(f, " at {}: {}", self.location, self.message)
    }
}

/// A value copied for AK404: at most 99 characters, delimiters and control bytes replaced.
pub fn bad_value(value: &[u8]) -> String {
    String::from_utf8_lossy(value)
        .chars()
        .take(99)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

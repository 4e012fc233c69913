//! Acknowledgment generation: 997 or 999 per functional group, TA1 per interchange (x12-reference §3).
//!
//! Rules kept here:
//! - one 997/999 set per received group (AK1 = GS01/GS06), in one `GS*FA` group per received
//!   group so each answers in the received GS08 version;
//! - never acknowledge an acknowledgment: no 997/999 for an `FA` group, no TA1 for an interchange
//!   that carries only TA1s;
//! - a TA1 when ISA14 = 1 or the interchange envelope has findings; a rejected interchange gets
//!   only its TA1 (its groups cannot be trusted);
//! - the reply swaps sender and receiver, reuses the received delimiters and control version, and
//!   takes its control numbers from a [`ControlNumbers`] source.

use super::delimiters::{Delimiters, Terminator};
use super::envelope::{Group, GroupOutcome, Interchange, InterchangeOutcome, SetOutcome, Visitor};
use super::finding::{CodeKind, Finding, Severity};

/// Where acknowledgment control numbers come from (the daemon's are durable).
pub trait ControlNumbers {
    /// The next ISA13 for this interchange's partner (sender, receiver as received).
    fn next_interchange(&mut self, partner: &str) -> u64;
    /// The next GS06.
    fn next_group(&mut self, partner: &str) -> u64;
}

/// Counters kept in memory (for the CLI and tests).
#[derive(Debug, Clone, Default)]
pub struct MemoryCounters {
    interchange: u64,
    group: u64,
}

impl ControlNumbers for MemoryCounters {
    fn next_interchange(&mut self, _partner: &str) -> u64 {
        self.interchange += 1;
        self.interchange
    }
    fn next_group(&mut self, _partner: &str) -> u64 {
        self.group += 1;
        self.group
    }
}

/// Which functional acknowledgment a partner wants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub enum AckKind {
    /// 997 Functional Acknowledgment.
    #[default]
    #[serde(rename = "997")]
    Ack997,
    /// 999 Implementation Acknowledgment.
    #[serde(rename = "999")]
    Ack999,
    /// No functional acknowledgment.
    #[serde(rename = "none")]
    None,
}

/// For which sets an AK2 is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ak2For {
    /// Every set.
    #[default]
    All,
    /// Only sets that were not plainly accepted.
    Errors,
}

/// How acknowledgments are written.
#[derive(Debug, Clone)]
pub struct AckOptions {
    /// 997, 999 or none.
    pub kind: AckKind,
    /// AK2 for every set or only for sets with errors.
    pub ak2_for: Ak2For,
    /// Send a TA1 when the envelope has findings even if ISA14 = 0.
    pub ta1_on_errors: bool,
    /// Put a line break after each segment terminator.
    pub line_breaks: bool,
    /// Date and time to stamp (`YYYYMMDD`, `HHMM`).
    pub timestamp: (String, String),
}

impl Default for AckOptions {
    fn default() -> Self {
        let now = chrono::Utc::now();
        AckOptions {
            kind: AckKind::Ack997,
            ak2_for: Ak2For::All,
            ta1_on_errors: true,
            line_breaks: true,
            timestamp: (
                now.format("%Y%m%d").to_string(),
                now.format("%H%M").to_string(),
            ),
        }
    }
}

/// One acknowledgment interchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckDocument {
    /// The interchange text.
    pub text: String,
    /// ISA13 of the acknowledged interchange.
    pub acked_interchange: String,
    /// ISA13 given to this acknowledgment.
    pub control: String,
    /// Whether it holds a TA1.
    pub has_ta1: bool,
    /// How many 997/999 sets it holds.
    pub functional_acks: u32,
}

#[derive(Debug, Clone)]
struct ElementError {
    position: u16,
    component: Option<u16>,
    reference: String,
    code: &'static str,
    bad_value: Option<String>,
}

#[derive(Debug, Clone)]
struct SegmentError {
    id: String,
    position: u32,
    loop_id: Option<String>,
    code: &'static str,
    elements: Vec<ElementError>,
}

#[derive(Debug, Clone)]
struct SetAck {
    id: String,
    control: String,
    convention: Option<String>,
    status: &'static str,
    codes: Vec<&'static str>,
    segments: Vec<SegmentError>,
}

#[derive(Debug, Clone)]
struct GroupAck {
    group: Group,
    status: &'static str,
    claimed: u64,
    received: u32,
    accepted: u32,
    codes: Vec<&'static str>,
    sets: Vec<SetAck>,
}

/// Builds acknowledgments while the engine runs; take them with [`AckBuilder::finish`].
pub struct AckBuilder<'c> {
    options: AckOptions,
    counters: &'c mut dyn ControlNumbers,
    pending_sets: Vec<SetAck>,
    groups: Vec<GroupAck>,
    documents: Vec<AckDocument>,
}

impl<'c> AckBuilder<'c> {
    /// A builder drawing control numbers from `counters`.
    pub fn new(options: AckOptions, counters: &'c mut dyn ControlNumbers) -> Self {
        AckBuilder {
            options,
            counters,
            pending_sets: Vec::new(),
            groups: Vec::new(),
            documents: Vec::new(),
        }
    }

    /// The acknowledgment interchanges, in input order.
    pub fn finish(self) -> Vec<AckDocument> {
        self.documents
    }
}

fn set_ack(outcome: &SetOutcome) -> SetAck {
    let mut codes: Vec<&'static str> = Vec::new();
    let mut segments: Vec<SegmentError> = Vec::new();
    let mut noted = false;
    for f in &outcome.findings.list {
        let Some(code) = f.code else { continue };
        noted = true;
        let loc = &f.location;
        match code.kind {
            CodeKind::Ak502 if !codes.contains(&code.value) => codes.push(code.value),
            CodeKind::Ak502 => {}
            CodeKind::Ak304 | CodeKind::Ak403 => {
                let id = loc.segment_id.as_deref().unwrap_or_default().to_string();
                let position = loc.segment_position.unwrap_or(0);
                let seg_code = if code.kind == CodeKind::Ak304 {
                    code.value
                } else {
                    "8"
                };
                let idx = segments.iter().position(|s| {
                    s.position == position
                        && s.id == id
                        && (s.code == seg_code || code.kind == CodeKind::Ak403 && s.code == "8")
                });
                let idx = match idx {
                    Some(i) => i,
                    None => {
                        segments.push(SegmentError {
                            id,
                            position,
                            loop_id: loc.loop_id.as_ref().map(|l| l.to_string()),
                            code: seg_code,
                            elements: Vec::new(),
                        });
                        segments.len() - 1
                    }
                };
                if code.kind == CodeKind::Ak403 && segments[idx].elements.len() < 99 {
                    segments[idx].elements.push(ElementError {
                        position: loc.element.unwrap_or(0),
                        component: loc.component,
                        reference: loc.element_ref.as_deref().unwrap_or_default().to_string(),
                        code: code.value,
                        bad_value: loc.bad_value.as_ref().map(|v| v.to_string()),
                    });
                }
            }
            _ => {}
        }
    }
    let rejected = outcome.findings.has_error;
    if rejected && codes.is_empty() {
        codes.push("5");
    }
    codes.truncate(5);
    let status = if rejected {
        "R"
    } else if noted {
        "E"
    } else {
        "A"
    };
    SetAck {
        id: outcome.header.id.to_string(),
        control: outcome.header.control.to_string(),
        convention: outcome.header.convention.as_ref().map(|c| c.to_string()),
        status,
        codes: if status == "A" { Vec::new() } else { codes },
        segments,
    }
}

fn first_codes(findings: &[Finding], kind: CodeKind, limit: usize) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for sev in [Severity::Error, Severity::Warning] {
        for f in findings.iter().filter(|f| f.severity == sev) {
            if let Some(c) = f.code
                && c.kind == kind
                && !out.contains(&c.value)
            {
                out.push(c.value);
            }
        }
    }
    out.truncate(limit);
    out
}

impl Visitor for AckBuilder<'_> {
    fn set_end(&mut self, _ic: &Interchange, _group: &Group, outcome: &SetOutcome) {
        let ack = set_ack(outcome);
        if self.options.ak2_for == Ak2For::All || ack.status != "A" {
            self.pending_sets.push(ack);
        }
    }

    fn group_end(&mut self, _ic: &Interchange, outcome: &GroupOutcome) {
        let sets = std::mem::take(&mut self.pending_sets);
        if outcome.group.functional_id() == "FA" {
            return;
        }
        let codes = first_codes(&outcome.findings.list, CodeKind::Ak905, 5);
        let accepted = if outcome.rejected() {
            0
        } else {
            outcome.sets_accepted
        };
        let status = if outcome.rejected() || (outcome.sets_received > 0 && accepted == 0) {
            "R"
        } else if accepted < outcome.sets_received {
            "P"
        } else if sets.iter().any(|s| s.status == "E") || !codes.is_empty() {
            "E"
        } else {
            "A"
        };
        self.groups.push(GroupAck {
            group: outcome.group.clone(),
            status,
            claimed: outcome
                .sets_claimed
                .unwrap_or(u64::from(outcome.sets_received)),
            received: outcome.sets_received,
            accepted,
            codes,
            sets,
        });
    }

    fn interchange_end(&mut self, outcome: &InterchangeOutcome) {
        let groups = std::mem::take(&mut self.groups);
        let ic = &outcome.interchange;
        if outcome.groups == 0 && outcome.ta1_count > 0 {
            return; // an interchange of TA1s only is itself an acknowledgment
        }
        let envelope_noted = outcome
            .findings
            .list
            .iter()
            .any(|f| f.code.is_some_and(|c| c.kind == CodeKind::Ta105));
        let want_ta1 = ic.ack_requested()
            || (self.options.ta1_on_errors && (envelope_noted || outcome.rejected()));
        let functional: Vec<GroupAck> = if outcome.rejected() || self.options.kind == AckKind::None
        {
            Vec::new()
        } else {
            groups
        };
        if !want_ta1 && functional.is_empty() {
            return;
        }
        let partner = format!("{}|{}", ic.sender(), ic.receiver());
        let control = self.counters.next_interchange(&partner);
        let mut w = Writer::new(ic, &self.options);
        let isa13 = format!("{control:09}");
        w.isa(ic, &isa13, &self.options);
        if want_ta1 {
            let status = if outcome.rejected() {
                "R"
            } else if envelope_noted {
                "E"
            } else {
                "A"
            };
            let note = first_codes(&outcome.findings.list, CodeKind::Ta105, 1)
                .first()
                .copied()
                .unwrap_or("000");
            let isa13_in = format!(
                "{:0>9}",
                ic.control()
                    .chars()
                    .filter(char::is_ascii_digit)
                    .collect::<String>()
            );
            let isa13_in = if isa13_in.len() > 9 {
                isa13_in[isa13_in.len() - 9..].to_string()
            } else {
                isa13_in
            };
            // TA102/TA103 echo the inbound ISA09/ISA10; a garbled one is echoed as its digits
            // (an acknowledgment must stay well-formed whatever it answers).
            let date = digits_of(ic.header.field(9), 6);
            let time = digits_of(ic.header.field(10), 4);
            w.segment(&["TA1", &isa13_in, &date, &time, status, note]);
        }
        let n_groups = functional.len();
        for g in &functional {
            let gs06 = self.counters.next_group(&partner).to_string();
            w.functional_group(g, &gs06, &self.options);
        }
        w.segment(&["IEA", &n_groups.to_string(), &isa13]);
        self.documents.push(AckDocument {
            text: w.out,
            acked_interchange: ic.control().to_string(),
            control: isa13,
            has_ta1: want_ta1,
            functional_acks: n_groups as u32,
        });
    }
}

struct Writer {
    out: String,
    d: Delimiters,
    line_break: bool,
    count: u32,
}

impl Writer {
    fn new(ic: &Interchange, options: &AckOptions) -> Self {
        // Reply in the partner's delimiters, unless one of them is a byte that is not ASCII (it
        // could not be written back byte for byte as text): then use the common ones.
        let mut d = ic.header.delimiters;
        let high = |b: u8| b >= 0x80;
        if high(d.element)
            || high(d.component)
            || d.repetition.is_some_and(high)
            || matches!(d.segment, Terminator::Byte(b) if high(b))
        {
            d = Delimiters::standard(d.repetition.map(|_| b'^'));
        }
        let line_break = options.line_breaks && d.segment != Terminator::Newline;
        Writer {
            out: String::new(),
            d,
            line_break,
            count: 0,
        }
    }

    fn clean(&self, value: &str) -> String {
        // A multi-byte terminator is one character: it must not appear inside a value either.
        let term = match self.d.segment {
            Terminator::Multi(bytes, n) => std::str::from_utf8(&bytes[..usize::from(n)])
                .ok()
                .and_then(|t| t.chars().next()),
            _ => None,
        };
        value
            .chars()
            .map(|c| {
                if c.is_ascii() && self.d.is_delimiter(c as u8) || c.is_control() || Some(c) == term
                {
                    ' '
                } else {
                    c
                }
            })
            .collect::<String>()
            .trim()
            .to_string()
    }

    fn segment(&mut self, elements: &[&str]) {
        let mut parts: Vec<String> = elements.iter().map(|e| self.clean(e)).collect();
        while parts.len() > 1 && parts.last().is_some_and(String::is_empty) {
            parts.pop();
        }
        self.raw(&parts.join(&(self.d.element as char).to_string()));
    }

    fn raw(&mut self, text: &str) {
        self.out.push_str(text);
        match self.d.segment {
            Terminator::Newline => self.out.push('\n'),
            t => {
                self.out.push_str(&String::from_utf8_lossy(t.as_bytes()));
                if self.line_break {
                    self.out.push('\n');
                }
            }
        }
        self.count += 1;
    }

    fn isa(&mut self, ic: &Interchange, isa13: &str, options: &AckOptions) {
        let h = &ic.header;
        let version = if h.field(12).len() == 5 && h.field(12).bytes().all(|b| b.is_ascii_digit()) {
            h.field(12)
        } else {
            "00401"
        };
        let repetition = if version >= "00402" {
            self.d.repetition.unwrap_or(b'^') as char
        } else {
            'U'
        };
        // ISA fields are fixed-width ASCII: anything else is replaced so the width holds.
        let pad = |s: &str, n: usize| {
            let ascii: String = s
                .chars()
                .map(|c| {
                    if c.is_ascii_graphic() || c == ' ' {
                        c
                    } else {
                        '?'
                    }
                })
                .filter(|c| !(c.is_ascii() && self.d.is_delimiter(*c as u8)))
                .take(n)
                .collect();
            format!("{ascii:<n$}")
        };
        let (date, time) = &options.timestamp;
        let e = self.d.element as char;
        let isa = [
            "ISA".to_string(),
            "00".into(),
            pad("", 10),
            "00".into(),
            pad("", 10),
            pad(h.field(7), 2),
            pad(h.field(8), 15),
            pad(h.field(5), 2),
            pad(h.field(6), 15),
            date.get(2..8).unwrap_or("000101").to_string(),
            time.get(..4).unwrap_or("0000").to_string(),
            repetition.to_string(),
            version.to_string(),
            isa13.to_string(),
            "0".into(),
            // ISA15 is P or T: a test interchange is answered as a test, anything else
            // (including an invalid usage indicator) as production.
            if h.field(15).trim() == "T" { "T" } else { "P" }.to_string(),
            (self.d.component as char).to_string(),
        ];
        let text = isa.join(&e.to_string());
        self.raw(&text);
    }

    fn functional_group(&mut self, g: &GroupAck, gs06: &str, options: &AckOptions) {
        let version = if g.group.version().is_empty() {
            "004010"
        } else {
            g.group.version()
        };
        let (date, time) = &options.timestamp;
        self.segment(&[
            "GS",
            "FA",
            g.group.field(3),
            g.group.field(2),
            date,
            time,
            gs06,
            "X",
            version,
        ]);
        let start = self.count;
        let is999 = options.kind == AckKind::Ack999;
        let set_id = if is999 { "999" } else { "997" };
        let v6 = version.get(..6).unwrap_or(version);
        let modern = v6 >= "004050";
        if is999 {
            self.segment(&["ST", set_id, "0001", version]);
        } else {
            self.segment(&["ST", set_id, "0001"]);
        }
        if modern || is999 {
            self.segment(&["AK1", g.group.functional_id(), g.group.control(), version]);
        } else {
            self.segment(&["AK1", g.group.functional_id(), g.group.control()]);
        }
        let comp = (self.d.component as char).to_string();
        for s in &g.sets {
            let conv = s.convention.clone().unwrap_or_default();
            if modern || is999 {
                self.segment(&["AK2", &s.id, &s.control, &conv]);
            } else {
                self.segment(&["AK2", &s.id, &s.control]);
            }
            for seg in &s.segments {
                let tag = if is999 { "IK3" } else { "AK3" };
                let pos = seg.position.to_string();
                let loop_id: String = seg
                    .loop_id
                    .clone()
                    .unwrap_or_default()
                    .chars()
                    .take(if modern { 4 } else { 6 })
                    .collect();
                self.segment(&[tag, &seg.id, &pos, &loop_id, seg.code]);
                for el in &seg.elements {
                    let tag = if is999 { "IK4" } else { "AK4" };
                    let mut position = el.position.to_string();
                    if let Some(c) = el.component {
                        position = format!("{position}{comp}{c}");
                    }
                    let bad = el.bad_value.clone().unwrap_or_default();
                    let reference: String =
                        el.reference.chars().filter(char::is_ascii_digit).collect();
                    self.segment(&[tag, &position, &reference, el.code, &bad]);
                }
            }
            let tag = if is999 { "IK5" } else { "AK5" };
            let mut parts = vec![tag, s.status];
            parts.extend(s.codes.iter().copied());
            self.segment(&parts);
        }
        let claimed = g.claimed.to_string();
        let received = g.received.to_string();
        let accepted = g.accepted.to_string();
        let mut ak9 = vec!["AK9", g.status, &claimed, &received, &accepted];
        ak9.extend(g.codes.iter().copied());
        self.segment(&ak9);
        let count = (self.count - start + 1).to_string();
        self.segment(&["SE", &count, "0001"]);
        self.segment(&["GE", "1", gs06]);
    }
}

/// The first `n` ASCII digits of `value`, zero-padded to `n`.
fn digits_of(value: &str, n: usize) -> String {
    let d: String = value.chars().filter(char::is_ascii_digit).take(n).collect();
    format!("{d:0<n$}")
}

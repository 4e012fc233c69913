//! Envelope checks and dispatch: ISA/IEA, GS/GE, ST/SE around the grammar validator.
//!
//! Invariants:
//! - Every rule of x12-reference §1.6 is checked, each finding carrying the code its acknowledgment
//!   needs (TA105, AK905, AK502).
//! - A bad set never sinks the other sets of its group; a bad group never sinks other groups. An
//!   interchange whose own envelope is wrong rejects what it holds (its control data cannot be
//!   trusted), and is reported once.
//! - Sets are dispatched on ST01 and the version in GS08, never on GS01 (a mismatch warns).
//! - The engine pushes events to a [`Visitor`] as the input streams past; a set's verdict is
//!   known at its SE, a group's at its GE, an interchange's at its IEA.

use compact_str::CompactString;
use rustc_hash::FxHashSet;
use std::io::{self, Read};

use super::finding::{Code, Finding, Location, Severity, bad_value};
use super::grammar::{Grammars, Resolution};
use super::isa::{IsaHeader, IsaIssueKind, valid_hhmm};
use super::lexer::{Limits, Token, Tokenizer};
use super::policy::{Policy, Rule};
use super::segment::Segment;
use super::validate::{Findings, SetValidator, ValidatorScratch, valid_date, valid_time};

/// An open or finished interchange.
#[derive(Debug, Clone)]
pub struct Interchange {
    /// 1-based ordinal within the file.
    pub ordinal: u32,
    /// Byte offset of its ISA.
    pub offset: u64,
    /// The ISA header (fields and delimiters).
    pub header: IsaHeader,
}

impl Interchange {
    /// ISA05:ISA06, trimmed.
    pub fn sender(&self) -> String {
        format!("{}:{}", self.header.field(5), self.header.field(6))
    }
    /// ISA07:ISA08, trimmed.
    pub fn receiver(&self) -> String {
        format!("{}:{}", self.header.field(7), self.header.field(8))
    }
    /// ISA13 as sent.
    pub fn control(&self) -> &str {
        self.header.field(13)
    }
    /// ISA12.
    pub fn version(&self) -> &str {
        self.header.field(12)
    }
    /// ISA14 = 1.
    pub fn ack_requested(&self) -> bool {
        self.header.field(14) == "1"
    }
    /// ISA15 = T.
    pub fn test(&self) -> bool {
        self.header.field(15) == "T"
    }
}

/// A functional group header.
#[derive(Debug, Clone, Default)]
pub struct Group {
    /// 1-based ordinal within the file.
    pub ordinal: u32,
    /// Byte offset of its GS.
    pub offset: u64,
    /// GS01..GS08 as sent (index 0 is GS01).
    pub fields: Vec<String>,
}

impl Group {
    /// GS field `n` (1-based).
    pub fn field(&self, n: usize) -> &str {
        self.fields
            .get(n.wrapping_sub(1))
            .map(String::as_str)
            .unwrap_or("")
    }
    /// GS01.
    pub fn functional_id(&self) -> &str {
        self.field(1)
    }
    /// GS06.
    pub fn control(&self) -> &str {
        self.field(6)
    }
    /// GS08.
    pub fn version(&self) -> &str {
        self.field(8)
    }
}

/// A transaction set header.
#[derive(Debug, Clone, Default)]
pub struct SetHeader {
    /// 1-based ordinal of the set within the file.
    pub ordinal: u32,
    /// Byte offset of its ST.
    pub offset: u64,
    /// ST01.
    pub id: CompactString,
    /// ST02.
    pub control: CompactString,
    /// ST03, when sent.
    pub convention: Option<CompactString>,
}

/// A set's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// No findings.
    Accepted,
    /// Accepted; warnings recorded.
    AcceptedWithWarnings,
    /// Rejected.
    Rejected,
}

/// A finished transaction set.
#[derive(Debug, Clone)]
pub struct SetOutcome {
    /// Its header.
    pub header: SetHeader,
    /// Segments counted, ST and SE included.
    pub segments: u32,
    /// What was found.
    pub findings: Findings,
    /// The grammar version it was validated against, if any.
    pub grammar_version: Option<CompactString>,
}

impl SetOutcome {
    /// The set's own verdict (its group or interchange may still reject it).
    pub fn verdict(&self) -> Verdict {
        if self.findings.has_error {
            Verdict::Rejected
        } else if self.findings.is_empty() {
            Verdict::Accepted
        } else {
            Verdict::AcceptedWithWarnings
        }
    }
}

/// A finished functional group.
#[derive(Debug, Clone)]
pub struct GroupOutcome {
    /// Its header.
    pub group: Group,
    /// Group-level findings (AK905 codes).
    pub findings: Findings,
    /// GE01 as sent, when present and numeric.
    pub sets_claimed: Option<u64>,
    /// Sets received.
    pub sets_received: u32,
    /// Sets whose own verdict is not rejected.
    pub sets_accepted: u32,
    /// Whether a GE was found.
    pub trailer_present: bool,
}

impl GroupOutcome {
    /// Whether the whole group is rejected.
    pub fn rejected(&self) -> bool {
        self.findings.has_error
    }
}

/// A finished interchange.
#[derive(Debug, Clone)]
pub struct InterchangeOutcome {
    /// The interchange.
    pub interchange: Interchange,
    /// Interchange-level findings (TA105 codes).
    pub findings: Findings,
    /// Groups found.
    pub groups: u32,
    /// TA1 segments it carried.
    pub ta1_count: u32,
    /// Sets it held, and how many survived their set and group checks.
    pub sets_total: u64,
    /// Sets accepted before the interchange verdict.
    pub sets_accepted: u64,
}

impl InterchangeOutcome {
    /// Whether the whole interchange is rejected.
    pub fn rejected(&self) -> bool {
        self.findings.has_error
    }
}

/// Receives the engine's events, in input order.
#[allow(unused_variables)]
pub trait Visitor {
    /// An interchange begins.
    fn interchange_start(&mut self, ic: &Interchange) {}
    /// A TA1 segment between ISA and the first GS.
    fn ta1(&mut self, ic: &Interchange, seg: &Segment<'_>) {}
    /// A group begins.
    fn group_start(&mut self, ic: &Interchange, group: &Group) {}
    /// A set begins.
    fn set_start(&mut self, ic: &Interchange, group: &Group, set: &SetHeader) {}
    /// A segment of the open set, ST and SE included; `position` counts from ST = 1.
    fn set_segment(&mut self, seg: &Segment<'_>, position: u32) {}
    /// A set ends (at its SE, or where its SE should have been).
    fn set_end(&mut self, ic: &Interchange, group: &Group, outcome: &SetOutcome) {}
    /// A group ends.
    fn group_end(&mut self, ic: &Interchange, outcome: &GroupOutcome) {}
    /// An interchange ends.
    fn interchange_end(&mut self, outcome: &InterchangeOutcome) {}
    /// A finding outside any interchange (junk, broken headers).
    fn file_finding(&mut self, finding: &Finding) {}
}

/// A visitor that does nothing (for envelope-only runs and benchmarks).
pub struct NoVisitor;
impl Visitor for NoVisitor {}

/// Chooses policy and grammars per interchange (by partner). `Sync`: translation may run the
/// engine on a helper thread.
pub trait ProfileSelector: Sync {
    /// The policy and grammars for an interchange, or `None` for the defaults.
    fn select(&self, ic: &Interchange) -> Option<(Policy, &Grammars)>;
}

/// How to run the engine.
#[derive(Clone, Copy)]
pub struct EngineConfig<'a> {
    /// Default grammars.
    pub grammars: &'a Grammars,
    /// Default policy.
    pub policy: Policy,
    /// Tokenizer limits.
    pub limits: Limits,
    /// Validate sets against their grammar (false: envelope checks only).
    pub validate_grammar: bool,
    /// Per-partner selection.
    pub profiles: Option<&'a dyn ProfileSelector>,
}

impl<'a> EngineConfig<'a> {
    /// Full validation under `policy` with `grammars`.
    pub fn new(grammars: &'a Grammars, policy: Policy) -> Self {
        EngineConfig {
            grammars,
            policy,
            limits: Limits::default(),
            validate_grammar: true,
            profiles: None,
        }
    }
}

/// Counts over a whole file.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FileSummary {
    /// Interchanges read (broken headers included).
    pub interchanges: u32,
    /// Interchanges rejected.
    pub interchanges_rejected: u32,
    /// Groups read.
    pub groups: u32,
    /// Groups rejected.
    pub groups_rejected: u32,
    /// Sets read.
    pub sets: u64,
    /// Sets accepted (after group and interchange verdicts).
    pub sets_accepted: u64,
    /// Sets rejected.
    pub sets_rejected: u64,
    /// Accepted sets that carry warnings.
    pub sets_with_warnings: u64,
    /// Findings at file level.
    pub file_findings: u32,
    /// Whether any interchange was found at all.
    pub x12: bool,
    /// Whether anything at all was rejected.
    pub rejected: bool,
    /// Whether any warning was recorded anywhere.
    pub warnings: bool,
    /// Bytes read.
    pub bytes: u64,
}

struct OpenSet<'g> {
    header: SetHeader,
    count: u32,
    findings: Findings,
    validator: Option<SetValidator<'g>>,
    grammar_version: Option<CompactString>,
    base: Location,
}

struct OpenGroup {
    group: Group,
    findings: Findings,
    sets: u32,
    accepted: u32,
    warned: u32,
    st02: FxHashSet<ControlKey>,
    version_supported: bool,
}

struct OpenInterchange<'g> {
    ic: Interchange,
    findings: Findings,
    groups: u32,
    ta1: u32,
    gs06: FxHashSet<ControlKey>,
    sets_total: u64,
    sets_accepted: u64,
    sets_warned: u64,
    policy: Policy,
    grammars: &'g Grammars,
    lowercase_reported: bool,
}

struct Engine<'g, 'v, V: Visitor> {
    config: EngineConfig<'g>,
    visitor: &'v mut V,
    ic: Option<OpenInterchange<'g>>,
    group: Option<OpenGroup>,
    set: Option<OpenSet<'g>>,
    summary: FileSummary,
    set_ordinal: u32,
    group_ordinal: u32,
    scratch: Option<ValidatorScratch>,
}

/// Runs the engine over a source, pushing events to `visitor`.
pub fn run<R: Read, V: Visitor>(
    src: R,
    config: EngineConfig<'_>,
    visitor: &mut V,
) -> io::Result<FileSummary> {
    let mut tokenizer = Tokenizer::with_limits(src, config.limits);
    let mut engine = Engine {
        config,
        visitor,
        ic: None,
        group: None,
        set: None,
        summary: FileSummary::default(),
        set_ordinal: 0,
        group_ordinal: 0,
        scratch: None,
    };
    while let Some(token) = tokenizer.next_token()? {
        engine.token(token);
    }
    engine.close_interchange(None, tokenizer.offset());
    let mut summary = engine.summary;
    summary.bytes = tokenizer.offset();
    summary.sets_rejected = summary.sets - summary.sets_accepted;
    summary.rejected |= summary.sets_rejected > 0
        || summary.interchanges_rejected > 0
        || summary.groups_rejected > 0;
    if !summary.x12 {
        summary.rejected = true;
    }
    Ok(summary)
}

/// A control number as a set key: digit strings (the usual case) without allocating. The digits
/// and their count give back the exact text, so two keys are equal exactly when the texts are.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ControlKey {
    Digits(u64, u8),
    Text(Box<str>),
}

impl ControlKey {
    fn of(control: &str) -> ControlKey {
        let b = control.as_bytes();
        if !b.is_empty() && b.len() <= 19 && b.iter().all(u8::is_ascii_digit) {
            let v = b.iter().fold(0u64, |a, d| a * 10 + u64::from(d - b'0'));
            ControlKey::Digits(v, b.len() as u8)
        } else {
            ControlKey::Text(control.into())
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim().to_string()
}

/// [`text`] held inline when short (control numbers, set ids, tags): no allocation per set.
fn compact_text(b: &[u8]) -> CompactString {
    match std::str::from_utf8(b) {
        Ok(s) => CompactString::from(s.trim()),
        Err(_) => CompactString::from(String::from_utf8_lossy(b).trim()),
    }
}

/// Whether two control numbers are equal as numbers (`0001` and `1`), both being all digits.
fn numeric_eq(a: &str, b: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    digits(a) && digits(b) && a.trim_start_matches('0') == b.trim_start_matches('0')
}

impl<'g, V: Visitor> Engine<'g, '_, V> {
    fn policy(&self) -> Policy {
        self.ic.as_ref().map_or(self.config.policy, |i| i.policy)
    }

    fn base(&self, offset: u64) -> Location {
        Location {
            offset,
            interchange: self.ic.as_ref().map(|i| i.ic.control().into()),
            group: self.group.as_ref().map(|g| g.group.control().into()),
            set_id: self.set.as_ref().map(|s| s.header.id.clone()),
            set: self.set.as_ref().map(|s| s.header.control.clone()),
            ..Location::default()
        }
    }

    fn file_finding(&mut self, rule: Rule, code: Option<Code>, offset: u64, msg: String) {
        let f = Finding::new(
            self.config.policy,
            rule,
            code,
            Location {
                offset,
                ..Location::default()
            },
            msg,
        );
        self.summary.file_findings += 1;
        match f.severity {
            Severity::Error => self.summary.rejected = true,
            Severity::Warning => self.summary.warnings = true,
        }
        self.visitor.file_finding(&f);
    }

    fn ic_finding(&mut self, rule: Rule, code: Option<Code>, loc: Location, msg: String) {
        let policy = self.policy();
        if let Some(ic) = &mut self.ic {
            ic.findings.push(Finding::new(policy, rule, code, loc, msg));
        }
    }

    fn group_finding(&mut self, rule: Rule, code: Option<Code>, loc: Location, msg: String) {
        let policy = self.policy();
        if let Some(g) = &mut self.group {
            g.findings.push(Finding::new(policy, rule, code, loc, msg));
        } else {
            self.ic_finding(rule, None, loc, msg);
        }
    }

    fn set_finding(&mut self, rule: Rule, code: Option<Code>, loc: Location, msg: String) {
        let policy = self.policy();
        if let Some(s) = &mut self.set {
            s.findings.push(Finding::new(policy, rule, code, loc, msg));
        } else {
            self.group_finding(rule, None, loc, msg);
        }
    }

    fn token(&mut self, token: Token<'_>) {
        match token {
            Token::Interchange { offset, header } => {
                self.close_interchange(None, offset);
                self.open_interchange(offset, *header);
            }
            Token::BrokenHeader {
                offset,
                ta105,
                message,
            } => {
                self.close_interchange(None, offset);
                self.summary.interchanges += 1;
                self.summary.interchanges_rejected += 1;
                self.summary.x12 = true;
                self.file_finding(
                    Rule::BrokenEnvelope,
                    Some(Code::ta1(ta105)),
                    offset,
                    format!("unusable ISA header: {message}"),
                );
            }
            Token::Skipped { offset, len } => {
                self.file_finding(
                    Rule::Junk,
                    None,
                    offset,
                    format!("{len} bytes outside any interchange were ignored"),
                );
            }
            Token::EmptySegment { offset } => {
                let loc = self.base(offset);
                self.set_finding(
                    Rule::EmptySegment,
                    None,
                    loc,
                    "empty segment (two terminators in a row) ignored".into(),
                );
            }
            Token::Oversized { offset, len, tag } => {
                let mut loc = self.base(offset);
                loc.segment_id = Some(bad_value(&tag).into());
                if let Some(s) = &mut self.set {
                    s.count += 1;
                    loc.segment_position = Some(s.count);
                }
                let max = self.config.limits.max_segment;
                self.set_finding(
                    Rule::OversizedSegment,
                    Some(Code::segment("8")),
                    loc,
                    format!("segment of {len} bytes exceeds the {max}-byte limit and was skipped"),
                );
            }
            Token::Segment(seg) => self.segment(&seg),
        }
    }

    fn open_interchange(&mut self, offset: u64, header: IsaHeader) {
        self.summary.interchanges += 1;
        self.summary.x12 = true;
        let ic = Interchange {
            ordinal: self.summary.interchanges,
            offset,
            header,
        };
        let (policy, grammars) = self
            .config
            .profiles
            .and_then(|p| p.select(&ic))
            .unwrap_or((self.config.policy, self.config.grammars));
        let mut findings = Findings::default();
        let loc = Location {
            offset,
            interchange: Some(ic.control().into()),
            segment_id: Some("ISA".into()),
            ..Location::default()
        };
        for issue in &ic.header.issues {
            let rule = match issue.kind {
                IsaIssueKind::Padding => Rule::IsaPadding,
                IsaIssueKind::ControlNumberFormat => Rule::ControlPadding,
                IsaIssueKind::FieldValue | IsaIssueKind::RepetitionSeparator => Rule::HeaderField,
                IsaIssueKind::Broken => Rule::BrokenEnvelope,
            };
            let code = (issue.ta105 != "000").then(|| Code::ta1(issue.ta105));
            findings.push(Finding::new(
                policy,
                rule,
                code,
                loc.clone(),
                issue.message.clone(),
            ));
        }
        self.visitor.interchange_start(&ic);
        self.ic = Some(OpenInterchange {
            ic,
            findings,
            groups: 0,
            ta1: 0,
            gs06: FxHashSet::default(),
            sets_total: 0,
            sets_accepted: 0,
            sets_warned: 0,
            policy,
            grammars,
            lowercase_reported: false,
        });
    }

    fn segment(&mut self, seg: &Segment<'_>) {
        let Some(ic) = &mut self.ic else { return };
        if seg.lowercase_tag && !ic.lowercase_reported {
            ic.lowercase_reported = true;
            let loc = self.base(seg.offset);
            self.ic_finding(
                Rule::LowercaseTag,
                None,
                loc,
                format!(
                    "segment tags are sent in lower case (first: {})",
                    text(seg.tag())
                ),
            );
        }
        match seg.tag() {
            b"IEA" => self.close_interchange(Some(seg), seg.offset),
            b"GS" => {
                self.close_set(None, seg.offset);
                self.close_group(None, seg.offset);
                self.open_group(seg);
            }
            b"GE" => {
                self.close_set(None, seg.offset);
                if self.group.is_some() {
                    self.close_group(Some(seg), seg.offset);
                } else {
                    let loc = self.base(seg.offset);
                    self.ic_finding(Rule::StraySegment, None, loc, "GE without a GS".into());
                }
            }
            b"ST" => {
                self.close_set(None, seg.offset);
                self.open_set(seg);
            }
            b"SE" => {
                if self.set.is_some() {
                    self.close_set(Some(seg), seg.offset);
                } else {
                    let loc = self.base(seg.offset);
                    self.group_finding(Rule::StraySegment, None, loc, "SE without an ST".into());
                }
            }
            b"TA1" | b"ISB" | b"ISE"
                if self.group.is_none() && self.ic.as_ref().is_some_and(|i| i.groups == 0) =>
            {
                if seg.tag() == b"TA1"
                    && let Some(ic) = &mut self.ic
                {
                    ic.ta1 += 1;
                    let ic = &self.ic.as_ref().expect("checked above").ic;
                    self.visitor.ta1(ic, seg);
                }
            }
            _ => {
                if let Some(set) = &mut self.set {
                    set.count += 1;
                    let position = set.count;
                    self.visitor.set_segment(seg, position);
                    if let Some(v) = &mut set.validator {
                        v.segment(seg, position, &mut set.findings);
                    }
                    if seg.unterminated {
                        let loc = self.base(seg.offset);
                        self.set_finding(
                            Rule::MissingTrailer,
                            Some(Code::set("2")),
                            loc,
                            "the input ends inside a segment".into(),
                        );
                    }
                } else {
                    let mut loc = self.base(seg.offset);
                    loc.segment_id = Some(compact_text(seg.tag()));
                    self.group_finding(
                        Rule::StraySegment,
                        None,
                        loc,
                        format!(
                            "segment {} outside any transaction set ignored",
                            text(seg.tag())
                        ),
                    );
                }
            }
        }
    }

    fn open_group(&mut self, seg: &Segment<'_>) {
        self.group_ordinal += 1;
        self.summary.groups += 1;
        let fields: Vec<String> = seg.elements().map(text).collect();
        let group = Group {
            ordinal: self.group_ordinal,
            offset: seg.offset,
            fields,
        };
        let Some(ic) = &mut self.ic else { return };
        ic.groups += 1;
        let version_supported = ic.grammars.supports_family(group.version());
        let dup = !ic.gs06.insert(ControlKey::of(group.control()));
        self.visitor.group_start(&ic.ic, &group);
        self.group = Some(OpenGroup {
            group,
            findings: Findings::default(),
            sets: 0,
            accepted: 0,
            warned: 0,
            st02: FxHashSet::default(),
            version_supported,
        });
        let g = &self.group.as_ref().expect("just opened").group;
        let (ctl, version, date, time, count) = (
            g.control().to_string(),
            g.version().to_string(),
            g.field(4).to_string(),
            g.field(5).to_string(),
            g.fields.len(),
        );
        let mut loc = self.base(seg.offset);
        loc.segment_id = Some("GS".into());
        if count < 8 {
            self.group_finding(
                Rule::BrokenEnvelope,
                Some(Code::group("6")),
                loc.clone(),
                format!("GS has {count} elements; 8 are required"),
            );
        }
        if ctl.is_empty() || ctl.len() > 9 || !ctl.bytes().all(|b| b.is_ascii_digit()) {
            self.group_finding(
                Rule::ControlMismatch,
                Some(Code::group("6")),
                loc.clone(),
                format!("GS06 {ctl:?} is not a control number of 1 to 9 digits"),
            );
        }
        if dup {
            let code = (version.as_str() >= "004050").then(|| Code::group("19"));
            self.group_finding(
                Rule::DuplicateControl,
                code,
                loc.clone(),
                format!("GS06 {ctl} is used twice in this interchange"),
            );
        }
        if !version_supported {
            self.group_finding(
                Rule::UnsupportedVersion,
                Some(Code::group("2")),
                loc.clone(),
                format!("version {version:?} (GS08) is not supported"),
            );
        }
        if !(date.len() == 8 || date.len() == 6) || !valid_date(date.as_bytes()) {
            self.group_finding(
                Rule::HeaderField,
                None,
                loc.clone(),
                format!("GS04 {date:?} is not a valid date"),
            );
        }
        if !valid_time(time.as_bytes()) && !valid_hhmm(&time) {
            self.group_finding(
                Rule::HeaderField,
                None,
                loc,
                format!("GS05 {time:?} is not a valid time"),
            );
        }
    }

    fn open_set(&mut self, seg: &Segment<'_>) {
        self.set_ordinal += 1;
        let header = SetHeader {
            ordinal: self.set_ordinal,
            offset: seg.offset,
            id: compact_text(seg.element(1)),
            control: compact_text(seg.element(2)),
            convention: Some(compact_text(seg.element(3))).filter(|s| !s.is_empty()),
        };
        if self.group.is_none() {
            let loc = self.base(seg.offset);
            self.ic_finding(
                Rule::StraySegment,
                None,
                loc,
                format!(
                    "ST {} outside any functional group; its set is ignored",
                    header.control
                ),
            );
            return;
        }
        let (Some(ic), Some(group)) = (&self.ic, &mut self.group) else {
            return;
        };
        let policy = ic.policy;
        let dup = !group.st02.insert(ControlKey::of(&header.control));
        let mut base = Location {
            offset: seg.offset,
            interchange: Some(ic.ic.control().into()),
            group: Some(group.group.control().into()),
            set_id: Some(header.id.clone()),
            set: Some(header.control.clone()),
            ..Location::default()
        };
        let mut findings = Findings::default();
        let mut add = |rule: Rule, code: Option<Code>, msg: String| {
            let mut st_loc = base.clone();
            st_loc.segment_position = Some(1);
            st_loc.segment_id = Some("ST".into());
            findings.push(Finding::new(policy, rule, code, st_loc, msg))
        };
        if header.id.len() != 3 || !header.id.bytes().all(|b| b.is_ascii_digit()) {
            add(
                Rule::BrokenEnvelope,
                Some(Code::set("6")),
                format!("ST01 {:?} is not a transaction set identifier", header.id),
            );
        }
        if header.control.is_empty() {
            add(
                Rule::BrokenEnvelope,
                Some(Code::set("7")),
                "ST02 (set control number) is missing".into(),
            );
        } else if !(4..=9).contains(&header.control.len()) {
            add(
                Rule::HeaderField,
                Some(Code::set("7")),
                format!("ST02 {:?} is not 4 to 9 characters", header.control),
            );
        }
        if dup {
            add(
                Rule::DuplicateControl,
                Some(Code::set("23")),
                format!("ST02 {} is used twice in this group", header.control),
            );
        }
        let mut validator = None;
        let mut grammar_version = None;
        if !group.version_supported {
            add(
                Rule::UnsupportedVersion,
                Some(Code::set("1")),
                format!("version {:?} is not supported", group.group.version()),
            );
        } else {
            match ic.grammars.resolve(&header.id, group.group.version()) {
                Resolution::Exact(g) | Resolution::Fallback(g) => {
                    if g.version.as_str() != group.group.version().get(..6).unwrap_or("") {
                        add(
                            Rule::VersionFallback,
                            None,
                            format!(
                                "no {} grammar for version {}; validated against {}",
                                header.id,
                                group.group.version(),
                                g.version
                            ),
                        );
                    }
                    if g.functional_id != group.group.functional_id() {
                        add(
                            Rule::FunctionalIdMismatch,
                            None,
                            format!(
                                "set {} belongs under GS01 {}, not {}",
                                header.id,
                                g.functional_id,
                                group.group.functional_id()
                            ),
                        );
                    }
                    grammar_version = Some(g.version.as_str().into());
                    if self.config.validate_grammar {
                        validator = Some(SetValidator::with_scratch(
                            g,
                            policy,
                            base.clone(),
                            self.scratch.take().unwrap_or_default(),
                        ));
                    }
                }
                Resolution::UnknownSet | Resolution::UnsupportedVersion => {
                    add(
                        Rule::UnknownSet,
                        Some(Code::set("1")),
                        format!(
                            "transaction set {} is not supported in version {}",
                            header.id,
                            group.group.version()
                        ),
                    );
                }
            }
        }
        base.offset = seg.offset;
        let mut open = OpenSet {
            header,
            count: 1,
            findings,
            validator,
            grammar_version,
            base,
        };
        self.visitor.set_start(&ic.ic, &group.group, &open.header);
        self.visitor.set_segment(seg, 1);
        if let Some(v) = &mut open.validator {
            v.segment(seg, 1, &mut open.findings);
        }
        self.set = Some(open);
    }

    fn close_set(&mut self, se: Option<&Segment<'_>>, offset: u64) {
        let Some(mut set) = self.set.take() else {
            return;
        };
        let policy = self.policy();
        // The trailer's location is built only when there is something to report.
        let trailer_loc = |set: &OpenSet<'_>, position: Option<u32>| {
            let mut loc = set.base.clone();
            loc.offset = offset;
            if let Some(p) = position {
                loc.segment_position = Some(p);
                loc.segment_id = Some("SE".into());
            }
            loc
        };
        match se {
            Some(seg) => {
                set.count += 1;
                let position = set.count;
                self.visitor.set_segment(seg, position);
                if let Some(v) = &mut set.validator {
                    v.segment(seg, position, &mut set.findings);
                    v.finish(seg.offset, &mut set.findings);
                }
                let se01 = seg.element(1);
                let counted = std::str::from_utf8(se01)
                    .ok()
                    .and_then(|t| t.parse::<u64>().ok())
                    == Some(u64::from(position));
                if !counted {
                    let loc = trailer_loc(&set, Some(position));
                    set.findings.push(Finding::new(
                        policy,
                        Rule::CountMismatch,
                        Some(Code::set("4")),
                        loc,
                        format!("SE01 counts {} segments, actual {position}", text(se01)),
                    ));
                }
                let se02 = seg.element(2);
                if se02 != set.header.control.as_bytes() && text(se02) != set.header.control {
                    let se02 = text(se02);
                    let loc = trailer_loc(&set, Some(position));
                    let (rule, msg) = if numeric_eq(&se02, &set.header.control)
                        && !se02.is_empty()
                        && se02.bytes().all(|b| b.is_ascii_digit())
                        && set.header.control.bytes().all(|b| b.is_ascii_digit())
                    {
                        (
                            Rule::ControlPadding,
                            format!(
                                "SE02 {se02} equals ST02 {} only as a number",
                                set.header.control
                            ),
                        )
                    } else {
                        (
                            Rule::ControlMismatch,
                            format!("SE02 {se02:?} does not match ST02 {:?}", set.header.control),
                        )
                    };
                    set.findings
                        .push(Finding::new(policy, rule, Some(Code::set("3")), loc, msg));
                }
            }
            None => {
                if let Some(v) = &mut set.validator {
                    v.finish(offset, &mut set.findings);
                }
                let loc = trailer_loc(&set, None);
                set.findings.push(Finding::new(
                    policy,
                    Rule::MissingTrailer,
                    Some(Code::set("2")),
                    loc,
                    format!("set {} has no SE trailer", set.header.control),
                ));
            }
        }
        if let Some(v) = set.validator.take() {
            self.scratch = Some(v.into_scratch());
        }
        let outcome = SetOutcome {
            header: set.header,
            segments: set.count,
            findings: set.findings,
            grammar_version: set.grammar_version,
        };
        if let (Some(ic), Some(group)) = (&self.ic, &mut self.group) {
            group.sets += 1;
            match outcome.verdict() {
                Verdict::Rejected => {}
                Verdict::Accepted => group.accepted += 1,
                Verdict::AcceptedWithWarnings => {
                    group.accepted += 1;
                    group.warned += 1;
                }
            }
            self.visitor.set_end(&ic.ic, &group.group, &outcome);
        }
    }

    fn close_group(&mut self, ge: Option<&Segment<'_>>, offset: u64) {
        let Some(group) = &self.group else { return };
        let mut loc = self.base(offset);
        loc.set = None;
        loc.set_id = None;
        let ctl = group.group.control().to_string();
        let sets = group.sets;
        let mut claimed = None;
        match ge {
            Some(seg) => {
                loc.segment_id = Some("GE".into());
                let ge01 = text(seg.element(1));
                let ge02 = text(seg.element(2));
                claimed = ge01.parse::<u64>().ok();
                if claimed != Some(u64::from(sets)) {
                    self.group_finding(
                        Rule::CountMismatch,
                        Some(Code::group("5")),
                        loc.clone(),
                        format!("GE01 counts {ge01} sets, actual {sets}"),
                    );
                }
                if ge02 != ctl {
                    if numeric_eq(&ge02, &ctl)
                        && ge02.bytes().all(|b| b.is_ascii_digit())
                        && !ge02.is_empty()
                    {
                        self.group_finding(
                            Rule::ControlPadding,
                            Some(Code::group("4")),
                            loc,
                            format!("GE02 {ge02} equals GS06 {ctl} only as a number"),
                        );
                    } else {
                        self.group_finding(
                            Rule::ControlMismatch,
                            Some(Code::group("4")),
                            loc,
                            format!("GE02 {ge02:?} does not match GS06 {ctl:?}"),
                        );
                    }
                }
            }
            None => self.group_finding(
                Rule::MissingTrailer,
                Some(Code::group("3")),
                loc,
                format!("group {ctl} has no GE trailer"),
            ),
        }
        let Some(group) = self.group.take() else {
            return;
        };
        let outcome = GroupOutcome {
            group: group.group,
            findings: group.findings,
            sets_claimed: claimed,
            sets_received: group.sets,
            sets_accepted: group.accepted,
            trailer_present: ge.is_some(),
        };
        if outcome.rejected() {
            self.summary.groups_rejected += 1;
        }
        if let Some(ic) = &mut self.ic {
            ic.sets_total += u64::from(outcome.sets_received);
            if !outcome.rejected() {
                ic.sets_accepted += u64::from(outcome.sets_accepted);
                ic.sets_warned += u64::from(group.warned);
            }
            self.visitor.group_end(&ic.ic, &outcome);
        }
    }

    fn close_interchange(&mut self, iea: Option<&Segment<'_>>, offset: u64) {
        if self.ic.is_none() {
            return;
        }
        self.close_set(None, offset);
        self.close_group(None, offset);
        let Some(ic) = &self.ic else { return };
        let mut loc = self.base(offset);
        loc.group = None;
        let ctl = ic.ic.control().to_string();
        let groups = ic.groups;
        match iea {
            Some(seg) => {
                loc.segment_id = Some("IEA".into());
                let iea01 = text(seg.element(1));
                let iea02 = text(seg.element(2));
                if iea01.parse::<u64>().ok() != Some(u64::from(groups)) {
                    self.ic_finding(
                        Rule::CountMismatch,
                        Some(Code::ta1("021")),
                        loc.clone(),
                        format!("IEA01 counts {iea01} groups, actual {groups}"),
                    );
                }
                if iea02 != ctl {
                    if numeric_eq(&iea02, &ctl)
                        && !iea02.is_empty()
                        && iea02.bytes().all(|b| b.is_ascii_digit())
                    {
                        self.ic_finding(
                            Rule::ControlPadding,
                            Some(Code::ta1("001")),
                            loc.clone(),
                            format!("IEA02 {iea02} equals ISA13 {ctl} only as a number"),
                        );
                    } else {
                        self.ic_finding(
                            Rule::ControlMismatch,
                            Some(Code::ta1("001")),
                            loc.clone(),
                            format!("IEA02 {iea02:?} does not match ISA13 {ctl:?}"),
                        );
                    }
                }
                if seg.unterminated
                    && seg.delimiters.segment != super::delimiters::Terminator::Newline
                {
                    self.ic_finding(
                        Rule::EmptySegment,
                        None,
                        loc,
                        "the last segment (IEA) has no terminator".into(),
                    );
                }
            }
            None => self.ic_finding(
                Rule::MissingTrailer,
                Some(Code::ta1("023")),
                loc,
                format!("interchange {ctl} has no IEA trailer (premature end)"),
            ),
        }
        let Some(ic) = self.ic.take() else { return };
        let outcome = InterchangeOutcome {
            interchange: ic.ic,
            findings: ic.findings,
            groups: ic.groups,
            ta1_count: ic.ta1,
            sets_total: ic.sets_total,
            sets_accepted: ic.sets_accepted,
        };
        self.summary.sets += outcome.sets_total;
        if outcome.rejected() {
            self.summary.interchanges_rejected += 1;
        } else {
            self.summary.sets_accepted += outcome.sets_accepted;
            self.summary.sets_with_warnings += ic.sets_warned;
            if ic.sets_warned > 0 || !outcome.findings.is_empty() {
                self.summary.warnings = true;
            }
        }
        self.visitor.interchange_end(&outcome);
    }
}

/// A visitor borrowed mutably is a visitor (so `(&mut a, &mut b)` pairs borrowed visitors).
impl<V: Visitor + ?Sized> Visitor for &mut V {
    fn interchange_start(&mut self, ic: &Interchange) {
        (**self).interchange_start(ic);
    }
    fn ta1(&mut self, ic: &Interchange, seg: &Segment<'_>) {
        (**self).ta1(ic, seg);
    }
    fn group_start(&mut self, ic: &Interchange, group: &Group) {
        (**self).group_start(ic, group);
    }
    fn set_start(&mut self, ic: &Interchange, group: &Group, set: &SetHeader) {
        (**self).set_start(ic, group, set);
    }
    fn set_segment(&mut self, seg: &Segment<'_>, position: u32) {
        (**self).set_segment(seg, position);
    }
    fn set_end(&mut self, ic: &Interchange, group: &Group, outcome: &SetOutcome) {
        (**self).set_end(ic, group, outcome);
    }
    fn group_end(&mut self, ic: &Interchange, outcome: &GroupOutcome) {
        (**self).group_end(ic, outcome);
    }
    fn interchange_end(&mut self, outcome: &InterchangeOutcome) {
        (**self).interchange_end(outcome);
    }
    fn file_finding(&mut self, finding: &Finding) {
        (**self).file_finding(finding);
    }
}

/// Two visitors fed the same events, in order.
impl<A: Visitor, B: Visitor> Visitor for (A, B) {
    fn interchange_start(&mut self, ic: &Interchange) {
        self.0.interchange_start(ic);
        self.1.interchange_start(ic);
    }
    fn ta1(&mut self, ic: &Interchange, seg: &Segment<'_>) {
        self.0.ta1(ic, seg);
        self.1.ta1(ic, seg);
    }
    fn group_start(&mut self, ic: &Interchange, group: &Group) {
        self.0.group_start(ic, group);
        self.1.group_start(ic, group);
    }
    fn set_start(&mut self, ic: &Interchange, group: &Group, set: &SetHeader) {
        self.0.set_start(ic, group, set);
        self.1.set_start(ic, group, set);
    }
    fn set_segment(&mut self, seg: &Segment<'_>, position: u32) {
        self.0.set_segment(seg, position);
        self.1.set_segment(seg, position);
    }
    fn set_end(&mut self, ic: &Interchange, group: &Group, outcome: &SetOutcome) {
        self.0.set_end(ic, group, outcome);
        self.1.set_end(ic, group, outcome);
    }
    fn group_end(&mut self, ic: &Interchange, outcome: &GroupOutcome) {
        self.0.group_end(ic, outcome);
        self.1.group_end(ic, outcome);
    }
    fn interchange_end(&mut self, outcome: &InterchangeOutcome) {
        self.0.interchange_end(outcome);
        self.1.interchange_end(outcome);
    }
    fn file_finding(&mut self, finding: &Finding) {
        self.0.file_finding(finding);
        self.1.file_finding(finding);
    }
}

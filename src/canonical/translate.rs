//! The translator: X12 files in, canonical records out, in document order, exactly as validated.
//!
//! Invariants:
//! - Group and interchange verdicts arrive after their sets (at GE and IEA), so a set is settled
//!   only once every verdict that applies to it is known ([`EnvelopeVerdicts`]). Pass 1 runs the
//!   engine only to learn them (which groups and interchanges are rejected, and what they warn
//!   about); pass 2 runs it again and settles each set. Both read the same bytes under the same
//!   profiles, so they agree; pass 1 skips grammar validation, which only ever adds set
//!   findings. A helper thread hashes the file (SHA-256, for `source.file_sha256`) from its own
//!   reader, and every read is fingerprinted ([`Fingerprint`]): a file whose bytes change
//!   between the reads is an error.
//! - Files under [`PIPELINE_MIN_BYTES`] run pass 1, then pass 2 on this thread. Larger files run
//!   pass 2 on two threads ([`pipeline`]) with the same output as one thread, and pass 1 only
//!   when needed: an interchange is held until pass 2's own engine reaches its IEA, and pass 1
//!   gives the verdicts instead when an interchange is too large to hold or is cut off.
//! - Memory: the open set's segments (only while it can still become a record; their buffers
//!   are reused from set to set), notes for the groups and interchanges that are rejected or
//!   warned, and the bounded control-number tracker.
//! - Every transaction set ends as exactly one of: a record, a [`Rejection`] (location and X12
//!   code), or a [`Skipped`] (no mapper for its kind). Every TA1 of an accepted interchange is an
//!   `interchange_ack` record. A rejected group or interchange that holds no set is reported
//!   once, and so is a broken ISA header.
//! - Output follows document order.

use rustc_hash::FxHashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use super::ack997;
use super::advice945;
use super::common::{short_date, time};
use super::id::x12_record_id;
use super::map::{MapFn, Mapped, SetContext, Unmapped};
use super::order940;
use super::profile::{GroupSettings, Profile, Profiles};
use super::record::{Record, Source, SourceFormat, Text};
use crate::x12::envelope::{
    EngineConfig, FileSummary, Group, GroupOutcome, Interchange, InterchangeOutcome, SetHeader,
    SetOutcome, Verdict, Visitor, run,
};
use crate::x12::finding::{Finding, Severity};
use crate::x12::lexer::Limits;
use crate::x12::segment::{OwnedSegment, Segment};
use crate::x12::validate::Findings;

mod capture;
mod fuzzing;
mod output;
mod pipeline;
mod reading;

use capture::{SetCapture, SetDigester, capture_ta1};
pub use fuzzing::check_translation;
pub use output::{Collect, Rejected, Rejection, SetRef, Sink, Skipped};
use pipeline::{Options, PassTwo};
use reading::hash_all;
pub(crate) use reading::{Fingerprint, Hashing};

/// The mapper for a transaction set id.
fn mapper(set_id: &str) -> Result<MapFn, Unmapped> {
    match set_id {
        "940" => Ok(order940::map),
        "945" => Ok(advice945::map),
        "997" | "999" => Ok(ack997::map),
        "856" => Ok(super::asn856::map),
        "214" => Ok(super::status214::map),
        _ => Err(Unmapped {
            set: set_id.to_string(),
        }),
    }
}

/// Maps one set with the mapper for its kind.
fn map_set(set_id: &str, ctx: &SetContext<'_>, segs: &[OwnedSegment]) -> Result<Mapped, Unmapped> {
    mapper(set_id).map(|f| f(ctx, segs))
}

/// Whether a set ends as a rejection: its interchange, its group or itself is rejected.
fn set_rejected(
    verdicts: &EnvelopeVerdicts,
    ic: &Interchange,
    group: &Group,
    outcome: &SetOutcome,
) -> bool {
    verdicts.interchange(ic.ordinal).rejected
        || verdicts.group(group.ordinal).rejected
        || outcome.verdict() == Verdict::Rejected
}

/// What a set is mapped from when it is settled: its segments, or what the mapper already made
/// of them (on the engine's thread, see [`pipeline`]).
enum Mapping<'s> {
    Segments(&'s [OwnedSegment]),
    Done(Box<Result<Mapped, Unmapped>>),
}

/// Remembers which content each (sender, ISA13, GS06, ST02) carried during a run, to warn when a
/// partner reuses control numbers for different content. Bounded: past `cap` keys, new keys are
/// no longer remembered (the ids stay correct; only the warning can be missed).
#[derive(Debug)]
pub struct ControlTracker {
    /// Keyed by the key's SipHash: the map itself needs no second strong hash.
    seen: FxHashMap<u64, u64>,
    cap: usize,
}

impl Default for ControlTracker {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAP)
    }
}

impl ControlTracker {
    /// Keys remembered by default (about 2.5 MB at most, whatever the file size; a run longer
    /// than that can miss a reuse warning, never an id).
    pub const DEFAULT_CAP: usize = 64 * 1024;

    /// A tracker remembering at most `cap` keys.
    pub fn new(cap: usize) -> Self {
        ControlTracker {
            seen: FxHashMap::default(),
            cap,
        }
    }

    /// Records a set's content; true when the same key was seen before with other content.
    pub fn reused(&mut self, key: [&str; 4], content: &[u8; 32]) -> bool {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        let key = h.finish();
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&content[..8]);
        let content = u64::from_le_bytes(prefix);
        match self.seen.get(&key) {
            Some(&first) => first != content,
            None => {
                if self.seen.len() < self.cap {
                    self.seen.insert(key, content);
                }
                false
            }
        }
    }
}

/// What pass 1 learned about one group or interchange.
#[derive(Debug, Clone, Default)]
pub(crate) struct Note {
    rejected: bool,
    reason: Option<Finding>,
    warnings: Vec<String>,
}

static NO_NOTE: Note = Note {
    rejected: false,
    reason: None,
    warnings: Vec::new(),
};

/// Warnings of one group or interchange kept for its records; the rest are counted.
const MAX_NOTE_WARNINGS: usize = 10;

impl Note {
    fn from_findings(findings: &Findings, rejected: bool) -> Option<Note> {
        let warnings = warning_messages(findings, MAX_NOTE_WARNINGS);
        (rejected || !warnings.is_empty()).then(|| Note {
            rejected,
            reason: rejected.then(|| first_error(findings)).flatten(),
            warnings,
        })
    }
}

/// The first error finding kept.
fn first_error(findings: &Findings) -> Option<Finding> {
    findings.list.iter().find(|f| f.is_error()).cloned()
}

/// The messages of warning findings (at most `max`, then a count of the rest).
fn warning_messages(findings: &Findings, max: usize) -> Vec<String> {
    let mut out: Vec<String> = findings
        .list
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .map(|f| f.message.clone())
        .collect();
    let mut more = findings.dropped;
    if out.len() > max {
        more += (out.len() - max) as u64;
        out.truncate(max);
    }
    if more > 0 {
        out.push(format!("... and {more} more finding(s)"));
    }
    out
}

/// Pass 1: which groups and interchanges are rejected, and what they warn about, by ordinal.
///
/// Pass 2 may read it while pass 1 is still running ([`EnvelopeVerdicts::progressive`]): a
/// lookup first waits until pass 1 has closed that group or interchange (its GE or IEA, or the
/// end of the file), so it always sees the final verdict. Pass 1 never waits for pass 2, so the
/// wait always ends. A value made by `default()` is complete: it is filled by running pass 1
/// to the end before anything reads it, and lookups never wait.
#[derive(Debug)]
pub struct EnvelopeVerdicts {
    notes: Mutex<Notes>,
    /// Set before the first note becomes visible, so that the usual file (no notes) is read
    /// without taking the lock.
    any: AtomicBool,
    /// Groups with a lower ordinal are closed; `u32::MAX` once pass 1 has ended.
    closed_groups: AtomicU32,
    /// Interchanges with a lower ordinal are closed; `u32::MAX` once pass 1 has ended.
    closed_interchanges: AtomicU32,
    /// Signalled whenever something closes.
    closing: Condvar,
}

#[derive(Debug, Default)]
struct Notes {
    groups: FxHashMap<u32, Arc<Note>>,
    interchanges: FxHashMap<u32, Arc<Note>>,
}

impl Notes {
    /// The notes of interchanges, or of groups.
    fn of_mut(&mut self, interchange: bool) -> &mut FxHashMap<u32, Arc<Note>> {
        if interchange {
            &mut self.interchanges
        } else {
            &mut self.groups
        }
    }
}

/// A group's or interchange's note, or the empty note.
pub(crate) struct NoteRef(Option<Arc<Note>>);

impl std::ops::Deref for NoteRef {
    type Target = Note;

    fn deref(&self) -> &Note {
        self.0.as_deref().unwrap_or(&NO_NOTE)
    }
}

impl Default for EnvelopeVerdicts {
    fn default() -> Self {
        EnvelopeVerdicts {
            notes: Mutex::new(Notes::default()),
            any: AtomicBool::new(false),
            closed_groups: AtomicU32::new(u32::MAX),
            closed_interchanges: AtomicU32::new(u32::MAX),
            closing: Condvar::new(),
        }
    }
}

impl EnvelopeVerdicts {
    /// Verdicts that pass 2 may read while pass 1 fills them through [`Publish`]; pass 1 must
    /// call [`EnvelopeVerdicts::close_all`] when it ends, however it ends.
    fn progressive() -> Self {
        let verdicts = EnvelopeVerdicts::default();
        verdicts.closed_groups.store(0, Ordering::Relaxed);
        verdicts.closed_interchanges.store(0, Ordering::Relaxed);
        verdicts
    }

    fn lock(&self) -> MutexGuard<'_, Notes> {
        self.notes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Pass 1 has ended: nothing more will close, every lookup may go ahead.
    fn close_all(&self) {
        let _notes = self.lock();
        self.closed_groups.store(u32::MAX, Ordering::Release);
        self.closed_interchanges.store(u32::MAX, Ordering::Release);
        self.closing.notify_all();
    }

    /// Records what pass 1 found at a GE (or IEA) and closes that group (or interchange).
    fn close(&self, interchange: bool, ordinal: u32, note: Option<Note>) {
        let mut notes = self.lock();
        if let Some(note) = note {
            notes.of_mut(interchange).insert(ordinal, Arc::new(note));
            self.any.store(true, Ordering::Release);
        }
        self.closed(interchange)
            .fetch_max(ordinal.saturating_add(1), Ordering::Release);
        self.closing.notify_all();
    }

    /// How far groups (or interchanges) are closed.
    fn closed(&self, interchange: bool) -> &AtomicU32 {
        if interchange {
            &self.closed_interchanges
        } else {
            &self.closed_groups
        }
    }

    /// Closes a group with what was found at its GE.
    fn close_group(&self, outcome: &GroupOutcome) {
        let note = Note::from_findings(&outcome.findings, outcome.rejected());
        self.close(false, outcome.group.ordinal, note);
    }

    /// Closes every group up to `ordinal` that is not closed yet, with no note.
    fn close_groups_through(&self, ordinal: u32) {
        self.close(false, ordinal, None);
    }

    /// Closes an interchange with what was found at its IEA.
    fn close_interchange(&self, outcome: &InterchangeOutcome) {
        let note = Note::from_findings(&outcome.findings, outcome.rejected());
        self.close(true, outcome.interchange.ordinal, note);
    }

    /// Waits until `closed` passes `ordinal`, then reads its note.
    fn note(&self, interchange: bool, ordinal: u32) -> NoteRef {
        let closed = self.closed(interchange);
        if closed.load(Ordering::Acquire) <= ordinal {
            let mut notes = self.lock();
            while closed.load(Ordering::Acquire) <= ordinal {
                notes = self
                    .closing
                    .wait(notes)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
        if !self.any.load(Ordering::Acquire) {
            return NoteRef(None);
        }
        NoteRef(self.lock().of_mut(interchange).get(&ordinal).cloned())
    }

    fn group(&self, ordinal: u32) -> NoteRef {
        self.note(false, ordinal)
    }

    fn interchange(&self, ordinal: u32) -> NoteRef {
        self.note(true, ordinal)
    }

    /// Whether the group with this file ordinal is rejected.
    pub fn group_rejected(&self, ordinal: u32) -> bool {
        self.group(ordinal).rejected
    }

    /// Whether the interchange with this file ordinal is rejected.
    pub fn interchange_rejected(&self, ordinal: u32) -> bool {
        self.interchange(ordinal).rejected
    }
}

impl Visitor for EnvelopeVerdicts {
    fn group_end(&mut self, ic: &Interchange, outcome: &GroupOutcome) {
        Publish(self).group_end(ic, outcome);
    }

    fn interchange_end(&mut self, outcome: &InterchangeOutcome) {
        Publish(self).interchange_end(outcome);
    }
}

/// Pass 1's visitor when pass 2 reads the verdicts as they close.
struct Publish<'a>(&'a EnvelopeVerdicts);

impl Visitor for Publish<'_> {
    fn group_end(&mut self, _ic: &Interchange, outcome: &GroupOutcome) {
        self.0.close_group(outcome);
    }

    fn interchange_end(&mut self, outcome: &InterchangeOutcome) {
        self.0.close_interchange(outcome);
    }
}

/// Closes everything when pass 1 ends, by return, error or panic.
struct CloseAll<'a>(&'a EnvelopeVerdicts);

impl Drop for CloseAll<'_> {
    fn drop(&mut self) {
        self.0.close_all();
    }
}

/// The file being translated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Name as received, without directories.
    pub name: String,
    /// SHA-256 of its bytes, lower-case hex.
    pub sha256: String,
}

/// What came out of one file.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    /// Records written.
    pub records: u64,
    /// Rejections reported.
    pub rejected: u64,
    /// Sets skipped for lack of a mapper.
    pub skipped: u64,
}

/// Pass 2: maps every set whose verdicts allow it and sends the results to a [`Sink`].
pub struct Translator<'a, S: Sink> {
    profiles: &'a Profiles,
    verdicts: &'a EnvelopeVerdicts,
    tracker: &'a mut ControlTracker,
    file: &'a FileInfo,
    sink: &'a mut S,
    profile: Option<&'a Profile>,
    group: Option<GroupSettings<'a>>,
    /// The open set's copy.
    set: SetCapture,
    /// `source` as the open group fixes it; each set adds its own fields.
    group_source: Option<Source>,
    counts: Counts,
    error: Option<io::Error>,
}

impl<'a, S: Sink> Translator<'a, S> {
    /// A translator for one file, given what pass 1 found in it.
    pub fn new(
        profiles: &'a Profiles,
        verdicts: &'a EnvelopeVerdicts,
        tracker: &'a mut ControlTracker,
        file: &'a FileInfo,
        sink: &'a mut S,
    ) -> Self {
        Translator {
            profiles,
            verdicts,
            tracker,
            file,
            sink,
            profile: None,
            group: None,
            set: SetCapture::default(),
            group_source: None,
            counts: Counts::default(),
            error: None,
        }
    }

    /// The counts, or the first error the sink returned (output stops at that error).
    pub fn finish(self) -> io::Result<Counts> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.counts),
        }
    }

    /// The sink has failed: nothing more will be written.
    pub(super) fn failed(&self) -> bool {
        self.error.is_some()
    }

    fn emit(&mut self, f: impl FnOnce(&mut S) -> io::Result<()>) {
        if self.error.is_none()
            && let Err(e) = f(self.sink)
        {
            self.error = Some(e);
        }
    }

    fn reject(&mut self, what: Rejected, reason: Option<Finding>) {
        self.counts.rejected += 1;
        let rejection = Rejection {
            file: self.file.name.clone(),
            what,
            reason,
        };
        self.emit(|s| s.rejected(&rejection));
    }

    /// Settles a set as a record, a rejection or a skip; `mapping` and `digest` are what was
    /// captured of it (empty when it could not become a record).
    fn settle_set(
        &mut self,
        ic: &Interchange,
        group: &Group,
        outcome: &SetOutcome,
        mapping: Mapping<'_>,
        digest: [u8; 32],
    ) {
        let set = &outcome.header;
        let set_ref = || SetRef {
            position: set.ordinal,
            set_id: set.id.to_string(),
            control: set.control.to_string(),
            interchange: ic.control().to_string(),
            group: group.control().to_string(),
        };
        let ic_note = self.verdicts.interchange(ic.ordinal);
        let group_note = self.verdicts.group(group.ordinal);
        if set_rejected(self.verdicts, ic, group, outcome) {
            let reason = first_error(&outcome.findings)
                .or_else(|| group_note.reason.clone())
                .or_else(|| ic_note.reason.clone());
            self.reject(Rejected::Set(set_ref()), reason);
            return;
        }
        let unknown;
        let settings = match &self.group {
            Some(g) => g,
            None => {
                unknown = self.profiles.group_settings(None, group);
                &unknown
            }
        };
        let ctx = SetContext {
            interchange: ic,
            group,
            header: set,
            settings: settings.settings,
        };
        let mapped = match mapping {
            Mapping::Segments(segments) => map_set(&set.id, &ctx, segments),
            Mapping::Done(mapped) => *mapped,
        };
        let mapped = match mapped {
            Ok(m) => m,
            Err(reason) => {
                self.counts.skipped += 1;
                let skipped = Skipped {
                    file: self.file.name.clone(),
                    set: set_ref(),
                    reason,
                };
                self.emit(|s| s.skipped(&skipped));
                return;
            }
        };
        let partner = Text::from(settings.settings.partner.as_str());
        let mut set_source = match &self.group_source {
            Some(base) => base.clone(),
            None => group_source(&interchange_source(self.file, ic), group),
        };
        add_set_source(&mut set_source, set);
        let sender = set_source.sender.as_deref().unwrap_or_default();
        let receiver = set_source.receiver.as_deref().unwrap_or_default();
        let id = x12_record_id(
            &partner,
            sender,
            receiver,
            ic.control(),
            group.control(),
            &set.control,
            &digest,
        );
        let mut warnings = warning_messages(&outcome.findings, usize::MAX);
        warnings.extend(group_note.warnings.iter().cloned());
        warnings.extend(ic_note.warnings.iter().cloned());
        warnings.extend(settings.warning.iter().cloned());
        let key = [sender, ic.control(), group.control(), &set.control];
        if self.tracker.reused(key, &digest) {
            warnings.push(format!(
                "control numbers ISA13 {} / GS06 {} / ST02 {} from {sender} were already used in this run for different content",
                ic.control(),
                group.control(),
                set.control
            ));
        }
        warnings.extend(mapped.warnings);
        let mut record = Record::new(
            id.into(),
            partner,
            ic.test(),
            set_source,
            mapped.references,
            mapped.payload,
        );
        record.warnings = warnings;
        self.counts.records += 1;
        self.emit(|s| s.record(&record));
    }

    /// A TA1 of an accepted interchange becomes an `interchange_ack` record.
    fn settle_ta1(&mut self, ic: &Interchange, owned: &OwnedSegment, digest: [u8; 32]) {
        if self.verdicts.interchange(ic.ordinal).rejected {
            return;
        }
        let mapped = ack997::interchange_ack(owned);
        let partner = self
            .profiles
            .interchange_settings(self.profile)
            .partner
            .clone();
        let (sender, receiver) = (ic.sender(), ic.receiver());
        let id = x12_record_id(&partner, &sender, &receiver, ic.control(), "", "", &digest);
        let mut warnings = self.verdicts.interchange(ic.ordinal).warnings.clone();
        warnings.extend(mapped.warnings);
        let mut record = Record::new(
            id.into(),
            partner.as_str().into(),
            ic.test(),
            source(self.file, ic, None),
            mapped.references,
            mapped.payload,
        );
        record.warnings = warnings;
        self.counts.records += 1;
        self.emit(|s| s.record(&record));
    }
}

/// The `source` object of a record.
fn source(file: &FileInfo, ic: &Interchange, set: Option<(&Group, &SetHeader)>) -> Source {
    let mut s = interchange_source(file, ic);
    if let Some((group, header)) = set {
        s = group_source(&s, group);
        add_set_source(&mut s, header);
    }
    s
}

fn opt(s: &str) -> Option<Text> {
    (!s.is_empty()).then(|| Text::from(s))
}

/// The `source` fields an interchange fixes.
fn interchange_source(file: &FileInfo, ic: &Interchange) -> Source {
    let isa = &ic.header;
    let interchange_date = short_date(isa.field(9))
        .zip(time(isa.field(10)).filter(|_| isa.field(10).len() == 4))
        .map(|(d, t)| compact_str::format_compact!("{d}T{t}"));
    Source {
        file: Some(Text::from(file.name.as_str())),
        file_sha256: Some(Text::from(file.sha256.as_str())),
        sender: Some(ic.sender().into()),
        receiver: Some(ic.receiver().into()),
        interchange_control: opt(ic.control()),
        interchange_date,
        ..Source::new(SourceFormat::X12)
    }
}

/// The `source` fields a group fixes, on top of its interchange's.
fn group_source(interchange: &Source, group: &Group) -> Source {
    Source {
        version: opt(group.version()),
        gs_sender: opt(group.field(2)),
        gs_receiver: opt(group.field(3)),
        group_control: opt(group.control()),
        ..interchange.clone()
    }
}

/// The set's own `source` fields.
fn add_set_source(s: &mut Source, header: &SetHeader) {
    s.transaction_set = opt(&header.id);
    s.transaction_control = opt(&header.control);
    s.position = Some(u64::from(header.ordinal));
}

impl<S: Sink> Visitor for Translator<'_, S> {
    fn interchange_start(&mut self, ic: &Interchange) {
        self.profile = self.profiles.matching(ic);
    }

    fn ta1(&mut self, ic: &Interchange, seg: &Segment<'_>) {
        if self.verdicts.interchange(ic.ordinal).rejected {
            return;
        }
        let (owned, digest) = capture_ta1(seg);
        self.settle_ta1(ic, &owned, digest);
    }

    fn group_start(&mut self, ic: &Interchange, group: &Group) {
        self.group = Some(self.profiles.group_settings(self.profile, group));
        let base = interchange_source(self.file, ic);
        self.group_source = Some(group_source(&base, group));
    }

    fn set_start(&mut self, ic: &Interchange, group: &Group, set: &SetHeader) {
        self.set.start(self.verdicts, ic, group, set);
    }

    fn set_segment(&mut self, seg: &Segment<'_>, position: u32) {
        self.set.segment(seg, position);
    }

    fn set_end(&mut self, ic: &Interchange, group: &Group, outcome: &SetOutcome) {
        let digest = self.set.finish_digest();
        let used = self.set.segments().len();
        // Lent out while the set is settled (taking a `Vec` allocates nothing).
        let segments = std::mem::take(&mut self.set.segments);
        self.settle_set(
            ic,
            group,
            outcome,
            Mapping::Segments(&segments[..used]),
            digest,
        );
        self.set.segments = segments;
        self.set.stop();
    }

    fn group_end(&mut self, ic: &Interchange, outcome: &GroupOutcome) {
        self.group = None;
        self.group_source = None;
        if outcome.rejected()
            && outcome.sets_received == 0
            && !self.verdicts.interchange(ic.ordinal).rejected
        {
            let what = Rejected::Group {
                interchange: ic.control().to_string(),
                group: outcome.group.control().to_string(),
            };
            self.reject(what, first_error(&outcome.findings));
        }
    }

    fn interchange_end(&mut self, outcome: &InterchangeOutcome) {
        self.profile = None;
        if outcome.rejected() && outcome.sets_total == 0 {
            let what = Rejected::Interchange {
                interchange: outcome.interchange.control().to_string(),
            };
            self.reject(what, first_error(&outcome.findings));
        }
    }

    fn file_finding(&mut self, finding: &Finding) {
        if finding.is_error() {
            self.reject(Rejected::Input, Some(finding.clone()));
        }
    }
}

/// Why a file could not be translated (as opposed to sets in it being rejected).
#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    /// The file could not be opened or read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The sink failed (e.g. stdout closed); output stopped there.
    #[error("{file}: cannot write output: {source}")]
    Output {
        /// The file being translated.
        file: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The bytes differed between the two passes (the file was being written).
    #[error("{file}: the file changed while it was being translated")]
    Changed {
        /// The file.
        file: String,
    },
}

/// What translating one file produced.
#[derive(Debug, Clone)]
pub struct FileOutcome {
    /// The file name and hash.
    pub file: FileInfo,
    /// The engine's counts (pass 2).
    pub summary: FileSummary,
    /// What was sent to the sink.
    pub counts: Counts,
}

/// The engine configuration translation runs under. Pass 1 only needs the group and
/// interchange verdicts, which come from envelope checks alone (grammar findings are set
/// findings), so it skips grammar validation.
fn engine_config(profiles: &Profiles, validate_grammar: bool) -> EngineConfig<'_> {
    EngineConfig {
        grammars: profiles.default_grammars(),
        policy: profiles.default_policy(),
        limits: Limits::default(),
        validate_grammar,
        profiles: Some(profiles),
    }
}

/// Files at least this large run pass 2 on two threads ([`pipeline`]); smaller ones are not
/// worth a thread.
const PIPELINE_MIN_BYTES: u64 = 1 << 20;

/// Translates one X12 source in two passes; `open` must return the same bytes each time it is
/// called (its readers may be read at the same time, from different threads), and `name` is
/// the file name records carry.
pub fn translate<R: Read + Send, S: Sink>(
    name: &str,
    open: impl FnMut() -> io::Result<R>,
    profiles: &Profiles,
    tracker: &mut ControlTracker,
    sink: &mut S,
) -> Result<FileOutcome, TranslateError> {
    translate_with(name, open, profiles, tracker, sink, Options::DEFAULT)
}

/// [`translate`], running pass 2 on two threads when the file has at least `pipeline_min`
/// bytes, mapping sets where `map_on` says.
fn translate_with<R: Read + Send, S: Sink>(
    name: &str,
    mut open: impl FnMut() -> io::Result<R>,
    profiles: &Profiles,
    tracker: &mut ControlTracker,
    sink: &mut S,
    options: Options,
) -> Result<FileOutcome, TranslateError> {
    let read_error = |source| TranslateError::Read {
        file: name.to_string(),
        source,
    };
    let changed = || TranslateError::Changed {
        file: name.to_string(),
    };
    // The file is hashed (SHA-256) on a helper thread from its own reader while pass 2 reads
    // it; pass 1 (the envelope verdicts) reads a third copy. Each read is fingerprinted, and
    // every reader is drained to the end, so a file that changes between the reads is caught.
    let verdicts = EnvelopeVerdicts::progressive();
    let verdicts = &verdicts;
    let hash_input = open().map_err(read_error)?;
    let pass1_input = open().map_err(read_error)?;
    let pass1 = move || -> io::Result<(u64, u64)> {
        let _closes = CloseAll(verdicts);
        let mut reader = Fingerprint::new(pass1_input);
        run(
            &mut reader,
            engine_config(profiles, false),
            &mut Publish(verdicts),
        )?;
        io::copy(&mut reader, &mut io::sink())?;
        Ok(reader.finish())
    };
    let mut reader = Fingerprint::new(open().map_err(read_error)?);
    // The first bytes decide how pass 2 runs: a file of `pipeline_min` bytes or more runs on
    // two threads (with pass 1 only when needed, see `pipeline::run_pipelined`), a smaller one
    // on this thread once pass 1 has ended, so that its errors come before any output.
    let mut head = Vec::new();
    (&mut reader)
        .take(options.min_bytes)
        .read_to_end(&mut head)
        .map_err(read_error)?;
    let large = head.len() as u64 >= options.min_bytes;
    let file_slot = std::sync::OnceLock::new();
    let config = engine_config(profiles, true);
    let joined = |what: &str| io::Error::other(format!("the {what} thread panicked"));
    let hash_done = AtomicBool::new(false);
    let hash_done = &hash_done;
    let (summary, counts, before) = std::thread::scope(|scope| {
        let hashing = std::thread::Builder::new()
            .name("edigate-sha256".into())
            .spawn_scoped(scope, move || {
                let hashed = hash_all(hash_input);
                hash_done.store(true, Ordering::Release);
                hashed
            })
            .map_err(read_error)?;
        let mut hashed = None;
        // Waits for the hash and makes the translator.
        let start = || -> Result<Translator<'_, S>, TranslateError> {
            let (sha256, _, before) = hashing
                .join()
                .map_err(|_| joined("hashing"))
                .and_then(|r| r)
                .map_err(read_error)?;
            hashed = Some(before);
            let file = file_slot.get_or_init(|| FileInfo {
                name: name.to_string(),
                sha256,
            });
            Ok(Translator::new(profiles, verdicts, tracker, file, sink))
        };
        let input = io::Cursor::new(head).chain(&mut reader);
        let PassTwo {
            summary,
            translator,
            pass1: pass1_fingerprint,
        } = if large {
            pipeline::run_pipelined(
                input, config, profiles, verdicts, options, hash_done, start, pass1, read_error,
            )?
        } else {
            let fingerprint = pass1().map_err(read_error)?;
            let mut translator = start()?;
            let summary = run(input, config, &mut translator).map_err(read_error)?;
            PassTwo {
                summary,
                translator,
                pass1: Some(fingerprint),
            }
        };
        let counts = translator
            .finish()
            .map_err(|source| TranslateError::Output {
                file: name.to_string(),
                source,
            })?;
        let before =
            hashed.ok_or_else(|| read_error(io::Error::other("the file was not hashed")))?;
        if pass1_fingerprint.is_some_and(|f| f != before) {
            return Err(changed());
        }
        Ok((summary, counts, before))
    })?;
    io::copy(&mut reader, &mut io::sink()).map_err(read_error)?;
    if reader.finish() != before {
        return Err(changed());
    }
    let file = file_slot
        .into_inner()
        .ok_or_else(|| read_error(io::Error::other("no file")))?;
    Ok(FileOutcome {
        file,
        summary,
        counts,
    })
}

/// Translates a file on disk; records carry its name without directories.
pub fn translate_file<S: Sink>(
    path: &Path,
    profiles: &Profiles,
    tracker: &mut ControlTracker,
    sink: &mut S,
) -> Result<FileOutcome, TranslateError> {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    translate(&name, || std::fs::File::open(path), profiles, tracker, sink)
}

#[cfg(test)]
mod tests {
    use super::pipeline::{HOLD_SETS, MapOn};
    use super::*;
    use sha2::{Digest, Sha256};

    fn log_of(
        text: &[u8],
        pipeline_min: u64,
        map_on: MapOn,
        hold_sets: usize,
        start_late: bool,
        partner: Option<&str>,
    ) -> (Vec<String>, FileSummary) {
        let mut profiles = Profiles::new(Grammars::embedded().expect("grammars"), Policy::Standard);
        if let Some(id) = partner {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/partners");
            let partners = crate::config::load_dir(&dir).expect("fixture partners");
            profiles = profiles.with_partners(&partners).expect("partner grammars");
            profiles.force(id).expect("a fixture partner");
        }
        let mut sink = fuzzing::Lines::default();
        let outcome = translate_with(
            "all.edi",
            || Ok(text),
            &profiles,
            &mut ControlTracker::default(),
            &mut sink,
            Options {
                min_bytes: pipeline_min,
                map_on,
                hold_sets,
                start_late,
            },
        )
        .expect("in-memory input");
        (sink.0, outcome.summary)
    }

    #[test]
    fn two_threads_give_the_same_output_as_one() {
        // Every X12 fixture, one after another, then enough sets to fill several batches, a
        // group whose GE count is wrong, an interchange with a bad IEA, an unsupported set and a
        // TA1 (records, rejections and skips interleaved).
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/x12");
        let mut names: Vec<_> = ["sets", "quirks", "bad"]
            .iter()
            .filter_map(|sub| std::fs::read_dir(dir.join(sub)).ok())
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "edi"))
            .collect();
        names.sort();
        assert!(names.len() > 5, "fixtures found: {}", names.len());
        let mut text = Vec::new();
        for name in &names {
            text.extend(std::fs::read(name).expect("fixture"));
            text.push(b'\n');
        }
        let mut many = String::from(ISA);
        many.push_str("GS*FA*SENDER*RECEIVER*20260105*1430*1*X*004010~");
        for n in 1..=150 {
            many.push_str(&format!(
                "ST*997*{n:04}~AK1*OW*{n}~AK9*A*0*0*0~SE*4*{n:04}~"
            ));
        }
        many.push_str("ST*810*9999~BIG*20260105*INV1~SE*3*9999~");
        many.push_str("GE*151*1~GS*FA*SENDER*RECEIVER*20260105*1430*2*X*004010~");
        many.push_str("ST*997*0001~AK1*OW*5~AK9*A*0*0*0~SE*4*0001~GE*7*2~IEA*2*000000001~");
        many.push_str(&ISA.replace("000000001", "000000002"));
        many.push_str("TA1*000000907*260105*1447*A*000~IEA*0*000000002~");
        many.push_str(&ISA.replace("000000001", "000000003"));
        many.push_str("GS*FA*SENDER*RECEIVER*20260105*1430*3*X*004010~ST*997*0001~AK1*OW*5~AK9*A*0*0*0~SE*4*0001~GE*1*3~IEA*1*000000004~");
        text.extend(many.as_bytes());
        // Defaults, then a partner with milestone overrides and a default time zone for every
        // interchange (the engine's thread must map under the same settings).
        // Then the same with an interchange cut off by the end of the file.
        let mut cut = text.clone();
        cut.extend(ISA.replace("000000001", "000000005").as_bytes());
        cut.extend(b"GS*FA*SENDER*RECEIVER*20260105*1430*5*X*004010~ST*997*0001~AK1*OW*5~AK9*A*0*0*0~SE*4*0001~");
        for (text, partner) in [(&text, None), (&text, Some("ridgeline")), (&cut, None)] {
            let (one, one_summary) =
                log_of(text, u64::MAX, MapOn::Shared, HOLD_SETS, false, partner);
            // Interchanges held for their IEA, pass 1 started part way, or from the start; the
            // translator made as soon as it can, or only at the end (sets mapped ahead).
            for (hold_sets, start_late) in [HOLD_SETS, 3, 0]
                .into_iter()
                .flat_map(|h| [(h, false), (h, true)])
            {
                for map_on in [MapOn::Shared, MapOn::Engine, MapOn::Caller] {
                    let (two, two_summary) =
                        log_of(text, 0, map_on, hold_sets, start_late, partner);
                    assert_eq!(
                        one, two,
                        "{map_on:?}, holding {hold_sets} sets, late start {start_late}"
                    );
                    assert_eq!(
                        serde_json::to_string(&one_summary).expect("json"),
                        serde_json::to_string(&two_summary).expect("json")
                    );
                }
            }
            assert!(one.len() > 200, "{} outputs", one.len());
            for kind in ["record", "rejected"] {
                assert!(
                    one.iter().any(|l| l.starts_with(kind)),
                    "no {kind} in the output"
                );
            }
            if partner.is_some() {
                assert!(one.iter().any(|l| l.contains(r#""partner":"ridgeline""#)));
            }
        }
    }

    /// A sink whose reader goes away after its first record.
    struct ClosesAfterOne(usize);

    impl Sink for ClosesAfterOne {
        fn record(&mut self, _: &Record) -> io::Result<()> {
            self.0 += 1;
            if self.0 > 1 {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            Ok(())
        }
        fn rejected(&mut self, _: &Rejection) -> io::Result<()> {
            Ok(())
        }
        fn skipped(&mut self, _: &Skipped) -> io::Result<()> {
            Ok(())
        }
    }

    /// Counts what its readers read.
    struct Counted<'a>(&'a [u8], &'a std::sync::atomic::AtomicU64);

    impl Read for Counted<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.read(buf)?;
            self.1.fetch_add(n as u64, Ordering::Relaxed);
            Ok(n)
        }
    }

    #[test]
    fn a_failed_sink_stops_the_reading() {
        let mut one = String::from(ISA);
        one.push_str("GS*FA*SENDER*RECEIVER*20260105*1430*1*X*004010~");
        for n in 1..=10 {
            one.push_str(&format!(
                "ST*997*{n:04}~AK1*OW*{n}~AK9*A*0*0*0~SE*4*{n:04}~"
            ));
        }
        one.push_str("GE*10*1~IEA*1*000000001~");
        let text = one.repeat(2_000);
        let profiles = Profiles::new(Grammars::embedded().expect("grammars"), Policy::Standard);
        let read = std::sync::atomic::AtomicU64::new(0);
        let mut sink = ClosesAfterOne(0);
        let err = translate_with(
            "big.edi",
            || Ok(Counted(text.as_bytes(), &read)),
            &profiles,
            &mut ControlTracker::default(),
            &mut sink,
            Options {
                min_bytes: 0,
                ..Options::DEFAULT
            },
        )
        .expect_err("the sink fails");
        assert!(matches!(err, TranslateError::Output { .. }), "{err}");
        // The hash reads the whole file once; pass 2 stops soon after the failure (its small
        // interchanges are held for their IEAs, so pass 1 does not run).
        let total = text.len() as u64;
        let read = read.load(Ordering::Relaxed);
        assert!(read < total + total / 4, "{read} bytes read of {total}");
    }

    use crate::x12::grammar::Grammars;
    use crate::x12::policy::Policy;

    const ISA: &str = "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *260105*1430*U*00401*000000001*0*P*>~";

    fn run_text(text: &str) -> (Collect, FileOutcome) {
        let profiles = Profiles::new(Grammars::embedded().expect("grammars"), Policy::Standard);
        let mut sink = Collect::default();
        let mut tracker = ControlTracker::default();
        let outcome = translate(
            "t.edi",
            || Ok(text.as_bytes()),
            &profiles,
            &mut tracker,
            &mut sink,
        )
        .expect("in-memory input");
        (sink, outcome)
    }

    #[test]
    fn accepted_997_becomes_a_record_with_envelope_fields() {
        let text = format!(
            "{ISA}GS*FA*SENDER*RECEIVER*20260105*1430*1*X*004010~ST*997*0001~AK1*OW*5~AK9*A*0*0*0~SE*4*0001~GE*1*1~IEA*1*000000001~"
        );
        let (out, outcome) = run_text(&text);
        assert_eq!(outcome.counts.records, 1);
        let r = &out.records[0];
        assert_eq!(r.partner, "unknown");
        assert_eq!(r.id.len(), 32);
        assert_eq!(r.source.sender.as_deref(), Some("ZZ:SENDER"));
        assert_eq!(
            r.source.interchange_date.as_deref(),
            Some("2026-01-05T14:30")
        );
        assert_eq!(r.source.position, Some(1));
        assert_eq!(
            r.source.file_sha256.as_deref(),
            Some(hex::encode(Sha256::digest(text.as_bytes())).as_str())
        );
    }

    #[test]
    fn rejected_group_without_sets_is_reported_once() {
        let text =
            format!("{ISA}GS*FA*SENDER*RECEIVER*20260105*1430*1*X*004010~GE*0*2~IEA*1*000000001~");
        let (out, outcome) = run_text(&text);
        assert_eq!(outcome.counts.rejected, 1);
        assert!(out.records.is_empty());
        assert_eq!(
            out.rejected[0].to_string(),
            "rejected group GS06 1 (ISA13 000000001) at GE: AK905:4 GE02 \"2\" does not match GS06 \"1\""
        );
    }

    #[test]
    fn ta1_of_a_rejected_interchange_is_not_a_record() {
        let ok = format!("{ISA}TA1*000000907*260105*1447*A*000~IEA*0*000000001~");
        let (out, _) = run_text(&ok);
        assert_eq!(out.records.len(), 1);
        assert_eq!(out.records[0].source.transaction_set, None);
        let bad = format!("{ISA}TA1*000000907*260105*1447*A*000~IEA*0*000000002~");
        let (out, outcome) = run_text(&bad);
        assert!(out.records.is_empty());
        assert_eq!(outcome.counts.rejected, 1);
        let line = out.rejected[0].to_string();
        assert!(
            line.starts_with("rejected interchange ISA13 000000001 at IEA: TA105:001"),
            "{line}"
        );
    }

    #[test]
    fn set_in_rejected_interchange_carries_the_interchange_error() {
        let text = format!(
            "{ISA}GS*FA*SENDER*RECEIVER*20260105*1430*1*X*004010~ST*997*0001~AK1*OW*5~AK9*A*0*0*0~SE*4*0001~GE*1*1~IEA*1*000000009~"
        );
        let (out, outcome) = run_text(&text);
        assert!(out.records.is_empty());
        assert_eq!(outcome.counts.rejected, 1, "{:?}", out.rejected);
        let line = out.rejected[0].to_string();
        assert!(
            line.starts_with("rejected 997 ST02 0001 (ISA13 000000001, GS06 1) at IEA: TA105:001"),
            "{line}"
        );
    }

    #[test]
    fn broken_header_is_reported_as_rejected_input() {
        let (out, outcome) = run_text("ISA*00*          *00*          *ZZ*KESTREL  *ZZ*GRANITE");
        assert!(out.records.is_empty());
        assert_eq!(outcome.counts.rejected, 1);
        let line = out.rejected[0].to_string();
        assert!(
            line.starts_with("rejected input at byte 0: TA105:023"),
            "{line}"
        );
    }

    #[test]
    fn a_file_that_changes_between_the_passes_is_an_error() {
        let first = format!(
            "{ISA}GS*FA*SENDER*RECEIVER*20260105*1430*1*X*004010~ST*997*0001~AK1*OW*5~AK9*A*0*0*0~SE*4*0001~GE*1*1~IEA*1*000000001~"
        );
        let second = first.replace("AK1*OW*5", "AK1*OW*6");
        let profiles = Profiles::new(Grammars::embedded().expect("grammars"), Policy::Standard);
        let mut calls = 0;
        let result = translate(
            "t.edi",
            || {
                calls += 1;
                Ok(if calls == 1 {
                    first.as_bytes()
                } else {
                    second.as_bytes()
                })
            },
            &profiles,
            &mut ControlTracker::default(),
            &mut Collect::default(),
        );
        assert!(matches!(result, Err(TranslateError::Changed { .. })));
    }

    #[test]
    fn non_x12_input_yields_nothing() {
        let (out, outcome) = run_text("order,qty\nA1,3\n");
        assert!(!outcome.summary.x12);
        assert!(out.records.is_empty() && out.rejected.is_empty() && out.skipped.is_empty());
    }

    #[test]
    fn sets_without_a_mapper_are_unmapped() {
        for set in ["204", "810"] {
            assert_eq!(mapper(set).err().map(|u| u.set), Some(set.to_string()));
        }
        for set in ["856", "214", "940", "945", "997", "999"] {
            assert!(mapper(set).is_ok(), "{set}");
        }
    }

    #[test]
    fn control_tracker_warns_on_reuse_and_stays_bounded() {
        let mut t = ControlTracker::new(1);
        let key = ["ZZ:A", "000000001", "1", "0001"];
        assert!(!t.reused(key, &[1; 32]));
        assert!(!t.reused(key, &[1; 32]));
        assert!(t.reused(key, &[2; 32]));
        let other = ["ZZ:A", "000000001", "1", "0002"];
        assert!(!t.reused(other, &[1; 32]));
        assert!(
            !t.reused(other, &[2; 32]),
            "past the cap, keys are not remembered"
        );
        assert_eq!(t.seen.len(), 1);
    }

    #[test]
    fn progressive_verdicts_wait_until_pass_1_closes_what_is_asked_for() {
        let verdicts = EnvelopeVerdicts::progressive();
        let rejected = || {
            Some(Note {
                rejected: true,
                reason: None,
                warnings: vec!["late".into()],
            })
        };
        std::thread::scope(|scope| {
            // Group 1 and interchange 0 are read before pass 1 gets to them.
            let group = scope.spawn(|| verdicts.group_rejected(1));
            let interchange = scope.spawn(|| verdicts.interchange(0).warnings.clone());
            let never = scope.spawn(|| verdicts.interchange_rejected(7));
            std::thread::sleep(std::time::Duration::from_millis(20));
            verdicts.close(false, 0, None);
            verdicts.close(false, 1, rejected());
            verdicts.close(true, 0, rejected());
            assert!(group.join().expect("group reader"), "group 1 is rejected");
            assert_eq!(interchange.join().expect("reader"), ["late"]);
            // Interchange 7 never closes; the end of pass 1 releases its reader.
            verdicts.close_all();
            assert!(!never.join().expect("reader"));
        });
        // Closed ordinals are read without waiting; a default value never waits.
        assert!(!verdicts.group_rejected(0));
        assert!(!EnvelopeVerdicts::default().interchange_rejected(3));
    }

    #[test]
    fn warning_messages_are_capped_with_a_count() {
        use crate::x12::finding::Location;
        use crate::x12::policy::Rule;
        let mut findings = Findings::default();
        for i in 0..4 {
            let loc = Location::default();
            findings.push(Finding::new(
                Policy::Standard,
                Rule::IsaPadding,
                None,
                loc,
                format!("w{i}"),
            ));
        }
        let loc = Location::default();
        findings.push(Finding::new(
            Policy::Standard,
            Rule::ControlMismatch,
            None,
            loc,
            "e",
        ));
        assert_eq!(
            warning_messages(&findings, 2),
            ["w0", "w1", "... and 2 more finding(s)"]
        );
        assert_eq!(
            first_error(&findings).map(|f| f.message),
            Some("e".to_string())
        );
    }
}

//! Intake of one claimed file: hash, duplicate check, parse and map, acknowledgments, ONE ledger
//! commit, then finalize (move to `archive/` or `quarantine/`).
//!
//! Invariants:
//! - Nothing leaves `work/` before the ledger commit that records it; a crash anywhere before
//!   the move leaves the file in `work/`, and the next start processes it again.
//! - The ledger decides what a second look at the same bytes means: recorded but not finalized
//!   (a crash between commit and move) → finalize only; recorded and finalized (the partner sent
//!   the same file again) → recorded as a duplicate, nothing forwarded.
//! - Acknowledgment control numbers are reserved durably before the acks are generated, so a
//!   crash can leave gaps but never reuses a number. The acks are recorded in the same commit
//!   as the file; the ack writer puts them into `out/` afterwards (and again after a crash).
//! - Parsing runs on a blocking thread; the store is reached through the single writer.

use std::collections::{HashSet, VecDeque};
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::canonical::intake_translate::InputTranslator;
use crate::canonical::profile::Profiles;
use crate::canonical::record::Record;
use crate::canonical::translate::{
    Collect, ControlTracker, EnvelopeVerdicts, FileInfo, Rejected, Translator,
};
use crate::config::partner::Partner;
use crate::intake::batcher::Finalize;
use crate::intake::sniff::SNIFF_PREFIX_LEN;
use crate::intake::{Sniffed, sniff};
use crate::sources::spool::{ClaimedFile, SpoolPartner, free_name, quarantine};
use crate::store::counters::{GS06, ISA13};
use crate::store::{
    AckRow, FileIntake, FileRow, FileState, InterchangeRow, RecordRow, Recorded, TransactionRow,
};
use crate::writer::{StoreWriter, WriteError};
use crate::x12::ack::{AckBuilder, AckKind, AckOptions, ControlNumbers};
use crate::x12::envelope::{
    EngineConfig, FileSummary, Group, GroupOutcome, Interchange, InterchangeOutcome, SetOutcome,
    Verdict, Visitor, run,
};
use crate::x12::finding::{CodeKind, Finding};
use crate::x12::lexer::Limits;
use crate::x12::segment::Segment;

/// The loaded partners, as intake and the spool need them. Replaced whole on reload.
#[derive(Debug, Clone)]
pub struct PartnerBook {
    /// Translation profiles (matching by ISA sender and receiver).
    pub profiles: Profiles,
    /// The partner files.
    pub partners: Vec<Partner>,
}

impl PartnerBook {
    /// The partners' spool settings.
    pub fn spool_partners(&self) -> Vec<SpoolPartner> {
        self.partners
            .iter()
            .map(|p| SpoolPartner {
                id: p.id.clone(),
                quiet_period: p.inbound_quiet_period,
            })
            .collect()
    }

    /// Acknowledgment settings for files from `partner`'s folder.
    fn ack_options(&self, partner: &str) -> AckOptions {
        let mut options = AckOptions::default();
        if let Some(x) = self
            .partners
            .iter()
            .find(|p| p.id == partner)
            .and_then(|p| p.x12.as_ref())
        {
            options.kind = x.ack;
            options.ak2_for = x.ak2;
        }
        options
    }
}

/// Why a file could not be processed (it stays in `work/` for the next start).
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// Reading or moving the file failed.
    #[error("{file}: {what}: {source}")]
    Io {
        /// The file.
        file: String,
        /// What was being done.
        what: &'static str,
        /// Why it failed.
        source: io::Error,
    },
    /// The ledger failed.
    #[error("{file}: ledger: {source}")]
    Store {
        /// The file.
        file: String,
        /// Why it failed.
        source: WriteError,
    },
}

/// What became of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processed {
    /// Recorded now and finalized.
    Recorded {
        /// Outcome.
        state: FileState,
        /// New records (deliveries enqueued).
        new_records: u64,
        /// Where the file went.
        final_path: PathBuf,
    },
    /// The same bytes were recorded before; recorded as a duplicate and archived.
    Duplicate {
        /// Where the file went.
        final_path: PathBuf,
    },
    /// Recorded before a crash; only finalized now.
    Finalized {
        /// Where the file went.
        final_path: PathBuf,
    },
    /// Handed to the batcher: recorded with the next group commit, then moved and finalized
    /// there (failures are logged; the file stays in `work/` for the next start).
    Queued,
}

/// What is left of a file once its records are committed (the move, the mark, the log line).
type FinishJob = Box<dyn FnOnce() + Send>;

/// Runs the finishing of committed files on one blocking thread at a time, every job queued
/// meanwhile in one go. A group commit completes many files at once; a blocking task each made
/// the pool start a thread per file (each with its own allocator heap), which cost more CPU
/// than the moves themselves.
#[derive(Debug, Clone)]
pub struct Finisher {
    tx: tokio::sync::mpsc::UnboundedSender<FinishJob>,
}

impl Finisher {
    /// Starts the finisher on the current runtime; it ends when every handle is dropped, after
    /// running what was queued.
    pub fn spawn() -> Finisher {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<FinishJob>();
        tokio::spawn(async move {
            let mut jobs = Vec::new();
            while rx.recv_many(&mut jobs, 256).await > 0 {
                let batch = std::mem::take(&mut jobs);
                let done = tokio::task::spawn_blocking(move || {
                    for job in batch {
                        // One failing file must not take the others of the batch with it.
                        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                            tracing::error!(
                                "Finishing a file failed; it stays in work/ and is retried at the next start."
                            );
                        }
                    }
                })
                .await;
                if let Err(e) = done {
                    tracing::error!(error = %e, "The intake finisher failed; files stay in work/.");
                }
            }
        });
        Finisher { tx }
    }

    /// Queues `job`; when the finisher is gone (the runtime is stopping), runs it here.
    fn finish(&self, job: FinishJob) {
        if let Err(tokio::sync::mpsc::error::SendError(job)) = self.tx.send(job) {
            job();
        }
    }
}

/// Shared by the intake workers.
#[derive(Debug, Clone)]
pub struct IntakeContext {
    /// The store writer.
    pub writer: StoreWriter,
    /// Wakes the ack writer after a commit that recorded acks.
    pub acks_ready: Arc<tokio::sync::Notify>,
    /// Wakes the forwarder after a commit that enqueued deliveries.
    pub records_ready: Arc<tokio::sync::Notify>,
    /// Group commits of file records and finalizations.
    pub batcher: crate::intake::batcher::Batcher,
    /// Finishes files after their commit.
    pub finisher: Finisher,
    /// Control numbers reserved ahead, per partner.
    pub controls: Arc<ControlPool>,
    /// SHA-256 digests being processed right now: a second file with the same bytes waits, so
    /// the ledger sees them one after the other.
    pub in_progress: Arc<Mutex<HashSet<String>>>,
}

/// Removes a digest from the in-progress set when processing ends, however it ends; for a file
/// that reached finalization, once the ledger has marked it finalized.
struct InProgress {
    set: Arc<Mutex<HashSet<String>>>,
    sha: String,
}

impl Drop for InProgress {
    fn drop(&mut self) {
        if let Ok(mut s) = self.set.lock() {
            s.remove(&self.sha);
        }
    }
}

impl IntakeContext {
    fn begin(&self, sha: &str) -> InProgress {
        loop {
            if let Ok(mut s) = self.in_progress.lock()
                && s.insert(sha.to_string())
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        InProgress {
            set: self.in_progress.clone(),
            sha: sha.to_string(),
        }
    }
}

/// Processes one claimed file, on a blocking thread.
pub fn process_file(
    ctx: &IntakeContext,
    book: &PartnerBook,
    file: &ClaimedFile,
) -> Result<Processed, IntakeError> {
    let io_err = |what: &'static str| {
        move |source| IntakeError::Io {
            file: file.path.display().to_string(),
            what,
            source,
        }
    };
    let store_err = |source| IntakeError::Store {
        file: file.path.display().to_string(),
        source,
    };
    let (sha256, size) = hash_file(&file.path).map_err(io_err("cannot read"))?;
    let guard = ctx.begin(&sha256);
    if file.recovered {
        // Left in work/ by a crash: if it was recorded (as new or as a duplicate) but not moved,
        // only the move is missing.
        let (sha, name) = (sha256.clone(), file.name.clone());
        let pending = ctx
            .writer
            .run_blocking(move |s| {
                Ok(s.unfinalized_files()?
                    .into_iter()
                    .find(|r| r.sha256 == sha && r.name == name))
            })
            .map_err(store_err)?;
        if let Some(row) = pending {
            return finalize_recorded(ctx, file, &row, guard);
        }
    }
    let sha = sha256.clone();
    let known = ctx
        .batcher
        .file_by_sha256(&ctx.writer, &sha)
        .map_err(store_err)?;
    if let Some(row) = known {
        return if row.finalized_at_ms.is_none() {
            finalize_recorded(ctx, file, &row, guard)
        } else {
            record_duplicate(ctx, file, &row, sha256, size, guard)
        };
    }

    let started = std::time::Instant::now();
    if !looks_like_x12(&file.path).map_err(io_err("cannot read"))? {
        let intake = translate_other(book, file, sha256, size)?;
        return record_and_finalize(ctx, file, intake, started, guard);
    }
    let options = book.ack_options(&file.partner);
    let (verdicts, counts) =
        first_pass(&file.path, &book.profiles, options.kind).map_err(io_err("cannot read"))?;
    let mut translated = None;
    // The exact count is computed the way the ack builder decides; should it ever fall short,
    // reserve generously and generate again (the unused numbers are skipped, never reused).
    for (interchanges, groups) in [counts, (counts.0 * 2 + 4, counts.1 * 2 + 8)] {
        let counters = ctx
            .controls
            .take(&ctx.writer, &file.partner, interchanges, groups)
            .map_err(store_err)?;
        let t = translate(
            &file.path,
            &file.name,
            &sha256,
            &book.profiles,
            &options,
            &verdicts,
            counters,
        )
        .map_err(io_err("cannot read"))?;
        if t.acks_complete {
            translated = Some(t);
            break;
        }
        warn!(partner = %file.partner, file = %file.name, "Fewer control numbers were reserved than the acknowledgments need; reserving more.");
    }
    let Some(t) = translated else {
        return Err(IntakeError::Io {
            file: file.path.display().to_string(),
            what: "cannot number the acknowledgments",
            source: io::Error::other("control number reservation fell short twice"),
        });
    };
    let intake = t.into_intake(file, sha256, size);
    record_and_finalize(ctx, file, intake, started, guard)
}

/// Whether the file's content is X12 (by content, never by name).
fn looks_like_x12(path: &Path) -> io::Result<bool> {
    let mut prefix = Vec::with_capacity(SNIFF_PREFIX_LEN);
    fs::File::open(path)?
        .take(SNIFF_PREFIX_LEN as u64)
        .read_to_end(&mut prefix)?;
    Ok(matches!(sniff(&prefix), Sniffed::X12 { .. }))
}

/// Anything that is not X12 (a zip archive, a partner CSV or fixed-width file): translated by
/// content with the layouts of the partner whose folder it came from. No acknowledgment is sent
/// for these (X12 inside an archive included: its partner gets none for a zipped interchange).
fn translate_other(
    book: &PartnerBook,
    file: &ClaimedFile,
    sha256: String,
    size: u64,
) -> Result<FileIntake, IntakeError> {
    let fail = |what: &'static str, msg: String| IntakeError::Io {
        file: file.path.display().to_string(),
        what,
        source: io::Error::other(msg),
    };
    let profiles = Profiles::new(
        book.profiles.default_grammars().clone(),
        book.profiles.default_policy(),
    );
    let mut translator = InputTranslator::new(profiles, book.partners.clone()).map_err(|e| {
        let text: Vec<String> = e.iter().map(ToString::to_string).collect();
        fail("cannot load partner grammars", text.join("; "))
    })?;
    // The spool folder names the partner: its layouts (and X12 profile) apply.
    if translator.force_partner(&file.partner).is_err() {
        warn!(partner = %file.partner, file = %file.name, "No partner file for this spool folder; translating with every partner's layouts.");
    }
    let mut out = Collect::default();
    let mut tracker = ControlTracker::new(0);
    let path = file.path.clone();
    let counts = translator
        .translate_input(&file.name, || fs::File::open(&path), &mut tracker, &mut out)
        .map_err(|e| fail("cannot translate", e.to_string()))?;
    let mut lines: Vec<String> = Vec::new();
    lines.extend(out.problems.iter().map(ToString::to_string));
    lines.extend(out.row_errors.iter().map(ToString::to_string));
    lines.extend(out.rejected.iter().map(ToString::to_string));
    let more = lines.len().saturating_sub(REASON_REJECTIONS);
    lines.truncate(REASON_REJECTIONS);
    if more > 0 {
        lines.push(format!("... and {more} more"));
    }
    let reason = (!lines.is_empty()).then(|| lines.join("\n"));
    let state = if out.records.is_empty() {
        if counts.rejected == 0 && counts.row_errors == 0 {
            FileState::Quarantined
        } else {
            FileState::Rejected
        }
    } else if counts.clean() {
        FileState::Accepted
    } else {
        FileState::Partial
    };
    Ok(FileIntake {
        partner: file.partner.clone(),
        name: file.name.clone(),
        correlation_id: correlation_id(&sha256, file.received_at_ms),
        sha256,
        size,
        received_at_ms: file.received_at_ms,
        state,
        reason,
        interchanges: Vec::new(),
        transactions: Vec::new(),
        records: out.records.iter().map(record_row).collect(),
        acks: Vec::new(),
    })
}

/// The ledger commit, then the move to archive/ or quarantine/.
fn record_and_finalize(
    ctx: &IntakeContext,
    file: &ClaimedFile,
    intake: FileIntake,
    started: std::time::Instant,
    guard: InProgress,
) -> Result<Processed, IntakeError> {
    let store_err = |source| IntakeError::Store {
        file: file.path.display().to_string(),
        source,
    };
    let correlation = intake.correlation_id.clone();
    let isa13: Vec<String> = intake
        .interchanges
        .iter()
        .map(|i| i.isa13.clone())
        .collect();
    let after = AfterRecord {
        state: intake.state,
        reason: intake.reason.clone(),
        had_acks: !intake.acks.is_empty(),
        correlation,
        isa13,
        started,
    };
    let pending = ctx.batcher.record(intake).map_err(store_err)?;
    // On the daemon's runtime the worker goes on with its next file while this one waits for
    // its group commit (so commits group up); the move and the rest follow the commit, on the
    // finisher.
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        let (ctx, file) = (ctx.clone(), file.clone());
        rt.spawn(async move {
            let recorded = pending.await.unwrap_or_else(|_| Err(gone()));
            let finisher = ctx.finisher.clone();
            finisher.finish(Box::new(move || {
                if let Err(e) = after.finish(&ctx, &file, recorded, guard) {
                    tracing::error!(error = %e, "File not processed; it stays in work/ and is retried at the next start.");
                }
            }));
        });
        return Ok(Processed::Queued);
    }
    let recorded = pending.blocking_recv().unwrap_or_else(|_| Err(gone()));
    after.finish(ctx, file, recorded, guard)
}

fn gone() -> WriteError {
    WriteError::Gone(crate::writer::WriterGone)
}

/// What is left of a file's intake once its records are committed.
struct AfterRecord {
    state: FileState,
    reason: Option<String>,
    had_acks: bool,
    correlation: String,
    isa13: Vec<String>,
    started: std::time::Instant,
}

impl AfterRecord {
    fn finish(
        self,
        ctx: &IntakeContext,
        file: &ClaimedFile,
        recorded: Result<Recorded, WriteError>,
        guard: InProgress,
    ) -> Result<Processed, IntakeError> {
        let recorded = recorded.map_err(|source| IntakeError::Store {
            file: file.path.display().to_string(),
            source,
        })?;
        let AfterRecord {
            state,
            reason,
            had_acks,
            correlation,
            isa13,
            started,
        } = self;
        if had_acks {
            ctx.acks_ready.notify_one();
        }
        if recorded.new_records > 0 {
            ctx.records_ready.notify_one();
        }
        for isa13 in &recorded.reused_isa13 {
            warn!(partner = %file.partner, file = %file.name, isa13 = %isa13, "ISA13 reused with different content; processed anyway.");
        }
        let final_path = finalize(ctx, file, recorded.file_id, state, reason.as_deref(), guard)?;
        crate::events::FileRecorded {
            partner: &file.partner,
            file: &file.name,
            correlation: &correlation,
            isa13: &isa13.join(","),
            state: state.as_str(),
            records: recorded.new_records,
            duplicate_records: recorded.duplicate_records,
            took: started.elapsed(),
        }
        .emit();
        Ok(Processed::Recorded {
            state,
            new_records: recorded.new_records,
            final_path,
        })
    }
}

/// A file recorded before a crash: move it where its state says, then mark it.
fn finalize_recorded(
    ctx: &IntakeContext,
    file: &ClaimedFile,
    row: &FileRow,
    guard: InProgress,
) -> Result<Processed, IntakeError> {
    let final_path = finalize(ctx, file, row.id, row.state, row.reason.as_deref(), guard)?;
    info!(partner = %file.partner, file = %file.name, "File recorded before a restart is finalized.");
    Ok(Processed::Finalized { final_path })
}

fn record_duplicate(
    ctx: &IntakeContext,
    file: &ClaimedFile,
    first: &FileRow,
    sha256: String,
    size: u64,
    guard: InProgress,
) -> Result<Processed, IntakeError> {
    let reason = format!(
        "same bytes as file {:?} (ledger file {}) already received; nothing processed again",
        first.name, first.id
    );
    let intake = FileIntake {
        partner: file.partner.clone(),
        name: file.name.clone(),
        correlation_id: correlation_id(&sha256, file.received_at_ms),
        sha256,
        size,
        received_at_ms: file.received_at_ms,
        state: FileState::Duplicate,
        reason: Some(reason.clone()),
        interchanges: Vec::new(),
        transactions: Vec::new(),
        records: Vec::new(),
        acks: Vec::new(),
    };
    let recorded = ctx
        .writer
        .run_blocking(move |s| s.record_file(&intake))
        .map_err(|source| IntakeError::Store {
            file: file.path.display().to_string(),
            source,
        })?;
    let final_path = finalize(
        ctx,
        file,
        recorded.file_id,
        FileState::Duplicate,
        Some(&reason),
        guard,
    )?;
    info!(partner = %file.partner, file = %file.name, first = first.id, "Duplicate file recorded and skipped.");
    Ok(Processed::Duplicate { final_path })
}

/// Moves the file to `archive/<date>/` (or `quarantine/` with a reason when nothing was
/// accepted) and hands it to the batcher, which makes the move durable (one folder sync for
/// every file moved meanwhile), then marks it finalized in the ledger and only then lets a file
/// with the same bytes in. The worker goes on with its next file meanwhile.
fn finalize(
    ctx: &IntakeContext,
    file: &ClaimedFile,
    file_id: i64,
    state: FileState,
    reason: Option<&str>,
    guard: InProgress,
) -> Result<PathBuf, IntakeError> {
    let io_err = |source| IntakeError::Io {
        file: file.path.display().to_string(),
        what: "cannot finalize",
        source,
    };
    let (final_path, sync) = match state {
        FileState::Rejected | FileState::Quarantined => {
            // quarantine() syncs its folder itself (rare: no need to share that sync).
            let text = format!("{}\n", reason.unwrap_or("nothing in the file was accepted"));
            let to =
                quarantine(&file.path, &file.dirs.quarantine, &file.name, &text).map_err(io_err)?;
            (to, None)
        }
        FileState::Accepted | FileState::Partial | FileState::Duplicate => {
            let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
            let dir = file.dirs.archive.join(day);
            fs::create_dir_all(&dir).map_err(io_err)?;
            let target = free_name(&dir, &file.name);
            fs::rename(&file.path, &target).map_err(io_err)?;
            (target, Some(dir))
        }
    };
    ctx.batcher
        .finalize(Finalize {
            file_id,
            final_path: final_path.display().to_string(),
            sync,
            hold: Box::new(guard),
        })
        .map_err(|source| IntakeError::Store {
            file: file.path.display().to_string(),
            source,
        })?;
    Ok(final_path)
}

/// The correlation id shared by everything from one file.
fn correlation_id(sha256: &str, received_at_ms: i64) -> String {
    format!("{}-{received_at_ms:x}", &sha256[..sha256.len().min(16)])
}

fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    let mut f = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    // On the stack: a fresh 64 KiB heap buffer per file came from fresh allocator pages.
    let mut buf = [0u8; 32 * 1024];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((hex::encode(hasher.finalize()), size))
}

/// The engine configuration intake runs under. Pass 1 needs only group and interchange
/// outcomes, which come from envelope checks alone (grammar findings are set findings, and
/// neither the verdicts nor the ack counts read them), so it skips grammar validation, as
/// [`crate::canonical::translate::translate`]'s pass 1 does.
fn engine_config(profiles: &Profiles, validate_grammar: bool) -> EngineConfig<'_> {
    EngineConfig {
        grammars: profiles.default_grammars(),
        policy: profiles.default_policy(),
        limits: Limits::default(),
        validate_grammar,
        profiles: Some(profiles),
    }
}

/// Counts the acknowledgment interchanges and groups the ack builder will number, deciding as
/// it does (x12/ack.rs: a TA1 when asked for or the envelope has findings; one functional group
/// per received non-`FA` group of an accepted interchange; nothing for TA1-only interchanges).
#[derive(Debug, Default)]
struct AckCount {
    kind: AckKind,
    groups_here: u64,
    interchanges: u64,
    groups: u64,
}

impl Visitor for AckCount {
    fn interchange_start(&mut self, _ic: &Interchange) {
        self.groups_here = 0;
    }
    fn group_end(&mut self, _ic: &Interchange, outcome: &GroupOutcome) {
        if outcome.group.functional_id() != "FA" {
            self.groups_here += 1;
        }
    }
    fn interchange_end(&mut self, outcome: &InterchangeOutcome) {
        if outcome.groups == 0 && outcome.ta1_count > 0 {
            return;
        }
        let noted = outcome
            .findings
            .list
            .iter()
            .any(|f| f.code.is_some_and(|c| c.kind == CodeKind::Ta105));
        let want_ta1 = outcome.interchange.ack_requested() || noted || outcome.rejected();
        let functional = !outcome.rejected() && self.kind != AckKind::None && self.groups_here > 0;
        if want_ta1 || functional {
            self.interchanges += 1;
        }
        if functional {
            self.groups += self.groups_here;
        }
    }
}

/// Pass 1: which groups and interchanges are rejected (the translator needs it before it maps
/// a set), and how many ISA13s and GS06s the acks will need.
fn first_pass(
    path: &Path,
    profiles: &Profiles,
    kind: AckKind,
) -> io::Result<(EnvelopeVerdicts, (u64, u64))> {
    let mut verdicts = EnvelopeVerdicts::default();
    let mut count = AckCount {
        kind,
        ..AckCount::default()
    };
    run(
        fs::File::open(path)?,
        engine_config(profiles, false),
        &mut (&mut verdicts, &mut count),
    )?;
    Ok((verdicts, (count.interchanges, count.groups)))
}

/// Control numbers reserved ahead, per partner: one durable reservation (two commits) serves
/// many files. Numbers still in the pool when the daemon stops are skipped, never reused; that
/// gap is the price of not paying two commits per file.
#[derive(Debug, Default)]
pub struct ControlPool {
    partners: Mutex<std::collections::HashMap<String, Reserved>>,
}

/// Reserved ISA13s and GS06s of one partner.
type Reserved = (VecDeque<u64>, VecDeque<u64>);

/// Numbers reserved per refill, at least.
const CONTROL_BLOCK: u64 = 64;

impl ControlPool {
    /// Takes `interchanges` ISA13s and `groups` GS06s for `partner`, reserving more first when
    /// the pool runs short.
    fn take(
        &self,
        writer: &StoreWriter,
        partner: &str,
        interchanges: u64,
        groups: u64,
    ) -> Result<PooledNumbers, WriteError> {
        let mut all = self.partners.lock().map_err(|_| {
            WriteError::Store(crate::store::StoreError::Invalid(
                "control number pool poisoned".into(),
            ))
        })?;
        let (isa, gs) = all.entry(partner.to_string()).or_default();
        for (queue, kind, need) in [(&mut *isa, ISA13, interchanges), (&mut *gs, GS06, groups)] {
            let have = queue.len() as u64;
            if have < need {
                let count = (need - have).max(CONTROL_BLOCK);
                let p = partner.to_string();
                let range = writer.run_blocking(move |s| s.reserve_controls(&p, kind, count))?;
                queue.extend(range.numbers());
            }
        }
        let take = |q: &mut VecDeque<u64>, n: u64| -> VecDeque<u64> {
            let n = usize::try_from(n).unwrap_or(usize::MAX).min(q.len());
            q.drain(..n).collect()
        };
        Ok(PooledNumbers {
            interchanges: take(isa, interchanges),
            groups: take(gs, groups),
            short: false,
        })
    }
}

/// The numbers one file's acks may use.
#[derive(Debug, Default)]
struct PooledNumbers {
    interchanges: VecDeque<u64>,
    groups: VecDeque<u64>,
    /// More were asked for than were taken (`0` was handed out; the acks are discarded).
    short: bool,
}

impl ControlNumbers for PooledNumbers {
    fn next_interchange(&mut self, _partner: &str) -> u64 {
        self.interchanges.pop_front().unwrap_or_else(|| {
            self.short = true;
            0
        })
    }
    fn next_group(&mut self, _partner: &str) -> u64 {
        self.groups.pop_front().unwrap_or_else(|| {
            self.short = true;
            0
        })
    }
}

/// The ledger rows of interchanges and sets, collected during pass 2.
#[derive(Debug, Default)]
struct LedgerRows {
    interchanges: Vec<InterchangeRow>,
    transactions: Vec<(u32, TransactionRow)>,
    digest: Sha256,
}

impl LedgerRows {
    fn hash_segment(&mut self, seg: &Segment<'_>) {
        self.digest.update(seg.tag());
        for e in seg.elements() {
            self.digest.update([0x1f]);
            self.digest.update(e);
        }
        self.digest.update([0x1e]);
    }
}

fn findings_json(list: &[Finding]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".to_string())
}

impl Visitor for LedgerRows {
    fn interchange_start(&mut self, _ic: &Interchange) {
        self.digest = Sha256::new();
    }
    fn ta1(&mut self, _ic: &Interchange, seg: &Segment<'_>) {
        self.hash_segment(seg);
    }
    fn set_segment(&mut self, seg: &Segment<'_>, _position: u32) {
        self.hash_segment(seg);
    }
    fn set_end(&mut self, ic: &Interchange, group: &Group, outcome: &SetOutcome) {
        let verdict = match outcome.verdict() {
            Verdict::Accepted => "accepted",
            Verdict::AcceptedWithWarnings => "accepted_with_warnings",
            Verdict::Rejected => "rejected",
        };
        self.transactions.push((
            outcome.header.ordinal,
            TransactionRow {
                isa13: ic.control().to_string(),
                gs06: group.control().to_string(),
                st01: outcome.header.id.to_string(),
                st02: outcome.header.control.to_string(),
                verdict: verdict.to_string(),
                findings_json: findings_json(&outcome.findings.list),
                record_id: None,
            },
        ));
    }
    fn interchange_end(&mut self, outcome: &InterchangeOutcome) {
        let digest = std::mem::take(&mut self.digest);
        let ic = &outcome.interchange;
        self.interchanges.push(InterchangeRow {
            sender: ic.sender(),
            receiver: ic.receiver(),
            isa13: ic.control().to_string(),
            content_sha256: hex::encode(digest.finalize()),
            rejected: outcome.rejected(),
            duplicate: false,
            findings_json: findings_json(&outcome.findings.list),
        });
    }
}

/// Everything pass 2 produced.
struct Translated {
    summary: FileSummary,
    out: Collect,
    rows: LedgerRows,
    acks: Vec<AckRow>,
    acks_complete: bool,
}

fn translate(
    path: &Path,
    name: &str,
    sha256: &str,
    profiles: &Profiles,
    options: &AckOptions,
    verdicts: &EnvelopeVerdicts,
    mut counters: PooledNumbers,
) -> io::Result<Translated> {
    let config = engine_config(profiles, true);
    let info = FileInfo {
        name: name.to_string(),
        sha256: sha256.to_string(),
    };
    let mut out = Collect::default();
    let mut tracker = ControlTracker::new(0);
    let mut rows = LedgerRows::default();
    let ack_kind = options.kind;
    let mut builder = AckBuilder::new(options.clone(), &mut counters);
    let summary = {
        let mut translator = Translator::new(profiles, verdicts, &mut tracker, &info, &mut out);
        let summary = {
            let mut both = (&mut builder, &mut rows);
            let mut all = (&mut translator, &mut both);
            run(fs::File::open(path)?, config, &mut all)?
        };
        translator.finish()?;
        summary
    };
    let docs = builder.finish();
    let acks_complete = !counters.short;
    let functional = match ack_kind {
        AckKind::Ack999 => "999",
        AckKind::Ack997 | AckKind::None => "997",
    };
    let acks = docs
        .into_iter()
        .map(|d| {
            let kind = if d.functional_acks > 0 {
                functional
            } else {
                "TA1"
            };
            AckRow {
                kind: kind.to_string(),
                file_name: format!("{}_{}_{}.x12", d.control, kind, d.acked_interchange),
                isa13: d.control,
                text: d.text,
            }
        })
        .collect();
    Ok(Translated {
        summary,
        out,
        rows,
        acks,
        acks_complete,
    })
}

/// At most this many rejections are spelled out in a file's reason.
const REASON_REJECTIONS: usize = 5;

impl Translated {
    fn into_intake(self, file: &ClaimedFile, sha256: String, size: u64) -> FileIntake {
        let Translated {
            summary,
            out,
            rows,
            acks,
            ..
        } = self;
        let mut transactions = rows.transactions;
        for (position, row) in &mut transactions {
            row.record_id = out
                .records
                .iter()
                .find(|r| r.source.position == Some(u64::from(*position)))
                .map(|r| r.id.to_string());
            let rejected = out
                .rejected
                .iter()
                .any(|r| matches!(&r.what, Rejected::Set(s) if s.position == *position));
            if rejected {
                row.verdict = "rejected".to_string();
            }
        }
        let accepted_sets = summary.sets.saturating_sub(out.rejected.len() as u64);
        let anything_accepted = !out.records.is_empty() || accepted_sets > 0;
        let (state, reason) = if !summary.x12 {
            (
                FileState::Quarantined,
                Some("not an X12 file: no ISA header was found".to_string()),
            )
        } else if out.rejected.is_empty() {
            (FileState::Accepted, None)
        } else if anything_accepted {
            (FileState::Partial, Some(rejections(&out)))
        } else {
            (FileState::Rejected, Some(rejections(&out)))
        };
        FileIntake {
            partner: file.partner.clone(),
            name: file.name.clone(),
            correlation_id: correlation_id(&sha256, file.received_at_ms),
            sha256,
            size,
            received_at_ms: file.received_at_ms,
            state,
            reason,
            interchanges: rows.interchanges,
            transactions: transactions.into_iter().map(|(_, t)| t).collect(),
            records: out.records.iter().map(record_row).collect(),
            acks,
        }
    }
}

fn rejections(out: &Collect) -> String {
    let mut text = String::new();
    for (i, r) in out.rejected.iter().take(REASON_REJECTIONS).enumerate() {
        if i > 0 {
            text.push('\n');
        }
        let _ = write!(text, "{r}");
    }
    if out.rejected.len() > REASON_REJECTIONS {
        let _ = write!(
            text,
            "\n... and {} more rejection(s)",
            out.rejected.len() - REASON_REJECTIONS
        );
    }
    text
}

fn record_row(r: &Record) -> RecordRow {
    RecordRow {
        id: r.id.to_string(),
        kind: r.kind.as_str().to_string(),
        partner: r.partner.to_string(),
        json: crate::canonical::json::to_string(r).unwrap_or_default(),
        test: r.test,
    }
}

/// Intake workers: each takes the next claimed file and processes it on a blocking thread, so
/// parsing of one file overlaps the commits of others. On shutdown a worker finishes its file;
/// files still queued stay in `work/` for the next start.
pub async fn run_workers(
    ctx: IntakeContext,
    book: tokio::sync::watch::Receiver<Arc<PartnerBook>>,
    rx: tokio::sync::mpsc::Receiver<ClaimedFile>,
    workers: usize,
    shutdown: crate::shutdown::Shutdown,
) {
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers.max(1) {
        let (ctx, book, rx, mut shutdown) =
            (ctx.clone(), book.clone(), rx.clone(), shutdown.clone());
        set.spawn(async move {
            loop {
                let next = {
                    let mut rx = rx.lock().await;
                    tokio::select! {
                        biased;
                        () = shutdown.wait() => None,
                        f = rx.recv() => f,
                    }
                };
                let Some(file) = next else { break };
                let book = book.borrow().clone();
                let ctx = ctx.clone();
                let shown = file.path.display().to_string();
                let result =
                    tokio::task::spawn_blocking(move || process_file(&ctx, &book, &file)).await;
                match result {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "File not processed; it stays in work/ and is retried at the next start.");
                    }
                    Err(e) => {
                        tracing::error!(file = %shown, error = %e, "Intake worker failed; the file stays in work/.");
                    }
                }
            }
        });
    }
    while set.join_next().await.is_some() {}
    tracing::debug!("Intake workers stopped.");
}

/// At start-up: files the ledger holds as not finalized whose move did happen before a crash
/// (they are no longer in `work/`) are found in `archive/` or `quarantine/` and marked.
pub async fn reconcile_unfinalized(
    writer: &StoreWriter,
    spool: &Path,
) -> Result<usize, WriteError> {
    let rows = writer.run(|s| s.unfinalized_files()).await?;
    let spool = spool.to_path_buf();
    let found: Vec<(i64, String)> = tokio::task::spawn_blocking(move || {
        let mut found = Vec::new();
        for row in rows {
            let dirs = crate::sources::spool::PartnerDirs::new(&spool, &row.partner);
            if dirs.work.join(&row.name).exists() {
                continue; // intake finalizes it when it is processed again
            }
            if let Some(path) = find_moved(&dirs, &row) {
                found.push((row.id, path.display().to_string()));
            } else {
                warn!(partner = %row.partner, file = %row.name, "A recorded file is neither in work/ nor in archive/ or quarantine/.");
            }
        }
        found
    })
    .await
    .unwrap_or_default();
    let n = found.len();
    if n > 0 {
        writer
            .run(move |s| {
                for (id, path) in &found {
                    s.mark_finalized(*id, path)?;
                }
                Ok(())
            })
            .await?;
        info!(
            files = n,
            "Files moved just before the last stop are marked finalized."
        );
    }
    Ok(n)
}

/// Where a recorded file went: the newest archive folders first, then quarantine; the name
/// may carry a `.N` suffix, and the bytes must match.
fn find_moved(dirs: &crate::sources::spool::PartnerDirs, row: &FileRow) -> Option<PathBuf> {
    let mut days: Vec<PathBuf> = fs::read_dir(&dirs.archive)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    days.sort();
    days.reverse();
    days.push(dirs.quarantine.clone());
    for dir in days.into_iter().take(8) {
        let candidates = std::iter::once(dir.join(&row.name))
            .chain((1..100).map(|n| dir.join(format!("{}.{n}", row.name))));
        for c in candidates {
            if !c.exists() {
                break;
            }
            if hash_file(&c).is_ok_and(|(sha, _)| sha == row.sha256) {
                return Some(c);
            }
        }
    }
    None
}

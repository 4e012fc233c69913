//! Pass 2 on two threads: the engine (tokenizing, validating, hashing the content of each set
//! that can become a record and mapping it) runs on a helper thread; ids, records and the sink
//! run on the caller's thread, which is the only one that touches the sink.
//!
//! Invariants:
//! - The caller's thread sees the engine's events in input order and settles them exactly as
//!   the one-thread [`Translator`] does (it *is* a `Translator`): same records, same order.
//! - Mapping is shared: when the caller's thread has fallen behind (batches wait behind the one
//!   it is working on), the engine's thread maps sets itself (every set with two waiting, one in
//!   [`ONE_WAITING_SHARE`] with one); otherwise it hands the set's copied
//!   segments over and the caller's thread maps them. Either way the set is mapped under the
//!   settings the one-thread translator would choose (its partner's profile, its group's
//!   settings), and only when that translator would map it (nothing in the set, its group or its
//!   interchange rejected).
//! - Verdicts: the caller's thread holds an interchange's events until the engine reaches its
//!   IEA and closes its verdicts from the engine's own findings at each GE and IEA, or, for an
//!   interchange of more than [`HOLD_SETS`] sets or about [`HOLD_BYTES`] of segments (or one cut
//!   off by the end of the file), starts pass 1 and lets it close them from then on.
//! - Memory is bounded: events travel in batches of at most [`BATCH_SETS`] sets or about
//!   [`BATCH_BYTES`] of mapped sets (measured by their segments; a larger set is a batch of its
//!   own), and at most [`BATCHES_IN_FLIGHT`] batches wait between the threads. Segment buffers
//!   handed over come back to the engine's thread to be refilled, unless they hold more than
//!   [`REUSE_MAX_BYTES`].
//! - The engine's thread never blocks on the caller's once the caller has stopped reading:
//!   a send that fails (the receiver is gone) ends its sending, and the engine runs to its end.
//! - Once the sink has failed (the reader of the output went away), nothing more can be
//!   written: the engine's input ends where it is, and what is still on its way is dropped
//!   unread, so that `translate big.edi | head` does not read the rest of the file.

use std::io::{self, Read};
use std::mem;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::{
    EnvelopeVerdicts, Mapping, SetCapture, SetDigester, Sink, Translator, capture_ta1, map_set,
    set_rejected,
};
use crate::canonical::map::{Mapped, SetContext, Unmapped};
use crate::canonical::profile::{GroupSettings, Profile, Profiles};
use crate::x12::delimiters::Delimiters;
use crate::x12::envelope::{
    EngineConfig, FileSummary, Group, GroupOutcome, Interchange, InterchangeOutcome, SetHeader,
    SetOutcome, Visitor, run,
};
use crate::x12::finding::Finding;
use crate::x12::segment::{OwnedSegment, Segment};

/// Most sets in one batch.
const BATCH_SETS: usize = 64;
/// A batch is sent once its copied segments reach this many bytes.
const BATCH_BYTES: usize = 1 << 20;
/// Batches waiting between the threads: enough for the engine's thread to run on through the
/// next interchange while the caller's replays one it held.
const BATCHES_IN_FLIGHT: usize = 6;
/// While one batch waits, the engine's thread maps one set in this many.
const ONE_WAITING_SHARE: usize = 6;
/// A set's segment buffers go back to the engine's thread for reuse only when they hold at most
/// this many bytes; a larger set's are freed, so the buffers kept for reuse (a few hundred at
/// most) never add up to many copies of the largest set.
const REUSE_MAX_BYTES: usize = 32 << 10;

/// Sets of one interchange held for its IEA before pass 1 is started instead (see
/// [`run_pipelined`]); with [`BATCH_BYTES`] this bounds what waits.
pub(super) const HOLD_SETS: usize = 1024;
/// Segment bytes of one interchange held for its IEA before pass 1 is started instead (as
/// [`held_bytes`] counts them). An interchange of a few hundred 856s, each with a few hundred
/// segments, is held (pass 1 would read the whole file once more for it).
const HOLD_BYTES: usize = 8 << 20;
/// Batches received before the translator exists (while the file is hashed), at most.
const START_WAIT_BATCHES: usize = 8;

/// How pass 2 runs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Options {
    /// Files of at least this many bytes run on two threads.
    pub(super) min_bytes: u64,
    /// Which thread maps sets.
    pub(super) map_on: MapOn,
    /// Sets of one interchange held for its IEA (see [`run_pipelined`]).
    pub(super) hold_sets: usize,
    /// The translator is made only once the engine is done, as if the file's hash took that
    /// long (tests: every set the engine hands over is then mapped ahead).
    pub(super) start_late: bool,
}

impl Options {
    /// What `translate` uses.
    pub(super) const DEFAULT: Options = Options {
        min_bytes: super::PIPELINE_MIN_BYTES,
        map_on: MapOn::Shared,
        hold_sets: HOLD_SETS,
        start_late: false,
    };
}

/// What pass 2 leaves: the engine's summary, the translator, and pass 1's fingerprint of the
/// file when pass 1 ran.
pub(super) struct PassTwo<'t, S: Sink> {
    pub(super) summary: FileSummary,
    pub(super) translator: Translator<'t, S>,
    pub(super) pass1: Option<(u64, u64)>,
}

/// What the mapper made of a set, and the set's content digest.
type MappedSet = (Box<Result<Mapped, Unmapped>>, [u8; 32]);

/// Which thread maps sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MapOn {
    /// The engine's thread when the caller's has fallen behind, else the caller's.
    Shared,
    /// Always the engine's thread (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    Engine,
    /// Always the caller's thread (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    Caller,
}

/// A set as the engine's thread hands it over.
enum SetWork {
    /// Mapped on the engine's thread.
    Mapped(MappedSet),
    /// Its copied segments (`segments[..used]`) and their interchange's delimiters, to be
    /// digested and mapped by the caller's thread.
    Segments {
        segments: Vec<OwnedSegment>,
        used: usize,
        delimiters: Delimiters,
    },
}

/// What the engine reported, owned, in input order.
enum Event {
    InterchangeStart(Arc<Interchange>),
    Ta1(Arc<Interchange>, Box<(OwnedSegment, [u8; 32])>),
    GroupStart(Arc<Interchange>, Arc<Group>),
    Set {
        interchange: Arc<Interchange>,
        group: Arc<Group>,
        outcome: Box<SetOutcome>,
        /// The set's mapping work, when it can become a record.
        work: Option<SetWork>,
    },
    GroupEnd(Arc<Interchange>, Box<GroupOutcome>),
    InterchangeEnd(Box<InterchangeOutcome>),
    FileFinding(Box<Finding>),
}

/// The engine's side: maps sets and turns events into owned batches.
struct Producer<'a> {
    verdicts: &'a EnvelopeVerdicts,
    /// Batches, each with the bytes of the segments its sets carry.
    out: SyncSender<(Vec<Event>, usize)>,
    /// Batches sent and not yet received by the caller's thread.
    pending: &'a AtomicUsize,
    map_on: MapOn,
    /// Counts the sets seen while one batch waits.
    one_waiting: usize,
    /// Segment buffers the caller's thread has finished with.
    spares: Receiver<Vec<Vec<OwnedSegment>>>,
    pool: Vec<Vec<OwnedSegment>>,
    batch: Vec<Event>,
    batch_bytes: usize,
    batch_sets: usize,
    /// The caller's thread has stopped reading.
    closed: bool,
    interchange: Option<Arc<Interchange>>,
    group: Option<Arc<Group>>,
    /// Maps sets under the settings the one-thread translator would choose.
    mapper: SetMapper<'a>,
    /// The open set's copy (its digest is made by whichever thread maps it).
    set: SetCapture,
}

/// Maps sets (and makes their content digests) under the settings the one-thread translator
/// would choose: the open interchange's partner profile and the open group's settings,
/// followed event by event.
struct SetMapper<'a> {
    profiles: &'a Profiles,
    profile: Option<&'a Profile>,
    settings: Option<GroupSettings<'a>>,
    digester: SetDigester,
}

impl<'a> SetMapper<'a> {
    fn new(profiles: &'a Profiles) -> Self {
        SetMapper {
            profiles,
            profile: None,
            settings: None,
            digester: SetDigester::default(),
        }
    }

    fn interchange_start(&mut self, ic: &Interchange) {
        self.profile = self.profiles.matching(ic);
    }

    fn group_start(&mut self, group: &Group) {
        self.settings = Some(self.profiles.group_settings(self.profile, group));
    }

    fn group_end(&mut self) {
        self.settings = None;
    }

    fn interchange_end(&mut self) {
        self.profile = None;
    }

    /// Digests and maps a set's copied segments.
    fn map(
        &mut self,
        ic: &Interchange,
        group: &Group,
        outcome: &SetOutcome,
        segments: &[OwnedSegment],
        delimiters: &Delimiters,
    ) -> MappedSet {
        let unknown;
        let settings = match &self.settings {
            Some(g) => g.settings,
            None => {
                unknown = self.profiles.group_settings(None, group);
                unknown.settings
            }
        };
        let ctx = SetContext {
            interchange: ic,
            group,
            header: &outcome.header,
            settings,
        };
        let digest = self.digester.of(segments, delimiters);
        (
            Box::new(map_set(&outcome.header.id, &ctx, segments)),
            digest,
        )
    }

    /// While the translator cannot start yet (the file is still being hashed), maps the sets
    /// whose segments the engine's thread handed over, so that this thread's wait is not lost.
    /// `events` must be all events from the start of the file, in order, each seen once.
    fn map_ahead<'e>(
        &mut self,
        events: impl Iterator<Item = &'e mut Event>,
        spare: &mut Vec<Vec<OwnedSegment>>,
    ) {
        for event in events {
            match event {
                Event::InterchangeStart(ic) => self.interchange_start(ic),
                Event::GroupStart(_, group) => self.group_start(group),
                Event::GroupEnd(..) => self.group_end(),
                Event::InterchangeEnd(_) => self.interchange_end(),
                Event::Set {
                    interchange,
                    group,
                    outcome,
                    work,
                } => {
                    if let Some(SetWork::Segments {
                        segments,
                        used,
                        delimiters,
                    }) = work
                    {
                        let used = (*used).min(segments.len());
                        let mapped =
                            self.map(interchange, group, outcome, &segments[..used], delimiters);
                        let segments = mem::take(segments);
                        if reusable(&segments) {
                            spare.push(segments);
                        }
                        *work = Some(SetWork::Mapped(mapped));
                    }
                }
                Event::Ta1(..) | Event::FileFinding(_) => {}
            }
        }
    }
}

/// Whether a set's segment buffers are worth sending back for reuse.
fn reusable(segments: &[OwnedSegment]) -> bool {
    segments.iter().map(OwnedSegment::heap_bytes).sum::<usize>() <= REUSE_MAX_BYTES
}

impl Producer<'_> {
    fn push(&mut self, event: Event) {
        self.batch.push(event);
        if self.batch_sets >= BATCH_SETS || self.batch_bytes >= BATCH_BYTES {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = mem::take(&mut self.batch);
        let bytes = mem::take(&mut self.batch_bytes);
        self.batch_sets = 0;
        if !self.closed {
            self.pending.fetch_add(1, Ordering::Relaxed);
            if self.out.send((batch, bytes)).is_err() {
                self.closed = true;
            }
        }
    }

    fn interchange(&mut self, ic: &Interchange) -> Arc<Interchange> {
        shared(&mut self.interchange, ic, |a, b| a.ordinal == b.ordinal)
    }

    fn group(&mut self, group: &Group) -> Arc<Group> {
        shared(&mut self.group, group, |a, b| a.ordinal == b.ordinal)
    }

    /// The captured set's mapping work: mapped here when the caller's thread is behind, else
    /// its segments handed over; `None` when the one-thread translator would not map it.
    fn work(&mut self, ic: &Interchange, group: &Group, outcome: &SetOutcome) -> Option<SetWork> {
        if !self.set.on || set_rejected(self.verdicts, ic, group, outcome) {
            return None;
        }
        let used = self.set.segments().len();
        let delimiters = self.set.delimiters?;
        let here = match self.map_on {
            // Batches waiting in the channel mean the caller's thread is busy with an earlier
            // one: with two waiting every set is mapped here, with one every
            // `ONE_WAITING_SHARE`th set (a share found by measuring the 214 and 856 benches).
            MapOn::Shared => match self.pending.load(Ordering::Relaxed) {
                0..=1 => false,
                2..=3 => {
                    self.one_waiting = (self.one_waiting + 1) % ONE_WAITING_SHARE;
                    self.one_waiting == 0
                }
                _ => true,
            },
            MapOn::Engine => true,
            MapOn::Caller => false,
        };
        if !here {
            let fresh = self.take_buffer();
            let segments = mem::replace(&mut self.set.segments, fresh);
            return Some(SetWork::Segments {
                segments,
                used,
                delimiters,
            });
        }
        let mapped = self
            .mapper
            .map(ic, group, outcome, self.set.segments(), &delimiters);
        Some(SetWork::Mapped(mapped))
    }

    fn take_buffer(&mut self) -> Vec<OwnedSegment> {
        if self.pool.is_empty()
            && let Ok(more) = self.spares.try_recv()
        {
            self.pool = more;
        }
        self.pool.pop().unwrap_or_default()
    }
}

impl Visitor for Producer<'_> {
    fn interchange_start(&mut self, ic: &Interchange) {
        self.mapper.interchange_start(ic);
        let ic = self.interchange(ic);
        self.push(Event::InterchangeStart(ic));
    }

    fn ta1(&mut self, ic: &Interchange, seg: &Segment<'_>) {
        let ic = self.interchange(ic);
        self.push(Event::Ta1(ic, Box::new(capture_ta1(seg))));
    }

    fn group_start(&mut self, ic: &Interchange, group: &Group) {
        self.mapper.group_start(group);
        let ic = self.interchange(ic);
        let group = self.group(group);
        self.push(Event::GroupStart(ic, group));
    }

    fn set_start(&mut self, ic: &Interchange, group: &Group, set: &SetHeader) {
        // The same test as the one-thread translator's.
        self.set.start(self.verdicts, ic, group, set);
    }

    fn set_segment(&mut self, seg: &Segment<'_>, position: u32) {
        if self.set.on {
            self.batch_bytes += held_bytes(seg);
        }
        self.set.segment(seg, position);
    }

    fn set_end(&mut self, ic: &Interchange, group: &Group, outcome: &SetOutcome) {
        let work = self.work(ic, group, outcome);
        self.set.stop();
        let interchange = self.interchange(ic);
        let group = self.group(group);
        self.batch_sets += 1;
        self.push(Event::Set {
            interchange,
            group,
            outcome: Box::new(outcome.clone()),
            work,
        });
    }

    fn group_end(&mut self, ic: &Interchange, outcome: &GroupOutcome) {
        self.mapper.group_end();
        let ic = self.interchange(ic);
        self.push(Event::GroupEnd(ic, Box::new(outcome.clone())));
    }

    fn interchange_end(&mut self, outcome: &InterchangeOutcome) {
        self.mapper.interchange_end();
        self.push(Event::InterchangeEnd(Box::new(outcome.clone())));
    }

    fn file_finding(&mut self, finding: &Finding) {
        self.push(Event::FileFinding(Box::new(finding.clone())));
    }
}

/// A reader whose input ends (reads give 0 bytes) once `stop` is set.
struct UntilStopped<'s, R> {
    inner: R,
    stop: &'s AtomicBool,
}

impl<R: Read> Read for UntilStopped<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.stop.load(Ordering::Relaxed) {
            return Ok(0);
        }
        self.inner.read(buf)
    }
}

/// What a copied segment holds in memory: its bytes, its element bounds and the copy itself.
fn held_bytes(seg: &Segment<'_>) -> usize {
    seg.data.len() + mem::size_of_val(seg.bounds) + mem::size_of::<OwnedSegment>()
}

/// `value` as a shared copy: the one in `slot` while it is the same (by `same`), else a new one
/// that `slot` keeps for the next call.
fn shared<T: Clone>(slot: &mut Option<Arc<T>>, value: &T, same: impl Fn(&T, &T) -> bool) -> Arc<T> {
    match slot {
        Some(a) if same(a, value) => a.clone(),
        _ => {
            let a = Arc::new(value.clone());
            *slot = Some(a.clone());
            a
        }
    }
}

/// Feeds events to the translator, digesting the sets it maps; collects the segment buffers
/// they carried into `spare`.
fn replay<S: Sink>(
    translator: &mut Translator<'_, S>,
    events: impl Iterator<Item = Event>,
    spare: &mut Vec<Vec<OwnedSegment>>,
    digester: &mut SetDigester,
) {
    for event in events {
        if translator.failed() {
            // Nothing more can be written; the rest is dropped unread.
            break;
        }
        match event {
            Event::InterchangeStart(ic) => translator.interchange_start(&ic),
            Event::Ta1(ic, ta1) => {
                let (segment, digest) = *ta1;
                translator.settle_ta1(&ic, &segment, digest);
            }
            Event::GroupStart(ic, group) => translator.group_start(&ic, &group),
            Event::Set {
                interchange,
                group,
                outcome,
                work,
            } => match work {
                Some(SetWork::Mapped((mapped, digest))) => {
                    translator.settle_set(
                        &interchange,
                        &group,
                        &outcome,
                        Mapping::Done(mapped),
                        digest,
                    );
                }
                Some(SetWork::Segments {
                    segments,
                    used,
                    delimiters,
                }) => {
                    let used = used.min(segments.len());
                    let digest = digester.of(&segments[..used], &delimiters);
                    translator.settle_set(
                        &interchange,
                        &group,
                        &outcome,
                        Mapping::Segments(&segments[..used]),
                        digest,
                    );
                    if reusable(&segments) {
                        spare.push(segments);
                    }
                }
                None => translator.settle_set(
                    &interchange,
                    &group,
                    &outcome,
                    Mapping::Segments(&[]),
                    [0; 32],
                ),
            },
            Event::GroupEnd(ic, outcome) => translator.group_end(&ic, &outcome),
            Event::InterchangeEnd(outcome) => translator.interchange_end(&outcome),
            Event::FileFinding(finding) => translator.file_finding(&finding),
        }
    }
}

/// Events received and not yet replayed: those of the open interchange wait for its IEA (or for
/// pass 1), all of them wait for the translator (the file's hash).
struct Held {
    events: Vec<Event>,
    /// `events[..ready]` may be replayed: every verdict they need is closed.
    ready: usize,
    /// Sets among the events not yet ready.
    waiting_sets: usize,
    /// Segment bytes of the batches that brought events not yet ready (an upper bound).
    waiting_bytes: usize,
    /// Inside an interchange whose IEA has not arrived.
    inside: bool,
    /// The last group begun.
    last_group: Option<u32>,
    /// A group or set came outside an interchange.
    needs_pass1: bool,
    /// Pass 1 is running: it closes the verdicts, and everything is ready as it arrives.
    pass1: bool,
}

impl Held {
    /// Takes an event in; while pass 1 is not running, closes the verdicts pass 2's own
    /// engine has reached (a GE or IEA), exactly as pass 1 would close them.
    fn take(&mut self, event: Event, verdicts: &EnvelopeVerdicts) {
        match &event {
            Event::InterchangeStart(_) => self.inside = true,
            // The engine reports groups and sets inside interchanges; anything else is left to
            // pass 1 rather than to a verdict this thread would wait for and never close.
            Event::GroupStart(..) | Event::Set { .. } | Event::GroupEnd(..) | Event::Ta1(..)
                if !self.inside =>
            {
                self.needs_pass1 = true;
            }
            Event::Set { .. } => self.waiting_sets += 1,
            Event::GroupEnd(_, outcome) if !self.pass1 => verdicts.close_group(outcome),
            Event::InterchangeEnd(outcome) => {
                if !self.pass1 {
                    verdicts.close_interchange(outcome);
                }
                self.inside = false;
            }
            _ => {}
        }
        if let Event::GroupStart(_, group) = &event {
            self.last_group = Some(group.ordinal);
        }
        if let (Event::InterchangeEnd(_), Some(group), false) =
            (&event, self.last_group, self.pass1)
        {
            // A group the engine ended without a GE has no verdict of its own (pass 1 records
            // none either); closing it here keeps its sets from waiting for one.
            verdicts.close_groups_through(group);
        }
        self.events.push(event);
        if !self.inside || self.pass1 {
            self.all_ready();
        }
    }

    /// Every event taken in may be replayed.
    fn all_ready(&mut self) {
        self.ready = self.events.len();
        self.waiting_sets = 0;
        self.waiting_bytes = 0;
    }

    /// Too much waits for an IEA, or something came outside an interchange: pass 1 must give
    /// the verdicts instead.
    fn too_much(&self, hold_sets: usize) -> bool {
        self.needs_pass1 || self.waiting_sets > hold_sets || self.waiting_bytes > HOLD_BYTES
    }
}

/// Runs pass 2 with the engine on a helper thread and the translator on this one.
///
/// Pass 1 is not run unless needed: the caller's thread holds each interchange's events until
/// pass 2's own engine reaches its IEA, and closes the group and interchange verdicts from what
/// that engine found there (the same findings pass 1 finds: grammar validation only adds set
/// findings). An interchange with more than `hold_sets` sets, or one cut off by the end of the
/// file, starts `pass1` on a helper thread from the start of the file; from then on pass 1
/// closes the verdicts and events are replayed as they arrive (each lookup waits for pass 1).
/// `start` makes the translator (it waits for the file's hash) before the first replay, as soon
/// as `startable` is set (the hash is known) or [`START_WAIT_BATCHES`] batches have arrived.
/// Returns the summary and pass 1's fingerprint of the file, when pass 1 ran.
#[allow(clippy::too_many_arguments)]
pub(super) fn run_pipelined<'t, R, S, E>(
    reader: R,
    config: EngineConfig<'_>,
    profiles: &Profiles,
    verdicts: &EnvelopeVerdicts,
    options: Options,
    startable: &AtomicBool,
    start: impl FnOnce() -> Result<Translator<'t, S>, E>,
    pass1: impl FnOnce() -> io::Result<(u64, u64)> + Send,
    io_error: impl Fn(io::Error) -> E,
) -> Result<PassTwo<'t, S>, E>
where
    R: Read + Send,
    S: Sink + 't,
{
    let Options {
        map_on,
        hold_sets,
        start_late,
        ..
    } = options;
    let (out, batches) = sync_channel::<(Vec<Event>, usize)>(BATCHES_IN_FLIGHT);
    let (give_back, spares) = sync_channel::<Vec<Vec<OwnedSegment>>>(BATCHES_IN_FLIGHT + 2);
    let pending = AtomicUsize::new(0);
    let pending = &pending;
    // The engine's thread captures every set that has a mapper: whether its group or
    // interchange is rejected is only known later, and the translator settles that.
    let capture_all = EnvelopeVerdicts::default();
    let capture_all = &capture_all;
    // Set once the sink has failed: the engine's reader then ends its input.
    let stop = AtomicBool::new(false);
    let stop = &stop;
    let reader = UntilStopped {
        inner: reader,
        stop,
    };
    std::thread::scope(|scope| {
        let engine = std::thread::Builder::new()
            .name("edigate-x12-engine".into())
            .spawn_scoped(scope, move || {
                let mut producer = Producer {
                    verdicts: capture_all,
                    out,
                    pending,
                    map_on,
                    one_waiting: 0,
                    spares,
                    pool: Vec::new(),
                    batch: Vec::new(),
                    batch_bytes: 0,
                    batch_sets: 0,
                    closed: false,
                    interchange: None,
                    group: None,
                    mapper: SetMapper::new(profiles),
                    set: SetCapture::deferring_digest(),
                };
                let summary = run(reader, config, &mut producer);
                producer.flush();
                summary
            })
            .map_err(&io_error)?;
        let mut held = Held {
            events: Vec::new(),
            ready: 0,
            waiting_sets: 0,
            waiting_bytes: 0,
            inside: false,
            last_group: None,
            needs_pass1: false,
            pass1: false,
        };
        let mut pass1 = Some(pass1);
        let mut pass1_run = None;
        let mut start_pass1 = |held: &mut Held| -> io::Result<()> {
            if let Some(pass1) = pass1.take() {
                let handle = std::thread::Builder::new()
                    .name("edigate-envelope".into())
                    .spawn_scoped(scope, pass1)?;
                pass1_run = Some(handle);
            }
            held.pass1 = true;
            held.all_ready();
            Ok(())
        };
        let mut start = Some(start);
        let mut translator = None;
        let mut waited = 0;
        let mut spare = Vec::new();
        // Maps sets on this thread while the translator cannot start yet (`ahead` events of
        // `held` have been through it); its digester then digests the sets replay maps.
        let mut early = SetMapper::new(profiles);
        let mut ahead = 0;
        let mut batches = batches.into_iter();
        loop {
            let batch = batches.next();
            let done = batch.is_none();
            // Once the sink has failed nothing more can be written: batches are dropped unread
            // (their verdicts no longer matter) until the engine, its input ended, is done.
            let failed = translator.as_ref().is_some_and(Translator::failed);
            if let Some((events, bytes)) = batch.filter(|_| !failed) {
                for event in events {
                    held.take(event, verdicts);
                }
                if translator.is_none() {
                    early.map_ahead(held.events[ahead..].iter_mut(), &mut spare);
                    ahead = held.events.len();
                }
                if held.ready < held.events.len() {
                    held.waiting_bytes += bytes;
                }
            }
            if done {
                pending.store(0, Ordering::Relaxed);
            } else {
                pending.fetch_sub(1, Ordering::Relaxed);
            }
            if !held.pass1
                && !failed
                && (held.too_much(hold_sets) || (done && held.ready < held.events.len()))
            {
                start_pass1(&mut held).map_err(&io_error)?;
            }
            // The translator is made once `startable` says it will not wait (the file's hash is
            // known), or once what is ready to replay reaches a bound.
            if translator.is_none() && !done {
                waited += 1;
            }
            if held.ready > 0
                && translator.is_none()
                && (done
                    || !start_late
                        && (startable.load(Ordering::Acquire) || waited > START_WAIT_BATCHES))
                && let Some(start) = start.take()
            {
                translator = Some(start()?);
            }
            if let Some(t) = translator.as_mut() {
                let ready = held.ready;
                held.ready = 0;
                replay(
                    t,
                    held.events.drain(..ready),
                    &mut spare,
                    &mut early.digester,
                );
                if t.failed() {
                    stop.store(true, Ordering::Relaxed);
                }
            }
            // A full return channel only means the engine's thread has buffers enough.
            if !spare.is_empty() {
                let _ = give_back.try_send(mem::take(&mut spare));
            }
            if done {
                break;
            }
        }
        let translator = match translator {
            Some(t) => t,
            None => match start.take() {
                Some(start) => start()?,
                None => return Err(io_error(io::Error::other("the translator was not made"))),
            },
        };
        let summary = engine
            .join()
            .map_err(|_| io::Error::other("the X12 engine thread panicked"))
            .and_then(|r| r)
            .map_err(&io_error)?;
        let fingerprint = match pass1_run {
            Some(handle) => Some(
                handle
                    .join()
                    .map_err(|_| io::Error::other("the envelope thread panicked"))
                    .and_then(|r| r)
                    .map_err(&io_error)?,
            ),
            None => None,
        };
        Ok(PassTwo {
            summary,
            translator,
            pass1: fingerprint,
        })
    })
}

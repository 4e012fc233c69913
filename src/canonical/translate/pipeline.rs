//! Pass 2 on two threads: the engine (tokenizing, validating, hashing the content of each set
//! that can become a record and mapping it) runs on a helper thread; ids, records and the sink
//! run on the caller's thread, which is the only one that touches the sink.
//!
//! Invariants:
//! - The caller's thread sees the engine's events in input order and settles them exactly as
//!   the one-thread [`Translator`] does (it *is* a `Translator`): same records, same order.
//! - Mapping is shared: when the caller's thread has fallen behind (a batch waits behind the one
//!   it is working on), the engine's thread maps a set itself; otherwise it hands the set's copied
//!   segments over and the caller's thread maps them. Either way the set is mapped under the
//!   settings the one-thread translator would choose (its partner's profile, its group's
//!   settings), and only when that translator would map it (nothing in the set, its group or its
//!   interchange rejected).
//! - Memory is bounded: events travel in batches of at most [`BATCH_SETS`] sets or about
//!   [`BATCH_BYTES`] of mapped sets (measured by their segments; a larger set is a batch of its
//!   own), and at most [`BATCHES_IN_FLIGHT`] batches wait between the threads. Segment buffers
//!   handed over come back to the engine's thread to be refilled, unless they hold more than
//!   [`REUSE_MAX_BYTES`].
//! - The engine's thread never blocks on the caller's once the caller has stopped reading:
//!   a send that fails (the receiver is gone) ends its sending, and the engine runs to its end.

use std::io::{self, Read};
use std::mem;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::{
    EnvelopeVerdicts, Mapping, SetCapture, Sink, Translator, capture_ta1, map_set, set_rejected,
};
use crate::canonical::map::{Mapped, SetContext, Unmapped};
use crate::canonical::profile::{GroupSettings, Profile, Profiles};
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
/// Batches waiting between the threads.
const BATCHES_IN_FLIGHT: usize = 2;
/// A set's segment buffers go back to the engine's thread for reuse only when they hold at most
/// this many bytes; a larger set's are freed, so the buffers kept for reuse (a few hundred at
/// most) never add up to many copies of the largest set.
const REUSE_MAX_BYTES: usize = 32 << 10;

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
    /// Its copied segments (`segments[..used]`) and content digest, to be mapped by the caller's
    /// thread.
    Segments {
        segments: Vec<OwnedSegment>,
        used: usize,
        digest: [u8; 32],
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
    profiles: &'a Profiles,
    verdicts: &'a EnvelopeVerdicts,
    out: SyncSender<Vec<Event>>,
    /// Batches sent and not yet replayed by the caller's thread.
    pending: &'a AtomicUsize,
    map_on: MapOn,
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
    /// The open interchange's partner profile and the open group's settings, as the one-thread
    /// translator chooses them.
    profile: Option<&'a Profile>,
    settings: Option<GroupSettings<'a>>,
    /// The open set's copy.
    set: SetCapture,
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
        self.batch_bytes = 0;
        self.batch_sets = 0;
        if !self.closed {
            self.pending.fetch_add(1, Ordering::Relaxed);
            if self.out.send(batch).is_err() {
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
        let digest = self.set.finish_digest();
        let here = match self.map_on {
            MapOn::Shared => self.pending.load(Ordering::Relaxed) >= BATCHES_IN_FLIGHT,
            MapOn::Engine => true,
            MapOn::Caller => false,
        };
        if !here {
            let fresh = self.take_buffer();
            let segments = mem::replace(&mut self.set.segments, fresh);
            return Some(SetWork::Segments {
                segments,
                used,
                digest,
            });
        }
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
        let mapped = map_set(&outcome.header.id, &ctx, self.set.segments());
        Some(SetWork::Mapped((Box::new(mapped), digest)))
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
        self.profile = self.profiles.matching(ic);
        let ic = self.interchange(ic);
        self.push(Event::InterchangeStart(ic));
    }

    fn ta1(&mut self, ic: &Interchange, seg: &Segment<'_>) {
        let ic = self.interchange(ic);
        self.push(Event::Ta1(ic, Box::new(capture_ta1(seg))));
    }

    fn group_start(&mut self, ic: &Interchange, group: &Group) {
        self.settings = Some(self.profiles.group_settings(self.profile, group));
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
            self.batch_bytes += seg.data.len() + 16 * seg.bounds.len();
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
        self.settings = None;
        let ic = self.interchange(ic);
        self.push(Event::GroupEnd(ic, Box::new(outcome.clone())));
    }

    fn interchange_end(&mut self, outcome: &InterchangeOutcome) {
        self.profile = None;
        self.push(Event::InterchangeEnd(Box::new(outcome.clone())));
    }

    fn file_finding(&mut self, finding: &Finding) {
        self.push(Event::FileFinding(Box::new(finding.clone())));
    }
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

/// Feeds one batch to the translator; returns the segment buffers it carried.
fn replay<S: Sink>(
    translator: &mut Translator<'_, S>,
    batch: Vec<Event>,
) -> Vec<Vec<OwnedSegment>> {
    let mut spare = Vec::new();
    for event in batch {
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
                    digest,
                }) => {
                    let used = used.min(segments.len());
                    translator.settle_set(
                        &interchange,
                        &group,
                        &outcome,
                        Mapping::Segments(&segments[..used]),
                        digest,
                    );
                    if segments.iter().map(OwnedSegment::heap_bytes).sum::<usize>()
                        <= REUSE_MAX_BYTES
                    {
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
    spare
}

/// Runs pass 2 with the engine on a helper thread and `translator` on this one.
pub(super) fn run_pipelined<R: Read + Send, S: Sink>(
    reader: R,
    config: EngineConfig<'_>,
    profiles: &Profiles,
    verdicts: &EnvelopeVerdicts,
    translator: &mut Translator<'_, S>,
    map_on: MapOn,
) -> io::Result<FileSummary> {
    let (out, batches) = sync_channel::<Vec<Event>>(BATCHES_IN_FLIGHT);
    let (give_back, spares) = sync_channel::<Vec<Vec<OwnedSegment>>>(BATCHES_IN_FLIGHT + 2);
    let pending = AtomicUsize::new(0);
    let pending = &pending;
    std::thread::scope(|scope| {
        let engine = std::thread::Builder::new()
            .name("edigate-x12-engine".into())
            .spawn_scoped(scope, move || {
                let mut producer = Producer {
                    profiles,
                    verdicts,
                    out,
                    pending,
                    map_on,
                    spares,
                    pool: Vec::new(),
                    batch: Vec::new(),
                    batch_bytes: 0,
                    batch_sets: 0,
                    closed: false,
                    interchange: None,
                    group: None,
                    profile: None,
                    settings: None,
                    set: SetCapture::default(),
                };
                let summary = run(reader, config, &mut producer);
                producer.flush();
                summary
            })?;
        for batch in &batches {
            let spare = replay(translator, batch);
            pending.fetch_sub(1, Ordering::Relaxed);
            // A full return channel only means the engine's thread has buffers enough.
            let _ = give_back.try_send(spare);
        }
        engine
            .join()
            .map_err(|_| io::Error::other("the X12 engine thread panicked"))?
    })
}

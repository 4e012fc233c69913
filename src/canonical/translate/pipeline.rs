//! Pass 2 on two threads: the engine (tokenizing, validating, copying each set that can become a
//! record and hashing its content) runs on a helper thread; mapping, record building and the
//! sink run on the caller's thread, which is the only one that touches the sink.
//!
//! Invariants:
//! - The caller's thread sees the engine's events in input order and settles them exactly as
//!   the one-thread [`Translator`] does (it *is* a `Translator`): same records, same order.
//! - Memory is bounded: events travel in batches of at most [`BATCH_SETS`] sets or
//!   [`BATCH_BYTES`] of copied segments (a larger set is a batch of its own), and at most
//!   [`BATCHES_IN_FLIGHT`] batches wait between the threads. Segment buffers come back to the
//!   engine's thread to be refilled.
//! - The engine's thread never blocks on the caller's once the caller has stopped reading:
//!   a send that fails (the receiver is gone) ends its sending, and the engine runs to its end.

use std::io::{self, Read};
use std::mem;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::{EnvelopeVerdicts, Sink, Translator, capture_ta1, mapper, push_digest};
use crate::canonical::id::{ContentDigest, SeparatorMap};
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

/// A set's copied segments and content digest.
struct Captured {
    segments: Vec<OwnedSegment>,
    used: usize,
    digest: [u8; 32],
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
        captured: Option<Captured>,
    },
    GroupEnd(Arc<Interchange>, Box<GroupOutcome>),
    InterchangeEnd(Box<InterchangeOutcome>),
    FileFinding(Box<Finding>),
}

/// The engine's side: turns events into owned batches.
struct Producer<'v> {
    verdicts: &'v EnvelopeVerdicts,
    out: SyncSender<Vec<Event>>,
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
    /// The open set's copy, when it can become a record.
    capture: Option<(Vec<OwnedSegment>, usize)>,
    digest: ContentDigest,
    separators: SeparatorMap,
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
        if !self.closed && self.out.send(batch).is_err() {
            self.closed = true;
        }
    }

    fn take_buffer(&mut self) -> Vec<OwnedSegment> {
        if self.pool.is_empty()
            && let Ok(more) = self.spares.try_recv()
        {
            self.pool = more;
        }
        self.pool.pop().unwrap_or_default()
    }

    fn interchange(&mut self, ic: &Interchange) -> Arc<Interchange> {
        match &self.interchange {
            Some(a) if a.ordinal == ic.ordinal => a.clone(),
            _ => {
                let a = Arc::new(ic.clone());
                self.interchange = Some(a.clone());
                a
            }
        }
    }

    fn group(&mut self, group: &Group) -> Arc<Group> {
        match &self.group {
            Some(a) if a.ordinal == group.ordinal => a.clone(),
            _ => {
                let a = Arc::new(group.clone());
                self.group = Some(a.clone());
                a
            }
        }
    }
}

impl Visitor for Producer<'_> {
    fn interchange_start(&mut self, ic: &Interchange) {
        let ic = self.interchange(ic);
        self.push(Event::InterchangeStart(ic));
    }

    fn ta1(&mut self, ic: &Interchange, seg: &Segment<'_>) {
        let ic = self.interchange(ic);
        self.push(Event::Ta1(ic, Box::new(capture_ta1(seg))));
    }

    fn group_start(&mut self, ic: &Interchange, group: &Group) {
        let ic = self.interchange(ic);
        let group = self.group(group);
        self.push(Event::GroupStart(ic, group));
    }

    fn set_start(&mut self, ic: &Interchange, group: &Group, set: &SetHeader) {
        // The same test as the one-thread translator's: a set is copied only when it can
        // become a record.
        let capture = !self.verdicts.interchange(ic.ordinal).rejected
            && !self.verdicts.group(group.ordinal).rejected
            && mapper(&set.id).is_ok();
        self.digest.reset();
        self.capture = capture.then(|| (self.take_buffer(), 0));
    }

    fn set_segment(&mut self, seg: &Segment<'_>, position: u32) {
        if let Some((segments, used)) = &mut self.capture {
            push_digest(&mut self.digest, seg, &mut self.separators);
            match segments.get_mut(*used) {
                Some(slot) => slot.refill(seg, position),
                None => segments.push(OwnedSegment::from_segment(seg, position)),
            }
            *used += 1;
            self.batch_bytes += seg.data.len() + 16 * seg.bounds.len();
        }
    }

    fn set_end(&mut self, ic: &Interchange, group: &Group, outcome: &SetOutcome) {
        let captured = self.capture.take().map(|(segments, used)| Captured {
            segments,
            used,
            digest: self.digest.finish_reset(),
        });
        let interchange = self.interchange(ic);
        let group = self.group(group);
        self.batch_sets += 1;
        self.push(Event::Set {
            interchange,
            group,
            outcome: Box::new(outcome.clone()),
            captured,
        });
    }

    fn group_end(&mut self, ic: &Interchange, outcome: &GroupOutcome) {
        let ic = self.interchange(ic);
        self.push(Event::GroupEnd(ic, Box::new(outcome.clone())));
    }

    fn interchange_end(&mut self, outcome: &InterchangeOutcome) {
        self.push(Event::InterchangeEnd(Box::new(outcome.clone())));
    }

    fn file_finding(&mut self, finding: &Finding) {
        self.push(Event::FileFinding(Box::new(finding.clone())));
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
                captured,
            } => match captured {
                Some(c) => {
                    let used = c.used.min(c.segments.len());
                    translator.settle_set(
                        &interchange,
                        &group,
                        &outcome,
                        &c.segments[..used],
                        c.digest,
                    );
                    spare.push(c.segments);
                }
                None => translator.settle_set(&interchange, &group, &outcome, &[], [0; 32]),
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
    verdicts: &EnvelopeVerdicts,
    translator: &mut Translator<'_, S>,
) -> io::Result<FileSummary> {
    let (out, batches) = sync_channel::<Vec<Event>>(BATCHES_IN_FLIGHT);
    let (give_back, spares) = sync_channel::<Vec<Vec<OwnedSegment>>>(BATCHES_IN_FLIGHT + 2);
    std::thread::scope(|scope| {
        let engine = std::thread::Builder::new()
            .name("edigate-x12-engine".into())
            .spawn_scoped(scope, move || {
                let mut producer = Producer {
                    verdicts,
                    out,
                    spares,
                    pool: Vec::new(),
                    batch: Vec::new(),
                    batch_bytes: 0,
                    batch_sets: 0,
                    closed: false,
                    interchange: None,
                    group: None,
                    capture: None,
                    digest: ContentDigest::new(),
                    separators: SeparatorMap::new(b'*', b'>', None),
                };
                let summary = run(reader, config, &mut producer);
                producer.flush();
                summary
            })?;
        for batch in &batches {
            let spare = replay(translator, batch);
            // A full return channel only means the engine has buffers enough.
            let _ = give_back.try_send(spare);
        }
        engine
            .join()
            .map_err(|_| io::Error::other("the X12 engine thread panicked"))?
    })
}

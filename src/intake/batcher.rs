//! Group commits: intake workers hand their file records and finalizations to the batcher,
//! which writes whatever has queued up in ONE transaction
//! ([`crate::store::Store::record_files_and_finalize`]), so under load many files share one
//! fsync and at light load a file waits for nobody.
//!
//! A failed batch is retried file by file, so one bad file cannot fail its neighbours.
//!
//! Finalization does not hold up the worker: it moves the file into the archive and queues it
//! here. For everything queued, the finalizer syncs each archive folder once (the moves are then
//! durable) and passes the files on to be marked finalized with the next records' commit; only
//! after that commit does it drop what each file holds (its digest's place in line). If a sync
//! or the mark fails, the files stay unmarked and the next start finds them where they were
//! moved (`reconcile_unfinalized`).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use std::sync::{Arc, Condvar, Mutex, PoisonError};

use crate::store::{FileIntake, FileRow, Recorded, Store};
use crate::writer::{StoreWriter, WriteError};

/// Files recorded per transaction, at most.
const MAX_BATCH: usize = 64;

/// Files finalized per folder sync, at most.
const MAX_FINALIZE: usize = 256;

/// How long moved files gather before their folders are synced (finalization is not on the
/// way to the ERP; fewer, larger batches cost fewer syncs).
const FINALIZE_GATHER: Duration = Duration::from_millis(50);

/// What the committing task receives.
enum Request {
    /// A file to record; the reply says what was new.
    Record(
        Box<FileIntake>,
        oneshot::Sender<Result<Recorded, WriteError>>,
        Permit,
    ),
    /// Files whose moves are durable, to mark finalized.
    Finalized(Vec<Finalize>),
}

/// A file moved out of `work/`, to be made durable and marked finalized.
pub struct Finalize {
    /// Its ledger id.
    pub file_id: i64,
    /// Where it went.
    pub final_path: String,
    /// The folder to sync before marking it (`None`: the move is durable already).
    pub sync: Option<PathBuf>,
    /// Dropped once the mark is committed (or has failed).
    pub hold: Box<dyn Send>,
}

impl std::fmt::Debug for Finalize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Finalize")
            .field("file_id", &self.file_id)
            .field("final_path", &self.final_path)
            .field("sync", &self.sync)
            .finish_non_exhaustive()
    }
}

/// Files handed over and not yet committed, at most (a worker waits for room).
const MAX_PENDING: usize = 64;

/// Counts files handed over and not yet committed.
#[derive(Debug, Default)]
struct Gate {
    pending: Mutex<usize>,
    room: Condvar,
}

/// One file's place in the [`Gate`], given back when dropped.
struct Permit(Arc<Gate>);

impl Gate {
    fn enter(self: &Arc<Self>) -> Permit {
        let mut n = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        while *n >= MAX_PENDING {
            n = self.room.wait(n).unwrap_or_else(PoisonError::into_inner);
        }
        *n += 1;
        Permit(self.clone())
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut n = self
            .0
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *n = n.saturating_sub(1);
        self.0.room.notify_one();
    }
}

/// Handles the workers use (from blocking threads).
#[derive(Debug, Clone)]
pub struct Batcher {
    record: mpsc::UnboundedSender<Request>,
    finalize: mpsc::UnboundedSender<Finalize>,
    gate: Arc<Gate>,
    /// A read-only connection for lookups, so they never wait behind a commit's fsync on the
    /// writer thread (WAL readers see every committed transaction). Opened on first use.
    reader: Arc<Mutex<Option<Store>>>,
}

fn gone() -> WriteError {
    WriteError::Gone(crate::writer::WriterGone)
}

impl Batcher {
    /// Starts the committing task and the finalizer on the current runtime; they end when every
    /// handle is dropped (the finalizer first, then the committer, each after draining).
    pub fn spawn(writer: StoreWriter) -> Batcher {
        let (record, mut record_rx) = mpsc::unbounded_channel::<Request>();
        let (finalize, mut finalize_rx) = mpsc::unbounded_channel::<Finalize>();
        tokio::spawn(async move {
            while let Some(first) = record_rx.recv().await {
                let mut files = usize::from(matches!(first, Request::Record(..)));
                let mut batch = vec![first];
                while files < MAX_BATCH {
                    match record_rx.try_recv() {
                        Ok(r) => {
                            files += usize::from(matches!(r, Request::Record(..)));
                            batch.push(r);
                        }
                        Err(_) => break,
                    }
                }
                commit(&writer, batch).await;
            }
        });
        let committer = record.clone();
        tokio::spawn(async move {
            while let Some(first) = finalize_rx.recv().await {
                tokio::time::sleep(FINALIZE_GATHER).await;
                let mut batch = vec![first];
                while batch.len() < MAX_FINALIZE {
                    match finalize_rx.try_recv() {
                        Ok(r) => batch.push(r),
                        Err(_) => break,
                    }
                }
                let synced = sync_moves(batch).await;
                if !synced.is_empty() {
                    let _ = committer.send(Request::Finalized(synced));
                }
            }
        });
        Batcher {
            record,
            finalize,
            gate: Arc::default(),
            reader: Arc::default(),
        }
    }

    /// Records one file (in a shared transaction); call from a blocking thread.
    pub fn record_blocking(&self, intake: FileIntake) -> Result<Recorded, WriteError> {
        self.record(intake)?.blocking_recv().map_err(|_| gone())?
    }

    /// Hands one file over for the next group commit and returns at once (after waiting for
    /// room when [`MAX_PENDING`] files are already waiting); the receiver gets the outcome.
    /// Call from a blocking thread.
    pub fn record(
        &self,
        intake: FileIntake,
    ) -> Result<oneshot::Receiver<Result<Recorded, WriteError>>, WriteError> {
        let permit = self.gate.enter();
        let (tx, rx) = oneshot::channel();
        self.record
            .send(Request::Record(Box::new(intake), tx, permit))
            .map_err(|_| gone())?;
        Ok(rx)
    }

    /// The first file recorded with these bytes, read through the read-only connection (the
    /// writer's when that cannot be opened or fails); call from a blocking thread.
    pub fn file_by_sha256(
        &self,
        writer: &StoreWriter,
        sha256: &str,
    ) -> Result<Option<FileRow>, WriteError> {
        if let Ok(mut reader) = self.reader.lock() {
            if reader.is_none() {
                let path = writer.run_blocking(|s| Ok(s.path().to_path_buf()))?;
                *reader = Store::open_readonly(&path).ok();
            }
            if let Some(store) = reader.as_ref()
                && let Ok(row) = store.file_by_sha256(sha256)
            {
                return Ok(row);
            }
        }
        let sha = sha256.to_string();
        writer.run_blocking(move |s| s.file_by_sha256(&sha))
    }

    /// Queues a moved file for its folder sync and its mark (in shared ones); returns at once.
    pub fn finalize(&self, file: Finalize) -> Result<(), WriteError> {
        self.finalize.send(file).map_err(|_| gone())
    }
}

/// One transaction for every record and mark of `batch`; if it fails, the files are recorded
/// one by one and the marks on their own. What the marked files hold is dropped afterwards.
async fn commit(writer: &StoreWriter, batch: Vec<Request>) {
    let mut intakes = Vec::new();
    let mut replies = Vec::new();
    let mut finalized = Vec::new();
    let mut permits = Vec::new();
    for r in batch {
        match r {
            Request::Record(intake, reply, permit) => {
                intakes.push(*intake);
                replies.push(reply);
                permits.push(permit);
            }
            Request::Finalized(files) => finalized.extend(files),
        }
    }
    let marks: Vec<(i64, String)> = finalized
        .iter()
        .map(|f| (f.file_id, f.final_path.clone()))
        .collect();
    let result = writer
        .call(move |s| {
            let all = s.record_files_and_finalize(&intakes, &marks);
            (all, intakes, marks)
        })
        .await;
    match result {
        Ok((Ok(recorded), _, _)) => {
            for (reply, r) in replies.into_iter().zip(recorded) {
                let _ = reply.send(Ok(r));
            }
        }
        Ok((Err(_), intakes, marks)) => {
            for (intake, reply) in intakes.into_iter().zip(replies) {
                let r = writer.run(move |s| s.record_file(&intake)).await;
                let _ = reply.send(r);
            }
            if !marks.is_empty()
                && let Err(e) = writer.run(move |s| s.mark_finalized_many(&marks)).await
            {
                tracing::warn!(error = %e, "Cannot mark files finalized; the next start finds them.");
            }
        }
        Err(_) => {
            for reply in replies {
                let _ = reply.send(Err(gone()));
            }
        }
    }
    drop(finalized);
    drop(permits);
}

/// Syncs the folders the files of `batch` were moved into, once each; returns the files whose
/// move is durable (the others are left for the next start).
async fn sync_moves(batch: Vec<Finalize>) -> Vec<Finalize> {
    let dirs: BTreeSet<PathBuf> = batch.iter().filter_map(|f| f.sync.clone()).collect();
    let synced = tokio::task::spawn_blocking(move || {
        dirs.into_iter()
            .filter(|d| match crate::sinks::directory::sync_dir(d) {
                Ok(()) => false,
                Err(e) => {
                    tracing::warn!(dir = %d.display(), error = %e, "Cannot sync an archive folder; its files are marked finalized at the next start.");
                    true
                }
            })
            .collect::<BTreeSet<PathBuf>>()
    })
    .await;
    let Ok(failed) = synced else {
        tracing::warn!(
            "The archive folder sync did not finish; the files are marked finalized at the next start."
        );
        return Vec::new();
    };
    batch
        .into_iter()
        .filter(|f| f.sync.as_ref().is_none_or(|d| !failed.contains(d)))
        .collect()
}

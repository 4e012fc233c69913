//! Group commits: intake workers hand their file records and finalizations to one batcher each,
//! which writes whatever has queued up in ONE transaction (`record_files`,
//! `mark_finalized_many`), so under load many files share one fsync and at light load a file
//! waits for nobody.
//!
//! A failed record batch is retried file by file, so one bad file cannot fail its neighbours.
//!
//! Finalization does not hold up the worker: it moves the file into the archive and queues it
//! here. For everything queued, the batcher syncs each archive folder once (the moves are then
//! durable), marks the files finalized in one transaction, and only then drops what each file
//! holds (its digest's place in line). If a sync or the mark fails, the files stay unmarked and
//! the next start finds them where they were moved (`reconcile_unfinalized`).

use std::collections::BTreeSet;
use std::path::PathBuf;

use tokio::sync::{mpsc, oneshot};

use crate::store::{FileIntake, Recorded};
use crate::writer::{StoreWriter, WriteError};

/// Files recorded per transaction, at most.
const MAX_BATCH: usize = 64;

type RecordRequest = (FileIntake, oneshot::Sender<Result<Recorded, WriteError>>);

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

/// Handles the workers use (from blocking threads).
#[derive(Debug, Clone)]
pub struct Batcher {
    record: mpsc::UnboundedSender<RecordRequest>,
    finalize: mpsc::UnboundedSender<Finalize>,
}

fn gone() -> WriteError {
    WriteError::Gone(crate::writer::WriterGone)
}

impl Batcher {
    /// Starts both batchers on the current runtime; they end when every handle is dropped.
    pub fn spawn(writer: StoreWriter) -> Batcher {
        let (record, mut record_rx) = mpsc::unbounded_channel::<RecordRequest>();
        let (finalize, mut finalize_rx) = mpsc::unbounded_channel::<Finalize>();
        let w = writer.clone();
        tokio::spawn(async move {
            while let Some(first) = record_rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match record_rx.try_recv() {
                        Ok(r) => batch.push(r),
                        Err(_) => break,
                    }
                }
                let (intakes, replies): (Vec<FileIntake>, Vec<_>) = batch.into_iter().unzip();
                let result = w
                    .call(move |s| {
                        let all = s.record_files(&intakes);
                        (all, intakes)
                    })
                    .await;
                match result {
                    Ok((Ok(recorded), _)) => {
                        for (reply, r) in replies.into_iter().zip(recorded) {
                            let _ = reply.send(Ok(r));
                        }
                    }
                    Ok((Err(_), intakes)) => {
                        for (intake, reply) in intakes.into_iter().zip(replies) {
                            let r = w.run(move |s| s.record_file(&intake)).await;
                            let _ = reply.send(r);
                        }
                    }
                    Err(_) => {
                        for reply in replies {
                            let _ = reply.send(Err(gone()));
                        }
                    }
                }
            }
        });
        tokio::spawn(async move {
            while let Some(first) = finalize_rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_FINALIZE {
                    match finalize_rx.try_recv() {
                        Ok(r) => batch.push(r),
                        Err(_) => break,
                    }
                }
                finalize_batch(&writer, batch).await;
            }
        });
        Batcher { record, finalize }
    }

    /// Records one file (in a shared transaction); call from a blocking thread.
    pub fn record_blocking(&self, intake: FileIntake) -> Result<Recorded, WriteError> {
        let (tx, rx) = oneshot::channel();
        self.record.send((intake, tx)).map_err(|_| gone())?;
        rx.blocking_recv().map_err(|_| gone())?
    }

    /// Queues a moved file for its folder sync and its mark (in shared ones); returns at once.
    pub fn finalize(&self, file: Finalize) -> Result<(), WriteError> {
        self.finalize.send(file).map_err(|_| gone())
    }
}

/// Files finalized per folder sync and transaction, at most.
const MAX_FINALIZE: usize = 256;

/// Syncs the folders the files of `batch` were moved into, once each, then marks the files
/// whose folder synced finalized in one transaction; then drops what they hold.
async fn finalize_batch(writer: &StoreWriter, batch: Vec<Finalize>) {
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
        return;
    };
    let files: Vec<(i64, String)> = batch
        .iter()
        .filter(|f| f.sync.as_ref().is_none_or(|d| !failed.contains(d)))
        .map(|f| (f.file_id, f.final_path.clone()))
        .collect();
    if !files.is_empty()
        && let Err(e) = writer.run(move |s| s.mark_finalized_many(&files)).await
    {
        tracing::warn!(error = %e, "Cannot mark files finalized; the next start finds them.");
    }
    drop(batch);
}

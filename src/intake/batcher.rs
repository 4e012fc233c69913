//! Group commits: intake workers hand their file records and finalizations to one batcher each,
//! which writes whatever has queued up in ONE transaction (`record_files`,
//! `mark_finalized_many`), so under load many files share one fsync and at light load a file
//! waits for nobody.
//!
//! A failed batch is retried file by file, so one bad file cannot fail its neighbours.

use tokio::sync::{mpsc, oneshot};

use crate::store::{FileIntake, Recorded};
use crate::writer::{StoreWriter, WriteError};

/// Files recorded per transaction, at most.
const MAX_BATCH: usize = 64;

type RecordRequest = (FileIntake, oneshot::Sender<Result<Recorded, WriteError>>);
type FinalizeRequest = ((i64, String), oneshot::Sender<Result<(), WriteError>>);

/// Handles the workers use (from blocking threads).
#[derive(Debug, Clone)]
pub struct Batcher {
    record: mpsc::UnboundedSender<RecordRequest>,
    finalize: mpsc::UnboundedSender<FinalizeRequest>,
}

fn gone() -> WriteError {
    WriteError::Gone(crate::writer::WriterGone)
}

impl Batcher {
    /// Starts both batchers on the current runtime; they end when every handle is dropped.
    pub fn spawn(writer: StoreWriter) -> Batcher {
        let (record, mut record_rx) = mpsc::unbounded_channel::<RecordRequest>();
        let (finalize, mut finalize_rx) = mpsc::unbounded_channel::<FinalizeRequest>();
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
                while batch.len() < MAX_BATCH {
                    match finalize_rx.try_recv() {
                        Ok(r) => batch.push(r),
                        Err(_) => break,
                    }
                }
                let (files, replies): (Vec<(i64, String)>, Vec<_>) = batch.into_iter().unzip();
                let result = writer.run(move |s| s.mark_finalized_many(&files)).await;
                let ok = result.is_ok();
                for reply in replies {
                    let _ = reply.send(if ok { Ok(()) } else { Err(gone()) });
                }
                if let Err(e) = result {
                    tracing::warn!(error = %e, "Cannot mark files finalized; the next start finds them.");
                }
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

    /// Marks one file finalized (in a shared transaction); call from a blocking thread.
    pub fn finalize_blocking(&self, file_id: i64, path: String) -> Result<(), WriteError> {
        let (tx, rx) = oneshot::channel();
        self.finalize
            .send(((file_id, path), tx))
            .map_err(|_| gone())?;
        rx.blocking_recv().map_err(|_| gone())?
    }
}

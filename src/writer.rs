//! The single store writer: one thread owns the [`Store`] (one SQLite connection); everything
//! else sends it closures and waits for the answer, from async tasks or blocking threads alike.
//!
//! One writer keeps SQLite free of lock contention and makes the order of commits the order in
//! which requests arrive. The thread ends when the last [`StoreWriter`] handle is dropped.

use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use crate::store::{Store, StoreError};

type Job = Box<dyn FnOnce(&mut Store) + Send>;

/// A handle to the writer thread; cheap to clone.
#[derive(Debug, Clone)]
pub struct StoreWriter {
    tx: mpsc::UnboundedSender<Job>,
}

/// The writer thread is gone (it panicked, or the daemon is stopping).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the store writer has stopped")]
pub struct WriterGone;

/// A store call failed, or the writer is gone.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No writer.
    #[error(transparent)]
    Gone(#[from] WriterGone),
}

impl StoreWriter {
    /// Moves `store` onto its own thread.
    pub fn spawn(mut store: Store) -> (StoreWriter, JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        let handle = std::thread::Builder::new()
            .name("edigate-store".into())
            .spawn(move || {
                while let Some(job) = rx.blocking_recv() {
                    job(&mut store);
                }
            })
            .unwrap_or_else(|e| {
                // Without a thread there is no writer: every call reports WriterGone.
                tracing::error!(error = %e, "Cannot start the store writer thread.");
                std::thread::spawn(|| {})
            });
        (StoreWriter { tx }, handle)
    }

    fn send<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> R + Send + 'static,
    ) -> Result<oneshot::Receiver<R>, WriterGone> {
        let (reply, rx) = oneshot::channel();
        let job: Job = Box::new(move |store| {
            let _ = reply.send(f(store));
        });
        self.tx.send(job).map_err(|_| WriterGone)?;
        Ok(rx)
    }

    /// Runs `f` on the writer thread and waits for its answer.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> R + Send + 'static,
    ) -> Result<R, WriterGone> {
        self.send(f)?.await.map_err(|_| WriterGone)
    }

    /// Like [`StoreWriter::call`], from a blocking thread (never from an async task).
    pub fn call_blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> R + Send + 'static,
    ) -> Result<R, WriterGone> {
        self.send(f)?.blocking_recv().map_err(|_| WriterGone)
    }

    /// [`StoreWriter::call`] for store calls that return a `Result`.
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, WriteError> {
        Ok(self.call(f).await??)
    }

    /// [`StoreWriter::call_blocking`] for store calls that return a `Result`.
    pub fn run_blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, WriteError> {
        Ok(self.call_blocking(f)??)
    }
}

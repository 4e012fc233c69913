//! The ack writer: puts acknowledgments recorded in the ledger into `<spool>/<partner>/out`,
//! atomically (temporary name, fsync, rename), then marks them written.
//!
//! A pass writes every ack of the batch under its temporary name first and then syncs them
//! several at a time (concurrent fsyncs share the file system's journal commits), renames them,
//! syncs each `out/` folder once and marks the batch written in one transaction. After a commit
//! that recorded acks it waits [`GATHER`] so that the acks of the next commits join the pass.
//!
//! It runs after each commit that recorded acks and once at start-up, so acks recorded just
//! before a crash are written after it. Writing an ack twice replaces the file with the same
//! bytes, which is harmless.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tracing::{debug, warn};

use crate::shutdown::Shutdown;
use crate::sinks::directory::sync_dir;
use crate::writer::{StoreWriter, WriteError};

/// Acks written per ledger round trip.
const BATCH: usize = 128;

/// How long the writer lets acks gather after being woken.
const GATHER: Duration = Duration::from_millis(50);

/// Files synced at once.
const SYNC_THREADS: usize = 8;

/// Writes every ack not yet written; returns how many were written.
pub async fn write_pending(
    writer: &StoreWriter,
    spool: &std::path::Path,
) -> Result<usize, WriteError> {
    let mut total = 0;
    loop {
        let acks = writer.run(|s| s.unwritten_acks(BATCH)).await?;
        if acks.is_empty() {
            return Ok(total);
        }
        let spool: PathBuf = spool.to_path_buf();
        let written = tokio::task::spawn_blocking(move || write_batch(&spool, acks))
            .await
            .unwrap_or_default();
        if written.is_empty() {
            return Ok(total);
        }
        total += written.len();
        let n = written.len();
        writer.run(move |s| s.mark_acks_written(&written)).await?;
        if n < BATCH {
            return Ok(total);
        }
    }
}

/// Writes acks whenever intake says there are new ones (and every few seconds), until shutdown;
/// a last pass runs after it.
pub async fn run(writer: StoreWriter, spool: PathBuf, ready: Arc<Notify>, mut shutdown: Shutdown) {
    loop {
        match write_pending(&writer, &spool).await {
            Ok(0) => {}
            Ok(n) => debug!(acks = n, "Acknowledgments written to out/."),
            Err(e) => warn!(error = %e, "Cannot write acknowledgments; trying again later."),
        }
        tokio::select! {
            () = shutdown.wait() => break,
            () = ready.notified() => {
                tokio::select! {
                    () = shutdown.wait() => break,
                    () = tokio::time::sleep(GATHER) => {}
                }
            }
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
    if let Err(e) = write_pending(&writer, &spool).await {
        warn!(error = %e, "Cannot write acknowledgments before stopping; they are written at the next start.");
    }
}

/// One ack under its temporary name, written and open for its sync.
struct Staged {
    id: i64,
    partner: String,
    dir: PathBuf,
    tmp: PathBuf,
    name: String,
    file: std::fs::File,
}

/// Writes a batch of acks durably; returns the ids of those written.
fn write_batch(spool: &std::path::Path, acks: Vec<crate::store::AckOut>) -> Vec<i64> {
    let mut staged = Vec::with_capacity(acks.len());
    for ack in acks {
        let dir = spool.join(&ack.partner).join("out");
        match stage(&dir, &ack.file_name, ack.text.as_bytes()) {
            Ok((tmp, file)) => staged.push(Staged {
                id: ack.id,
                partner: ack.partner,
                dir,
                tmp,
                name: ack.file_name,
                file,
            }),
            Err(e) => {
                warn!(partner = %ack.partner, file = %ack.file_name, error = %e, "Cannot write an acknowledgment; trying again later.");
            }
        }
    }
    let synced = sync_files(&staged);
    let mut ids = Vec::new();
    let mut dirs = std::collections::BTreeSet::new();
    for (s, synced) in staged.into_iter().zip(synced) {
        let Staged {
            id,
            partner,
            dir,
            tmp,
            name,
            file,
        } = s;
        drop(file);
        let result = synced.and_then(|()| std::fs::rename(&tmp, dir.join(&name)));
        match result {
            Ok(()) => {
                ids.push(id);
                dirs.insert(dir);
            }
            Err(e) => {
                warn!(partner = %partner, file = %name, error = %e, "Cannot write an acknowledgment; trying again later.");
            }
        }
    }
    // One folder sync per partner makes every rename of the batch durable before the acks are
    // marked written.
    for dir in dirs {
        if let Err(e) = sync_dir(&dir) {
            warn!(dir = %dir.display(), error = %e, "Cannot sync the out/ folder; the acks are written again later.");
            return Vec::new();
        }
    }
    ids
}

/// Syncs every staged file, [`SYNC_THREADS`] at a time; one result per file, in order.
fn sync_files(staged: &[Staged]) -> Vec<std::io::Result<()>> {
    if staged.len() <= 1 {
        return staged.iter().map(|s| s.file.sync_all()).collect();
    }
    let per_thread = staged.len().div_ceil(SYNC_THREADS);
    std::thread::scope(|scope| {
        let handles: Vec<_> = staged
            .chunks(per_thread)
            .map(|chunk| {
                scope.spawn(move || chunk.iter().map(|s| s.file.sync_all()).collect::<Vec<_>>())
            })
            .collect();
        handles
            .into_iter()
            .zip(staged.chunks(per_thread))
            .flat_map(|(h, chunk)| {
                h.join().unwrap_or_else(|_| {
                    chunk
                        .iter()
                        .map(|_| Err(std::io::Error::other("sync thread failed")))
                        .collect()
                })
            })
            .collect()
    })
}

/// Writes `dir/name`'s bytes under a temporary name; the caller syncs it, renames it into place
/// and syncs the folder.
fn stage(
    dir: &std::path::Path,
    name: &str,
    bytes: &[u8],
) -> std::io::Result<(PathBuf, std::fs::File)> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    Ok((tmp, f))
}

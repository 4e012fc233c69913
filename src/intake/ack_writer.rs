//! The ack writer: puts acknowledgments recorded in the ledger into `<spool>/<partner>/out`,
//! atomically (temporary name, fsync, rename), then marks them written.
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
const BATCH: usize = 256;

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
        let written = tokio::task::spawn_blocking(move || {
            let mut ids = Vec::new();
            let mut dirs = std::collections::BTreeSet::new();
            for ack in acks {
                let dir = spool.join(&ack.partner).join("out");
                match write_unsynced_dir(&dir, &ack.file_name, ack.text.as_bytes()) {
                    Ok(()) => {
                        ids.push(ack.id);
                        dirs.insert(dir);
                    }
                    Err(e) => {
                        warn!(partner = %ack.partner, file = %ack.file_name, error = %e, "Cannot write an acknowledgment; trying again later.");
                    }
                }
            }
            // One folder sync per partner makes every rename of the batch durable before the
            // acks are marked written.
            for dir in dirs {
                if let Err(e) = sync_dir(&dir) {
                    warn!(dir = %dir.display(), error = %e, "Cannot sync the out/ folder; the acks are written again later.");
                    return Vec::new();
                }
            }
            ids
        })
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
            () = ready.notified() => {}
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
    if let Err(e) = write_pending(&writer, &spool).await {
        warn!(error = %e, "Cannot write acknowledgments before stopping; they are written at the next start.");
    }
}

/// Writes `dir/name` under a temporary name, syncs it and renames it into place; the caller
/// syncs the folder.
fn write_unsynced_dir(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(name))
}

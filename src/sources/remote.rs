//! The remote poller: takes complete files from a partner's SFTP or FTP directory into the spool.
//!
//! The safe order for every remote file:
//! 1. listed twice, `stable_interval` apart, with the same size and mtime (and within
//!    `max_size`, matching `pattern`);
//! 2. downloaded to a dot-named temp file in `<spool>/<partner>/in` (never taken by the spool
//!    source), hashed while it is written, fsynced, size checked against the listing;
//! 3. if the ledger already holds those bytes (SHA-256), the temp file is dropped: the file is
//!    not processed again, only its after-action is completed;
//! 4. otherwise renamed to its own name in `in/`, the folder fsynced, and the remote file recorded
//!    as `handed` (the spool source and intake take it from there, as any dropped file);
//! 5. only once the ledger holds its SHA-256 is the after-action (`delete`, `move:`, `rename:`)
//!    run, and the remote file marked `done`.
//!
//! A crash anywhere leaves either the remote file (downloaded again, then recognised by its
//! SHA-256) or a complete local file (taken by the spool, which the ledger commit follows). A
//! failing after-action is retried at the next poll without downloading again.
//!
//! Every blocking network call runs on `spawn_blocking` under an outer deadline
//! ([`blocking`], in [`super::transport`]); the client's own socket timeouts make a timed-out thread end on its own.
//! One task per partner: a dead server only delays its own partner, with backoff.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::spool::{PartnerDirs, eligible_name, free_name};
pub use super::transport::{
    RemoteEntry, RemoteFs, TransportError, backoff, blocking, connect, read_secret, remote_join,
    safe_name, transfer_deadline,
};
use crate::config::transport::{AfterAction, RemoteInbound};
use crate::shutdown::Shutdown;
use crate::sinks::directory::sync_dir;
use crate::writer::StoreWriter;

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Files downloaded and handed to the spool (remote names).
    pub handed: Vec<String>,
    /// Files already in the ledger when downloaded (not processed again).
    pub known: Vec<String>,
    /// Files whose after-action completed.
    pub completed: Vec<String>,
    /// Files listed but not yet stable.
    pub unstable: usize,
    /// Files handed but not yet in the ledger.
    pub waiting: usize,
    /// Files over `max_size`.
    pub too_big: usize,
    /// After-actions that failed (retried at the next poll).
    pub after_failed: usize,
}

/// One partner's remote poller.
pub struct RemotePoller {
    partner: String,
    cfg: RemoteInbound,
    dirs: PartnerDirs,
    writer: StoreWriter,
    client: Option<Box<dyn RemoteFs>>,
    seen: HashMap<String, (u64, i64, Instant)>,
    /// Files reported as over `max_size` (reported once each).
    too_big: std::collections::HashSet<(String, u64)>,
    /// Seen between files: a poll stops early once it fires (set by [`RemotePoller::run`]).
    stop: Option<Shutdown>,
}

impl RemotePoller {
    /// A poller for `partner`'s remote source, handing files to `<spool>/<partner>/in`.
    pub fn new(partner: &str, cfg: RemoteInbound, spool: &Path, writer: StoreWriter) -> Self {
        RemotePoller {
            partner: partner.to_string(),
            dirs: PartnerDirs::new(spool, partner),
            cfg,
            writer,
            client: None,
            seen: HashMap::new(),
            too_big: Default::default(),
            stop: None,
        }
    }

    fn addr(&self) -> String {
        self.cfg.conn.address()
    }

    /// Runs `f` with the connected client on a blocking thread, connecting first if needed.
    /// The client is kept unless the error says the connection is unusable.
    async fn with_client<T: Send + 'static>(
        &mut self,
        what: &str,
        deadline: Duration,
        f: impl FnOnce(&mut dyn RemoteFs) -> Result<T, TransportError> + Send + 'static,
    ) -> Result<T, TransportError> {
        let client = self.client.take();
        let conn = self.cfg.conn.clone();
        let deadline = if client.is_none() {
            deadline + conn.timeout * 2
        } else {
            deadline
        };
        let r = blocking(&self.addr(), what, deadline, move || {
            let mut client = match client {
                Some(c) => c,
                None => connect(&conn)?,
            };
            let r = f(client.as_mut());
            Ok((client, r))
        })
        .await;
        match r {
            Ok((client, Ok(v))) => {
                self.client = Some(client);
                Ok(v)
            }
            Ok((client, Err(e))) => {
                if !e.breaks_connection() {
                    self.client = Some(client);
                }
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Drops the connection (the next operation reconnects).
    pub fn disconnect(&mut self) {
        self.client = None;
    }

    /// One poll: list, download what is stable, complete after-actions of what the ledger holds.
    pub async fn poll_once(&mut self) -> Result<PollReport, TransportError> {
        let mut report = PollReport::default();
        let dir = self.cfg.remote_dir.clone();
        let listed = {
            let dir = dir.clone();
            let t = self.cfg.conn.timeout * 2;
            self.with_client("list", t, move |c| c.list(&dir)).await?
        };
        let glob = globset::Glob::new(&self.cfg.pattern)
            .map(|g| g.compile_matcher())
            .map_err(|e| TransportError::Unsupported(format!("pattern: {e}")))?;
        let skip_suffix = match &self.cfg.after {
            AfterAction::Rename(s) => Some(s.clone()),
            _ => None,
        };
        let now = Instant::now();
        let mut present = Vec::new();
        let mut stable = Vec::new();
        for e in listed {
            if !eligible_name(&e.name)
                || !safe_name(&e.name)
                || !glob.is_match(&e.name)
                || skip_suffix.as_deref().is_some_and(|s| e.name.ends_with(s))
            {
                continue;
            }
            present.push(e.name.clone());
            let first = *self
                .seen
                .entry(e.name.clone())
                .and_modify(|s| {
                    if (s.0, s.1) != (e.size, e.mtime) {
                        *s = (e.size, e.mtime, now);
                    }
                })
                .or_insert((e.size, e.mtime, now));
            let listed_twice = first.2 < now || self.cfg.stable_interval.is_zero();
            if listed_twice && now.duration_since(first.2) >= self.cfg.stable_interval {
                stable.push(e);
            } else {
                report.unstable += 1;
            }
        }
        self.seen.retain(|k, _| present.contains(k));
        for e in stable {
            if self.stop.as_ref().is_some_and(Shutdown::is_triggered) {
                // Between files: whatever was taken is complete; the rest waits for the next poller.
                break;
            }
            if e.size > self.cfg.max_size {
                report.too_big += 1;
                if self.too_big.insert((e.name.clone(), e.size)) {
                    warn!(partner = %self.partner, file = %e.name, size = e.size, max_size = self.cfg.max_size, "Remote file over max_size; left on the server.");
                    let msg = format!(
                        "{}: {} bytes, over max_size {}; left on the server",
                        remote_join(&self.cfg.remote_dir, &e.name),
                        e.size,
                        self.cfg.max_size
                    );
                    let p = self.partner.clone();
                    self.store(move |s| s.transport_error(&p, "inbound", &msg))
                        .await?;
                }
                continue;
            }
            self.take(e, &mut report).await?;
        }
        Ok(report)
    }

    /// Takes one stable remote file through the safe order (see the module docs).
    async fn take(
        &mut self,
        e: RemoteEntry,
        report: &mut PollReport,
    ) -> Result<(), TransportError> {
        let path = remote_join(&self.cfg.remote_dir, &e.name);
        let partner = self.partner.clone();
        let row = {
            let (p, path) = (partner.clone(), path.clone());
            self.store(move |s| s.remote_file(&p, &path, e.size, e.mtime))
                .await?
        };
        let sha = match row {
            Some(r) if r.done => return Ok(()),
            Some(r) => {
                let sha = r.sha256.clone();
                if self.store(move |s| s.has_sha256(&sha)).await? {
                    r.sha256
                } else if self.dirs.inbox.join(&r.local_name).exists()
                    || self.dirs.work.join(&r.local_name).exists()
                {
                    report.waiting += 1;
                    return Ok(());
                } else {
                    // Handed but gone without a ledger row: take it again.
                    match self.download(&e, &path, report).await? {
                        Some(sha) => sha,
                        None => return Ok(()),
                    }
                }
            }
            None => match self.download(&e, &path, report).await? {
                Some(sha) => sha,
                None => return Ok(()),
            },
        };
        let _ = sha;
        self.after_action(&e, &path, report).await
    }

    /// Downloads, checks, hands over. `Some(sha)` when the ledger already holds the bytes (the
    /// after-action may run now), `None` when handed to the spool (it runs after the commit).
    async fn download(
        &mut self,
        e: &RemoteEntry,
        path: &str,
        report: &mut PollReport,
    ) -> Result<Option<String>, TransportError> {
        let inbox = self.dirs.inbox.clone();
        std::fs::create_dir_all(&inbox).map_err(|source| TransportError::Local {
            path: inbox.display().to_string(),
            source,
        })?;
        let tmp = inbox.join(format!(
            ".{}.{:08x}{TEMP_SUFFIX}",
            e.name,
            rand::random::<u32>()
        ));
        let deadline = transfer_deadline(self.cfg.conn.timeout, e.size);
        let (remote, tmp2, expected) = (path.to_string(), tmp.clone(), e.size);
        let r = self
            .with_client("download", deadline, move |c| {
                download_to(c, &remote, &tmp2, expected)
            })
            .await;
        let sha = match r {
            Ok(sha) => sha,
            Err(err) => {
                let _ = std::fs::remove_file(&tmp);
                if matches!(err, TransportError::Size { .. }) {
                    // Changed while being read: watch it again from scratch.
                    self.seen.remove(&e.name);
                    return Ok(None);
                }
                return Err(err);
            }
        };
        let known = {
            let sha = sha.clone();
            self.store(move |s| s.has_sha256(&sha)).await?
        };
        let (p, rp, size, mtime) = (self.partner.clone(), path.to_string(), e.size, e.mtime);
        if known {
            let _ = std::fs::remove_file(&tmp);
            info!(partner = %self.partner, file = %path, "Remote file already in the ledger; not processed again, completing its after-action.");
            let (sha2, name) = (sha.clone(), e.name.clone());
            self.store(move |s| s.record_remote_file(&p, &rp, size, mtime, &sha2, &name))
                .await?;
            report.known.push(e.name.clone());
            return Ok(Some(sha));
        }
        let target = free_name(&inbox, &e.name);
        let local_name = target
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(&e.name)
            .to_string();
        let renamed = std::fs::rename(&tmp, &target).and_then(|()| sync_dir(&inbox));
        if let Err(source) = renamed {
            let _ = std::fs::remove_file(&tmp);
            return Err(TransportError::Local {
                path: target.display().to_string(),
                source,
            });
        }
        self.store(move |s| s.record_remote_file(&p, &rp, size, mtime, &sha, &local_name))
            .await?;
        info!(partner = %self.partner, file = %path, bytes = e.size, "Remote file downloaded into the spool.");
        report.handed.push(e.name.clone());
        report.waiting += 1;
        Ok(None)
    }

    async fn after_action(
        &mut self,
        e: &RemoteEntry,
        path: &str,
        report: &mut PollReport,
    ) -> Result<(), TransportError> {
        let action = self.cfg.after.clone();
        let (from, name) = (path.to_string(), e.name.clone());
        let t = self.cfg.conn.timeout * 2;
        let r = self
            .with_client("after-action", t, move |c| match action {
                AfterAction::Delete => c.remove(&from),
                AfterAction::Move(dir) => c.rename(&from, &remote_join(&dir, &name)),
                AfterAction::Rename(suffix) => c.rename(&from, &format!("{from}{suffix}")),
            })
            .await;
        match r {
            Ok(()) => {
                let (p, rp, size, mtime) =
                    (self.partner.clone(), path.to_string(), e.size, e.mtime);
                self.store(move |s| s.mark_remote_done(&p, &rp, size, mtime))
                    .await?;
                debug!(partner = %self.partner, file = %path, "After-action done.");
                report.completed.push(e.name.clone());
                Ok(())
            }
            Err(err) if !err.breaks_connection() => {
                warn!(partner = %self.partner, error = %err, "After-action failed; the file is recorded and is not processed again; retrying at the next poll.");
                report.after_failed += 1;
                let msg = err.to_string();
                let p = self.partner.clone();
                let _ = self
                    .store(move |s| s.transport_error(&p, "inbound", &msg))
                    .await;
                Ok(())
            }
            Err(err) => Err(err),
        }
    }

    async fn store<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut crate::store::Store) -> Result<R, crate::store::StoreError> + Send + 'static,
    ) -> Result<R, TransportError> {
        self.writer
            .run(f)
            .await
            .map_err(|e| TransportError::Store(e.to_string()))
    }

    /// Polls until shutdown: `poll_interval` apart (sooner while a file settles), backing off
    /// after failures; health goes to the ledger for `edigate status`.
    pub async fn run(mut self, mut shutdown: Shutdown) {
        let mut failures: u32 = 0;
        self.stop = Some(shutdown.clone());
        sweep_temp_files(&self.dirs.inbox);
        info!(partner = %self.partner, server = %self.addr(), dir = %self.cfg.remote_dir, "Remote poller started.");
        loop {
            if shutdown.is_triggered() {
                break;
            }
            let wait = match self.poll_once().await {
                Ok(report) => {
                    failures = 0;
                    let p = self.partner.clone();
                    if let Err(e) = self.store(move |s| s.transport_ok(&p, "inbound")).await {
                        warn!(partner = %self.partner, error = %e, "Cannot record the poll.");
                    }
                    if report.unstable > 0 || report.waiting > 0 {
                        self.cfg
                            .poll_interval
                            .min(self.cfg.stable_interval.max(Duration::from_millis(200)))
                    } else {
                        self.cfg.poll_interval
                    }
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    self.disconnect();
                    let msg = e.to_string();
                    // Logs the failure and counts it in edigate_poll_errors_total{partner}.
                    crate::events::PollFailed {
                        partner: &self.partner,
                        error: &msg,
                    }
                    .emit();
                    let p = self.partner.clone();
                    let _ = self
                        .store(move |s| s.transport_error(&p, "inbound", &msg))
                        .await;
                    backoff(self.cfg.poll_interval, failures)
                }
            };
            tokio::select! {
                () = shutdown.wait() => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        info!(partner = %self.partner, server = %self.addr(), dir = %self.cfg.remote_dir, "Remote poller stopped.");
    }
}

/// The ending of the poller's temporary download names (`.<name>.<8 hex digits>.download`).
const TEMP_SUFFIX: &str = ".download";

/// Whether `name` is one of the poller's temporary download names.
fn is_temp_name(name: &str) -> bool {
    let Some(stem) = name
        .strip_prefix('.')
        .and_then(|n| n.strip_suffix(TEMP_SUFFIX))
    else {
        return false;
    };
    stem.rsplit_once('.').is_some_and(|(file, hex)| {
        !file.is_empty() && hex.len() == 8 && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// Removes temporary downloads left in `inbox` by a process that died mid-download (they are
/// never taken by the spool; the remote file is still on the server and is downloaded again).
fn sweep_temp_files(inbox: &Path) {
    let Ok(entries) = std::fs::read_dir(inbox) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_str().is_some_and(is_temp_name) {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    info!(file = %entry.path().display(), "Removed a partial download left by an earlier run.")
                }
                Err(e) => {
                    warn!(file = %entry.path().display(), error = %e, "Cannot remove a partial download left by an earlier run.")
                }
            }
        }
    }
}

/// Downloads `remote` into `tmp` (hashing), fsyncs it, checks the size; returns the SHA-256.
fn download_to(
    c: &mut dyn RemoteFs,
    remote: &str,
    tmp: &PathBuf,
    expected: u64,
) -> Result<String, TransportError> {
    let local = |source| TransportError::Local {
        path: tmp.display().to_string(),
        source,
    };
    let file = std::fs::File::create(tmp).map_err(local)?;
    let mut out = HashingWriter {
        file,
        hasher: Sha256::new(),
    };
    let r = c
        .download(remote, &mut out)
        .and_then(|got| out.file.sync_all().map(|()| got).map_err(local))
        .and_then(|got| {
            if got == expected {
                Ok(())
            } else {
                Err(TransportError::Size {
                    path: remote.to_string(),
                    expected,
                    got,
                })
            }
        });
    if let Err(e) = r {
        // Also when the caller gave up on this thread already: no partial file stays behind.
        let _ = std::fs::remove_file(tmp);
        return Err(e);
    }
    Ok(hex::encode(out.hasher.finalize()))
}

struct HashingWriter {
    file: std::fs::File,
    hasher: Sha256,
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_pollers_own_temp_names_are_swept() {
        let dir = tempfile::tempdir().expect("tempdir");
        for n in [
            ".a.edi.0badf00d.download",
            ".a.edi.uploading",
            "a.edi",
            ".x.download",
        ] {
            std::fs::write(dir.path().join(n), "x").expect("write");
        }
        sweep_temp_files(dir.path());
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("read")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        left.sort();
        assert_eq!(left, [".a.edi.uploading", ".x.download", "a.edi"]);
    }
}

//! Outbound delivery: every file in `<spool>/<partner>/out` (acknowledgments, later outbound
//! documents) goes to the partner's `[outbound]` target: SFTP, FTP or a local directory.
//!
//! Invariants:
//! - The partner never sees a partial file under its final name: each file is written under a
//!   dot-named `.part` name, its size checked, then renamed.
//! - The local file leaves `out/` (to `out/sent/`) only after the delivery is recorded in the
//!   ledger; a crash in between delivers it again at most to the same final name, and a file
//!   whose bytes the ledger shows delivered is only moved.
//! - One upload at a time per partner, oldest first; a failure is recorded, counted and retried
//!   with backoff, and stops the round so files keep their order.

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::config::transport::{Outbound, OutboundTarget};
use crate::shutdown::Shutdown;
use crate::sinks::directory::sync_dir;
use crate::sources::remote::{
    RemoteFs, TransportError, backoff, blocking, connect, remote_join, transfer_deadline,
};
use crate::sources::spool::{PartnerDirs, eligible_name, free_name};
use crate::writer::StoreWriter;

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendReport {
    /// Files delivered (names).
    pub delivered: Vec<String>,
    /// Files found already delivered (only moved to `sent/`).
    pub already: Vec<String>,
}

/// One partner's outbound sender.
pub struct OutboundSender {
    partner: String,
    cfg: Outbound,
    out: PathBuf,
    sent: PathBuf,
    writer: StoreWriter,
    client: Option<Box<dyn RemoteFs>>,
    /// Seen between files: a round stops early once it fires (set by [`OutboundSender::run`]).
    stop: Option<Shutdown>,
}

impl OutboundSender {
    /// A sender for `partner`'s `out/` folder under `spool`.
    pub fn new(partner: &str, cfg: Outbound, spool: &Path, writer: StoreWriter) -> Self {
        let out = PartnerDirs::new(spool, partner).out;
        OutboundSender {
            partner: partner.to_string(),
            sent: out.join("sent"),
            out,
            cfg,
            writer,
            client: None,
            stop: None,
        }
    }

    fn target_name(&self) -> String {
        match &self.cfg.target {
            OutboundTarget::Remote { conn, remote_dir } => {
                let scheme = match conn.protocol {
                    crate::config::transport::Protocol::Sftp => "sftp",
                    crate::config::transport::Protocol::Ftp => "ftp",
                };
                format!("{scheme}://{}@{}{}", conn.user, conn.address(), remote_dir)
            }
            OutboundTarget::Directory(d) => d.display().to_string(),
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

    /// Delivers every file now in `out/`, oldest first, stopping at the first failure.
    pub async fn send_once(&mut self) -> Result<SendReport, TransportError> {
        let mut report = SendReport::default();
        let out = self.out.clone();
        let files = tokio::task::spawn_blocking(move || list_out(&out))
            .await
            .map_err(|e| TransportError::Local {
                path: "out/".into(),
                source: io::Error::other(e),
            })?
            .map_err(|source| TransportError::Local {
                path: self.out.display().to_string(),
                source,
            })?;
        for (name, path) in files {
            if self.stop.as_ref().is_some_and(Shutdown::is_triggered) {
                break;
            }
            let (sha, size) = hash_file(&path).map_err(|source| TransportError::Local {
                path: path.display().to_string(),
                source,
            })?;
            let (p, s2) = (self.partner.clone(), sha.clone());
            if self.store(move |s| s.outbound_delivered(&p, &s2)).await? {
                self.move_to_sent(&name, &path)?;
                report.already.push(name);
                continue;
            }
            let target = self.target_name();
            match self.deliver(&name, &path, size).await {
                Ok(()) => {
                    let (p, n, s2, t) = (self.partner.clone(), name.clone(), sha, target);
                    self.store(move |s| s.record_outbound(&p, &n, size, &s2, &t, None))
                        .await?;
                    self.move_to_sent(&name, &path)?;
                    info!(partner = %self.partner, file = %name, bytes = size, target = %self.target_name(), "Outbound file delivered.");
                    report.delivered.push(name);
                }
                Err(e) => {
                    let (p, n, s2, t, msg) = (
                        self.partner.clone(),
                        name.clone(),
                        sha,
                        target,
                        e.to_string(),
                    );
                    let _ = self
                        .store(move |s| s.record_outbound(&p, &n, size, &s2, &t, Some(&msg)))
                        .await;
                    return Err(e);
                }
            }
        }
        Ok(report)
    }

    fn move_to_sent(&self, name: &str, path: &Path) -> Result<(), TransportError> {
        let local = |source| TransportError::Local {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&self.sent).map_err(local)?;
        let to = free_name(&self.sent, name);
        std::fs::rename(path, &to).map_err(local)?;
        sync_dir(&self.sent).map_err(local)?;
        sync_dir(&self.out).map_err(local)
    }

    async fn deliver(&mut self, name: &str, path: &Path, size: u64) -> Result<(), TransportError> {
        match self.cfg.target.clone() {
            OutboundTarget::Directory(dir) => {
                let (name, path) = (name.to_string(), path.to_path_buf());
                tokio::task::spawn_blocking(move || deliver_to_dir(&dir, &name, &path, size))
                    .await
                    .map_err(|e| TransportError::Local {
                        path: "outbound".into(),
                        source: io::Error::other(e),
                    })?
            }
            OutboundTarget::Remote { conn, remote_dir } => {
                let client = self.client.take();
                let deadline = transfer_deadline(conn.timeout, size) + conn.timeout * 2;
                let (name, path, addr) = (name.to_string(), path.to_path_buf(), conn.address());
                let r = blocking(&addr, "upload", deadline, move || {
                    let mut client = match client {
                        Some(c) => c,
                        None => connect(&conn)?,
                    };
                    let r = upload(client.as_mut(), &remote_dir, &name, &path, size);
                    Ok((client, r))
                })
                .await;
                match r {
                    Ok((client, r)) => {
                        if r.as_ref()
                            .map_or_else(|e| !e.breaks_connection(), |()| true)
                        {
                            self.client = Some(client);
                        }
                        r
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// Delivers until shutdown, every `poll_interval`, backing off after failures.
    pub async fn run(mut self, mut shutdown: Shutdown) {
        let mut failures: u32 = 0;
        self.stop = Some(shutdown.clone());
        info!(partner = %self.partner, target = %self.target_name(), "Outbound sender started.");
        loop {
            if shutdown.is_triggered() {
                break;
            }
            let wait = match self.send_once().await {
                Ok(report) => {
                    failures = 0;
                    if !report.delivered.is_empty() {
                        let p = self.partner.clone();
                        let _ = self.store(move |s| s.transport_ok(&p, "outbound")).await;
                    }
                    self.cfg.poll_interval
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    self.client = None;
                    warn!(partner = %self.partner, error = %e, failures, "Outbound delivery failed; retrying with backoff.");
                    let (p, msg) = (self.partner.clone(), e.to_string());
                    let _ = self
                        .store(move |s| s.transport_error(&p, "outbound", &msg))
                        .await;
                    backoff(self.cfg.poll_interval, failures)
                }
            };
            tokio::select! {
                () = shutdown.wait() => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
        info!(partner = %self.partner, target = %self.target_name(), "Outbound sender stopped.");
    }
}

/// Regular, eligible files in `out/`, oldest first.
fn list_out(out: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let mut files: Vec<(SystemTime, String, PathBuf)> = Vec::new();
    let entries = match std::fs::read_dir(out) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let meta = entry.metadata()?;
        if !meta.is_file() {
            continue;
        }
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if !eligible_name(&name) {
            continue;
        }
        let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        files.push((mtime, name, entry.path()));
    }
    files.sort();
    Ok(files.into_iter().map(|(_, n, p)| (n, p)).collect())
}

fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let n = io::copy(&mut f, &mut h)?;
    Ok((hex::encode(h.finalize()), n))
}

/// Copies into `dir/.name.part`, fsyncs, checks the size, renames to `dir/name`, fsyncs `dir`.
fn deliver_to_dir(dir: &Path, name: &str, path: &Path, size: u64) -> Result<(), TransportError> {
    let at = |p: &Path| {
        let p = p.display().to_string();
        move |source| TransportError::Local { path: p, source }
    };
    std::fs::create_dir_all(dir).map_err(at(dir))?;
    let final_path = dir.join(name);
    let tmp = dir.join(format!(".{name}.part"));
    {
        let mut src = std::fs::File::open(path).map_err(at(path))?;
        let mut dst = std::fs::File::create(&tmp).map_err(at(&tmp))?;
        io::copy(&mut src, &mut dst).map_err(at(&tmp))?;
        dst.sync_all().map_err(at(&tmp))?;
    }
    let got = std::fs::metadata(&tmp).map_err(at(&tmp))?.len();
    if got != size {
        let _ = std::fs::remove_file(&tmp);
        return Err(TransportError::Size {
            path: tmp.display().to_string(),
            expected: size,
            got,
        });
    }
    if let Ok(existing) = std::fs::metadata(&final_path) {
        let _ = std::fs::remove_file(&tmp);
        if existing.len() == size {
            // Delivered before a crash took the record: the same bytes are already there.
            return Ok(());
        }
        return Err(TransportError::Local {
            path: final_path.display().to_string(),
            source: io::Error::new(
                io::ErrorKind::AlreadyExists,
                "a different file with this name is already there",
            ),
        });
    }
    std::fs::rename(&tmp, &final_path).map_err(at(&final_path))?;
    sync_dir(dir).map_err(at(dir))
}

/// Uploads to `remote_dir/.name.part`, checks its size, renames to `remote_dir/name`, checks again.
fn upload(
    c: &mut dyn RemoteFs,
    remote_dir: &str,
    name: &str,
    path: &Path,
    size: u64,
) -> Result<(), TransportError> {
    let final_path = remote_join(remote_dir, name);
    let tmp = remote_join(remote_dir, &format!(".{name}.part"));
    if c.size(&tmp)?.is_some() {
        c.remove(&tmp)?;
    }
    c.upload(path, &tmp)?;
    let got = c.size(&tmp)?.unwrap_or(0);
    if got != size {
        let _ = c.remove(&tmp);
        return Err(TransportError::Size {
            path: tmp,
            expected: size,
            got,
        });
    }
    if let Some(existing) = c.size(&final_path)? {
        let _ = c.remove(&tmp);
        if existing == size {
            return Ok(());
        }
        return Err(TransportError::Remote {
            addr: String::new(),
            path: final_path,
            what: "upload".into(),
            detail: "a different file with this name is already there".into(),
        });
    }
    c.rename(&tmp, &final_path)?;
    match c.size(&final_path)? {
        Some(n) if n == size => Ok(()),
        other => Err(TransportError::Size {
            path: final_path,
            expected: size,
            got: other.unwrap_or(0),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_delivery_renames_into_place_and_skips_temp_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("ack.x12");
        std::fs::write(&src, b"ISA*...").expect("write");
        std::fs::write(dir.path().join(".ack2.x12.tmp"), b"x").expect("write");
        let target = dir.path().join("partner");
        deliver_to_dir(&target, "ack.x12", &src, 7).expect("deliver");
        assert_eq!(
            std::fs::read(target.join("ack.x12")).expect("read"),
            b"ISA*..."
        );
        assert!(!target.join(".ack.x12.part").exists());
        // Again (a crash before the record): the same bytes are there, fine.
        deliver_to_dir(&target, "ack.x12", &src, 7).expect("again");
        let listed = list_out(dir.path()).expect("list");
        assert_eq!(listed.len(), 1, "{listed:?}");
    }
}

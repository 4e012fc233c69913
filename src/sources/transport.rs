//! What the remote poller and the outbound sender share: the blocking remote file system
//! ([`RemoteFs`], over [`super::sftp`] or [`super::ftp`]), its errors, and the outer deadline
//! every blocking call runs under ([`blocking`]).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::config::transport::{Connection, Protocol};

/// Why a transport operation failed. Messages name the partner's server and path, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// TCP connection failed.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// `host:port`.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The operation did not finish within its deadline.
    #[error("{what} on {addr} did not finish within {after:?}")]
    Timeout {
        /// `host:port`.
        addr: String,
        /// What was being done.
        what: String,
        /// The deadline.
        after: Duration,
    },
    /// The server's host key is not the pinned one.
    #[error(
        "host key of {addr} is {found}, but {expected} is pinned: refusing to connect (re-pin only after checking with the partner)"
    )]
    HostKey {
        /// `host:port`.
        addr: String,
        /// The pinned fingerprint.
        expected: String,
        /// What the server presented.
        found: String,
    },
    /// Authentication failed.
    #[error("authentication of user {user:?} on {addr} failed: {detail}")]
    Auth {
        /// `host:port`.
        addr: String,
        /// The user.
        user: String,
        /// What the server said (no secret).
        detail: String,
    },
    /// A protocol step (handshake, TLS, subsystem) failed.
    #[error("{what} with {addr} failed: {detail}")]
    Protocol {
        /// `host:port`.
        addr: String,
        /// The step.
        what: String,
        /// Why.
        detail: String,
    },
    /// A remote file operation failed.
    #[error("{what} {path} on {addr} failed: {detail}")]
    Remote {
        /// `host:port`.
        addr: String,
        /// The remote path.
        path: String,
        /// The operation.
        what: String,
        /// Why.
        detail: String,
    },
    /// A secret file could not be read.
    #[error("cannot read secret file {path}: {source}")]
    Secret {
        /// The file (its contents are never shown).
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A local file operation failed.
    #[error("local file {path}: {source}")]
    Local {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The transferred size differs from the expected one.
    #[error("{path}: {got} bytes transferred, {expected} expected")]
    Size {
        /// The file.
        path: String,
        /// Expected bytes.
        expected: u64,
        /// Transferred bytes.
        got: u64,
    },
    /// The ledger could not be read or written.
    #[error("ledger: {0}")]
    Store(String),
    /// Not available in this build.
    #[error("{0}")]
    Unsupported(String),
}

impl TransportError {
    /// Whether the connection is unusable after this error (anything but a failed file operation).
    pub fn breaks_connection(&self) -> bool {
        !matches!(
            self,
            TransportError::Remote { .. }
                | TransportError::Local { .. }
                | TransportError::Size { .. }
        )
    }
}

/// A regular file in a remote listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEntry {
    /// File name (no directory).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time (Unix seconds; 0 when unknown).
    pub mtime: i64,
}

/// A connected remote file system (blocking).
pub trait RemoteFs: Send + Sync {
    /// Regular files in `dir`.
    fn list(&mut self, dir: &str) -> Result<Vec<RemoteEntry>, TransportError>;
    /// Copies `path` into `out`; returns the bytes copied.
    fn download(&mut self, path: &str, out: &mut dyn Write) -> Result<u64, TransportError>;
    /// Deletes `path`.
    fn remove(&mut self, path: &str) -> Result<(), TransportError>;
    /// Renames `from` to `to`.
    fn rename(&mut self, from: &str, to: &str) -> Result<(), TransportError>;
    /// Writes the local file to `remote`; returns the bytes written.
    fn upload(&mut self, local: &Path, remote: &str) -> Result<u64, TransportError>;
    /// Size of `path`, or `None` when it does not exist.
    fn size(&mut self, path: &str) -> Result<Option<u64>, TransportError>;
}

/// Connects to the server of `conn` (blocking).
pub fn connect(conn: &Connection) -> Result<Box<dyn RemoteFs>, TransportError> {
    match conn.protocol {
        Protocol::Sftp => Ok(Box::new(super::sftp::SftpClient::connect(conn)?)),
        Protocol::Ftp => Ok(Box::new(super::ftp::FtpClient::connect(conn)?)),
    }
}

/// Reads a secret file: its first line, without the line end. Never logged.
pub fn read_secret(path: &Path) -> Result<String, TransportError> {
    let text = std::fs::read_to_string(path).map_err(|source| TransportError::Secret {
        path: path.display().to_string(),
        source,
    })?;
    Ok(text.lines().next().unwrap_or("").to_string())
}

/// Runs blocking `f` on `spawn_blocking` and gives up after `deadline`. The thread itself is
/// bounded by the client's socket timeouts, so it ends soon after a timeout too.
pub async fn blocking<T: Send + 'static>(
    addr: &str,
    what: &str,
    deadline: Duration,
    f: impl FnOnce() -> Result<T, TransportError> + Send + 'static,
) -> Result<T, TransportError> {
    match tokio::time::timeout(deadline, tokio::task::spawn_blocking(f)).await {
        Ok(Ok(r)) => r,
        Ok(Err(join)) => Err(TransportError::Protocol {
            addr: addr.to_string(),
            what: what.to_string(),
            detail: format!("the transfer thread failed: {join}"),
        }),
        Err(_) => Err(TransportError::Timeout {
            addr: addr.to_string(),
            what: what.to_string(),
            after: deadline,
        }),
    }
}

/// Deadline for moving `bytes`: the operation timeout plus 64 KiB/s worth of transfer.
pub fn transfer_deadline(timeout: Duration, bytes: u64) -> Duration {
    timeout * 2 + Duration::from_secs(bytes / (64 * 1024))
}

/// `dir/name` with one `/` between.
pub fn remote_join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Whether a remote name can become a local file name in `in/` without leaving it: no path
/// separators, no NUL, not `.`/`..` (names come from the partner's server).
pub fn safe_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// Delay after `failures` consecutive failures: `base` doubled each time, at most 5 minutes.
pub fn backoff(base: Duration, failures: u32) -> Duration {
    let base = base.max(Duration::from_millis(100));
    let factor = 1u32 << failures.saturating_sub(1).min(12);
    (base * factor).min(Duration::from_secs(300))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Duration::from_secs(1);
        assert_eq!(backoff(b, 1), Duration::from_secs(1));
        assert_eq!(backoff(b, 3), Duration::from_secs(4));
        assert_eq!(backoff(b, 40), Duration::from_secs(300));
    }

    #[test]
    fn remote_names_never_leave_the_inbox() {
        assert!(safe_name("order-1.edi"));
        for bad in ["", ".", "..", "a/../../etc/x", "..\\x", "a\0b"] {
            assert!(!safe_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn remote_paths_join_with_one_slash() {
        assert_eq!(remote_join("/a/", "b"), "/a/b");
        assert_eq!(remote_join("/a", "b"), "/a/b");
    }
}

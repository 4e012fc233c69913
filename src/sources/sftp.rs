//! SFTP client for the remote poller and the outbound sender (`ssh2`, blocking: callers run it
//! on `spawn_blocking` under an outer deadline, see [`super::remote::blocking`]).
//!
//! Invariants:
//! - Every session has `Session::set_timeout` and socket read/write timeouts, so a stalled
//!   server ends the blocking call (and its thread) within the partner's `timeout`.
//! - The host key is checked against the pinned one before any credential is sent; an unknown
//!   or different key is a hard error, never trusted on first use. A `SHA256:` pin is compared
//!   with the key's fingerprint; a known_hosts line is checked with `KnownHosts::check_port`, so
//!   its host pattern must name this host and port as well.
//! - Secrets are read from their files at each connection and never logged.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use sha2::{Digest, Sha256};
use ssh2::{HashType, Session, Sftp};

use super::transport::{RemoteEntry, RemoteFs, TransportError, read_secret};
use crate::config::transport::{Auth, Connection};

/// A pinned host key: the SHA-256 fingerprint of the key blob (base64, no padding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKeyPin {
    sha256_b64: String,
}

impl HostKeyPin {
    /// Parses `SHA256:<base64>` (as `ssh-keygen -l` prints it) or a known_hosts line
    /// (`host[,host] keytype base64`); the line's key blob is pinned.
    pub fn parse(text: &str) -> Result<HostKeyPin, String> {
        let t = text.trim();
        if let Some(b64) = t.strip_prefix("SHA256:") {
            let b64 = b64.trim_end_matches('=');
            let ok = STANDARD_NO_PAD
                .decode(b64)
                .map(|d| d.len() == 32)
                .unwrap_or(false);
            if !ok {
                return Err("not a SHA-256 fingerprint".into());
            }
            return Ok(HostKeyPin {
                sha256_b64: b64.to_string(),
            });
        }
        let fields: Vec<&str> = t.split_whitespace().collect();
        let blob = fields
            .iter()
            .find_map(|f| {
                STANDARD
                    .decode(f)
                    .ok()
                    .filter(|b| b.len() > 16 && f.starts_with("AAAA"))
            })
            .ok_or_else(|| "no base64 key in the known_hosts line".to_string())?;
        Ok(HostKeyPin {
            sha256_b64: STANDARD_NO_PAD.encode(Sha256::digest(&blob)),
        })
    }

    /// `SHA256:<base64>`.
    pub fn fingerprint(&self) -> String {
        format!("SHA256:{}", self.sha256_b64)
    }
}

/// The server's host key fingerprint of a session after its handshake.
fn session_fingerprint(session: &Session) -> Option<String> {
    session
        .host_key_hash(HashType::Sha256)
        .map(|h| format!("SHA256:{}", STANDARD_NO_PAD.encode(h)))
}

/// Opens TCP with timeouts and completes the SSH handshake.
fn handshake(host: &str, port: u16, timeout: Duration) -> Result<Session, TransportError> {
    let addr = format!("{host}:{port}");
    let io = |source: std::io::Error| TransportError::Connect {
        addr: addr.clone(),
        source,
    };
    let target = (host, port)
        .to_socket_addrs()
        .map_err(io)?
        .next()
        .ok_or_else(|| io(std::io::Error::other("no address")))?;
    let tcp = TcpStream::connect_timeout(&target, timeout).map_err(io)?;
    tcp.set_read_timeout(Some(timeout)).map_err(io)?;
    tcp.set_write_timeout(Some(timeout)).map_err(io)?;
    let mut session = Session::new().map_err(|e| ssh_err(&addr, "session", e))?;
    session.set_timeout(u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX));
    session.set_tcp_stream(tcp);
    session
        .handshake()
        .map_err(|e| ssh_err(&addr, "SSH handshake", e))?;
    Ok(session)
}

fn ssh_err(addr: &str, what: &str, e: ssh2::Error) -> TransportError {
    TransportError::Protocol {
        addr: addr.to_string(),
        what: what.to_string(),
        detail: e.message().to_string(),
    }
}

/// Connects to `host:port` and returns its SHA256 host key fingerprint (for an operator to pin).
pub fn fetch_fingerprint(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<String, TransportError> {
    let session = handshake(host, port, timeout)?;
    let fp = session_fingerprint(&session).ok_or_else(|| TransportError::Protocol {
        addr: format!("{host}:{port}"),
        what: "host key".into(),
        detail: "the server sent no host key".into(),
    })?;
    let _ = session.disconnect(None, "fingerprint taken", None);
    Ok(fp)
}

/// Whether the server's key matches the known_hosts `line` for `host` and `port`
/// (`[host]:port` entries for ports other than 22, hashed names included).
fn known_hosts_match(session: &Session, line: &str, host: &str, port: u16) -> bool {
    let Some((key, _)) = session.host_key() else {
        return false;
    };
    let Ok(mut kh) = session.known_hosts() else {
        return false;
    };
    if kh.read_str(line, ssh2::KnownHostFileKind::OpenSSH).is_err() {
        return false;
    }
    matches!(kh.check_port(host, port, key), ssh2::CheckResult::Match)
}

/// An authenticated SFTP session.
pub struct SftpClient {
    addr: String,
    session: Session,
    sftp: Sftp,
}

impl SftpClient {
    /// Connects, checks the pinned host key, authenticates and opens the SFTP channel.
    pub fn connect(conn: &Connection) -> Result<SftpClient, TransportError> {
        let addr = conn.address();
        let pin = conn
            .host_key
            .as_deref()
            .ok_or_else(|| TransportError::HostKey {
                addr: addr.clone(),
                expected: "<none pinned>".into(),
                found: "-".into(),
            })
            .and_then(|h| {
                HostKeyPin::parse(h).map_err(|e| TransportError::HostKey {
                    addr: addr.clone(),
                    expected: format!("<unusable pin: {e}>"),
                    found: "-".into(),
                })
            })?;
        let session = handshake(&conn.host, conn.port, conn.timeout)?;
        let found = session_fingerprint(&session).unwrap_or_else(|| "<none>".into());
        let pinned = conn.host_key.as_deref().unwrap_or("").trim();
        let ok = if pinned.starts_with("SHA256:") {
            found == pin.fingerprint()
        } else {
            // A known_hosts line: its host pattern must name this host and port too.
            known_hosts_match(&session, pinned, &conn.host, conn.port)
        };
        if !ok {
            let _ = session.disconnect(None, "host key mismatch", None);
            return Err(TransportError::HostKey {
                addr,
                expected: if pinned.starts_with("SHA256:") {
                    pin.fingerprint()
                } else {
                    format!(
                        "the known_hosts entry ({}) for {}:{}",
                        pin.fingerprint(),
                        conn.host,
                        conn.port
                    )
                },
                found,
            });
        }
        let auth_err = |detail: String| TransportError::Auth {
            addr: addr.clone(),
            user: conn.user.clone(),
            detail,
        };
        match &conn.auth {
            Auth::Key {
                key_file,
                passphrase_file,
            } => {
                let passphrase = passphrase_file.as_deref().map(read_secret).transpose()?;
                session
                    .userauth_pubkey_file(&conn.user, None, key_file, passphrase.as_deref())
                    .map_err(|e| {
                        auth_err(format!(
                            "key {} refused: {}",
                            key_file.display(),
                            e.message()
                        ))
                    })?;
            }
            Auth::Password { password_file } => {
                let password = read_secret(password_file)?;
                session
                    .userauth_password(&conn.user, &password)
                    .map_err(|e| auth_err(format!("password refused: {}", e.message())))?;
            }
        }
        if !session.authenticated() {
            return Err(auth_err("the server did not accept the credentials".into()));
        }
        let sftp = session
            .sftp()
            .map_err(|e| ssh_err(&addr, "SFTP subsystem", e))?;
        Ok(SftpClient {
            addr,
            session,
            sftp,
        })
    }

    fn err(&self, what: &str, path: &str, e: ssh2::Error) -> TransportError {
        TransportError::Remote {
            addr: self.addr.clone(),
            path: path.to_string(),
            what: what.to_string(),
            detail: e.message().to_string(),
        }
    }
}

impl Drop for SftpClient {
    fn drop(&mut self) {
        let _ = self.session.disconnect(None, "bye", None);
    }
}

impl RemoteFs for SftpClient {
    fn list(&mut self, dir: &str) -> Result<Vec<RemoteEntry>, TransportError> {
        let entries = self
            .sftp
            .readdir(Path::new(dir))
            .map_err(|e| self.err("list", dir, e))?;
        Ok(entries
            .into_iter()
            .filter(|(_, st)| st.is_file())
            .filter_map(|(path, st)| {
                let name = path.file_name()?.to_str()?.to_string();
                Some(RemoteEntry {
                    name,
                    size: st.size.unwrap_or(0),
                    mtime: st.mtime.map_or(0, |m| i64::try_from(m).unwrap_or(i64::MAX)),
                })
            })
            .collect())
    }

    fn download(&mut self, path: &str, out: &mut dyn Write) -> Result<u64, TransportError> {
        let mut file = self
            .sftp
            .open(Path::new(path))
            .map_err(|e| self.err("open", path, e))?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = file.read(&mut buf).map_err(|e| TransportError::Remote {
                addr: self.addr.clone(),
                path: path.to_string(),
                what: "read".into(),
                detail: e.to_string(),
            })?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n])
                .map_err(|source| TransportError::Local {
                    path: "<download buffer>".into(),
                    source,
                })?;
            total += n as u64;
        }
        Ok(total)
    }

    fn remove(&mut self, path: &str) -> Result<(), TransportError> {
        self.sftp
            .unlink(Path::new(path))
            .map_err(|e| self.err("delete", path, e))
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<(), TransportError> {
        self.sftp
            .rename(Path::new(from), Path::new(to), None)
            .map_err(|e| self.err(&format!("rename to {to}"), from, e))
    }

    fn upload(&mut self, local: &Path, remote: &str) -> Result<u64, TransportError> {
        let mut src = std::fs::File::open(local).map_err(|source| TransportError::Local {
            path: local.display().to_string(),
            source,
        })?;
        let mut dst = self
            .sftp
            .create(Path::new(remote))
            .map_err(|e| self.err("create", remote, e))?;
        let n = std::io::copy(&mut src, &mut dst).map_err(|e| TransportError::Remote {
            addr: self.addr.clone(),
            path: remote.to_string(),
            what: "write".into(),
            detail: e.to_string(),
        })?;
        dst.fsync().ok();
        drop(dst);
        Ok(n)
    }

    fn size(&mut self, path: &str) -> Result<Option<u64>, TransportError> {
        match self.sftp.stat(Path::new(path)) {
            Ok(st) => Ok(Some(st.size.unwrap_or(0))),
            // LIBSSH2_FX_NO_SUCH_FILE
            Err(e) if matches!(e.code(), ssh2::ErrorCode::SFTP(2)) => Ok(None),
            Err(e) => Err(self.err("stat", path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_from_fingerprints_and_known_hosts_lines() {
        let fp = "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8";
        assert_eq!(HostKeyPin::parse(fp).expect("fp").fingerprint(), fp);
        assert!(HostKeyPin::parse("SHA256:short").is_err());
        assert!(HostKeyPin::parse("MD5:aa:bb").is_err());
        let line = "[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
        let pin = HostKeyPin::parse(line).expect("line");
        assert!(pin.fingerprint().starts_with("SHA256:"));
    }
}

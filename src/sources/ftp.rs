//! FTP/FTPS client for the remote poller and the outbound sender (`suppaftp` with rustls,
//! blocking: callers run it on `spawn_blocking` under an outer deadline).
//!
//! - `tls = "explicit"` (default): AUTH TLS, then PBSZ 0 / PROT P so data connections are TLS
//!   too, resuming the control connection's session (servers such as vsftpd with
//!   `require_ssl_reuse=YES` insist on that; rustls resumes by default).
//! - `tls = "implicit"`: TLS from the first byte (usually port 990).
//! - `tls = "none"`: only with `allow_plaintext = true`, and a warning at every connection.
//! - TLS 1.2 (see [`tls_config`] for why not 1.3 on FTP data connections).
//! - Certificates are verified against the Mozilla roots plus the partner's `ca_file`.
//! - Passive mode; the control socket (in every TLS mode, implicit included: see
//!   `ftp_implicit.rs`) and every data socket are connected with the partner's `timeout` and
//!   get it for reads and writes, so a stalled server ends the blocking call.

use std::io::Write;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use suppaftp::types::FileType;
use suppaftp::{FtpError, RustlsConnector, RustlsFtpStream, Status};
use tracing::warn;

use super::transport::{RemoteEntry, RemoteFs, TransportError, read_secret};
use crate::config::transport::{Auth, Connection, FtpTls};

/// An authenticated FTP(S) session.
pub struct FtpClient {
    addr: String,
    stream: RustlsFtpStream,
    /// The partner's per-operation socket timeout.
    timeout: Duration,
    /// Implicit TLS only; after `stream`, which is dropped (closed) first.
    _relay: Option<super::ftp_implicit::Relay>,
}

/// The TLS client configuration: Mozilla roots plus the PEM certificates in `ca_file`.
fn tls_config(
    addr: &str,
    ca_file: Option<&Path>,
) -> Result<Arc<rustls::ClientConfig>, TransportError> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| TransportError::Local {
                path: path.display().to_string(),
                source: std::io::Error::other(format!("not a PEM certificate file: {e}")),
            })?;
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(TransportError::Local {
                path: path.display().to_string(),
                source: std::io::Error::other("no usable certificate in the CA file"),
            });
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        // TLS 1.2: under TLS 1.3 the server sends session tickets after the handshake on each
        // data connection; an upload-only connection never reads them, its close then turns
        // into a TCP reset, and servers such as vsftpd fail the upload ("426 Failure reading
        // network stream"). TLS 1.2 resumes the control session inside the handshake.
        .with_protocol_versions(&[&rustls::version::TLS12])
        .map_err(|e| TransportError::Protocol {
            addr: addr.to_string(),
            what: "TLS setup".into(),
            detail: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn ftp_err(addr: &str, what: &str, e: FtpError) -> TransportError {
    TransportError::Protocol {
        addr: addr.to_string(),
        what: what.to_string(),
        detail: e.to_string(),
    }
}

fn with_timeouts(s: &TcpStream, timeout: Duration) -> std::io::Result<()> {
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))
}

impl FtpClient {
    /// Connects, secures (unless plain text is allowed and chosen), logs in, binary mode.
    pub fn connect(conn: &Connection) -> Result<FtpClient, TransportError> {
        let addr = conn.address();
        let timeout = conn.timeout;
        let io = |source: std::io::Error| TransportError::Connect {
            addr: addr.clone(),
            source,
        };
        let target: SocketAddr = (conn.host.as_str(), conn.port)
            .to_socket_addrs()
            .map_err(io)?
            .next()
            .ok_or_else(|| io(std::io::Error::other("no address")))?;
        let data_stream = move |a: SocketAddr| {
            let s = TcpStream::connect_timeout(&a, timeout).map_err(FtpError::ConnectionError)?;
            with_timeouts(&s, timeout).map_err(FtpError::ConnectionError)?;
            Ok(s)
        };
        let plain = || -> Result<RustlsFtpStream, TransportError> {
            let tcp = TcpStream::connect_timeout(&target, timeout).map_err(io)?;
            with_timeouts(&tcp, timeout).map_err(io)?;
            RustlsFtpStream::connect_with_stream(tcp).map_err(|e| ftp_err(&addr, "FTP greeting", e))
        };
        // Before `stream`, so that on an error return the stream is dropped first.
        let mut relay = None;
        let mut stream = match conn.tls {
            FtpTls::Explicit => {
                let tls = RustlsConnector::from(tls_config(&addr, conn.ca_file.as_deref())?);
                plain()?
                    .passive_stream_builder(data_stream)
                    .into_secure(tls, &conn.host)
                    .map_err(|e| ftp_err(&addr, "FTPS (AUTH TLS)", e))?
            }
            FtpTls::Implicit => {
                let tls = RustlsConnector::from(tls_config(&addr, conn.ca_file.as_deref())?);
                // Connected here, timeouts set before the TLS handshake: a server that accepts
                // and never answers fails within `timeout` (see `ftp_implicit`).
                let tcp = TcpStream::connect_timeout(&target, timeout).map_err(io)?;
                with_timeouts(&tcp, timeout).map_err(io)?;
                let (s, r) = super::ftp_implicit::connect(tcp, timeout, tls, &conn.host)
                    .map_err(|e| ftp_err(&addr, "FTPS (implicit TLS)", e))?;
                relay = Some(r);
                let mut s = s.passive_stream_builder(data_stream);
                // suppaftp wraps data connections in TLS in implicit mode but never sends
                // PBSZ/PROT, so the server would expect them clear: ask for TLS there too.
                for cmd in ["PBSZ 0", "PROT P"] {
                    s.custom_command(cmd, &[Status::CommandOk])
                        .map_err(|e| ftp_err(&addr, cmd, e))?;
                }
                s
            }
            FtpTls::None => {
                if !conn.allow_plaintext {
                    return Err(TransportError::Protocol {
                        addr,
                        what: "FTP".into(),
                        detail: "plain FTP needs allow_plaintext = true".into(),
                    });
                }
                warn!(server = %addr, user = %conn.user, "Plain FTP: the password and files cross the network unencrypted (allow_plaintext = true).");
                plain()?.passive_stream_builder(data_stream)
            }
        };
        let password = match &conn.auth {
            Auth::Password { password_file } => read_secret(password_file)?,
            Auth::Key { .. } => {
                return Err(TransportError::Auth {
                    addr,
                    user: conn.user.clone(),
                    detail: "FTP logs in with password_file, not a key".into(),
                });
            }
        };
        stream
            .login(conn.user.as_str(), password.as_str())
            .map_err(|e| TransportError::Auth {
                addr: addr.clone(),
                user: conn.user.clone(),
                detail: e.to_string(),
            })?;
        stream
            .transfer_type(FileType::Binary)
            .map_err(|e| ftp_err(&addr, "TYPE I", e))?;
        Ok(FtpClient {
            addr,
            stream,
            timeout,
            _relay: relay,
        })
    }

    fn err(&self, what: &str, path: &str, e: FtpError) -> TransportError {
        TransportError::Remote {
            addr: self.addr.clone(),
            path: path.to_string(),
            what: what.to_string(),
            detail: e.to_string(),
        }
    }
}

impl Drop for FtpClient {
    fn drop(&mut self) {
        let _ = self.stream.quit();
    }
}

impl RemoteFs for FtpClient {
    fn list(&mut self, dir: &str) -> Result<Vec<RemoteEntry>, TransportError> {
        let lines = self
            .stream
            .list(Some(dir))
            .map_err(|e| self.err("list", dir, e))?;
        Ok(lines
            .iter()
            .filter_map(|l| suppaftp::list::File::try_from(l.as_str()).ok())
            .filter(suppaftp::list::File::is_file)
            .map(|f| RemoteEntry {
                name: f.name().to_string(),
                size: f.size() as u64,
                mtime: f
                    .modified()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
            })
            .collect())
    }

    fn download(&mut self, path: &str, out: &mut dyn Write) -> Result<u64, TransportError> {
        self.stream
            .retr(path, |r| {
                std::io::copy(r, &mut *out).map_err(FtpError::ConnectionError)
            })
            .map_err(|e| self.err("download", path, e))
    }

    fn remove(&mut self, path: &str) -> Result<(), TransportError> {
        self.stream
            .rm(path)
            .map_err(|e| self.err("delete", path, e))
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<(), TransportError> {
        self.stream
            .rename(from, to)
            .map_err(|e| self.err(&format!("rename to {to}"), from, e))
    }

    fn upload(&mut self, local: &Path, remote: &str) -> Result<u64, TransportError> {
        let mut src = std::fs::File::open(local).map_err(|source| TransportError::Local {
            path: local.display().to_string(),
            source,
        })?;
        let mut data = self
            .stream
            .put_with_stream(remote)
            .map_err(|e| self.err("upload", remote, e))?;
        let n = std::io::copy(&mut src, &mut data)
            .map_err(|e| self.err("upload", remote, FtpError::ConnectionError(e)))?;
        // When the last write returns, the server may still be reading what the sockets buffered
        // (megabytes, to a slow server): its "226" can take longer than one socket timeout. The
        // wait for it gets the same budget as the transfer (the file at 64 KiB/s, which is also
        // what the operation's outer deadline allows).
        let _ = self
            .stream
            .get_ref()
            .set_read_timeout(Some(super::transport::transfer_deadline(self.timeout, n)));
        let finished = self.stream.finalize_put_stream(data);
        let _ = self.stream.get_ref().set_read_timeout(Some(self.timeout));
        finished.map_err(|e| self.err("upload", remote, e))?;
        Ok(n)
    }

    fn size(&mut self, path: &str) -> Result<Option<u64>, TransportError> {
        match self.stream.size(path) {
            Ok(n) => Ok(Some(n as u64)),
            Err(FtpError::UnexpectedResponse(r)) if r.status == Status::FileUnavailable => Ok(None),
            Err(e) => Err(self.err("size", path, e)),
        }
    }
}

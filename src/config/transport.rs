//! Checked partner transport settings: the remote side of `[inbound]` (`source = "sftp"` or
//! `"ftp"`) and `[outbound]` (`target = "sftp"`, `"ftp"` or `"directory"`).
//!
//! ```toml
//! [inbound]
//! source = "sftp"                      # or "ftp"
//! host = "127.0.0.1"
//! port = 2222                          # default 22 (sftp), 21 (ftp), 990 (ftp, tls = "implicit")
//! user = "edi"
//! key_file = "/etc/edigate/keys/acme"  # or password_file = "..."; passphrase_file optional
//! host_key = "SHA256:..."              # sftp: pinned fingerprint or a known_hosts line
//! remote_dir = "/outbound"
//! pattern = "*.edi"                    # default "*"
//! poll_interval = "30s"
//! stable_interval = "5s"               # same size and mtime this far apart
//! max_size = 104857600                 # bytes; larger files are skipped with a warning
//! after = "delete"                     # or "move:/outbound/archive" or "rename:.done"
//! timeout = "30s"                      # per network operation
//! tls = "explicit"                     # ftp: "explicit" (default), "implicit" or "none"
//! allow_plaintext = false              # ftp: required for tls = "none"
//! ca_file = "/etc/edigate/ca/acme.pem" # ftp: extra trusted roots
//!
//! [outbound]
//! target = "sftp"                      # connection settings default to [inbound]'s
//! remote_dir = "/inbound"              # or path = "/srv/out" for target = "directory"
//! ```
//!
//! Relative key, password and CA paths resolve against the partner file's directory.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

/// The transport protocol of a remote connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// SSH file transfer.
    Sftp,
    /// FTP, with or without TLS.
    Ftp,
}

/// How FTP is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FtpTls {
    /// AUTH TLS on the control connection, PROT P on data connections.
    #[default]
    Explicit,
    /// TLS from the first byte (usually port 990).
    Implicit,
    /// Plain FTP: only with `allow_plaintext = true`.
    None,
}

/// How the client authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// A private key file, with an optional file holding its passphrase.
    Key {
        /// The private key.
        key_file: PathBuf,
        /// Its passphrase.
        passphrase_file: Option<PathBuf>,
    },
    /// A file holding the password.
    Password {
        /// The password file.
        password_file: PathBuf,
    },
}

/// A checked remote connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Protocol.
    pub protocol: Protocol,
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// User name.
    pub user: String,
    /// Credentials (read from their files at each connection, never logged).
    pub auth: Auth,
    /// SFTP: the pinned host key (`SHA256:...` or a known_hosts line).
    pub host_key: Option<String>,
    /// Deadline of one network operation.
    pub timeout: Duration,
    /// FTP security.
    pub tls: FtpTls,
    /// FTP: plain text allowed.
    pub allow_plaintext: bool,
    /// FTP: extra trusted root certificates (PEM).
    pub ca_file: Option<PathBuf>,
}

impl Connection {
    /// `host:port`, for messages.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// What is done to a remote file once its contents are safely recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterAction {
    /// Remove it.
    Delete,
    /// Move it into this remote directory.
    Move(String),
    /// Append this suffix to its name (it no longer matches the pattern, typically).
    Rename(String),
}

impl AfterAction {
    /// Parses `delete`, `move:<dir>` or `rename:<suffix>`.
    pub fn parse(text: &str) -> Result<AfterAction, String> {
        let t = text.trim();
        if t == "delete" {
            return Ok(AfterAction::Delete);
        }
        if let Some(dir) = t.strip_prefix("move:")
            && !dir.trim().is_empty()
        {
            return Ok(AfterAction::Move(dir.trim().to_string()));
        }
        if let Some(suffix) = t.strip_prefix("rename:")
            && !suffix.trim().is_empty()
            && !suffix.contains('/')
        {
            return Ok(AfterAction::Rename(suffix.trim().to_string()));
        }
        Err(format!(
            "after {text:?} must be \"delete\", \"move:<remote dir>\" or \"rename:<suffix>\""
        ))
    }
}

/// A checked remote inbound source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteInbound {
    /// Where to connect.
    pub conn: Connection,
    /// The remote directory listed.
    pub remote_dir: String,
    /// File-name glob (`*.edi`).
    pub pattern: String,
    /// Time between polls.
    pub poll_interval: Duration,
    /// Size and mtime must be unchanged across two listings this far apart.
    pub stable_interval: Duration,
    /// Larger files are skipped (with a warning and a recorded error).
    pub max_size: u64,
    /// What happens to a remote file after its ledger commit.
    pub after: AfterAction,
}

/// Where outbound files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundTarget {
    /// A remote SFTP or FTP directory.
    Remote {
        /// Where to connect.
        conn: Connection,
        /// The remote directory.
        remote_dir: String,
    },
    /// A local directory (e.g. a mount the partner reads).
    Directory(PathBuf),
}

/// A checked `[outbound]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    /// The target.
    pub target: OutboundTarget,
    /// Time between looks at `out/` when nothing wakes the sender.
    pub poll_interval: Duration,
}

/// Where files arrive (`[inbound] source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InboundSource {
    /// The local spool directory.
    Spool,
    /// An SFTP server polled by edigate.
    Sftp,
    /// An FTP/FTPS server polled by edigate.
    Ftp,
}

/// Where outbound files go (`[outbound] target`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// SFTP upload.
    Sftp,
    /// FTP/FTPS upload.
    Ftp,
    /// A local directory.
    Directory,
}

/// Connection keys shared by `[inbound]` and `[outbound]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionKeys {
    /// Host.
    #[serde(default)]
    pub host: Option<Spanned<String>>,
    /// Port.
    #[serde(default)]
    pub port: Option<Spanned<i64>>,
    /// User.
    #[serde(default)]
    pub user: Option<Spanned<String>>,
    /// Private key file.
    #[serde(default)]
    pub key_file: Option<Spanned<PathBuf>>,
    /// Passphrase file of the key.
    #[serde(default)]
    pub passphrase_file: Option<Spanned<PathBuf>>,
    /// Password file.
    #[serde(default)]
    pub password_file: Option<Spanned<PathBuf>>,
    /// Pinned SFTP host key.
    #[serde(default)]
    pub host_key: Option<Spanned<String>>,
    /// Per-operation deadline.
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    /// FTP TLS mode.
    #[serde(default)]
    pub tls: Option<Spanned<FtpTls>>,
    /// FTP plain text allowed.
    #[serde(default)]
    pub allow_plaintext: Option<bool>,
    /// FTP CA file.
    #[serde(default)]
    pub ca_file: Option<Spanned<PathBuf>>,
}

impl ConnectionKeys {
    /// `self`, with each unset key taken from `base`.
    pub fn or(&self, base: &ConnectionKeys) -> ConnectionKeys {
        ConnectionKeys {
            host: self.host.clone().or_else(|| base.host.clone()),
            port: self.port.clone().or_else(|| base.port.clone()),
            user: self.user.clone().or_else(|| base.user.clone()),
            key_file: self.key_file.clone().or_else(|| base.key_file.clone()),
            passphrase_file: self
                .passphrase_file
                .clone()
                .or_else(|| base.passphrase_file.clone()),
            password_file: self
                .password_file
                .clone()
                .or_else(|| base.password_file.clone()),
            host_key: self.host_key.clone().or_else(|| base.host_key.clone()),
            timeout: self.timeout.clone().or_else(|| base.timeout.clone()),
            tls: self.tls.clone().or_else(|| base.tls.clone()),
            allow_plaintext: self.allow_plaintext.or(base.allow_plaintext),
            ca_file: self.ca_file.clone().or_else(|| base.ca_file.clone()),
        }
    }
}

/// Default per-operation deadline.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A problem at a byte offset of the partner file.
pub type Problem = (usize, String);

/// Checks connection keys for `protocol`; `at` locates problems about missing keys; relative
/// paths resolve against `dir`.
pub fn check_connection(
    keys: &ConnectionKeys,
    protocol: Protocol,
    at: usize,
    dir: &std::path::Path,
    problems: &mut Vec<Problem>,
) -> Option<Connection> {
    let name = match protocol {
        Protocol::Sftp => "sftp",
        Protocol::Ftp => "ftp",
    };
    let mut ok = true;
    let mut need = |v: Option<&Spanned<String>>, key: &str, problems: &mut Vec<Problem>| match v {
        Some(s) if !s.get_ref().trim().is_empty() => s.get_ref().trim().to_string(),
        Some(s) => {
            problems.push((s.span().start, format!("{key} must not be empty")));
            ok = false;
            String::new()
        }
        None => {
            problems.push((at, format!("{name} needs {key}")));
            ok = false;
            String::new()
        }
    };
    let host = need(keys.host.as_ref(), "host", problems);
    let user = need(keys.user.as_ref(), "user", problems);
    let tls = keys.tls.as_ref().map_or(FtpTls::Explicit, |t| *t.get_ref());
    let allow_plaintext = keys.allow_plaintext.unwrap_or(false);
    let port = match &keys.port {
        Some(p) => match u16::try_from(*p.get_ref()) {
            Ok(n) if n > 0 => n,
            _ => {
                problems.push((p.span().start, "port must be 1 to 65535".to_string()));
                ok = false;
                0
            }
        },
        None => match (protocol, tls) {
            (Protocol::Sftp, _) => 22,
            (Protocol::Ftp, FtpTls::Implicit) => 990,
            (Protocol::Ftp, _) => 21,
        },
    };
    let resolve = |p: &Spanned<PathBuf>| dir.join(p.get_ref());
    // Secrets must be readable now, not at the first poll (check-config reports them).
    for (what, file) in [
        ("key_file", &keys.key_file),
        ("password_file", &keys.password_file),
        ("passphrase_file", &keys.passphrase_file),
    ] {
        if let Some(f) = file
            && let Err(e) = std::fs::File::open(resolve(f))
        {
            problems.push((
                f.span().start,
                format!("{what} {} cannot be read: {e}", resolve(f).display()),
            ));
        }
    }
    let auth = match (&keys.key_file, &keys.password_file) {
        (Some(k), None) => Some(Auth::Key {
            key_file: resolve(k),
            passphrase_file: keys.passphrase_file.as_ref().map(resolve),
        }),
        (None, Some(p)) => Some(Auth::Password {
            password_file: resolve(p),
        }),
        (Some(_), Some(p)) => {
            problems.push((
                p.span().start,
                "set key_file or password_file, not both".to_string(),
            ));
            None
        }
        (None, None) => {
            problems.push((at, format!("{name} needs key_file or password_file")));
            None
        }
    };
    if protocol == Protocol::Ftp
        && let Some(k) = &keys.key_file
    {
        problems.push((
            k.span().start,
            "key_file is for sftp; ftp logs in with password_file".to_string(),
        ));
        ok = false;
    }
    let host_key = match (&keys.host_key, protocol) {
        (Some(h), Protocol::Sftp) => {
            let v = h.get_ref().trim();
            if crate::sources::sftp::HostKeyPin::parse(v).is_err() {
                problems.push((
                    h.span().start,
                    format!(
                        "host_key {v:?} must be \"SHA256:<base64>\" as `ssh-keygen -l` or `edigate fingerprint` print it, or a known_hosts line"
                    ),
                ));
                ok = false;
            }
            Some(v.to_string())
        }
        (None, Protocol::Sftp) => {
            problems.push((
                at,
                "sftp needs host_key (run `edigate fingerprint HOST:PORT` and pin what it prints); unknown host keys are never trusted".to_string(),
            ));
            ok = false;
            None
        }
        (Some(h), Protocol::Ftp) => {
            problems.push((h.span().start, "host_key is for sftp".to_string()));
            ok = false;
            None
        }
        (None, Protocol::Ftp) => None,
    };
    if protocol == Protocol::Ftp && tls == FtpTls::None && !allow_plaintext {
        let at = keys.tls.as_ref().map_or(at, |t| t.span().start);
        problems.push((
            at,
            "tls = \"none\" sends the password in clear: set allow_plaintext = true to accept that"
                .to_string(),
        ));
        ok = false;
    }
    let timeout = match &keys.timeout {
        Some(t) => match super::gateway::parse_duration(t.get_ref()) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                problems.push((t.span().start, "timeout must be above zero".to_string()));
                ok = false;
                DEFAULT_TIMEOUT
            }
            Err(e) => {
                problems.push((t.span().start, format!("timeout: {e}")));
                ok = false;
                DEFAULT_TIMEOUT
            }
        },
        None => DEFAULT_TIMEOUT,
    };
    let auth = auth?;
    if !ok {
        return None;
    }
    Some(Connection {
        protocol,
        host,
        port,
        user,
        auth,
        host_key,
        timeout,
        tls,
        allow_plaintext,
        ca_file: keys.ca_file.as_ref().map(resolve),
    })
}

/// Parses an optional duration key, with its default.
pub fn duration_key(
    key: &str,
    v: Option<&Spanned<String>>,
    default: Duration,
    problems: &mut Vec<Problem>,
) -> Duration {
    match v {
        Some(t) => match super::gateway::parse_duration(t.get_ref()) {
            Ok(d) => d,
            Err(e) => {
                problems.push((t.span().start, format!("{key}: {e}")));
                default
            }
        },
        None => default,
    }
}

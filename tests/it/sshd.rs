//! The sshd harness of the SFTP tests: an OpenSSH sshd on a random loopback port with a
//! temporary config, host key and authorized_keys, and the helpers the tests share.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use edigate::config::transport::{AfterAction, Auth, Connection, FtpTls, Protocol, RemoteInbound};
use edigate::store::{FileIntake, FileState, Store};
use edigate::writer::StoreWriter;

use crate::support::repo_partners;

pub(crate) const SSHD: &str = "/usr/sbin/sshd";

/// A running sshd and what a client needs to reach it.
pub(crate) struct Sshd {
    pub(crate) child: Child,
    pub(crate) port: u16,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) fingerprint: String,
    pub(crate) user: String,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sshd {
    pub(crate) fn key(&self) -> PathBuf {
        self.dir.path().join("client_key")
    }

    /// An absolute remote folder (created) under the test's temp dir.
    pub(crate) fn remote(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join("remote").join(name);
        std::fs::create_dir_all(&p).expect("remote dir");
        p
    }

    /// Kills the server and its session processes (open sessions break at once).
    pub(crate) fn kill(&mut self) {
        let _ = Command::new("pkill")
            .arg("-KILL")
            .arg("-P")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port with the same keys; returns once it listens.
    pub(crate) fn restart(&mut self) {
        self.child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(self.dir.path().join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("sshd restarts");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "sshd did not listen again"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn conn(&self) -> Connection {
        Connection {
            protocol: Protocol::Sftp,
            host: "127.0.0.1".into(),
            port: self.port,
            user: self.user.clone(),
            auth: Auth::Key {
                key_file: self.key(),
                passphrase_file: None,
            },
            host_key: Some(self.fingerprint.clone()),
            timeout: Duration::from_secs(5),
            tls: FtpTls::Explicit,
            allow_plaintext: false,
            ca_file: None,
        }
    }
}

pub(crate) fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen runs");
    assert!(ok.success(), "ssh-keygen failed");
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub(crate) fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Starts sshd, or returns `None` (with a message) when it is not installed outside CI.
pub(crate) fn start_sshd() -> Option<Sshd> {
    if !Path::new(SSHD).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{SSHD} is missing under CI: .ci/run must install openssh-server"
        );
        eprintln!("SKIPPED: {SSHD} is not installed (apt-get install openssh-server)");
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    keygen(&d.join("host_key"));
    keygen(&d.join("client_key"));
    std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).expect("authorized_keys");
    let _ = std::fs::create_dir_all("/run/sshd");
    let port = free_port();
    let user = current_user();
    let config = format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nAuthorizedKeysFile {ak}\n\
         PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
         PermitRootLogin yes\nSubsystem sftp internal-sftp\nPidFile {pid}\nLogLevel FATAL\n",
        hk = d.join("host_key").display(),
        ak = d.join("authorized_keys").display(),
        pid = d.join("sshd.pid").display(),
    );
    std::fs::write(d.join("sshd_config"), config).expect("sshd_config");
    let child = Command::new(SSHD)
        .arg("-D")
        .arg("-e")
        .arg("-f")
        .arg(d.join("sshd_config"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("sshd starts");
    let out = Command::new("ssh-keygen")
        .arg("-l")
        .arg("-f")
        .arg(d.join("host_key.pub"))
        .output()
        .expect("ssh-keygen -l");
    let fingerprint = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .expect("fingerprint")
        .to_string();
    let sshd = Sshd {
        child,
        port,
        dir,
        fingerprint,
        user,
    };
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "sshd did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(sshd)
}

pub(crate) fn inbound(sshd: &Sshd, remote: &Path, after: AfterAction) -> RemoteInbound {
    RemoteInbound {
        conn: sshd.conn(),
        remote_dir: remote.display().to_string(),
        pattern: "*.edi".into(),
        poll_interval: Duration::from_millis(200),
        stable_interval: Duration::ZERO,
        max_size: 1 << 20,
        after,
    }
}

/// A store with its writer, under `dir`.
pub(crate) fn writer(dir: &Path) -> (StoreWriter, std::thread::JoinHandle<()>) {
    StoreWriter::spawn(Store::open(&dir.join("edigate.db")).expect("store"))
}

/// What intake would commit for a file in `in/`: a ledger row with its SHA-256.
pub(crate) async fn commit(w: &StoreWriter, partner: &str, path: &Path) {
    use sha2::Digest;
    let bytes = std::fs::read(path).expect("read handed file");
    let sha = hex::encode(sha2::Sha256::digest(&bytes));
    let intake = FileIntake {
        partner: partner.into(),
        name: path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("f")
            .into(),
        sha256: sha.clone(),
        size: bytes.len() as u64,
        received_at_ms: 1,
        correlation_id: sha,
        state: FileState::Accepted,
        reason: None,
        interchanges: Vec::new(),
        transactions: Vec::new(),
        records: Vec::new(),
        acks: Vec::new(),
    };
    w.run(move |s| s.record_file(&intake).map(|_| ()))
        .await
        .expect("commit");
}

pub(crate) fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.path().is_file())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The repository's partners in `<base>/partners`, bramblewood polled over SFTP from
/// `remote_out` with `after`, and its acks sent to `remote_in` when given.
pub(crate) fn sftp_partners(
    sshd: &Sshd,
    base: &Path,
    remote_out: &Path,
    after: &str,
    remote_in: Option<&Path>,
) -> PathBuf {
    let partners = base.join("partners");
    std::fs::create_dir_all(&partners).expect("partners");
    for entry in std::fs::read_dir(repo_partners()).expect("repo partners") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = if path.file_name().is_some_and(|n| n == "bramblewood.toml") {
                bramblewood_over_sftp(sshd, remote_out, after, remote_in)
            } else {
                std::fs::read_to_string(&path).expect("partner")
            };
            std::fs::write(partners.join(path.file_name().expect("name")), text).expect("write");
        }
    }
    partners
}

/// The example partner bramblewood, polled over SFTP from `remote_out` with `after`, and its
/// acks sent to `remote_in` when given.
pub(crate) fn bramblewood_over_sftp(
    sshd: &Sshd,
    remote_out: &Path,
    after: &str,
    remote_in: Option<&Path>,
) -> String {
    let mut text =
        std::fs::read_to_string(repo_partners().join("bramblewood.toml")).expect("partner");
    let at = text.find("[inbound]").expect("[inbound]");
    let end = text[at..].find("\n\n").map_or(text.len(), |e| at + e);
    let mut sftp = format!(
        "[inbound]\nsource = \"sftp\"\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"{user}\"\n\
         key_file = \"{key}\"\nhost_key = \"{fp}\"\nremote_dir = \"{rd}\"\npattern = \"*.edi\"\n\
         poll_interval = \"200ms\"\nstable_interval = \"0s\"\nafter = \"{after}\"\ntimeout = \"5s\"\n",
        port = sshd.port,
        user = sshd.user,
        key = sshd.key().display(),
        fp = sshd.fingerprint,
        rd = remote_out.display(),
    );
    if let Some(ri) = remote_in {
        sftp.push_str(&format!(
            "\n[outbound]\ntarget = \"sftp\"\nremote_dir = \"{}\"\npoll_interval = \"200ms\"\n",
            ri.display()
        ));
    }
    text.replace_range(at..end, &sftp);
    text
}

pub(crate) fn walk_count(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.filter_map(Result::ok)
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                walk_count(&p)
            } else {
                usize::from(p.extension().is_some_and(|x| x == "json"))
            }
        })
        .sum()
}

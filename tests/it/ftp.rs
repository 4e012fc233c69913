//! FTPS transports against a real vsftpd on loopback (Debian `vsftpd`, installed by `.ci/run`):
//! explicit TLS with `require_ssl_reuse=YES`, `force_local_logins_ssl`, a CA and server
//! certificate made by `openssl`, passive ports in a small range, and a system user
//! `edigateftp` created with a password when running as root. Skipped with a message only
//! outside CI when vsftpd is missing or the test cannot create the user.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use edigate::config::transport::{
    AfterAction, Auth, Connection, FtpTls, Outbound, OutboundTarget, Protocol, RemoteInbound,
};
use edigate::sinks::outbound::OutboundSender;
use edigate::sources::remote::{RemotePoller, TransportError};
use edigate::store::Store;
use edigate::writer::StoreWriter;

const VSFTPD: &str = "/usr/sbin/vsftpd";
const USER: &str = "edigateftp";

struct Vsftpd {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Vsftpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Vsftpd {
    fn password_file(&self) -> PathBuf {
        self.dir.path().join("password")
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A remote folder the FTP user owns.
    fn remote(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join("remote").join(name);
        std::fs::create_dir_all(&p).expect("remote dir");
        run(Command::new("chown").arg(format!("{USER}:{USER}")).arg(&p));
        p
    }

    fn conn(&self) -> Connection {
        Connection {
            protocol: Protocol::Ftp,
            host: "127.0.0.1".into(),
            port: self.port,
            user: USER.into(),
            auth: Auth::Password {
                password_file: self.password_file(),
            },
            host_key: None,
            timeout: Duration::from_secs(5),
            tls: FtpTls::Explicit,
            allow_plaintext: false,
            ca_file: Some(self.ca()),
        }
    }
}

fn start_vsftpd(implicit: bool) -> Option<Vsftpd> {
    start_vsftpd_with(implicit, u16::from(implicit), "")
}

/// A vsftpd with passive ports in its own `slot` (tests run at once) and `extra` config lines.
fn start_vsftpd_with(implicit: bool, slot: u16, extra: &str) -> Option<Vsftpd> {
    let ci = std::env::var_os("CI").is_some();
    if !Path::new(VSFTPD).exists() || !is_root() {
        assert!(
            !ci,
            "under CI the FTPS tests need {VSFTPD} (apt vsftpd) and root to create the test user"
        );
        eprintln!("SKIPPED: FTPS tests need {VSFTPD} and root (to create the user {USER})");
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // The FTP user must reach the remote folders under the temp dir.
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let password = format!("pw-{}", std::process::id());
    if !Command::new("id")
        .arg(USER)
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let _ = Command::new("useradd")
            .args(["-M", "-d", "/", "-s", "/bin/bash", USER])
            .output();
    }
    // vsftpd changes into the home folder at login: "/" always exists.
    run(Command::new("usermod").args(["-d", "/", USER]));
    let mut chpasswd = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .spawn()
        .expect("chpasswd");
    {
        use std::io::Write;
        let mut stdin = chpasswd.stdin.take().expect("stdin");
        writeln!(stdin, "{USER}:{password}").expect("write");
    }
    assert!(chpasswd.wait().expect("chpasswd").success(), "chpasswd");
    std::fs::write(d.join("password"), format!("{password}\n")).expect("password file");
    // A CA and a server certificate for 127.0.0.1 signed by it.
    run(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=edigate test CA", "-keyout"])
        .arg(d.join("ca.key"))
        .arg("-out")
        .arg(d.join("ca.pem")));
    run(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .arg("-keyout")
        .arg(d.join("srv.key"))
        .arg("-out")
        .arg(d.join("srv.csr")));
    std::fs::write(
        d.join("ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .expect("ext");
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-CAcreateserial", "-in"])
        .arg(d.join("srv.csr"))
        .arg("-CA")
        .arg(d.join("ca.pem"))
        .arg("-CAkey")
        .arg(d.join("ca.key"))
        .arg("-out")
        .arg(d.join("srv.pem"))
        .arg("-extfile")
        .arg(d.join("ext")));
    let port = free_port();
    let pasv = 40000 + (std::process::id() % 500) as u16 * 50 + slot * 10;
    let _ = std::fs::create_dir_all("/var/run/vsftpd/empty");
    let config = format!(
        "listen=YES\nlisten_ipv6=NO\nlisten_address=127.0.0.1\nlisten_port={port}\nbackground=NO\n\
         anonymous_enable=NO\nlocal_enable=YES\nwrite_enable=YES\nlocal_umask=022\n\
         pam_service_name=vsftpd\nseccomp_sandbox=NO\nisolate=NO\nisolate_network=NO\n\
         ssl_enable=YES\nrsa_cert_file={cert}\nrsa_private_key_file={key}\nrequire_ssl_reuse=YES\n\
         force_local_logins_ssl=YES\nforce_local_data_ssl=YES\nallow_anon_ssl=NO\n\
         pasv_enable=YES\npasv_min_port={pasv}\npasv_max_port={pmax}\npasv_address=127.0.0.1\n\
         secure_chroot_dir=/var/run/vsftpd/empty\nxferlog_enable=NO\nuse_localtime=NO\n\
         implicit_ssl={implicit}\n{extra}",
        cert = d.join("srv.pem").display(),
        key = d.join("srv.key").display(),
        pmax = pasv + 9,
        implicit = if implicit { "YES" } else { "NO" },
    );
    std::fs::write(d.join("vsftpd.conf"), config).expect("vsftpd.conf");
    let child = spawn_vsftpd(&d.join("vsftpd.conf"));
    let server = Vsftpd { child, port, dir };
    server.wait_listening();
    Some(server)
}

fn spawn_vsftpd(config: &Path) -> Child {
    Command::new(VSFTPD)
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("vsftpd starts")
}

impl Vsftpd {
    fn wait_listening(&self) {
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "vsftpd did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the server and every session process (transfers break at once). Sessions run in
    /// their own sessions (setsid), so they are found by this server's own config file path.
    fn kill(&mut self) {
        let config = self.dir.path().join("vsftpd.conf");
        let _ = self.child.kill();
        let _ = self.child.wait();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let ours = cmdline
                .split(|b| *b == 0)
                .any(|arg| arg == config.as_os_str().as_encoded_bytes());
            if ours {
                let pid = entry.file_name().to_string_lossy().to_string();
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
            }
        }
    }

    /// Starts it again with its config file, minus the lines starting with `without`.
    fn restart_without(&mut self, without: &str) {
        let config = self.dir.path().join("vsftpd.conf");
        let text = std::fs::read_to_string(&config).expect("config");
        let kept: Vec<&str> = text.lines().filter(|l| !l.starts_with(without)).collect();
        std::fs::write(&config, kept.join("\n") + "\n").expect("config");
        self.child = spawn_vsftpd(&config);
        self.wait_listening();
    }
}

fn writer(dir: &Path) -> (StoreWriter, std::thread::JoinHandle<()>) {
    StoreWriter::spawn(Store::open(&dir.join("edigate.db")).expect("store"))
}

/// An outbound sender for partner `p` that uploads to `remote` over `conn`.
fn sender_to(conn: Connection, remote: &Path, spool: &Path, w: StoreWriter) -> OutboundSender {
    OutboundSender::new(
        "p",
        Outbound {
            target: OutboundTarget::Remote {
                conn,
                remote_dir: remote.display().to_string(),
            },
            poll_interval: Duration::from_millis(100),
        },
        spool,
        w,
    )
}

fn names(dir: &Path) -> Vec<String> {
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

/// One test, one server: vsftpd's user and port setup is shared by the cases in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftps_with_required_session_reuse_both_ways_and_clear_errors() {
    let Some(ftp) = start_vsftpd(false) else {
        return;
    };
    let base = tempfile::tempdir().expect("tempdir");
    let (w, _t) = writer(base.path());
    let spool = base.path().join("spool");
    let inbox = spool.join("p/in");
    let remote = ftp.remote("outbound");
    std::fs::write(remote.join("f.edi"), "ISA*ftps").expect("put");
    let cfg = RemoteInbound {
        conn: ftp.conn(),
        remote_dir: remote.display().to_string(),
        pattern: "*.edi".into(),
        poll_interval: Duration::from_millis(200),
        stable_interval: Duration::ZERO,
        max_size: 1 << 20,
        after: AfterAction::Delete,
    };

    // Inbound: downloaded over a TLS data channel, deleted only after the ledger holds it.
    let mut poller = RemotePoller::new("p", cfg.clone(), &spool, w.clone());
    let r = poller.poll_once().await.expect("poll over FTPS");
    assert_eq!(r.handed, ["f.edi"], "{r:?}");
    assert_eq!(
        std::fs::read_to_string(inbox.join("f.edi")).expect("handed"),
        "ISA*ftps"
    );
    assert!(remote.join("f.edi").exists(), "kept until the commit");
    let r = poller.poll_once().await.expect("poll");
    assert_eq!((r.waiting, r.completed.len()), (1, 0), "{r:?}");
    {
        use sha2::Digest;
        let sha = hex::encode(sha2::Sha256::digest(b"ISA*ftps"));
        let intake = edigate::store::FileIntake {
            partner: "p".into(),
            name: "f.edi".into(),
            sha256: sha.clone(),
            size: 8,
            received_at_ms: 1,
            correlation_id: sha,
            state: edigate::store::FileState::Accepted,
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
    std::fs::remove_file(inbox.join("f.edi")).expect("intake took it");
    let r = poller.poll_once().await.expect("poll");
    assert_eq!(r.completed, ["f.edi"], "{r:?}");
    assert!(!remote.join("f.edi").exists());

    // Outbound: uploaded under a temporary name, renamed, size checked.
    let out = spool.join("p/out");
    std::fs::create_dir_all(&out).expect("out");
    std::fs::write(out.join("ack.x12"), "ISA*997 over ftps").expect("ack");
    let target = ftp.remote("inbound");
    let mut sender = sender_to(ftp.conn(), &target, &spool, w.clone());
    let r = sender.send_once().await.expect("upload over FTPS");
    assert_eq!(r.delivered, ["ack.x12"]);
    assert_eq!(names(&target), ["ack.x12"]);
    assert_eq!(
        std::fs::read_to_string(target.join("ack.x12")).expect("read"),
        "ISA*997 over ftps"
    );

    // A wrong password is a clear authentication error that shows no secret.
    let wrong = base.path().join("wrong");
    std::fs::write(&wrong, "not-the-password\n").expect("write");
    let mut bad = cfg.clone();
    bad.conn.auth = Auth::Password {
        password_file: wrong,
    };
    let mut poller = RemotePoller::new("p", bad, &spool, w.clone());
    let err = poller.poll_once().await.expect_err("wrong password");
    assert!(matches!(err, TransportError::Auth { .. }), "{err}");
    assert!(!err.to_string().contains("not-the-password"), "{err}");

    // Certificate verification is on: without the partner's CA the server is refused.
    let mut untrusted = cfg.clone();
    untrusted.conn.ca_file = None;
    let mut poller = RemotePoller::new("p", untrusted, &spool, w.clone());
    let err = poller.poll_once().await.expect_err("unknown CA");
    assert!(err.to_string().contains("FTPS"), "{err}");

    // Plain FTP is refused by this server (force_local_logins_ssl) even when allowed here.
    let mut plain = cfg;
    plain.conn.tls = FtpTls::None;
    plain.conn.allow_plaintext = true;
    let mut poller = RemotePoller::new("p", plain, &spool, w);
    assert!(poller.poll_once().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_ftps_downloads_and_uploads() {
    let Some(ftp) = start_vsftpd(true) else {
        return;
    };
    let base = tempfile::tempdir().expect("tempdir");
    let (w, _t) = writer(base.path());
    let spool = base.path().join("spool");
    let remote = ftp.remote("implicit");
    std::fs::write(remote.join("i.edi"), "ISA*implicit").expect("put");
    let mut conn = ftp.conn();
    conn.tls = FtpTls::Implicit;
    let cfg = RemoteInbound {
        conn: conn.clone(),
        remote_dir: remote.display().to_string(),
        pattern: "*.edi".into(),
        poll_interval: Duration::from_millis(200),
        stable_interval: Duration::ZERO,
        max_size: 1 << 20,
        after: AfterAction::Rename(".done".into()),
    };
    let mut poller = RemotePoller::new("p", cfg, &spool, w.clone());
    let r = poller.poll_once().await.expect("poll over implicit FTPS");
    assert_eq!(r.handed, ["i.edi"], "{r:?}");
    let out = spool.join("p/out");
    std::fs::create_dir_all(&out).expect("out");
    std::fs::write(out.join("a.x12"), "ISA*997 implicit").expect("ack");
    let mut sender = sender_to(conn, &remote, &spool, w);
    assert_eq!(
        sender.send_once().await.expect("upload").delivered,
        ["a.x12"]
    );
    assert_eq!(names(&remote), ["a.x12", "i.edi"]);
}

/// Implicit TLS runs its control connection through edigate's loopback relay
/// (`src/sources/ftp_implicit.rs`): a throttled download that keeps the control connection
/// silent for longer than the timeout must still complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_ftps_download_longer_than_the_timeout_completes() {
    // 256 KiB/s: 768 KiB take about 3 s, the timeout is 1 s.
    let Some(ftp) = start_vsftpd_with(true, 3, "local_max_rate=262144\n") else {
        return;
    };
    let base = tempfile::tempdir().expect("tempdir");
    let (w, _t) = writer(base.path());
    let spool = base.path().join("spool");
    let remote = ftp.remote("slow");
    let bytes: Vec<u8> = (0..768 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(remote.join("big.edi"), &bytes).expect("put");
    let mut conn = ftp.conn();
    conn.tls = FtpTls::Implicit;
    conn.timeout = Duration::from_secs(1);
    let cfg = RemoteInbound {
        conn,
        remote_dir: remote.display().to_string(),
        pattern: "*.edi".into(),
        poll_interval: Duration::from_millis(200),
        stable_interval: Duration::ZERO,
        max_size: 1 << 20,
        after: AfterAction::Delete,
    };
    let mut poller = RemotePoller::new("p", cfg, &spool, w);
    let start = Instant::now();
    let r = poller
        .poll_once()
        .await
        .expect("slow download over implicit FTPS");
    assert_eq!(r.handed, ["big.edi"], "{r:?}");
    assert!(
        start.elapsed() > Duration::from_secs(2),
        "throttled: {:?}",
        start.elapsed()
    );
    let handed = std::fs::read(spool.join("p/in/big.edi")).expect("handed");
    assert!(
        handed == bytes,
        "the complete file ({} bytes)",
        handed.len()
    );
    // The same session goes on after the long silence on its control connection.
    let r = poller
        .poll_once()
        .await
        .expect("the next poll on the same session");
    assert!(r.handed.is_empty(), "{r:?}");
}

/// A slow server is still reading the buffered end of an upload when edigate's last write
/// returns: the wait for its "226" must not fail on the ordinary socket timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_to_a_slow_server_waits_for_it_to_finish() {
    // 512 KiB/s: 1 MiB takes about 2 s to arrive, mostly after the last write; timeout 1 s.
    let Some(ftp) = start_vsftpd_with(false, 4, "local_max_rate=524288\n") else {
        return;
    };
    let base = tempfile::tempdir().expect("tempdir");
    let (w, _t) = writer(base.path());
    let spool = base.path().join("spool");
    let remote = ftp.remote("slow-in");
    let out = spool.join("p/out");
    std::fs::create_dir_all(&out).expect("out");
    let bytes: Vec<u8> = (0..1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(out.join("big.x12"), &bytes).expect("outbound file");
    let mut conn = ftp.conn();
    conn.timeout = Duration::from_secs(1);
    let mut sender = sender_to(conn, &remote, &spool, w);
    let start = Instant::now();
    let r = sender.send_once().await.expect("slow upload");
    assert_eq!(r.delivered, ["big.x12"], "{r:?}");
    assert!(
        start.elapsed() > Duration::from_millis(1500),
        "throttled: {:?}",
        start.elapsed()
    );
    let got = std::fs::read(remote.join("big.x12")).expect("uploaded under its final name");
    assert!(got == bytes, "the complete file ({} bytes)", got.len());
    assert!(
        !out.join("big.x12").exists() && out.join("sent/big.x12").exists(),
        "moved to sent/ once delivered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vsftpd_killed_mid_download_leaves_nothing_and_the_file_is_taken_once_after_restart() {
    // 1 MiB/s: a 6 MiB download takes long enough to kill the server in the middle of it.
    let Some(mut ftp) = start_vsftpd_with(false, 2, "local_max_rate=1048576\n") else {
        return;
    };
    let base = tempfile::tempdir().expect("tempdir");
    let (w, _t) = writer(base.path());
    let spool = base.path().join("spool");
    let inbox = spool.join("p/in");
    let remote = ftp.remote("mid");
    let mut bytes = Vec::new();
    for i in 0..(6 << 20) / 32 {
        bytes.extend_from_slice(format!("ISA-like line {i:016}\n").as_bytes());
    }
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&bytes))
    };
    std::fs::write(remote.join("big.edi"), &bytes).expect("put");
    run(Command::new("chown")
        .arg(format!("{USER}:{USER}"))
        .arg(remote.join("big.edi")));
    let cfg = RemoteInbound {
        conn: ftp.conn(),
        remote_dir: remote.display().to_string(),
        pattern: "*.edi".into(),
        poll_interval: Duration::from_millis(200),
        stable_interval: Duration::ZERO,
        max_size: 1 << 30,
        after: AfterAction::Delete,
    };
    let mut poller = RemotePoller::new("p", cfg, &spool, w.clone());
    let first = tokio::spawn(async move {
        let r = poller.poll_once().await;
        (poller, r)
    });
    let partial = || {
        names(&inbox)
            .into_iter()
            .filter(|n| n.ends_with(".download"))
            .map(|n| std::fs::metadata(inbox.join(n)).map_or(0, |m| m.len()))
            .max()
    };
    let start = Instant::now();
    while partial().unwrap_or(0) < 3 << 19 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "download never under way"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ftp.kill();
    let (mut poller, r) = tokio::time::timeout(Duration::from_secs(30), first)
        .await
        .expect("the poll ends")
        .expect("no panic");
    // Broken off: an error, or a short read the poller drops; never a handed file.
    if let Ok(report) = &r {
        assert!(report.handed.is_empty(), "{report:?}");
    }
    assert!(
        names(&inbox).is_empty(),
        "nothing partial kept: {:?}",
        names(&inbox)
    );
    let (rows, known) = {
        let sha = sha.clone();
        w.run(move |s| Ok((s.status()?.files.values().sum::<u64>(), s.has_sha256(&sha)?)))
            .await
            .expect("ledger")
    };
    assert_eq!((rows, known), (0, false));
    assert_eq!(
        std::fs::metadata(remote.join("big.edi"))
            .map(|m| m.len())
            .ok(),
        Some(bytes.len() as u64),
        "the remote file stays"
    );

    ftp.restart_without("local_max_rate");
    poller.disconnect();
    let start = Instant::now();
    loop {
        match poller.poll_once().await {
            Ok(r) if r.handed == ["big.edi"] => break,
            Ok(r) => assert!(start.elapsed() < Duration::from_secs(30), "{r:?}"),
            Err(e) => {
                assert!(start.elapsed() < Duration::from_secs(30), "{e}");
                poller.disconnect();
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(names(&inbox), ["big.edi"]);
    let handed = std::fs::read(inbox.join("big.edi")).expect("handed");
    {
        use sha2::Digest;
        assert_eq!(
            hex::encode(sha2::Sha256::digest(&handed)),
            sha,
            "the complete file"
        );
    }
    // Intake's commit, then the after-action, exactly once.
    let intake = edigate::store::FileIntake {
        partner: "p".into(),
        name: "big.edi".into(),
        sha256: sha.clone(),
        size: handed.len() as u64,
        received_at_ms: 1,
        correlation_id: sha.clone(),
        state: edigate::store::FileState::Accepted,
        reason: None,
        interchanges: Vec::new(),
        transactions: Vec::new(),
        records: Vec::new(),
        acks: Vec::new(),
    };
    w.run(move |s| s.record_file(&intake).map(|_| ()))
        .await
        .expect("commit");
    std::fs::remove_file(inbox.join("big.edi")).expect("intake took it");
    let r = poller.poll_once().await.expect("poll");
    assert_eq!(r.completed, ["big.edi"], "{r:?}");
    assert!(!remote.join("big.edi").exists());
    let r = poller.poll_once().await.expect("poll");
    assert!(r.handed.is_empty() && r.completed.is_empty(), "{r:?}");
    let rows = w
        .run(|s| Ok(s.status()?.files.values().sum::<u64>()))
        .await
        .expect("ledger");
    assert_eq!(rows, 1);
}

//! The daemon's SFTP transports while things change under them, against a real sshd: partner
//! files added, edited and removed while it runs, and the server killed in the middle of a
//! transfer (a throttling TCP proxy in front of sshd makes "the middle" last long enough).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use edigate::config::GatewayConfig;
use edigate::store::Store;

use crate::sshd::{bramblewood_over_sftp, names, start_sshd, walk_count};
use crate::support::{order_file, repo_partners};

/// A TCP proxy to `127.0.0.1:upstream` on a new loopback port; each direction is held to
/// `rate` bytes per second (0: unlimited). When either side closes, both are closed.
pub(crate) fn throttling_proxy(upstream: u16, rate: Arc<AtomicU64>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("proxy bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { break };
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            let _ = (client.set_nodelay(true), server.set_nodelay(true));
            for (from, to) in [(&client, &server), (&server, &client)] {
                let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) else {
                    continue;
                };
                let rate = rate.clone();
                std::thread::spawn(move || pipe(from, to, &rate));
            }
        }
    });
    port
}

fn pipe(mut from: TcpStream, mut to: TcpStream, rate: &AtomicU64) {
    let mut buf = [0u8; 8192];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        // Rate 0: no limit.
        if let Some(ns) = (n as u64 * 1_000_000_000).checked_div(rate.load(Ordering::Relaxed)) {
            std::thread::sleep(Duration::from_nanos(ns));
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

/// Waits until `cond` holds, or fails the test with `what` and the state `show` gives.
async fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Writes a partner file the way an editor or config management does: beside, then renamed.
fn put_partner(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).expect("partner file");
    std::fs::rename(&tmp, dir.join(name)).expect("rename partner file");
}

/// Puts a remote file atomically (the partner's side).
fn put_remote(dir: &Path, name: &str, bytes: &[u8]) {
    let tmp = dir.join(format!(".{name}.uploading"));
    std::fs::write(&tmp, bytes).expect("remote file");
    std::fs::rename(&tmp, dir.join(name)).expect("rename remote file");
}

/// A daemon config under `base` with partners in `base/partners`.
fn daemon_config(base: &Path) -> GatewayConfig {
    let mut c = GatewayConfig::local_default(base);
    c.partners = base.join("partners");
    std::fs::create_dir_all(&c.partners).expect("partners dir");
    c.spool_settings.quiet_period = Duration::ZERO;
    c.spool_settings.rescan_interval = Duration::from_millis(200);
    c
}

struct Daemon {
    stop: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<Result<(), edigate::app::AppError>>,
}

fn start_daemon(c: &GatewayConfig) -> Daemon {
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(edigate::app::run(c.clone(), async move {
        let _ = rx.await;
    }));
    Daemon { stop, handle }
}

impl Daemon {
    /// Stops it; every task (pollers included) must end within 10 s.
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(10), self.handle)
            .await
            .expect("the daemon and its pollers stop within 10 s")
            .expect("no panic")
            .expect("clean stop");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pollers_follow_partner_files_added_edited_broken_and_removed() {
    let Some(sshd) = start_sshd() else { return };
    let base = tempfile::tempdir().expect("tempdir");
    let c = daemon_config(base.path());
    let (first, second) = (sshd.remote("live-1"), sshd.remote("live-2"));
    put_remote(&first, "a.edi", order_file(301, 1).as_bytes());
    let daemon = start_daemon(&c);
    let outbox = c.outbox();
    wait_until("the daemon's spool", Duration::from_secs(10), || {
        c.spool.is_dir()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(first.join("a.edi").exists(), "no poller before the partner");

    // Added: its poller starts and takes the remote file.
    put_partner(
        &c.partners,
        "bramblewood.toml",
        &bramblewood_over_sftp(&sshd, &first, "delete", None),
    );
    wait_until(
        "a.edi through the new poller",
        Duration::from_secs(20),
        || !first.join("a.edi").exists() && walk_count(&outbox) == 1,
    )
    .await;

    // A broken edit is refused: the running poller keeps its settings.
    let good = bramblewood_over_sftp(&sshd, &second, "delete", None);
    let broken = good.replace(&format!("port = {}", sshd.port), "port = \"not a port\"");
    assert_ne!(broken, good);
    put_partner(&c.partners, "bramblewood.toml", &broken);
    tokio::time::sleep(Duration::from_millis(800)).await;
    put_remote(&first, "b.edi", order_file(302, 1).as_bytes());
    wait_until(
        "b.edi from the old folder while the edit is refused",
        Duration::from_secs(20),
        || !first.join("b.edi").exists() && walk_count(&outbox) == 2,
    )
    .await;

    // Edited (remote_dir changed): the poller restarts on the new folder.
    put_partner(&c.partners, "bramblewood.toml", &good);
    put_remote(&second, "c.edi", order_file(303, 1).as_bytes());
    wait_until("c.edi from the new folder", Duration::from_secs(20), || {
        !second.join("c.edi").exists() && walk_count(&outbox) == 3
    })
    .await;
    // The old poller ended before the new one started: the old folder is nobody's now.
    put_remote(&first, "d.edi", order_file(304, 1).as_bytes());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(first.join("d.edi").exists(), "the old folder is not polled");

    // Removed: the poller stops; a file put afterwards stays on the server.
    std::fs::remove_file(c.partners.join("bramblewood.toml")).expect("remove partner");
    // Known to be applied once bramblewood's spool folder belongs to nobody (quarantine).
    // (The reload settles for 300 ms; rescans run every 200 ms.)
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let inbox = c.spool.join("bramblewood/in");
    put_remote(&inbox, "local.edi", order_file(305, 1).as_bytes());
    wait_until("the removal applied", Duration::from_secs(10), || {
        c.spool.join("bramblewood/quarantine/local.edi").exists()
    })
    .await;
    put_remote(&second, "e.edi", order_file(306, 1).as_bytes());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(second.join("e.edi").exists(), "no poller after the removal");
    assert!(
        names(&inbox).is_empty(),
        "nothing downloaded: {:?}",
        names(&inbox)
    );
    assert_eq!(walk_count(&outbox), 3);
    daemon.stop().await;
    let report = Store::open_readonly(&c.database())
        .expect("ledger")
        .status()
        .expect("status");
    assert_eq!(report.files.get("accepted"), Some(&3), "{:?}", report.files);
}

/// A partner file of `mb` MiB with distinct lines (not X12: intake records it and sets it
/// aside, which is all this test needs from intake).
fn big_file(mb: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(mb << 20);
    let mut i = 0u64;
    while out.len() < mb << 20 {
        out.extend_from_slice(format!("line {i:010} of a large partner file\n").as_bytes());
        i += 1;
    }
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Partial downloads (`.name.xxxxxxxx.download`) in `dir`.
fn partials(dir: &Path) -> Vec<String> {
    names(dir)
        .into_iter()
        .filter(|n| n.ends_with(".download"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_download_leaves_nothing_and_the_file_is_taken_once_after_restart() {
    let Some(mut sshd) = start_sshd() else { return };
    let base = tempfile::tempdir().expect("tempdir");
    let c = daemon_config(base.path());
    let rate = Arc::new(AtomicU64::new(1 << 20));
    let proxy = throttling_proxy(sshd.port, rate.clone());
    let remote = sshd.remote("mid-download");
    let archive = sshd.remote("mid-download-done");
    let bytes = big_file(6);
    let sha = sha256_hex(&bytes);
    put_remote(&remote, "big.edi", &bytes);
    let text = bramblewood_over_sftp(&sshd, &remote, &format!("move:{}", archive.display()), None)
        .replace(&format!("port = {}", sshd.port), &format!("port = {proxy}"));
    for entry in std::fs::read_dir(repo_partners()).expect("repo partners") {
        let p = entry.expect("entry").path();
        if p.file_name().is_some_and(|n| n != "bramblewood.toml")
            && p.extension().is_some_and(|e| e == "toml")
        {
            std::fs::copy(&p, c.partners.join(p.file_name().expect("name"))).expect("copy");
        }
    }
    std::fs::write(c.partners.join("bramblewood.toml"), text).expect("partner");
    let inbox = c.spool.join("bramblewood/in");
    let daemon = start_daemon(&c);

    // Wait until a good part of the file is down (at 1 MiB/s), then kill the server.
    wait_until("the download under way", Duration::from_secs(30), || {
        partials(&inbox)
            .iter()
            .any(|n| std::fs::metadata(inbox.join(n)).is_ok_and(|m| m.len() > (3 << 19)))
    })
    .await;
    sshd.kill();
    let db = c.database();
    let ledger_files = || {
        Store::open_readonly(&db)
            .ok()
            .and_then(|s| s.status().ok())
            .map_or(0, |r| r.files.values().sum::<u64>())
    };
    // The partial download is dropped: nothing in the spool, nothing in the ledger.
    wait_until(
        "the partial download removed",
        Duration::from_secs(20),
        || partials(&inbox).is_empty(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(names(&inbox).is_empty(), "{:?}", names(&inbox));
    assert_eq!(ledger_files(), 0, "nothing partial reached the ledger");
    assert_eq!(
        std::fs::read(remote.join("big.edi")).map(|b| b.len()).ok(),
        Some(bytes.len()),
        "the remote file stays"
    );

    // The server comes back (no throttle now): the whole file is taken once.
    rate.store(0, Ordering::Relaxed);
    sshd.restart();
    wait_until(
        "the file recorded and moved on the server",
        Duration::from_secs(60),
        || archive.join("big.edi").exists() && ledger_files() == 1,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    daemon.stop().await;
    let store = Store::open_readonly(&db).expect("ledger");
    assert!(
        store.has_sha256(&sha).expect("query"),
        "the complete file's SHA-256"
    );
    assert_eq!(
        store.status().expect("status").files.values().sum::<u64>(),
        1,
        "exactly one ledger row"
    );
    assert!(!remote.join("big.edi").exists());
    assert_eq!(
        std::fs::read(archive.join("big.edi")).expect("moved").len(),
        bytes.len()
    );
    assert!(partials(&inbox).is_empty());
    // The file as intake took it is the whole file.
    let kept: Vec<_> = ["archive", "quarantine"]
        .iter()
        .flat_map(|d| files_under(&c.spool.join("bramblewood").join(d)))
        .filter(|p| p.file_name().is_some_and(|n| n == "big.edi"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        sha256_hex(&std::fs::read(&kept[0]).expect("read")),
        sha,
        "the spool copy is the complete file"
    );
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.filter_map(Result::ok)
        .flat_map(|e| {
            let p = e.path();
            if p.is_dir() { files_under(&p) } else { vec![p] }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_upload_leaves_no_file_under_its_final_name() {
    use edigate::config::transport::{Outbound, OutboundTarget};
    let Some(mut sshd) = start_sshd() else { return };
    let base = tempfile::tempdir().expect("tempdir");
    let rate = Arc::new(AtomicU64::new(1 << 20));
    let proxy = throttling_proxy(sshd.port, rate.clone());
    let remote = sshd.remote("mid-upload");
    let spool = base.path().join("spool");
    let out = spool.join("p/out");
    std::fs::create_dir_all(&out).expect("out");
    let bytes = big_file(6);
    std::fs::write(out.join("big.x12"), &bytes).expect("outbound file");
    let (w, _t) = crate::sshd::writer(base.path());
    let mut conn = sshd.conn();
    conn.port = proxy;
    let sender = edigate::sinks::outbound::OutboundSender::new(
        "p",
        Outbound {
            target: OutboundTarget::Remote {
                conn,
                remote_dir: remote.display().to_string(),
            },
            poll_interval: Duration::from_millis(200),
        },
        &spool,
        w.clone(),
    );
    let (trigger, stop) = edigate::shutdown::channel();
    let task = tokio::spawn(sender.run(stop));
    let part = remote.join(".big.x12.part");
    wait_until("the upload under way", Duration::from_secs(30), || {
        std::fs::metadata(&part).is_ok_and(|m| m.len() > (3 << 19))
    })
    .await;
    sshd.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !remote.join("big.x12").exists(),
        "nothing under the final name: {:?}",
        names(&remote)
    );
    assert!(out.join("big.x12").exists(), "the local file stays in out/");
    let counts = w.run(|s| s.outbound_counts("p")).await.expect("counts");
    assert_eq!(counts.0, 0, "nothing recorded as delivered: {counts:?}");

    rate.store(0, Ordering::Relaxed);
    sshd.restart();
    wait_until(
        "the upload done after the restart",
        Duration::from_secs(60),
        || out.join("sent/big.x12").exists(),
    )
    .await;
    trigger.fire();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the sender stops")
        .expect("no panic");
    assert_eq!(
        names(&remote),
        ["big.x12"],
        "the partial upload was replaced"
    );
    assert_eq!(
        sha256_hex(&std::fs::read(remote.join("big.x12")).expect("read")),
        sha256_hex(&bytes)
    );
    let counts = w.run(|s| s.outbound_counts("p")).await.expect("counts");
    assert_eq!(counts.0, 1, "{counts:?}");
}

#[test]
fn a_daemon_sigkilled_mid_download_leaves_a_partial_file_that_the_restart_removes() {
    use std::process::{Command, Stdio};
    let Some(sshd) = start_sshd() else { return };
    let base = tempfile::tempdir().expect("tempdir");
    let rate = Arc::new(AtomicU64::new(1 << 20));
    let proxy = throttling_proxy(sshd.port, rate.clone());
    let remote = sshd.remote("kill-mid-download");
    let archive = sshd.remote("kill-mid-download-done");
    let bytes = big_file(6);
    let sha = sha256_hex(&bytes);
    put_remote(&remote, "big.edi", &bytes);
    let partners = base.path().join("partners");
    std::fs::create_dir_all(&partners).expect("partners");
    let text = bramblewood_over_sftp(&sshd, &remote, &format!("move:{}", archive.display()), None)
        .replace(&format!("port = {}", sshd.port), &format!("port = {proxy}"));
    std::fs::write(partners.join("bramblewood.toml"), text).expect("partner");
    let config = base.path().join("edigate.toml");
    std::fs::write(
        &config,
        format!(
            "[paths]\nspool = \"spool\"\nstate = \"state\"\npartners = {:?}\n\
             [spool]\nquiet_period = \"0s\"\nrescan_interval = \"200ms\"\n",
            partners.display().to_string()
        ),
    )
    .expect("config");
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_edigate"))
            .args(["run", "--config"])
            .arg(&config)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start edigate")
    };
    let inbox = base.path().join("spool/bramblewood/in");
    let db = base.path().join("state/edigate.db");
    let ledger_files = || {
        Store::open_readonly(&db)
            .ok()
            .and_then(|s| s.status().ok())
            .map_or(0, |r| r.files.values().sum::<u64>())
    };
    let wait = |what: &str, limit: Duration, cond: &dyn Fn() -> bool| {
        let start = Instant::now();
        while !cond() {
            assert!(start.elapsed() < limit, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let mut child = spawn();
    wait("the download under way", Duration::from_secs(30), &|| {
        partials(&inbox)
            .iter()
            .any(|n| std::fs::metadata(inbox.join(n)).is_ok_and(|m| m.len() > (1 << 20)))
    });
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert_eq!(
        partials(&inbox).len(),
        1,
        "the killed process left its partial download"
    );
    assert_eq!(ledger_files(), 0);

    rate.store(0, Ordering::Relaxed);
    let mut child = spawn();
    wait("the file taken and moved", Duration::from_secs(60), &|| {
        archive.join("big.edi").exists() && ledger_files() == 1
    });
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert!(partials(&inbox).is_empty(), "{:?}", names(&inbox));
    let store = Store::open_readonly(&db).expect("ledger");
    assert!(store.has_sha256(&sha).expect("query"));
    assert_eq!(
        store.status().expect("status").files.values().sum::<u64>(),
        1
    );
}

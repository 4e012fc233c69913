//! SFTP transports against a real OpenSSH sshd on loopback, started per test with a temporary
//! config, host key and authorized_keys on a random port (Debian `openssh-server`, installed by
//! `.ci/run`). Skipped with a message only when sshd is missing outside CI.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use edigate::config::GatewayConfig;
use edigate::config::transport::{
    AfterAction, Auth, Connection, FtpTls, Outbound, OutboundTarget, Protocol, RemoteInbound,
};
use edigate::sinks::outbound::OutboundSender;
use edigate::sources::remote::{RemotePoller, TransportError};
use edigate::store::Store;

use crate::sshd::{commit, inbound, keygen, names, sftp_partners, start_sshd, walk_count, writer};
use crate::support::order_file;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_takes_a_file_over_sftp_and_sends_the_ack_back() {
    let Some(sshd) = start_sshd() else { return };
    let base = tempfile::tempdir().expect("tempdir");
    let remote_out = sshd.remote("outbound");
    let remote_in = sshd.remote("inbound");
    let partners = sftp_partners(&sshd, base.path(), &remote_out, "delete", Some(&remote_in));
    let mut c = GatewayConfig::local_default(base.path());
    c.partners = partners;
    c.spool_settings.quiet_period = Duration::ZERO;
    c.spool_settings.rescan_interval = Duration::from_millis(200);
    let outbox = c.outbox();
    std::fs::write(remote_out.join(".order-1.edi.uploading"), order_file(71, 2)).expect("put");
    std::fs::rename(
        remote_out.join(".order-1.edi.uploading"),
        remote_out.join("order-1.edi"),
    )
    .expect("rename");
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(edigate::app::run(c.clone(), async move {
        let _ = rx.await;
    }));
    let start = Instant::now();
    loop {
        let records = walk_count(&outbox);
        let gone = !remote_out.join("order-1.edi").exists();
        let acked = names(&remote_in).iter().any(|n| !n.starts_with('.'));
        if records == 2 && gone && acked {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "records {records}, remote deleted {gone}, ack delivered {acked}; handle finished: {}",
            handle.is_finished()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        names(&remote_in).iter().all(|n| !n.ends_with(".part")),
        "no partial file left at the partner: {:?}",
        names(&remote_in)
    );
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), handle)
        .await
        .expect("stops")
        .expect("no panic")
        .expect("clean stop");
    let report = Store::open_readonly(&c.database())
        .expect("ledger")
        .status()
        .expect("status");
    let health: Vec<_> = report
        .transports
        .iter()
        .map(|t| {
            (
                t.partner.as_str(),
                t.direction.as_str(),
                t.last_ok_at_ms.is_some(),
            )
        })
        .collect();
    assert!(
        health.contains(&("bramblewood", "inbound", true))
            && health.contains(&("bramblewood", "outbound", true)),
        "{health:?}"
    );
    let text = edigate::store::render_status(&report, false);
    assert!(text.contains("bramblewood inbound: last ok"), "{text}");
}

#[test]
fn sigkill_of_the_daemon_between_commit_and_remote_move_then_restart_processes_once() {
    let Some(sshd) = start_sshd() else { return };
    let base = tempfile::tempdir().expect("tempdir");
    let remote_out = sshd.remote("kill-out");
    // The move target is missing at first: the after-action fails after the ledger commit.
    let archive = sshd.dir.path().join("remote/kill-archive");
    let partners = sftp_partners(
        &sshd,
        base.path(),
        &remote_out,
        &format!("move:{}", archive.display()),
        None,
    );
    let config_path = base.path().join("edigate.toml");
    std::fs::write(
        &config_path,
        format!(
            "[paths]\nspool = \"spool\"\nstate = \"state\"\npartners = {:?}\n\
             [spool]\nquiet_period = \"0s\"\nrescan_interval = \"200ms\"\n",
            partners.display().to_string()
        ),
    )
    .expect("config");
    std::fs::write(remote_out.join("k.edi"), order_file(91, 2)).expect("put");
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_edigate"))
            .args(["run", "--config"])
            .arg(&config_path)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start edigate")
    };
    let db = base.path().join("state/edigate.db");
    let files_recorded = || {
        Store::open_readonly(&db)
            .ok()
            .and_then(|s| s.status().ok())
            .map_or(0, |r| r.files.values().sum::<u64>())
    };
    let mut child = spawn();
    let start = Instant::now();
    while files_recorded() == 0 {
        assert!(start.elapsed() < Duration::from_secs(20), "never recorded");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert!(
        remote_out.join("k.edi").exists(),
        "the move had no target yet"
    );
    std::fs::create_dir_all(&archive).expect("archive");
    let mut child = spawn();
    let start = Instant::now();
    while !archive.join("k.edi").exists() {
        assert!(start.elapsed() < Duration::from_secs(20), "never moved");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let report = Store::open_readonly(&db)
        .expect("ledger")
        .status()
        .expect("status");
    assert_eq!(report.files.values().sum::<u64>(), 1, "{:?}", report.files);
    assert_eq!(report.files.get("accepted"), Some(&1), "{:?}", report.files);
    assert_eq!(walk_count(&base.path().join("state/outbox")), 2);
    assert!(!remote_out.join("k.edi").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_growing_file_is_not_taken_until_two_listings_agree() {
    let Some(sshd) = start_sshd() else { return };
    let base = tempfile::tempdir().expect("tempdir");
    let remote = sshd.remote("grow");
    let (w, _t) = writer(base.path());
    let mut cfg = inbound(&sshd, &remote, AfterAction::Delete);
    cfg.stable_interval = Duration::from_millis(300);
    let spool = base.path().join("spool");
    let mut poller = RemotePoller::new("p", cfg, &spool, w.clone());
    let file = remote.join("big.edi");
    std::fs::write(&file, "ISA*first part").expect("write");
    let r = poller.poll_once().await.expect("poll");
    assert_eq!((r.unstable, r.handed.len()), (1, 0), "{r:?}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Grows between the listings: watched again from scratch.
    std::fs::write(&file, "ISA*first part, and more").expect("append");
    let r = poller.poll_once().await.expect("poll");
    assert_eq!((r.unstable, r.handed.len()), (1, 0), "{r:?}");
    let r = poller.poll_once().await.expect("poll");
    assert_eq!((r.unstable, r.handed.len()), (1, 0), "too early: {r:?}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let r = poller.poll_once().await.expect("poll");
    assert_eq!(r.handed, ["big.edi"], "{r:?}");
    let inbox = spool.join("p/in");
    assert_eq!(
        std::fs::read_to_string(inbox.join("big.edi")).expect("handed"),
        "ISA*first part, and more"
    );
    assert!(file.exists(), "not deleted before the ledger commit");
    // Over max_size: left on the server, reported once in the transport health.
    let mut cfg = inbound(&sshd, &remote, AfterAction::Delete);
    cfg.max_size = 4;
    std::fs::write(remote.join("huge.edi"), "ISA*too big").expect("write");
    let mut poller = RemotePoller::new("q", cfg, &spool, w.clone());
    for _ in 0..2 {
        let r = poller.poll_once().await.expect("poll");
        assert_eq!((r.too_big, r.handed.len()), (2, 0), "{r:?}");
    }
    let health = w.run(|s| s.transport_health()).await.expect("health");
    let q = health.iter().find(|h| h.partner == "q").expect("q");
    assert_eq!(q.failures, 2, "{q:?}");
    assert!(
        q.last_error
            .as_deref()
            .is_some_and(|e| e.contains("max_size")),
        "{q:?}"
    );
    assert!(remote.join("huge.edi").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_host_key_is_refused_before_any_credential_is_sent() {
    let Some(sshd) = start_sshd() else { return };
    let base = tempfile::tempdir().expect("tempdir");
    let remote = sshd.remote("hk");
    std::fs::write(remote.join("a.edi"), "x").expect("write");
    let (w, _t) = writer(base.path());
    let mut cfg = inbound(&sshd, &remote, AfterAction::Delete);
    cfg.conn.host_key = Some("SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8".into());
    let mut poller = RemotePoller::new("p", cfg, &base.path().join("spool"), w);
    let err = poller.poll_once().await.expect_err("mismatch");
    assert!(matches!(err, TransportError::HostKey { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&sshd.fingerprint) && msg.contains("refusing"),
        "{msg}"
    );
    // A known_hosts line pins the key for its host and port only.
    let public = std::fs::read_to_string(sshd.dir.path().join("host_key.pub")).expect("pub");
    let mut fields = public.split_whitespace();
    let (kind, blob) = (fields.next().expect("type"), fields.next().expect("key"));
    let mut cfg = inbound(&sshd, &remote, AfterAction::Delete);
    cfg.conn.host_key = Some(format!("[127.0.0.1]:{} {kind} {blob}", sshd.port));
    let (w2, _t2) = writer(&base.path().join("kh"));
    let mut poller = RemotePoller::new("p", cfg.clone(), &base.path().join("spool"), w2.clone());
    poller
        .poll_once()
        .await
        .expect("known_hosts line for this port");
    cfg.conn.host_key = Some(format!("[127.0.0.1]:{} {kind} {blob}", sshd.port + 1));
    let mut poller = RemotePoller::new("p", cfg, &base.path().join("spool"), w2);
    let err = poller.poll_once().await.expect_err("another port's entry");
    assert!(matches!(err, TransportError::HostKey { .. }), "{err}");
    // The operator command prints the same fingerprint ssh-keygen does.
    let fp =
        edigate::sources::sftp::fetch_fingerprint("127.0.0.1", sshd.port, Duration::from_secs(5))
            .expect("fingerprint");
    assert_eq!(fp, sshd.fingerprint);
    let out = Command::new(env!("CARGO_BIN_EXE_edigate"))
        .arg("fingerprint")
        .arg(format!("127.0.0.1:{}", sshd.port))
        .output()
        .expect("edigate fingerprint");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        sshd.fingerprint
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_or_password_is_a_clear_authentication_error() {
    let Some(sshd) = start_sshd() else { return };
    let base = tempfile::tempdir().expect("tempdir");
    let remote = sshd.remote("auth");
    let (w, _t) = writer(base.path());
    let other = base.path().join("other_key");
    keygen(&other);
    let mut cfg = inbound(&sshd, &remote, AfterAction::Delete);
    cfg.conn.auth = Auth::Key {
        key_file: other,
        passphrase_file: None,
    };
    let mut poller = RemotePoller::new("p", cfg.clone(), &base.path().join("spool"), w.clone());
    let err = poller.poll_once().await.expect_err("wrong key");
    assert!(matches!(err, TransportError::Auth { .. }), "{err}");
    assert!(err.to_string().contains("authentication of user"), "{err}");
    let secret = base.path().join("password");
    std::fs::write(&secret, "hunter2-not-logged\n").expect("password");
    cfg.conn.auth = Auth::Password {
        password_file: secret,
    };
    let mut poller = RemotePoller::new("p", cfg, &base.path().join("spool"), w);
    let err = poller.poll_once().await.expect_err("wrong password");
    assert!(matches!(err, TransportError::Auth { .. }), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_after_action_never_leads_to_processing_twice() {
    let Some(sshd) = start_sshd() else { return };
    let base = tempfile::tempdir().expect("tempdir");
    let remote = sshd.remote("after");
    let archive = sshd.dir.path().join("remote/after-archive");
    std::fs::write(remote.join("a.edi"), "ISA*a").expect("write");
    let (w, _t) = writer(base.path());
    // The archive folder does not exist yet: the move fails.
    let cfg = inbound(
        &sshd,
        &remote,
        AfterAction::Move(archive.display().to_string()),
    );
    let spool = base.path().join("spool");
    let inbox = spool.join("p/in");
    let mut poller = RemotePoller::new("p", cfg, &spool, w.clone());
    let r = poller.poll_once().await.expect("poll");
    assert_eq!(r.handed, ["a.edi"]);
    commit(&w, "p", &inbox.join("a.edi")).await;
    std::fs::remove_file(inbox.join("a.edi")).expect("intake took it");
    let r = poller.poll_once().await.expect("poll");
    assert_eq!((r.after_failed, r.handed.len()), (1, 0), "{r:?}");
    let r = poller.poll_once().await.expect("poll");
    assert_eq!((r.after_failed, r.handed.len()), (1, 0), "{r:?}");
    assert!(names(&inbox).is_empty(), "nothing downloaded again");
    std::fs::create_dir_all(&archive).expect("archive");
    let r = poller.poll_once().await.expect("poll");
    assert_eq!(r.completed, ["a.edi"], "{r:?}");
    assert!(archive.join("a.edi").exists() && !remote.join("a.edi").exists());
    let health = w.run(|s| s.transport_health()).await.expect("health");
    assert!(health[0].failures >= 2, "{health:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_download_and_delete_processes_the_file_once_then_removes_it() {
    let Some(sshd) = start_sshd() else { return };
    let base = tempfile::tempdir().expect("tempdir");
    let remote = sshd.remote("crash");
    std::fs::write(remote.join("c.edi"), "ISA*crash").expect("write");
    let spool = base.path().join("spool");
    let inbox = spool.join("p/in");
    let cfg = inbound(&sshd, &remote, AfterAction::Delete);
    {
        // First life: download and hand over, intake commits; then the process dies before
        // the remote delete (the poller and its session are dropped mid-way).
        let (w, t) = writer(base.path());
        let mut poller = RemotePoller::new("p", cfg.clone(), &spool, w.clone());
        assert_eq!(poller.poll_once().await.expect("poll").handed, ["c.edi"]);
        commit(&w, "p", &inbox.join("c.edi")).await;
        std::fs::remove_file(inbox.join("c.edi")).expect("intake took it");
        drop(poller);
        drop(w);
        t.join().expect("writer");
    }
    {
        // Second life, and a remote_files row lost too: recognised by SHA-256 alone.
        let (w, t) = writer(base.path());
        let mut poller = RemotePoller::new("p", cfg.clone(), &spool, w.clone());
        let r = poller.poll_once().await.expect("poll");
        assert_eq!(r.completed, ["c.edi"], "{r:?}");
        assert!(r.handed.is_empty() && names(&inbox).is_empty(), "{r:?}");
        assert!(!remote.join("c.edi").exists());
        drop(poller);
        drop(w);
        t.join().expect("writer");
    }
    // A copy re-uploaded with the same bytes and no row at all is known by SHA-256 too.
    std::fs::write(remote.join("c2.edi"), "ISA*crash").expect("write");
    let (w, _t) = writer(base.path());
    let mut poller = RemotePoller::new("p", cfg, &spool, w);
    let r = poller.poll_once().await.expect("poll");
    assert_eq!(
        (r.known.as_slice(), r.handed.len()),
        (&["c2.edi".to_string()][..], 0)
    );
    assert!(!remote.join("c2.edi").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_server_fails_within_the_timeout_and_its_thread_ends() {
    // Accepts TCP and never says a word.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let held = std::thread::spawn(move || {
        let mut kept = Vec::new();
        while let Ok((s, _)) = listener.accept() {
            kept.push(s);
            if kept.len() >= 3 {
                std::thread::sleep(Duration::from_secs(6));
                break;
            }
        }
    });
    let timeout = Duration::from_secs(1);
    let conn = Connection {
        protocol: Protocol::Sftp,
        host: "127.0.0.1".into(),
        port,
        user: "nobody".into(),
        auth: Auth::Password {
            password_file: PathBuf::from("/nonexistent"),
        },
        host_key: Some("SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8".into()),
        timeout,
        tls: FtpTls::Explicit,
        allow_plaintext: false,
        ca_file: None,
    };
    // The blocking call itself returns within the timeout: no thread is left behind.
    let c2 = conn.clone();
    let start = Instant::now();
    let thread = std::thread::spawn(move || edigate::sources::remote::connect(&c2).map(|_| ()));
    let r = thread.join().expect("no panic");
    assert!(r.is_err());
    assert!(
        start.elapsed() < timeout * 3,
        "blocking connect took {:?}",
        start.elapsed()
    );
    // The same for FTP (explicit TLS): the greeting never comes.
    let mut ftp = conn.clone();
    ftp.protocol = Protocol::Ftp;
    ftp.host_key = None;
    let start = Instant::now();
    let thread = std::thread::spawn(move || edigate::sources::remote::connect(&ftp).map(|_| ()));
    assert!(thread.join().expect("no panic").is_err());
    assert!(
        start.elapsed() < timeout * 3,
        "blocking FTP connect took {:?}",
        start.elapsed()
    );
    // And implicit TLS: the TLS handshake never completes. The thread must end on its own
    // (a channel, so a thread blocked for ever fails the test instead of hanging it).
    let mut implicit = conn.clone();
    implicit.protocol = Protocol::Ftp;
    implicit.host_key = None;
    implicit.tls = FtpTls::Implicit;
    let (done, ended) = std::sync::mpsc::channel();
    let start = Instant::now();
    std::thread::spawn(move || {
        let r = edigate::sources::remote::connect(&implicit).map(|_| ());
        let _ = done.send(r.map_err(|e| e.to_string()));
    });
    let r = ended
        .recv_timeout(timeout * 3)
        .expect("the implicit FTPS connect thread ends within the timeout");
    let err = r.expect_err("stalled");
    assert!(err.contains("127.0.0.1"), "{err}");
    assert!(start.elapsed() < timeout * 3, "took {:?}", start.elapsed());
    // And the poller reports it within its deadline.
    let base = tempfile::tempdir().expect("tempdir");
    let (w, _t) = writer(base.path());
    let cfg = RemoteInbound {
        conn,
        remote_dir: "/x".into(),
        pattern: "*".into(),
        poll_interval: Duration::from_secs(1),
        stable_interval: Duration::ZERO,
        max_size: 1,
        after: AfterAction::Delete,
    };
    let mut poller = RemotePoller::new("p", cfg, &base.path().join("spool"), w);
    let start = Instant::now();
    let err = poller.poll_once().await.expect_err("stalled");
    assert!(start.elapsed() < timeout * 4, "took {:?}", start.elapsed());
    let msg = err.to_string();
    assert!(msg.contains("127.0.0.1"), "{msg}");
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_files_reach_a_directory_and_an_sftp_server_under_their_final_names() {
    let base = tempfile::tempdir().expect("tempdir");
    let spool = base.path().join("spool");
    let out = spool.join("p/out");
    std::fs::create_dir_all(&out).expect("out");
    std::fs::write(out.join("ack-1.x12"), "ISA*997").expect("ack");
    std::fs::write(out.join(".ack-2.x12.tmp"), "being written").expect("tmp");
    let (w, _t) = writer(base.path());
    let target = base.path().join("partner-dir");
    let mut sender = OutboundSender::new(
        "p",
        Outbound {
            target: OutboundTarget::Directory(target.clone()),
            poll_interval: Duration::from_millis(100),
        },
        &spool,
        w.clone(),
    );
    let r = sender.send_once().await.expect("send");
    assert_eq!(r.delivered, ["ack-1.x12"]);
    assert_eq!(names(&target), ["ack-1.x12"]);
    assert_eq!(names(&out), [".ack-2.x12.tmp"]);
    assert_eq!(names(&out.join("sent")), ["ack-1.x12"]);

    let Some(sshd) = start_sshd() else { return };
    let remote = sshd.remote("partner-in");
    std::fs::write(out.join("ack-3.x12"), "ISA*997 three").expect("ack");
    // A partial upload left by an interrupted earlier attempt is replaced, never renamed as is.
    std::fs::write(remote.join(".ack-3.x12.part"), "ISA*9").expect("partial");
    let mut sender = OutboundSender::new(
        "p",
        Outbound {
            target: OutboundTarget::Remote {
                conn: sshd.conn(),
                remote_dir: remote.display().to_string(),
            },
            poll_interval: Duration::from_millis(100),
        },
        &spool,
        w.clone(),
    );
    let r = sender.send_once().await.expect("send");
    assert_eq!(r.delivered, ["ack-3.x12"]);
    assert_eq!(names(&remote), ["ack-3.x12"]);
    assert_eq!(
        std::fs::read_to_string(remote.join("ack-3.x12")).expect("read"),
        "ISA*997 three"
    );
    // Delivered, recorded, and only then moved: the same bytes dropped again are only moved.
    std::fs::write(out.join("ack-3-again.x12"), "ISA*997 three").expect("again");
    let r = sender.send_once().await.expect("send");
    assert_eq!(r.already, ["ack-3-again.x12"]);
    let counts = w.run(|s| s.outbound_counts("p")).await.expect("counts");
    assert_eq!(counts, (2, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_breaks_the_session_and_the_next_poll_reconnects() {
    let Some(mut sshd) = start_sshd() else { return };
    let base = tempfile::tempdir().expect("tempdir");
    let remote = sshd.remote("restart");
    let (w, _t) = writer(base.path());
    let spool = base.path().join("spool");
    let mut poller =
        RemotePoller::new("p", inbound(&sshd, &remote, AfterAction::Delete), &spool, w);
    assert_eq!(
        poller.poll_once().await.expect("first poll").handed.len(),
        0
    );
    // The server goes away with the session open (its session process too), and comes back.
    sshd.kill();
    std::fs::write(remote.join("r.edi"), "ISA*after restart").expect("write");
    let r = poller.poll_once().await;
    if let Err(e) = &r {
        // The broken session is reported; the next poll reconnects.
        assert!(!e.to_string().is_empty());
        poller.disconnect();
    }
    sshd.restart();
    let start = Instant::now();
    loop {
        match poller.poll_once().await {
            Ok(r) if r.handed == ["r.edi"] => break,
            Ok(r) => panic!("{r:?}"),
            Err(e) => {
                assert!(start.elapsed() < Duration::from_secs(10), "{e}");
                poller.disconnect();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert_eq!(
        std::fs::read_to_string(spool.join("p/in/r.edi")).expect("handed"),
        "ISA*after restart"
    );
}

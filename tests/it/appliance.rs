//! The real binary as systemd runs it: `READY=1` only once it runs, `WATCHDOG=1` pings while
//! the store answers, `STOPPING=1` on SIGTERM (read from a `$NOTIFY_SOCKET` of our own); and
//! a start refused by the configuration check sends nothing.

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::repo_partners;

fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("edigate.toml");
    std::fs::write(
        &path,
        format!(
            "[paths]\nspool = \"spool\"\nstate = \"state\"\npartners = {:?}\n[api]\nlisten = \"127.0.0.1:0\"\n",
            repo_partners().display().to_string()
        ),
    )
    .expect("config");
    path
}

/// Messages received on `socket` until `until` is among them or `limit` passes.
fn read_until(socket: &UnixDatagram, until: &str, limit: Duration) -> Vec<String> {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while start.elapsed() < limit {
        if let Ok(n) = socket.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            let done = msg.lines().any(|l| l == until);
            got.push(msg);
            if done {
                break;
            }
        }
    }
    got
}

#[test]
fn ready_watchdog_and_stopping_are_sent_to_systemd() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path());
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind notify socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let mut child = Command::new(env!("CARGO_BIN_EXE_edigate"))
        .args(["run", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "400000")
        .env_remove("WATCHDOG_PID")
        .stderr(Stdio::null())
        .spawn()
        .expect("start edigate");
    let before_ready = read_until(&socket, "READY=1", Duration::from_secs(20));
    assert!(
        before_ready.last().is_some_and(|m| m.contains("READY=1")),
        "{before_ready:?}"
    );
    assert!(
        dir.path().join("state/edigate.db").exists(),
        "READY comes after the ledger is open"
    );
    let pings = read_until(&socket, "WATCHDOG=1", Duration::from_secs(5));
    assert!(pings.iter().any(|m| m.contains("WATCHDOG=1")), "{pings:?}");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let stopping = read_until(&socket, "STOPPING=1", Duration::from_secs(10));
    assert!(
        stopping.iter().any(|m| m.contains("STOPPING=1")),
        "{stopping:?}"
    );
    let exit = child.wait().expect("wait");
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn a_configuration_with_problems_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("edigate.toml");
    std::fs::write(
        &path,
        "[paths]\nspool = \"spool\"\nstate = \"state\"\npartners = \"nowhere\"\n",
    )
    .expect("config");
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind");
    socket.set_nonblocking(true).expect("nonblocking");
    let out = Command::new(env!("CARGO_BIN_EXE_edigate"))
        .args(["run", "--config"])
        .arg(&path)
        .env("NOTIFY_SOCKET", &socket_path)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("edigate.toml:4:1: partners directory"),
        "{err}"
    );
    let mut buf = [0u8; 256];
    assert!(
        socket.recv(&mut buf).is_err(),
        "nothing was sent to systemd"
    );
    assert!(!dir.path().join("state").exists(), "nothing was created");
}

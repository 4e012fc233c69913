//! systemd integration: `READY=1` once migrations and the configuration check have passed and
//! every task runs, `STOPPING=1` when shutdown begins, and `WATCHDOG=1` pinged only after a
//! round trip through the store writer thread (the loop that could hang: a stuck disk or lock
//! stops the pings and systemd restarts the service). Outside systemd every call does nothing.

use std::time::Duration;

use sd_notify::NotifyState;
use tracing::{debug, warn};

use crate::shutdown::Shutdown;
use crate::writer::StoreWriter;

fn send(state: &[NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(state) {
        warn!(error = %e, "Cannot notify systemd.");
    }
}

/// `READY=1` with a status line.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// `STOPPING=1`.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// A status line (`systemctl status` shows it).
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// Pings the watchdog at half its interval while the writer thread answers; returns at once
/// when the service has no `WatchdogSec=`.
pub async fn watchdog(writer: StoreWriter, mut stop: Shutdown) {
    let Some(interval) = sd_notify::watchdog_enabled() else {
        return;
    };
    let every = (interval / 2).max(Duration::from_millis(100));
    debug!(every = ?every, "Watchdog enabled.");
    loop {
        tokio::select! {
            () = stop.wait() => break,
            () = tokio::time::sleep(every) => {}
        }
        match tokio::time::timeout(every, writer.call(|_| ())).await {
            Ok(Ok(())) => send(&[NotifyState::Watchdog]),
            Ok(Err(_)) => break,
            Err(_) => warn!("The store writer did not answer in time; watchdog not pinged."),
        }
    }
}

//! The shutdown signal: a future passed in by the caller, fanned out to every loop.
//!
//! `run` receives any future; when it completes, every task holding a [`Shutdown`] sees it. A
//! loop selects on [`Shutdown::wait`] next to its work and, once it fires, stops taking new work
//! and finishes what it holds.

use std::future::Future;

use tokio::sync::watch;

/// A cloneable view of the shutdown signal.
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

/// The side that fires the signal.
#[derive(Debug)]
pub struct Trigger {
    tx: watch::Sender<bool>,
}

/// A new signal and its trigger.
pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (Trigger { tx }, Shutdown { rx })
}

impl Trigger {
    /// Fires the signal (idempotent).
    pub fn fire(&self) {
        self.tx.send_replace(true);
    }

    /// Fires the signal when `future` completes.
    pub async fn fire_on(self, future: impl Future<Output = ()>) {
        future.await;
        self.fire();
    }
}

impl Shutdown {
    /// Whether shutdown has begun.
    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }

    /// Completes once shutdown has begun (at once if it already has). Cancel-safe.
    pub async fn wait(&mut self) {
        // An error means the trigger was dropped: treat that as shutdown too.
        let _ = self.rx.wait_for(|fired| *fired).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_clone_sees_the_signal() {
        let (trigger, shutdown) = channel();
        let mut a = shutdown.clone();
        let mut b = shutdown;
        assert!(!a.is_triggered());
        trigger.fire();
        a.wait().await;
        b.wait().await;
        assert!(b.is_triggered());
    }
}

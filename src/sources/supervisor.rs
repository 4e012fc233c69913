//! Keeps one task per partner transport (remote poller, outbound sender) in step with the
//! partners in force: started at start-up, and after every accepted partner reload a partner
//! that is new gets its tasks, a partner that is gone loses them, and a partner whose
//! `[inbound]` or `[outbound]` transport settings changed has that task restarted with them.
//! A reload that fails the partner check never reaches this module (the running partners, and so
//! their tasks, stay as they were).
//!
//! Stopping is cooperative: a task's own stop signal is seen between files (never in the middle
//! of the download → fsync → rename → ledger → after-action sequence, or of an upload), and its
//! successor for the same partner and direction starts only once it has ended, so two tasks
//! never work on one partner's remote folder or `out/` at once. At shutdown every task is
//! signalled and awaited: none outlives the daemon.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::remote::RemotePoller;
use crate::config::Partner;
use crate::config::transport::{Outbound, RemoteInbound};
use crate::intake::worker::PartnerBook;
use crate::shutdown::{self, Shutdown, Trigger};
use crate::sinks::outbound::OutboundSender;
use crate::writer::StoreWriter;

/// One transport task's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Job {
    /// A remote poller (`[inbound] source = "sftp"` or `"ftp"`).
    Inbound(RemoteInbound),
    /// An outbound sender (`[outbound]`).
    Outbound(Outbound),
}

impl Job {
    fn direction(&self) -> &'static str {
        match self {
            Job::Inbound(_) => "inbound",
            Job::Outbound(_) => "outbound",
        }
    }
}

/// A running task.
struct Slot {
    job: Job,
    trigger: Trigger,
    handle: JoinHandle<()>,
}

/// The transport tasks, by partner id and direction.
pub struct TransportSupervisor {
    spool: PathBuf,
    writer: StoreWriter,
    running: BTreeMap<(String, &'static str), Slot>,
    /// Tasks told to stop whose partner has no successor; awaited at shutdown.
    stopping: Vec<JoinHandle<()>>,
}

/// What [`TransportSupervisor::apply`] did, as `partner/direction` names.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TransportChanges {
    /// Tasks started for a partner (or direction) that had none.
    pub started: Vec<String>,
    /// Tasks restarted with changed settings.
    pub restarted: Vec<String>,
    /// Tasks stopped for good.
    pub stopped: Vec<String>,
}

impl TransportSupervisor {
    /// A supervisor with no tasks yet, handing files to `spool`.
    pub fn new(spool: PathBuf, writer: StoreWriter) -> Self {
        TransportSupervisor {
            spool,
            writer,
            running: BTreeMap::new(),
            stopping: Vec::new(),
        }
    }

    /// Brings the tasks in line with `partners` (see the module docs).
    pub fn apply(&mut self, partners: &[Partner]) -> TransportChanges {
        let mut wanted: BTreeMap<(String, &'static str), Job> = BTreeMap::new();
        for p in partners {
            for job in [
                p.remote_inbound.clone().map(Job::Inbound),
                p.outbound.clone().map(Job::Outbound),
            ]
            .into_iter()
            .flatten()
            {
                wanted.insert((p.id.clone(), job.direction()), job);
            }
        }
        let mut changes = TransportChanges::default();
        let mut predecessors = BTreeMap::new();
        let keys: Vec<_> = self.running.keys().cloned().collect();
        for key in keys {
            let same = self
                .running
                .get(&key)
                .is_some_and(|slot| wanted.get(&key) == Some(&slot.job));
            if same {
                continue;
            }
            if let Some(slot) = self.running.remove(&key) {
                slot.trigger.fire();
                let name = format!("{}/{}", key.0, key.1);
                if wanted.contains_key(&key) {
                    changes.restarted.push(name);
                    predecessors.insert(key, slot.handle);
                } else {
                    changes.stopped.push(name);
                    self.stopping.push(slot.handle);
                }
            }
        }
        for (key, job) in wanted {
            if self.running.contains_key(&key) {
                continue;
            }
            let previous = predecessors.remove(&key);
            if previous.is_none() {
                changes.started.push(format!("{}/{}", key.0, key.1));
            }
            let (trigger, stop) = shutdown::channel();
            let handle = self.spawn(&key.0, job.clone(), previous, stop);
            self.running.insert(
                key,
                Slot {
                    job,
                    trigger,
                    handle,
                },
            );
        }
        self.stopping.retain(|h| !h.is_finished());
        changes
    }

    /// Starts `job` for `partner` once `previous` (its predecessor) has ended.
    fn spawn(
        &self,
        partner: &str,
        job: Job,
        previous: Option<JoinHandle<()>>,
        stop: Shutdown,
    ) -> JoinHandle<()> {
        let (spool, writer, partner) =
            (self.spool.clone(), self.writer.clone(), partner.to_string());
        tokio::spawn(async move {
            if let Some(previous) = previous
                && let Err(e) = previous.await
            {
                warn!(partner = %partner, error = %e, "A transport task failed.");
            }
            match job {
                Job::Inbound(cfg) => {
                    RemotePoller::new(&partner, cfg, &spool, writer)
                        .run(stop)
                        .await
                }
                Job::Outbound(cfg) => {
                    OutboundSender::new(&partner, cfg, &spool, writer)
                        .run(stop)
                        .await
                }
            }
        })
    }

    /// Tasks running now (partner and direction).
    pub fn running(&self) -> Vec<String> {
        self.running
            .keys()
            .map(|(p, d)| format!("{p}/{d}"))
            .collect()
    }

    /// Tasks told to stop that have not ended yet.
    pub fn still_stopping(&mut self) -> usize {
        self.stopping.retain(|h| !h.is_finished());
        self.stopping.len()
    }

    /// Stops every task and waits for each to end.
    pub async fn stop_all(&mut self) {
        let slots = std::mem::take(&mut self.running);
        for slot in slots.values() {
            slot.trigger.fire();
        }
        let handles = slots
            .into_values()
            .map(|s| s.handle)
            .chain(std::mem::take(&mut self.stopping));
        for h in handles {
            if let Err(e) = h.await {
                warn!(error = %e, "A transport task failed.");
            }
        }
    }

    /// Follows `partners` until `stop`: applies the partners in force now and after every
    /// accepted reload, then stops every task and waits for them.
    pub async fn run(
        mut self,
        mut partners: watch::Receiver<Arc<PartnerBook>>,
        mut stop: Shutdown,
    ) {
        let mut first = true;
        loop {
            let book = partners.borrow_and_update().clone();
            let changes = self.apply(&book.partners);
            if !first && changes != TransportChanges::default() {
                info!(
                    started = ?changes.started,
                    restarted = ?changes.restarted,
                    stopped = ?changes.stopped,
                    "Partner transports follow the reload."
                );
            }
            first = false;
            tokio::select! {
                () = stop.wait() => break,
                r = partners.changed() => {
                    if r.is_err() {
                        stop.wait().await;
                        break;
                    }
                }
            }
        }
        self.stop_all().await;
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::store::Store;

    /// Partners `ids`, each sending `out/` to `<targets>/<id><suffix>`.
    fn partners(dir: &Path, targets: &Path, ids: &[(&str, &str)]) -> Vec<Partner> {
        let pdir = dir.join(format!("partners-{}", rand::random::<u32>()));
        std::fs::create_dir_all(&pdir).expect("partners dir");
        for (id, suffix) in ids {
            let text = format!(
                "id = \"{id}\"\nname = \"{id}\"\n[outbound]\ntarget = \"directory\"\npath = \"{}\"\npoll_interval = \"50ms\"\n",
                targets.join(format!("{id}{suffix}")).display()
            );
            std::fs::write(pdir.join(format!("{id}.toml")), text).expect("partner file");
        }
        crate::config::load_dir(&pdir).expect("partners load")
    }

    async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
        let start = std::time::Instant::now();
        while !cond() {
            assert!(start.elapsed() < Duration::from_secs(10), "{what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tasks_start_restart_and_stop_with_the_partners() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (spool, targets) = (dir.path().join("spool"), dir.path().join("targets"));
        let (writer, thread) =
            StoreWriter::spawn(Store::open(&dir.path().join("edigate.db")).expect("store"));
        let mut sup = TransportSupervisor::new(spool.clone(), writer.clone());
        let drop_ack = |id: &str, name: &str| {
            let out = spool.join(id).join("out");
            std::fs::create_dir_all(&out).expect("out");
            std::fs::write(out.join(name), name).expect("ack");
        };

        let c = sup.apply(&partners(dir.path(), &targets, &[("a", "")]));
        assert_eq!(c.started, ["a/outbound"]);
        drop_ack("a", "1.x12");
        wait_for("a's first file", || targets.join("a/1.x12").exists()).await;

        // Unchanged settings: nothing restarts. A new partner starts.
        let c = sup.apply(&partners(dir.path(), &targets, &[("a", ""), ("b", "")]));
        assert_eq!(
            (c.started.as_slice(), c.restarted.len()),
            (&["b/outbound".to_string()][..], 0)
        );

        // a's target changes: the old sender ends before the new one starts.
        let c = sup.apply(&partners(dir.path(), &targets, &[("a", "-new"), ("b", "")]));
        assert_eq!(c.restarted, ["a/outbound"]);
        drop_ack("a", "2.x12");
        wait_for("a's file at the new target", || {
            targets.join("a-new/2.x12").exists()
        })
        .await;
        assert!(!targets.join("a/2.x12").exists());

        // b is removed: its sender ends, and what lands in its out/ stays there.
        let c = sup.apply(&partners(dir.path(), &targets, &[("a", "-new")]));
        assert_eq!(c.stopped, ["b/outbound"]);
        wait_for("b's sender ends", || sup.still_stopping() == 0).await;
        drop_ack("b", "3.x12");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(spool.join("b/out/3.x12").exists());
        assert!(!targets.join("b/3.x12").exists());
        assert_eq!(sup.running(), ["a/outbound"]);

        tokio::time::timeout(Duration::from_secs(5), sup.stop_all())
            .await
            .expect("every task ends");
        assert!(sup.running().is_empty());
        drop(sup);
        drop(writer);
        thread
            .join()
            .expect("writer thread ends: no task holds the store");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sender_told_to_stop_finishes_its_file_and_leaves_the_rest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = dir.path().join("spool");
        let out = spool.join("p/out");
        std::fs::create_dir_all(&out).expect("out");
        for i in 0..50 {
            // Different bytes each: the same bytes again would only be moved to sent/.
            std::fs::write(out.join(format!("{i:02}.x12")), format!("{i:04096}")).expect("ack");
        }
        let (writer, _thread) =
            StoreWriter::spawn(Store::open(&dir.path().join("edigate.db")).expect("store"));
        let target = dir.path().join("target");
        let sender = OutboundSender::new(
            "p",
            Outbound {
                target: crate::config::transport::OutboundTarget::Directory(target.clone()),
                poll_interval: Duration::from_secs(60),
            },
            &spool,
            writer,
        );
        let (trigger, stop) = shutdown::channel();
        let task = tokio::spawn(sender.run(stop));
        wait_for("a first delivery", || {
            std::fs::read_dir(&target).map(|d| d.count()).unwrap_or(0) > 0
        })
        .await;
        trigger.fire();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("ends")
            .expect("no panic");
        let delivered: Vec<_> = std::fs::read_dir(&target)
            .expect("target")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        // Every file is either delivered whole (and moved to sent/) or still waiting in out/.
        assert!(
            delivered.iter().all(|n| !n.starts_with('.')),
            "{delivered:?}"
        );
        let sent = std::fs::read_dir(out.join("sent"))
            .map(|d| d.count())
            .unwrap_or(0);
        let waiting = std::fs::read_dir(&out).expect("out").count() - 1;
        assert_eq!(sent, delivered.len());
        assert_eq!(sent + waiting, 50, "sent {sent}, waiting {waiting}");
        assert!(
            waiting > 0,
            "the stop was seen between files, not at the end of the round"
        );
    }
}

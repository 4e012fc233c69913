//! Live partner changes: the partner directory is watched, and every change (or SIGHUP, passed
//! in as `external`) becomes one reload request after a short settling delay, so an editor's
//! write-rename-chmod sequence reloads once. The reload itself runs the same check as
//! `edigate check-config`; a change that fails it is refused and the running partners stay.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use notify::Watcher;
use tokio::sync::mpsc;
use tracing::warn;

use crate::config::Partner;

/// How long changes settle before the reload.
pub const SETTLE: Duration = Duration::from_millis(300);

/// Reload requests from the partner directory and from `external` (SIGHUP). Keep the returned
/// watcher alive for as long as changes should be noticed (`None` when the directory cannot be
/// watched: SIGHUP still works).
pub fn reload_requests(
    dir: &Path,
    external: Option<mpsc::Receiver<()>>,
) -> (Option<notify::RecommendedWatcher>, mpsc::Receiver<()>) {
    let (tx, mut raw) = mpsc::channel::<()>(1);
    let watcher = {
        let tx = tx.clone();
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if let Ok(e) = event
                && !matches!(e.kind, notify::EventKind::Access(_))
            {
                let _ = tx.try_send(());
            }
        })
        .and_then(|mut w| {
            w.watch(dir, notify::RecursiveMode::NonRecursive)
                .map(|()| w)
        })
    };
    let watcher = match watcher {
        Ok(w) => Some(w),
        Err(e) => {
            warn!(dir = %dir.display(), error = %e, "Cannot watch the partner directory; reload with SIGHUP.");
            None
        }
    };
    if let Some(mut external) = external {
        let tx = tx.clone();
        tokio::spawn(async move {
            while external.recv().await.is_some() {
                if tx.send(()).await.is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let (out_tx, out_rx) = mpsc::channel(1);
    tokio::spawn(async move {
        while raw.recv().await.is_some() {
            tokio::time::sleep(SETTLE).await;
            while raw.try_recv().is_ok() {}
            if out_tx.send(()).await.is_err() {
                break;
            }
        }
    });
    (watcher, out_rx)
}

/// What a reload changed, by partner id.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PartnerChanges {
    /// Partners that are new.
    pub added: Vec<String>,
    /// Partners whose file changed.
    pub changed: Vec<String>,
    /// Partners that are gone.
    pub removed: Vec<String>,
}

impl PartnerChanges {
    /// Compares the partners before and after a reload (by id and checked settings).
    pub fn between(before: &[Partner], after: &[Partner]) -> PartnerChanges {
        let key = |ps: &[Partner]| -> BTreeMap<String, String> {
            ps.iter()
                .map(|p| (p.id.clone(), format!("{p:?}")))
                .collect()
        };
        let (old, new) = (key(before), key(after));
        let mut c = PartnerChanges::default();
        for (id, v) in &new {
            match old.get(id) {
                None => c.added.push(id.clone()),
                Some(o) if o != v => c.changed.push(id.clone()),
                Some(_) => {}
            }
        }
        c.removed = old
            .keys()
            .filter(|k| !new.contains_key(*k))
            .cloned()
            .collect();
        c
    }
}

impl PartnerChanges {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

//! The spool source: takes complete files from `<spool>/<partner>/in` and hands them to intake.
//!
//! Invariants:
//! - The listing is the truth. `notify` events only make the next listing come sooner; a full
//!   listing runs every `rescan_interval` whatever happens, so lost events delay a file, never
//!   lose it.
//! - A file is taken only when complete: dot-files and `*.tmp`, `*.part`, `*.filepart` are never
//!   taken, and size and modification time must stay unchanged over the quiet period (with a
//!   quiet period of zero a file is taken as soon as it is listed).
//! - A file is claimed by an atomic rename from `in/` into `work/` (never over a file already
//!   there), and only when intake has room for it. From then on intake owns it; it leaves
//!   `work/` only after the ledger commit (finalize).
//! - At start-up, files left in `work/` by a crash are handed to intake again, before any new
//!   file; the ledger's SHA-256 check makes that safe.
//! - A folder under the spool that is no known partner has its `in/` files moved to its
//!   `quarantine/` with a `.reason` sidecar.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::config::gateway::SpoolSettings;
use crate::shutdown::Shutdown;
use crate::sinks::directory::{sync_dir, write_atomic};

/// A partner as the spool needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolPartner {
    /// Partner id (its folder name under the spool).
    pub id: String,
    /// Its quiet period, when it overrides the gateway's.
    pub quiet_period: Option<Duration>,
}

/// The folders of one partner's spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerDirs {
    /// Files arrive here.
    pub inbox: PathBuf,
    /// Claimed files wait here until finalized.
    pub work: PathBuf,
    /// Finalized files, in dated folders.
    pub archive: PathBuf,
    /// Files nothing was accepted from, each with a `.reason` sidecar.
    pub quarantine: PathBuf,
    /// Outbound acknowledgments.
    pub out: PathBuf,
}

impl PartnerDirs {
    /// The folders of `partner` under `spool`.
    pub fn new(spool: &Path, partner: &str) -> Self {
        let base = spool.join(partner);
        PartnerDirs {
            inbox: base.join("in"),
            work: base.join("work"),
            archive: base.join("archive"),
            quarantine: base.join("quarantine"),
            out: base.join("out"),
        }
    }

    /// Creates every folder that is missing.
    pub fn create(&self) -> io::Result<()> {
        for d in [
            &self.inbox,
            &self.work,
            &self.archive,
            &self.quarantine,
            &self.out,
        ] {
            fs::create_dir_all(d)?;
        }
        Ok(())
    }
}

/// A file claimed into `work/`, owned by intake until it is finalized.
#[derive(Debug, Clone)]
pub struct ClaimedFile {
    /// Partner id (from the folder it arrived in).
    pub partner: String,
    /// The file name as received.
    pub name: String,
    /// Where it is now (in `work/`).
    pub path: PathBuf,
    /// The partner's folders.
    pub dirs: PartnerDirs,
    /// When it was claimed (ms since the Unix epoch).
    pub received_at_ms: i64,
    /// Whether it was found in `work/` at start-up (left by a crash).
    pub recovered: bool,
}

/// Whether a name may be taken at all.
pub fn eligible_name(name: &str) -> bool {
    !(name.is_empty()
        || name.starts_with('.')
        || name.ends_with(".tmp")
        || name.ends_with(".part")
        || name.ends_with(".filepart"))
}

/// What one listing saw of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    size: u64,
    mtime: Option<SystemTime>,
}

#[derive(Debug, Clone, Copy)]
struct Watch {
    seen: Seen,
    since: Instant,
}

/// A file listed in an `in/` folder.
#[derive(Debug, Clone)]
struct Listed {
    owner: Owner,
    path: PathBuf,
    name: String,
    seen: Seen,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    Partner(usize),
    Unknown(String),
}

/// The spool source.
pub struct SpoolSource {
    root: PathBuf,
    settings: SpoolSettings,
    partners: watch::Receiver<Arc<Vec<SpoolPartner>>>,
    tx: mpsc::Sender<ClaimedFile>,
    watching: HashMap<PathBuf, Watch>,
    wake: Arc<Notify>,
    watcher: Option<notify::RecommendedWatcher>,
    watched: HashSet<PathBuf>,
    last_prune: Option<Instant>,
}

/// Claim no more than this many files per folder sync.
const CLAIM_BATCH: usize = 256;

impl SpoolSource {
    /// A source over `root` for the partners in `partners`, sending claims to `tx`.
    pub fn new(
        root: PathBuf,
        settings: SpoolSettings,
        partners: watch::Receiver<Arc<Vec<SpoolPartner>>>,
        tx: mpsc::Sender<ClaimedFile>,
    ) -> Self {
        SpoolSource {
            root,
            settings,
            partners,
            tx,
            watching: HashMap::new(),
            wake: Arc::new(Notify::new()),
            watcher: None,
            watched: HashSet::new(),
            last_prune: None,
        }
    }

    /// Creates every partner's folders and hands over the files a crash left in `work/`.
    /// Runs before [`SpoolSource::run`]; intake must be consuming.
    pub async fn recover(&mut self, shutdown: &mut Shutdown) -> io::Result<usize> {
        fs::create_dir_all(&self.root)?;
        let partners = self.partners.borrow().clone();
        let mut count = 0;
        for p in partners.iter() {
            let dirs = PartnerDirs::new(&self.root, &p.id);
            dirs.create()?;
            for name in list_names(&dirs.work)? {
                if !eligible_name(&name) {
                    continue;
                }
                let claimed = ClaimedFile {
                    partner: p.id.clone(),
                    path: dirs.work.join(&name),
                    name,
                    dirs: dirs.clone(),
                    received_at_ms: now_ms(),
                    recovered: true,
                };
                tokio::select! {
                    r = self.tx.send(claimed) => if r.is_err() { return Ok(count) },
                    () = shutdown.wait() => return Ok(count),
                }
                count += 1;
            }
        }
        if count > 0 {
            info!(files = count, "Files left in work/ are processed again.");
        }
        Ok(count)
    }

    /// Lists, claims and waits, until shutdown.
    pub async fn run(mut self, mut shutdown: Shutdown) {
        if self.settings.watch {
            self.start_watcher();
        }
        loop {
            if shutdown.is_triggered() {
                break;
            }
            let next = match self.scan(&mut shutdown).await {
                Ok(next) => next,
                Err(e) => {
                    warn!(error = %e, spool = %self.root.display(), "Spool listing failed; trying again at the next rescan.");
                    None
                }
            };
            self.prune_archives().await;
            let rescan = Instant::now() + self.settings.rescan_interval;
            let deadline = next.map_or(rescan, |n| n.min(rescan));
            let wake = self.wake.clone();
            tokio::select! {
                () = shutdown.wait() => break,
                () = wake.notified() => {}
                () = tokio::time::sleep_until(deadline) => {}
                r = self.partners.changed() => {
                    if r.is_err() { break }
                    info!("Partners reloaded; spool folders follow.");
                    self.refresh_watches();
                }
            }
        }
        debug!("Spool source stopped.");
    }

    fn start_watcher(&mut self) {
        let wake = self.wake.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            // An error may mean lost events: a listing finds what they would have announced.
            if event.as_ref().map_or(true, |e| may_bring_a_file(&e.kind)) {
                wake.notify_one();
            }
        });
        match watcher {
            Ok(w) => self.watcher = Some(w),
            Err(e) => {
                warn!(error = %e, "Cannot watch the spool; relying on rescans only.");
            }
        }
        self.refresh_watches();
    }

    fn refresh_watches(&mut self) {
        use notify::Watcher;
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        let partners = self.partners.borrow().clone();
        let mut want: HashSet<PathBuf> = HashSet::new();
        want.insert(self.root.clone());
        for p in partners.iter() {
            let dirs = PartnerDirs::new(&self.root, &p.id);
            if let Err(e) = dirs.create() {
                warn!(partner = %p.id, error = %e, "Cannot create the partner's spool folders.");
            }
            want.insert(dirs.inbox);
        }
        for gone in self.watched.difference(&want).cloned().collect::<Vec<_>>() {
            let _ = watcher.unwatch(&gone);
            self.watched.remove(&gone);
        }
        for path in want {
            if self.watched.contains(&path) {
                continue;
            }
            match watcher.watch(&path, notify::RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.watched.insert(path);
                }
                Err(e) => {
                    debug!(path = %path.display(), error = %e, "Cannot watch a folder; the rescan covers it.");
                }
            }
        }
    }

    /// One listing: claims what is complete, returns when the next pending file may be ready.
    async fn scan(&mut self, shutdown: &mut Shutdown) -> io::Result<Option<Instant>> {
        let partners = self.partners.borrow().clone();
        let root = self.root.clone();
        let ids: Vec<String> = partners.iter().map(|p| p.id.clone()).collect();
        let listed = tokio::task::spawn_blocking(move || list_spool(&root, &ids))
            .await
            .map_err(io::Error::other)??;
        let now = Instant::now();
        let wall = SystemTime::now();
        let mut ready: Vec<Listed> = Vec::new();
        let mut next: Option<Instant> = None;
        let mut present = HashSet::new();
        for item in listed {
            present.insert(item.path.clone());
            let quiet = match &item.owner {
                Owner::Partner(i) => partners[*i]
                    .quiet_period
                    .unwrap_or(self.settings.quiet_period),
                Owner::Unknown(_) => self.settings.quiet_period,
            };
            let w = self.watching.entry(item.path.clone()).or_insert(Watch {
                seen: item.seen,
                since: now,
            });
            if w.seen != item.seen {
                *w = Watch {
                    seen: item.seen,
                    since: now,
                };
            }
            let age = item
                .seen
                .mtime
                .and_then(|m| wall.duration_since(m).ok())
                .unwrap_or(Duration::ZERO);
            if quiet.is_zero() || (now.duration_since(w.since) >= quiet && age >= quiet) {
                ready.push(item);
            } else {
                let at = w.since + quiet;
                next = Some(next.map_or(at, |n: Instant| n.min(at)));
            }
        }
        self.watching.retain(|p, _| present.contains(p));
        let (known, unknown): (Vec<Listed>, Vec<Listed>) = ready
            .into_iter()
            .partition(|l| matches!(l.owner, Owner::Partner(_)));
        if !unknown.is_empty() {
            let root = self.root.clone();
            tokio::task::spawn_blocking(move || quarantine_unknown(&root, unknown))
                .await
                .map_err(io::Error::other)?;
        }
        self.claim(&partners, known, shutdown).await?;
        Ok(next)
    }

    /// Moves ready files into `work/` as intake makes room, one folder sync per batch.
    async fn claim(
        &mut self,
        partners: &[SpoolPartner],
        mut ready: Vec<Listed>,
        shutdown: &mut Shutdown,
    ) -> io::Result<()> {
        // Oldest first, so files leave in the order they arrived.
        ready.sort_by(|a, b| a.seen.mtime.cmp(&b.seen.mtime).then(a.name.cmp(&b.name)));
        let mut ready = ready.into_iter().peekable();
        while ready.peek().is_some() {
            // Claims wait for room for several files (up to half of intake's queue), so one
            // folder sync covers many of them while the other half keeps intake busy; a lone
            // file is claimed at once.
            let left = ready.len();
            let several = (self.tx.max_capacity() / 2).clamp(1, CLAIM_BATCH);
            let room = self
                .tx
                .capacity()
                .max(several)
                .min(left)
                .clamp(1, CLAIM_BATCH);
            let permits = tokio::select! {
                p = self.tx.reserve_many(room) => match p {
                    Ok(p) => p,
                    Err(_) => return Ok(()),
                },
                () = shutdown.wait() => return Ok(()),
            };
            let batch: Vec<Listed> = ready.by_ref().take(room).collect();
            let dirs: Vec<PartnerDirs> = batch
                .iter()
                .map(|l| match &l.owner {
                    Owner::Partner(i) => PartnerDirs::new(&self.root, &partners[*i].id),
                    Owner::Unknown(dir) => PartnerDirs::new(&self.root, dir),
                })
                .collect();
            let claimed = tokio::task::spawn_blocking(move || rename_batch(batch, dirs))
                .await
                .map_err(io::Error::other)?;
            for (claimed, permit) in claimed.into_iter().zip(permits) {
                self.watching.remove(&claimed.1);
                let (file, _) = claimed;
                debug!(partner = %file.partner, file = %file.name, "File claimed.");
                permit.send(file);
            }
        }
        Ok(())
    }

    /// Removes dated archive folders older than the retention, at most once an hour.
    async fn prune_archives(&mut self) {
        let Some(retention) = self.settings.archive_retention else {
            return;
        };
        if self
            .last_prune
            .is_some_and(|t| t.elapsed() < Duration::from_secs(3600))
        {
            return;
        }
        self.last_prune = Some(Instant::now());
        let partners = self.partners.borrow().clone();
        let root = self.root.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let today = chrono::Utc::now().date_naive();
            for p in partners.iter() {
                let dirs = PartnerDirs::new(&root, &p.id);
                if let Err(e) = prune_archive(&dirs.archive, retention, today) {
                    warn!(partner = %p.id, error = %e, "Cannot prune the archive.");
                }
            }
        })
        .await;
    }
}

/// Whether a watch event may announce a file to take (or a change to a file being watched over
/// its quiet period). Opening and reading a folder are events too: the listing itself opens
/// `in/`, so waking on those would make every listing cause the next one. Files leaving (removed,
/// renamed away, as claiming does) bring nothing either.
fn may_bring_a_file(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind, RenameMode};
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Remove(_) => false,
        EventKind::Modify(ModifyKind::Name(RenameMode::From)) => false,
        EventKind::Any | EventKind::Other | EventKind::Create(_) | EventKind::Modify(_) => true,
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn list_names(dir: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Lists the `in/` folder of every partner, and of any other folder under the spool.
fn list_spool(root: &Path, partners: &[String]) -> io::Result<Vec<Listed>> {
    let mut out = Vec::new();
    for (i, id) in partners.iter().enumerate() {
        list_inbox(&root.join(id).join("in"), Owner::Partner(i), &mut out)?;
    }
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') || partners.contains(&name) || !entry.file_type()?.is_dir() {
            continue;
        }
        let inbox = entry.path().join("in");
        if inbox.is_dir() {
            list_inbox(&inbox, Owner::Unknown(name), &mut out)?;
        }
    }
    Ok(out)
}

fn list_inbox(inbox: &Path, owner: Owner, out: &mut Vec<Listed>) -> io::Result<()> {
    let entries = match fs::read_dir(inbox) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !eligible_name(&name) {
            continue;
        }
        // The file may be claimed or removed between the listing and the stat.
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        out.push(Listed {
            owner: owner.clone(),
            path: entry.path(),
            name,
            seen: Seen {
                size: meta.len(),
                mtime: meta.modified().ok(),
            },
        });
    }
    Ok(())
}

/// Renames each file into its `work/` (never over an existing file), then syncs the folders.
fn rename_batch(batch: Vec<Listed>, dirs: Vec<PartnerDirs>) -> Vec<(ClaimedFile, PathBuf)> {
    let mut claimed = Vec::with_capacity(batch.len());
    let mut synced: HashSet<PathBuf> = HashSet::new();
    for (item, dirs) in batch.into_iter().zip(dirs) {
        let Owner::Partner(_) = item.owner else {
            continue;
        };
        let target = dirs.work.join(&item.name);
        // A same-named file still being processed stays in in/ until that one is finalized.
        if target.exists() {
            continue;
        }
        match fs::rename(&item.path, &target) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                warn!(file = %item.path.display(), error = %e, "Cannot claim a file; it stays in in/.");
                continue;
            }
        }
        synced.insert(dirs.work.clone());
        synced.insert(dirs.inbox.clone());
        let partner = dirs
            .work
            .parent()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        claimed.push((
            ClaimedFile {
                partner,
                name: item.name,
                path: target,
                dirs,
                received_at_ms: now_ms(),
                recovered: false,
            },
            item.path,
        ));
    }
    for dir in synced {
        if let Err(e) = sync_dir(&dir) {
            warn!(dir = %dir.display(), error = %e, "Cannot sync a spool folder.");
        }
    }
    claimed
}

/// Moves files of a folder that is no partner into its `quarantine/`, each with a reason.
fn quarantine_unknown(root: &Path, items: Vec<Listed>) {
    for item in items {
        let Owner::Unknown(dir) = &item.owner else {
            continue;
        };
        let reason = format!(
            "folder {dir:?} under the spool belongs to no known partner; add a partner file with id = {dir:?} and move the file back into {dir}/in to process it\n"
        );
        let dirs = PartnerDirs::new(root, dir);
        match quarantine(&item.path, &dirs.quarantine, &item.name, &reason) {
            Ok(to) => {
                warn!(folder = %dir, file = %item.name, to = %to.display(), "File of an unknown partner quarantined.");
            }
            Err(e) => {
                warn!(folder = %dir, file = %item.name, error = %e, "Cannot quarantine a file of an unknown partner.");
            }
        }
    }
}

/// Moves `from` into `dir` under a free name, with `<name>.reason` beside it; the reason is
/// written first so a quarantined file never lacks one.
pub fn quarantine(from: &Path, dir: &Path, name: &str, reason: &str) -> io::Result<PathBuf> {
    fs::create_dir_all(dir)?;
    let target = free_name(dir, name);
    let target_name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.to_string());
    write_atomic(dir, &format!("{target_name}.reason"), reason.as_bytes())?;
    fs::rename(from, &target)?;
    sync_dir(dir)?;
    Ok(target)
}

/// `dir/name`, or `dir/name.1`, `dir/name.2`, ... whichever does not exist yet.
pub fn free_name(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !first.exists() {
        return first;
    }
    (1u32..)
        .map(|n| dir.join(format!("{name}.{n}")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

/// Removes `archive/YYYY-MM-DD` folders older than `retention` before `today`.
pub fn prune_archive(
    archive: &Path,
    retention: Duration,
    today: chrono::NaiveDate,
) -> io::Result<u32> {
    let days = i64::try_from(retention.as_secs() / 86_400).unwrap_or(i64::MAX);
    let Some(cutoff) = today.checked_sub_signed(chrono::TimeDelta::days(days)) else {
        return Ok(0);
    };
    let mut removed = 0;
    let entries = match fs::read_dir(archive) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(date) = name
            .to_str()
            .and_then(|n| chrono::NaiveDate::parse_from_str(n, "%Y-%m-%d").ok())
        else {
            continue;
        };
        if date < cutoff && entry.file_type()?.is_dir() {
            fs::remove_dir_all(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_a_folder_wakes_nobody_but_an_arriving_file_does() {
        use notify::event::{
            AccessKind, AccessMode, CreateKind, DataChange, EventKind, ModifyKind, RemoveKind,
            RenameMode,
        };
        for quiet in [
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            EventKind::Modify(ModifyKind::Name(RenameMode::From)),
            EventKind::Remove(RemoveKind::File),
        ] {
            assert!(!may_bring_a_file(&quiet), "{quiet:?}");
        }
        for wakes in [
            EventKind::Create(CreateKind::File),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            EventKind::Other,
        ] {
            assert!(may_bring_a_file(&wakes), "{wakes:?}");
        }
    }

    #[test]
    fn temporary_and_hidden_names_are_never_taken() {
        for name in [".x", "a.tmp", "a.part", "a.filepart", ""] {
            assert!(!eligible_name(name), "{name}");
        }
        for name in ["a.edi", "a", "a.tmp.edi", "part"] {
            assert!(eligible_name(name), "{name}");
        }
    }

    #[test]
    fn free_name_never_replaces() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(free_name(dir.path(), "a"), dir.path().join("a"));
        fs::write(dir.path().join("a"), "1").expect("write");
        fs::write(dir.path().join("a.1"), "2").expect("write");
        assert_eq!(free_name(dir.path(), "a"), dir.path().join("a.2"));
    }

    #[test]
    fn quarantine_leaves_a_reason_beside_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("f.edi");
        fs::write(&src, "x").expect("write");
        let q = dir.path().join("q");
        let to = quarantine(&src, &q, "f.edi", "because\n").expect("quarantined");
        assert_eq!(to, q.join("f.edi"));
        assert_eq!(
            fs::read_to_string(q.join("f.edi.reason")).expect("reason"),
            "because\n"
        );
        assert!(!src.exists());
    }

    #[test]
    fn archive_folders_past_retention_are_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        for d in ["2026-01-01", "2026-01-20", "notes"] {
            fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        let today = chrono::NaiveDate::from_ymd_opt(2026, 1, 21).expect("date");
        let removed =
            prune_archive(dir.path(), Duration::from_secs(7 * 86_400), today).expect("pruned");
        assert_eq!(removed, 1);
        assert!(dir.path().join("2026-01-20").exists());
        assert!(dir.path().join("notes").exists());
    }
}

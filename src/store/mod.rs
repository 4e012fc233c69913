//! The durable ledger and outbox: the only place that opens the SQLite database.
//!
//! # What lives here
//! - [`schema`]: migrations, one `PRAGMA user_version` step at a time.
//! - [`ledger`]: files, interchanges, transaction sets, records and outbound acknowledgments,
//!   all recorded by [`Store::record_file`] in one SQLite transaction.
//! - [`outbox`]: deliveries to the ERP: claiming, outcomes, recovery after a crash, replay.
//! - [`counters`]: durable control numbers that are never handed out twice.
//! - [`transport`]: remote files taken by the pollers, per-partner poll health, outbound
//!   deliveries (schema version 2).
//! - [`queries`]: operator views (status, dead letters, lineage) and their text/JSON rendering.
//!
//! # Invariants
//! 1. **One commit per file.** The file row, its interchanges, transaction sets, records, one
//!    delivery per newly inserted record and the file's acknowledgments are written in one SQLite
//!    transaction. The source finalizes (moves) the input only after that commit returned `Ok`.
//! 2. **A record id is enqueued at most once.** `records.id` is the canonical idempotency key and
//!    the primary key; `deliveries.record_id` is `UNIQUE`. Recording the same record again (a
//!    duplicate file or interchange, a replayed crash) inserts nothing and creates no delivery.
//! 3. **Per-lane order.** A lane is `(partner, kind)`. Deliveries are ordered by `deliveries.seq`
//!    (assigned increasing at enqueue and again at replay). [`Store::claim_due`] hands out a
//!    delivery only when it is the lane's oldest `pending`/`in_flight` delivery, so at most one
//!    delivery per lane is in flight and a lane waits while its head waits for a retry.
//!    Dead letters and delivered rows are out of the lane and block nothing.
//! 4. **Crash safety.** `in_flight` is only a claim, never evidence of delivery:
//!    [`Store::recover_in_flight`] turns it back into `pending` at start-up, and the ERP
//!    de-duplicates the second attempt by `Idempotency-Key`. Claims are therefore committed with
//!    `synchronous=NORMAL` (a lost claim is harmless); every other commit is `synchronous=FULL`.
//! 5. **The ledger is evidence.** A database newer than this code is refused
//!    ([`StoreError::Newer`]); a damaged one is reported ([`StoreError::Damaged`]) and left exactly
//!    where it is: this module never deletes, truncates or recreates a database file.
//! 6. **Duplicate files are recorded, not refused.** `files.sha256` is indexed but not unique: a
//!    second arrival of the same bytes gets its own row with state [`FileState::Duplicate`] (so
//!    the ledger shows every arrival); [`Store::file_by_sha256`] returns the first arrival.
//!
//! # Beyond the contract (`/work/tools/store-api.md`)
//! Additions, all optional for callers: [`Store::record_files`],
//! [`Store::record_files_and_finalize`] and
//! [`Store::mark_finalized_many`] (several files per commit), [`Store::claim_due_runs`] and
//! [`Store::release`] (ordered runs per lane), [`Store::next_due_at`], [`Store::unfinalized_files`],
//! [`Store::unwritten_acks`] / [`Store::mark_acks_written`], [`Store::reserve_controls`] /
//! [`Store::reserve_counters`] / [`Store::counters`] (ack control numbers),
//! [`Store::quick_check`], [`Store::status_at`], [`Store::record_outcomes_at`], and the
//! [`StoreError::Older`] and [`StoreError::Invalid`] variants.
//!
//! Times are Unix milliseconds (`i64`). The store is synchronous; the daemon owns one writer
//! [`Store`] on one thread and operator commands use [`Store::open_readonly`].

pub mod counters;
pub mod ledger;
pub mod metrics;
pub mod outbox;
pub mod queries;
pub mod schema;
pub mod transport;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use counters::{ControlRange, ReservedCounters, StoreCounters};
pub use ledger::AckOut;
pub use queries::{
    AttemptRow, DeliveryCounts, Lineage, LineageInterchange, LineageRecord, LineageSet,
    PartnerStatus, StatusReport, render_dead_letters, render_lineage, render_replay, render_status,
};

/// The database file name inside the state directory.
pub const DB_FILE_NAME: &str = "edigate.db";

/// How long a statement waits for a lock held by another connection.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database was written by a newer edigate; it is left untouched.
    #[error(
        "the database schema is version {found}, newer than this edigate supports ({supported}); upgrade edigate"
    )]
    Newer {
        /// `PRAGMA user_version` found in the file.
        found: u32,
        /// The newest version this code knows.
        supported: u32,
    },
    /// A read-only handle found a database not yet migrated to this code's schema (start the
    /// daemon once to migrate it).
    #[error(
        "the database schema is version {found}, older than this edigate ({supported}); run the daemon once to migrate it"
    )]
    Older {
        /// `PRAGMA user_version` found in the file.
        found: u32,
        /// The version this code expects.
        supported: u32,
    },
    /// The database is damaged; it is left in place for inspection and never recreated.
    #[error("the database is damaged and was left untouched: {0}")]
    Damaged(String),
    /// The caller asked for something the ledger cannot do (an unknown id, too few reserved
    /// control numbers); nothing was written.
    #[error("{0}")]
    Invalid(String),
    /// Any other SQLite error.
    #[error("sqlite: {0}")]
    Sqlite(#[source] rusqlite::Error),
    /// Creating the state directory or reading the file failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl From<rusqlite::Error> for StoreError {
    /// Corruption codes become [`StoreError::Damaged`] wherever they surface; the rest stay SQLite.
    fn from(e: rusqlite::Error) -> Self {
        classify(e)
    }
}

/// What became of a received file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    /// Every transaction set was accepted.
    Accepted,
    /// Nothing in the file was accepted.
    Rejected,
    /// Some transaction sets were rejected, others accepted.
    Partial,
    /// The same bytes were recorded before; nothing was processed again.
    Duplicate,
    /// The file could not be attributed or read; it goes to `quarantine/`.
    Quarantined,
}

impl FileState {
    /// The name stored in the database and shown to operators.
    pub fn as_str(self) -> &'static str {
        match self {
            FileState::Accepted => "accepted",
            FileState::Rejected => "rejected",
            FileState::Partial => "partial",
            FileState::Duplicate => "duplicate",
            FileState::Quarantined => "quarantined",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<FileState> {
        Some(match s {
            "accepted" => FileState::Accepted,
            "rejected" => FileState::Rejected,
            "partial" => FileState::Partial,
            "duplicate" => FileState::Duplicate,
            "quarantined" => FileState::Quarantined,
            _ => return None,
        })
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its turn (`next_attempt_at`) and for its lane.
    Pending,
    /// Claimed by the forwarder; returns to pending after a crash.
    InFlight,
    /// The ERP accepted it (2xx or 409).
    Delivered,
    /// Refused for good; waits for an operator (dead letter).
    Dead,
}

impl DeliveryState {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::InFlight => "in_flight",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Dead => "dead",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<DeliveryState> {
        Some(match s {
            "pending" => DeliveryState::Pending,
            "in_flight" => DeliveryState::InFlight,
            "delivered" => DeliveryState::Delivered,
            "dead" => DeliveryState::Dead,
            _ => return None,
        })
    }
}

/// Everything learned from one received file, recorded by [`Store::record_file`].
#[derive(Debug, Clone)]
pub struct FileIntake {
    /// Partner id from its config file (or `"unknown"` for quarantined strays).
    pub partner: String,
    /// The file name as received (no directory).
    pub name: String,
    /// SHA-256 of the bytes, lower-case hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// When the source handed the file over (Unix ms).
    pub received_at_ms: i64,
    /// Shared by every delivery from this file (sent as a header to the ERP).
    pub correlation_id: String,
    /// The file's outcome.
    pub state: FileState,
    /// Why a file was rejected, quarantined or marked duplicate.
    pub reason: Option<String>,
    /// Interchanges in file order.
    pub interchanges: Vec<InterchangeRow>,
    /// Transaction sets in file order.
    pub transactions: Vec<TransactionRow>,
    /// Canonical records produced from the file.
    pub records: Vec<RecordRow>,
    /// Acknowledgments to write into the partner's `out/`.
    pub acks: Vec<AckRow>,
}

/// One received interchange.
#[derive(Debug, Clone, Default)]
pub struct InterchangeRow {
    /// ISA05:ISA06 as received.
    pub sender: String,
    /// ISA07:ISA08 as received.
    pub receiver: String,
    /// ISA13.
    pub isa13: String,
    /// SHA-256 of the interchange's bytes, lower-case hex.
    pub content_sha256: String,
    /// The envelope was rejected (TA1 `R`).
    pub rejected: bool,
    /// The caller already knows it is a duplicate; the store also detects
    /// `(sender, isa13, content_sha256)` recorded before and sets the flag itself.
    pub duplicate: bool,
    /// Envelope findings as JSON (`"[]"` when none).
    pub findings_json: String,
}

/// One received transaction set.
#[derive(Debug, Clone, Default)]
pub struct TransactionRow {
    /// ISA13 of its interchange (links the set to the interchange in the same file).
    pub isa13: String,
    /// GS06 of its group.
    pub gs06: String,
    /// ST01 (`940`, `856`, ...).
    pub st01: String,
    /// ST02.
    pub st02: String,
    /// `accepted`, `accepted_with_errors`, `rejected`, ... as the engine says.
    pub verdict: String,
    /// Set findings as JSON (`"[]"` when none).
    pub findings_json: String,
    /// The canonical record made from the set, if any.
    pub record_id: Option<String>,
}

/// One canonical record.
#[derive(Debug, Clone, Default)]
pub struct RecordRow {
    /// Canonical idempotency key (32 hex characters).
    pub id: String,
    /// Record kind in snake_case (`warehouse_order`, ...); also the ERP path segment.
    pub kind: String,
    /// Partner id.
    pub partner: String,
    /// The canonical record JSON, exactly as it is POSTed.
    pub json: String,
    /// Test data (ISA15 = `T`).
    pub test: bool,
}

/// One outbound acknowledgment.
#[derive(Debug, Clone, Default)]
pub struct AckRow {
    /// `TA1`, `997` or `999`.
    pub kind: String,
    /// The ISA13 given to the acknowledgment interchange.
    pub isa13: String,
    /// The whole acknowledgment interchange.
    pub text: String,
    /// The file name to write in `out/`.
    pub file_name: String,
}

/// What [`Store::record_file`] added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// The new `files.id`.
    pub file_id: i64,
    /// Records inserted now (each with a new pending delivery).
    pub new_records: u64,
    /// Records whose id was already present (not enqueued again).
    pub duplicate_records: u64,
    /// Interchanges whose `(sender, isa13, content_sha256)` was recorded before.
    pub duplicate_interchanges: u64,
    /// ISA13s seen before from the same sender with different content (processed; warn).
    pub reused_isa13: Vec<String>,
}

/// A recorded file, as read back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileRow {
    /// `files.id`.
    pub id: i64,
    /// Partner id.
    pub partner: String,
    /// Name as received.
    pub name: String,
    /// SHA-256 of the bytes.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// When received (Unix ms).
    pub received_at_ms: i64,
    /// When finalized (moved to archive/quarantine), if yet.
    pub finalized_at_ms: Option<i64>,
    /// Outcome.
    pub state: FileState,
    /// Why, for rejected/quarantined/duplicate files.
    pub reason: Option<String>,
    /// Shared by every delivery from the file.
    pub correlation_id: String,
    /// Where the file went after the commit.
    pub final_path: Option<String>,
}

/// A delivery handed to the forwarder by [`Store::claim_due`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryJob {
    /// `deliveries.id`.
    pub delivery_id: i64,
    /// Canonical id: the `Idempotency-Key`.
    pub record_id: String,
    /// Record kind: the ERP path segment.
    pub kind: String,
    /// Partner id.
    pub partner: String,
    /// Correlation id of the file that produced the record.
    pub correlation_id: String,
    /// The canonical JSON body.
    pub body: String,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// What the forwarder learned from one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// 2xx, or 409 (already there).
    Delivered {
        /// `deliveries.id`.
        delivery_id: i64,
        /// HTTP status.
        status: u16,
        /// Start of the ERP's response body.
        excerpt: String,
    },
    /// Try again at `next_attempt_ms`.
    Retry {
        /// `deliveries.id`.
        delivery_id: i64,
        /// When the next attempt is due (Unix ms).
        next_attempt_ms: i64,
        /// What went wrong.
        error: String,
        /// HTTP status, when there was a response.
        status: Option<u16>,
    },
    /// Refused for good: dead letter.
    Dead {
        /// `deliveries.id`.
        delivery_id: i64,
        /// The ERP's reason.
        error: String,
        /// HTTP status, when there was a response.
        status: Option<u16>,
        /// Start of the ERP's response body.
        excerpt: String,
    },
}

impl DeliveryOutcome {
    /// The delivery this outcome is for.
    pub fn delivery_id(&self) -> i64 {
        match self {
            DeliveryOutcome::Delivered { delivery_id, .. }
            | DeliveryOutcome::Retry { delivery_id, .. }
            | DeliveryOutcome::Dead { delivery_id, .. } => *delivery_id,
        }
    }
}

/// A delivery as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryRow {
    /// `deliveries.id`.
    pub id: i64,
    /// Canonical id.
    pub record_id: String,
    /// Partner id.
    pub partner: String,
    /// Record kind.
    pub kind: String,
    /// Current state.
    pub state: DeliveryState,
    /// Attempts made (reset by a replay; the attempt history is kept).
    pub attempts: u32,
    /// When the next attempt is due (Unix ms).
    pub next_attempt_at_ms: i64,
    /// Last error.
    pub last_error: Option<String>,
    /// Last HTTP status.
    pub status: Option<u16>,
    /// Start of the last response body.
    pub excerpt: Option<String>,
    /// When enqueued (Unix ms).
    pub created_at_ms: i64,
    /// Last change (Unix ms).
    pub updated_at_ms: i64,
    /// When delivered (Unix ms).
    pub delivered_at_ms: Option<i64>,
}

/// One SQLite connection: the daemon's writer or an operator's read-only view.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    readonly: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("readonly", &self.readonly)
            .finish()
    }
}

impl Store {
    /// Opens (creating if absent) the database at `path`: WAL, `synchronous=FULL`, a 5 s
    /// `busy_timeout`, foreign keys, and migrations one version at a time. Refuses a database
    /// newer than this code and reports a damaged one without touching it.
    ///
    /// `path` is the database file, or a directory (the state directory), in which case the
    /// file is `<path>/edigate.db` and the directory is created if needed.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let file = resolve_path(path, true)?;
        let conn = Connection::open_with_flags(
            &file,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        let mut store = Store {
            conn,
            path: file,
            readonly: false,
        };
        store.configure()?;
        schema::migrate(&mut store.conn)?;
        Ok(store)
    }

    /// Opens an existing database read-only, for operator commands while the daemon runs.
    /// Fails if the database does not exist or its schema is not the current one.
    pub fn open_readonly(path: &Path) -> Result<Store, StoreError> {
        let file = resolve_path(path, false)?;
        if !file.exists() {
            return Err(StoreError::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no database at {}", file.display()),
            )));
        }
        let conn = Connection::open_with_flags(
            &file,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        schema::check_readonly(&conn)?;
        Ok(Store {
            conn,
            path: file,
            readonly: true,
        })
    }

    /// The database file this store has open.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `PRAGMA integrity_check`; `"ok"` when the database is sound.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut lines = Vec::new();
        for row in rows {
            lines.push(row?);
        }
        Ok(lines.join("\n"))
    }

    /// Runs `PRAGMA quick_check` (reads every page: seconds per gigabyte) and turns any
    /// finding into [`StoreError::Damaged`]. The daemon calls it at start-up before taking
    /// work; the database is only read.
    pub fn quick_check(&self) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare("PRAGMA quick_check")?;
        let lines = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        if lines.len() == 1 && lines[0] == "ok" {
            return Ok(());
        }
        let shown: Vec<&str> = lines.iter().take(5).map(String::as_str).collect();
        Err(StoreError::Damaged(format!(
            "{}: quick_check found {} problem(s): {}",
            self.path.display(),
            lines.len(),
            shown.join("; ")
        )))
    }

    fn configure(&mut self) -> rusqlite::Result<()> {
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        // journal_mode returns a row; WAL persists in the file once set.
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(rusqlite::Error::InvalidParameterName(format!(
                "journal_mode stayed {mode}, WAL required"
            )));
        }
        self.conn.execute_batch(
            "PRAGMA synchronous=FULL;
             PRAGMA foreign_keys=ON;",
        )?;
        self.conn.set_prepared_statement_cache_capacity(64);
        Ok(())
    }

    fn set_synchronous_full(&self, full: bool) -> rusqlite::Result<()> {
        self.conn.execute_batch(if full {
            "PRAGMA synchronous=FULL"
        } else {
            "PRAGMA synchronous=NORMAL"
        })
    }
}

/// `path` may be the database file or the state directory.
fn resolve_path(path: &Path, create_dir: bool) -> Result<PathBuf, StoreError> {
    if path.is_dir() {
        return Ok(path.join(DB_FILE_NAME));
    }
    let looks_like_dir = path.extension().is_none() && !path.exists();
    if looks_like_dir {
        if create_dir {
            std::fs::create_dir_all(path)?;
        }
        return Ok(path.join(DB_FILE_NAME));
    }
    if create_dir
        && let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    Ok(path.to_path_buf())
}

/// Turns SQLite's "this is not a database" and corruption codes into [`StoreError::Damaged`].
pub(crate) fn classify(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(err, ref msg) = e {
        use rusqlite::ErrorCode;
        if matches!(
            err.code,
            ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt
        ) {
            let detail = msg.clone().unwrap_or_else(|| err.to_string());
            return StoreError::Damaged(detail);
        }
    }
    StoreError::Sqlite(e)
}

/// The current time in Unix milliseconds (for rows the caller gives no time for).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_creates_the_database_in_a_state_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        let store = Store::open(&state).expect("open");
        assert_eq!(store.path(), state.join(DB_FILE_NAME));
        assert_eq!(store.integrity_check().expect("check"), "ok");
        let mode: String = store
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("mode");
        assert_eq!(mode, "wal");
        let sync: i64 = store
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .expect("sync");
        assert_eq!(sync, 2, "synchronous=FULL");
        let fk: i64 = store
            .conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .expect("fk");
        assert_eq!(fk, 1);
    }

    #[test]
    fn damaged_file_is_reported_and_left_untouched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join(DB_FILE_NAME);
        let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 + 3) as u8).collect();
        std::fs::write(&file, &garbage).expect("write");
        let err = Store::open(&file).expect_err("garbage must not open");
        assert!(matches!(err, StoreError::Damaged(_)), "got {err:?}");
        assert!(err.to_string().contains("damaged"));
        assert_eq!(
            std::fs::read(&file).expect("read"),
            garbage,
            "file untouched"
        );
        let err = Store::open_readonly(&file).expect_err("read-only open too");
        assert!(matches!(err, StoreError::Damaged(_)), "got {err:?}");
        assert_eq!(
            std::fs::read(&file).expect("read"),
            garbage,
            "file untouched"
        );
    }

    #[test]
    fn corrupted_pages_are_reported_as_damaged_and_the_file_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join(DB_FILE_NAME);
        {
            let mut store = Store::open(&file).expect("open");
            let mut f = ledger::tests::intake("a.x12", "acme", "warehouse_order", "a", 2000);
            f.records.iter_mut().for_each(|r| r.json = r.json.repeat(8));
            store.record_file(&f).expect("record");
        }
        let mut bytes = std::fs::read(&file).expect("read");
        assert!(bytes.len() > 64 * 1024, "{} bytes", bytes.len());
        // Keep the header page (so the file still looks like SQLite), trash pages further in.
        for b in &mut bytes[8192..40960] {
            *b = 0x5a;
        }
        std::fs::write(&file, &bytes).expect("write");
        let outcome = Store::open(&file).and_then(|s| s.quick_check());
        let err = outcome.expect_err("damage must be found");
        assert!(matches!(err, StoreError::Damaged(_)), "got {err:?}");
        assert_eq!(std::fs::read(&file).expect("read"), bytes, "file untouched");
    }

    #[test]
    fn readonly_open_works_after_the_writer_closed() {
        let dir = tempfile::tempdir().expect("tempdir");
        drop(Store::open(dir.path()).expect("open"));
        let store = Store::open_readonly(dir.path()).expect("read-only");
        assert_eq!(store.status().expect("status").deliveries.pending, 0);
        store.quick_check().expect("sound");
    }

    #[test]
    fn readonly_open_of_a_missing_database_fails_without_creating_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join(DB_FILE_NAME);
        assert!(Store::open_readonly(&file).is_err());
        assert!(!file.exists());
    }
}

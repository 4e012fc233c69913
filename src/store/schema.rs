//! Schema migrations: SQL strings applied one `PRAGMA user_version` step at a time.
//!
//! Rules: a migration is never edited once released (add a new one instead); each step runs in
//! its own `BEGIN IMMEDIATE` transaction together with its `user_version` bump, so a crash leaves
//! the database at the previous or the next version, never between; a database whose
//! `user_version` is above [`SUPPORTED_VERSION`] is refused untouched.

use rusqlite::Connection;

use super::StoreError;

/// Migration `i` (0-based) takes the database from `user_version = i` to `i + 1`.
const MIGRATIONS: &[&str] = &[V1, V2];

/// The newest schema this code knows.
pub const SUPPORTED_VERSION: u32 = MIGRATIONS.len() as u32;

/// Version 2: partner transports: remote files taken by the pollers, per-partner poll health,
/// outbound deliveries of `out/` files.
const V2: &str = r#"
CREATE TABLE remote_files (
    partner       TEXT    NOT NULL,
    remote_path   TEXT    NOT NULL,
    size          INTEGER NOT NULL,
    mtime         INTEGER NOT NULL,
    sha256        TEXT    NOT NULL,
    local_name    TEXT    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('handed', 'done')),
    downloaded_at INTEGER NOT NULL,
    done_at       INTEGER,
    PRIMARY KEY (partner, remote_path, size, mtime)
);
CREATE TABLE transport_health (
    partner       TEXT    NOT NULL,
    direction     TEXT    NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    last_ok_at    INTEGER,
    last_error    TEXT,
    last_error_at INTEGER,
    failures      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (partner, direction)
);
CREATE TABLE outbound_deliveries (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    partner   TEXT    NOT NULL,
    name      TEXT    NOT NULL,
    size      INTEGER NOT NULL,
    sha256    TEXT    NOT NULL,
    target    TEXT    NOT NULL,
    state     TEXT    NOT NULL CHECK (state IN ('delivered', 'failed')),
    error     TEXT,
    at        INTEGER NOT NULL
);
CREATE INDEX outbound_by_file ON outbound_deliveries (partner, sha256, state);
"#;

/// Version 1: ledger, outbox, acknowledgments and counters.
const V1: &str = r#"
CREATE TABLE files (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    partner        TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    sha256         TEXT    NOT NULL,
    size           INTEGER NOT NULL,
    received_at    INTEGER NOT NULL,
    recorded_at    INTEGER NOT NULL,
    finalized_at   INTEGER,
    state          TEXT    NOT NULL
        CHECK (state IN ('accepted', 'rejected', 'partial', 'duplicate', 'quarantined')),
    reason         TEXT,
    correlation_id TEXT    NOT NULL,
    final_path     TEXT
);
-- Not UNIQUE: a second arrival of the same bytes is recorded as its own 'duplicate' row.
CREATE INDEX files_by_sha256 ON files (sha256, id);
CREATE INDEX files_by_name ON files (name);
CREATE INDEX files_by_partner ON files (partner, received_at);
CREATE INDEX files_unfinalized ON files (id) WHERE finalized_at IS NULL;

CREATE TABLE interchanges (
    id             INTEGER PRIMARY KEY,
    file_id        INTEGER NOT NULL REFERENCES files (id),
    position       INTEGER NOT NULL,
    sender         TEXT    NOT NULL,
    receiver       TEXT    NOT NULL,
    isa13          TEXT    NOT NULL,
    content_sha256 TEXT    NOT NULL,
    duplicate      INTEGER NOT NULL,
    isa13_reused   INTEGER NOT NULL,
    rejected       INTEGER NOT NULL,
    findings       TEXT    NOT NULL
);
CREATE INDEX interchanges_by_file ON interchanges (file_id, position);
CREATE INDEX interchanges_by_control ON interchanges (sender, isa13, content_sha256);

CREATE TABLE records (
    id         TEXT    PRIMARY KEY,
    kind       TEXT    NOT NULL,
    partner    TEXT    NOT NULL,
    test       INTEGER NOT NULL,
    json       TEXT    NOT NULL,
    file_id    INTEGER NOT NULL REFERENCES files (id),
    created_at INTEGER NOT NULL
);
CREATE INDEX records_by_file ON records (file_id);

-- record_id is deliberately not a foreign key: a set may name a record that an earlier file
-- introduced, and a caller's inconsistency must not wedge a file's commit forever.
CREATE TABLE transactions (
    id             INTEGER PRIMARY KEY,
    file_id        INTEGER NOT NULL REFERENCES files (id),
    interchange_id INTEGER REFERENCES interchanges (id),
    position       INTEGER NOT NULL,
    isa13          TEXT    NOT NULL,
    gs06           TEXT    NOT NULL,
    st01           TEXT    NOT NULL,
    st02           TEXT    NOT NULL,
    verdict        TEXT    NOT NULL,
    findings       TEXT    NOT NULL,
    record_id      TEXT
);
CREATE INDEX transactions_by_file ON transactions (file_id, position);
CREATE INDEX transactions_by_record ON transactions (record_id) WHERE record_id IS NOT NULL;

-- A lane is (partner, kind); the table lets claim_due visit each lane's head by index.
CREATE TABLE lanes (
    partner TEXT NOT NULL,
    kind    TEXT NOT NULL,
    PRIMARY KEY (partner, kind)
) WITHOUT ROWID;

CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id       TEXT    NOT NULL UNIQUE REFERENCES records (id),
    partner         TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    seq             INTEGER NOT NULL UNIQUE,
    state           TEXT    NOT NULL
        CHECK (state IN ('pending', 'in_flight', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    status          INTEGER,
    excerpt         TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    FOREIGN KEY (partner, kind) REFERENCES lanes (partner, kind)
);
-- The active part of each lane, in order: claim_due reads only the head of each lane.
CREATE INDEX deliveries_lane_active ON deliveries (partner, kind, seq)
    WHERE state IN ('pending', 'in_flight');
-- Small partial indexes for the rare states, so a delivered row costs no index entry here.
CREATE INDEX deliveries_in_flight ON deliveries (id) WHERE state = 'in_flight';
CREATE INDEX deliveries_dead ON deliveries (seq) WHERE state = 'dead';

CREATE TABLE delivery_attempts (
    id          INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id),
    at          INTEGER NOT NULL,
    outcome     TEXT    NOT NULL
        CHECK (outcome IN ('delivered', 'retry', 'dead', 'replayed')),
    status      INTEGER,
    error       TEXT,
    excerpt     TEXT
);
CREATE INDEX delivery_attempts_by_delivery ON delivery_attempts (delivery_id, id);

CREATE TABLE acks (
    id         INTEGER PRIMARY KEY,
    file_id    INTEGER NOT NULL REFERENCES files (id),
    partner    TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    isa13      TEXT    NOT NULL,
    file_name  TEXT    NOT NULL,
    text       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    written_at INTEGER
);
CREATE INDEX acks_by_file ON acks (file_id);
CREATE INDEX acks_unwritten ON acks (id) WHERE written_at IS NULL;

-- value only grows; the number handed out is derived from it (see counters.rs).
CREATE TABLE counters (
    partner TEXT    NOT NULL,
    kind    TEXT    NOT NULL,
    value   INTEGER NOT NULL,
    PRIMARY KEY (partner, kind)
) WITHOUT ROWID;
"#;

/// The schema version recorded in the file.
pub fn user_version(conn: &Connection) -> Result<u32, StoreError> {
    let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    u32::try_from(v).map_err(|_| StoreError::Damaged(format!("user_version {v} is out of range")))
}

/// Brings the database up to [`SUPPORTED_VERSION`], one version per transaction.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let found = user_version(conn)?;
    if found > SUPPORTED_VERSION {
        return Err(StoreError::Newer {
            found,
            supported: SUPPORTED_VERSION,
        });
    }
    for version in found..SUPPORTED_VERSION {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Another process may have migrated while we waited for the write lock.
        let now = user_version(&tx)?;
        if now > version {
            tx.commit()?;
            continue;
        }
        tx.execute_batch(MIGRATIONS[version as usize])?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// A read-only handle cannot migrate: the schema must already be the current one.
pub fn check_readonly(conn: &Connection) -> Result<(), StoreError> {
    let found = user_version(conn)?;
    if found > SUPPORTED_VERSION {
        return Err(StoreError::Newer {
            found,
            supported: SUPPORTED_VERSION,
        });
    }
    if found < SUPPORTED_VERSION {
        return Err(StoreError::Older {
            found,
            supported: SUPPORTED_VERSION,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{DB_FILE_NAME, Store, StoreError};
    use super::*;

    fn tables(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .expect("prepare");
        stmt.query_map([], |r| r.get::<_, String>(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    #[test]
    fn migrations_run_from_an_empty_database() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        assert_eq!(
            user_version(&store.conn).expect("version"),
            SUPPORTED_VERSION
        );
        let names = tables(&store.conn);
        for t in [
            "acks",
            "counters",
            "deliveries",
            "delivery_attempts",
            "files",
            "interchanges",
            "lanes",
            "records",
            "transactions",
            "remote_files",
            "transport_health",
            "outbound_deliveries",
        ] {
            assert!(names.iter().any(|n| n == t), "missing table {t}: {names:?}");
        }
        drop(store);
        // Opening again is a no-op.
        let store = Store::open(dir.path()).expect("reopen");
        assert_eq!(
            user_version(&store.conn).expect("version"),
            SUPPORTED_VERSION
        );
        assert_eq!(store.integrity_check().expect("check"), "ok");
    }

    #[test]
    fn each_migration_step_bumps_the_version_by_one() {
        let mut conn = Connection::open_in_memory().expect("memory");
        for (i, sql) in MIGRATIONS.iter().enumerate() {
            let tx = conn.transaction().expect("tx");
            tx.execute_batch(sql).expect("migration sql");
            tx.pragma_update(None, "user_version", i as u32 + 1)
                .expect("bump");
            tx.commit().expect("commit");
        }
        assert_eq!(user_version(&conn).expect("version"), SUPPORTED_VERSION);
        // migrate() on an up-to-date database changes nothing.
        migrate(&mut conn).expect("migrate");
        assert_eq!(user_version(&conn).expect("version"), SUPPORTED_VERSION);
    }

    #[test]
    fn newer_database_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join(DB_FILE_NAME);
        {
            let conn = Connection::open(&file).expect("raw open");
            conn.execute_batch("CREATE TABLE future (x); PRAGMA user_version = 99;")
                .expect("future");
        }
        let before = std::fs::read(&file).expect("read");
        let err = Store::open(&file).expect_err("newer must be refused");
        assert!(
            matches!(
                err,
                StoreError::Newer {
                    found: 99,
                    supported: SUPPORTED_VERSION
                }
            ),
            "got {err:?}"
        );
        assert!(err.to_string().contains("newer"));
        let err = Store::open_readonly(&file).expect_err("read-only too");
        assert!(matches!(err, StoreError::Newer { found: 99, .. }));
        let conn = Connection::open(&file).expect("raw open");
        assert_eq!(user_version(&conn).expect("version"), 99);
        assert_eq!(tables(&conn), vec!["future".to_string()]);
        drop(conn);
        assert_eq!(std::fs::read(&file).expect("read").len(), before.len());
    }

    #[test]
    fn readonly_open_refuses_an_unmigrated_database() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join(DB_FILE_NAME);
        Connection::open(&file)
            .expect("raw")
            .execute_batch("CREATE TABLE t (x)")
            .expect("create");
        let err = Store::open_readonly(&file).expect_err("old schema");
        assert!(matches!(err, StoreError::Older { found: 0, .. }), "{err:?}");
    }
}

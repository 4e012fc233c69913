//! Counts for `/metrics`, read from the ledger at scrape time: the ledger is the truth, so the
//! numbers survive restarts and never disagree with `edigate status`.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::ledger::{FILE_COLUMNS, file_from_row, limit_param};
use super::{FileRow, Store, StoreError, now_ms};
use crate::store::queries::StatusReport;

/// Everything `/metrics` reads from the ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricCounts {
    /// Files by (partner, state).
    pub files: Vec<(String, String, u64)>,
    /// Transaction sets by (ST01, verdict).
    pub transactions: Vec<(String, String, u64)>,
    /// Delivery attempts by outcome (`delivered`, `retry`, `dead`, `replayed`).
    pub attempts: Vec<(String, u64)>,
    /// The status summary (deliveries by state, oldest pending, acks pending).
    pub status: StatusReport,
}

impl Store {
    /// The counts `/metrics` exposes.
    pub fn metric_counts(&self) -> Result<MetricCounts, StoreError> {
        let triples = |sql: &str| -> Result<Vec<(String, String, u64)>, StoreError> {
            let mut stmt = self.conn.prepare_cached(sql)?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                ))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        };
        let files = triples(
            "SELECT partner, state, COUNT(*) FROM files GROUP BY partner, state ORDER BY 1, 2",
        )?;
        let transactions = triples(
            "SELECT st01, verdict, COUNT(*) FROM transactions GROUP BY st01, verdict ORDER BY 1, 2",
        )?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT outcome, COUNT(*) FROM delivery_attempts GROUP BY outcome ORDER BY 1",
        )?;
        let attempts = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                ))
            })?
            .collect::<Result<_, _>>()?;
        Ok(MetricCounts {
            files,
            transactions,
            attempts,
            status: self.status_at(now_ms())?,
        })
    }
}

impl Store {
    /// Files, newest first, optionally of one partner and one state (what `/v1/files` lists).
    pub fn files(
        &self,
        partner: Option<&str>,
        state: Option<&str>,
        limit: usize,
    ) -> Result<Vec<FileRow>, StoreError> {
        let sql = format!(
            "SELECT {FILE_COLUMNS} FROM files WHERE (?1 IS NULL OR partner = ?1) \
             AND (?2 IS NULL OR state = ?2) ORDER BY id DESC LIMIT ?3"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(
            rusqlite::params![partner, state, limit_param(limit)],
            file_from_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Whether the database at `path` can be written now: a write transaction is begun and rolled
/// back on a connection of its own (waiting at most `wait` for the daemon's writer).
pub fn probe_writable(path: &Path, wait: Duration) -> Result<(), StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(wait)?;
    conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;")?;
    Ok(())
}

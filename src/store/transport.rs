//! Transport state (schema version 2): remote files the pollers took, poll health per partner
//! and direction, and outbound deliveries.
//!
//! A remote file is identified by `(partner, remote_path, size, mtime)`: the same name with new
//! contents is a new file. `handed` means its bytes were written into the spool and handed to
//! intake; `done` means the ledger holds them and the remote after-action completed.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::outbox::cap;
use super::{Store, StoreError, now_ms};

/// A remote file the poller took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFileRow {
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// The name it was handed to intake under.
    pub local_name: String,
    /// `handed` or `done`.
    pub done: bool,
}

/// Health of one partner's transport in one direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransportHealth {
    /// Partner id.
    pub partner: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// Last success (Unix ms).
    pub last_ok_at_ms: Option<i64>,
    /// Last error text.
    pub last_error: Option<String>,
    /// When it happened (Unix ms).
    pub last_error_at_ms: Option<i64>,
    /// Failures counted since the database was created.
    pub failures: u64,
}

impl Store {
    /// The remote file `(partner, path, size, mtime)`, when taken before.
    pub fn remote_file(
        &self,
        partner: &str,
        path: &str,
        size: u64,
        mtime: i64,
    ) -> Result<Option<RemoteFileRow>, StoreError> {
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        Ok(self
            .conn
            .prepare_cached(
                "SELECT sha256, local_name, state FROM remote_files \
                 WHERE partner = ?1 AND remote_path = ?2 AND size = ?3 AND mtime = ?4",
            )?
            .query_row(params![partner, path, size, mtime], |r| {
                Ok(RemoteFileRow {
                    sha256: r.get(0)?,
                    local_name: r.get(1)?,
                    done: r.get::<_, String>(2)? == "done",
                })
            })
            .optional()?)
    }

    /// Records that a remote file was handed to intake (or was already in the ledger).
    pub fn record_remote_file(
        &mut self,
        partner: &str,
        path: &str,
        size: u64,
        mtime: i64,
        sha256: &str,
        local_name: &str,
    ) -> Result<(), StoreError> {
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        self.conn.execute(
            "INSERT INTO remote_files \
             (partner, remote_path, size, mtime, sha256, local_name, state, downloaded_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'handed', ?7) \
             ON CONFLICT (partner, remote_path, size, mtime) DO UPDATE SET \
             sha256 = excluded.sha256, local_name = excluded.local_name",
            params![partner, path, size, mtime, sha256, local_name, now_ms()],
        )?;
        Ok(())
    }

    /// Marks a remote file's after-action done.
    pub fn mark_remote_done(
        &mut self,
        partner: &str,
        path: &str,
        size: u64,
        mtime: i64,
    ) -> Result<(), StoreError> {
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        self.conn.execute(
            "UPDATE remote_files SET state = 'done', done_at = ?5 \
             WHERE partner = ?1 AND remote_path = ?2 AND size = ?3 AND mtime = ?4",
            params![partner, path, size, mtime, now_ms()],
        )?;
        Ok(())
    }

    /// Whether the ledger holds a file with these bytes.
    pub fn has_sha256(&self, sha256: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM files WHERE sha256 = ?1 LIMIT 1")?
            .query_row([sha256], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Records a successful poll or upload round.
    pub fn transport_ok(&mut self, partner: &str, direction: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO transport_health (partner, direction, last_ok_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (partner, direction) DO UPDATE SET last_ok_at = excluded.last_ok_at",
            params![partner, direction, now_ms()],
        )?;
        Ok(())
    }

    /// Records a failed poll or upload round and counts it.
    pub fn transport_error(
        &mut self,
        partner: &str,
        direction: &str,
        error: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO transport_health (partner, direction, last_error, last_error_at, failures) \
             VALUES (?1, ?2, ?3, ?4, 1) \
             ON CONFLICT (partner, direction) DO UPDATE SET last_error = excluded.last_error, \
             last_error_at = excluded.last_error_at, failures = failures + 1",
            params![partner, direction, cap(error), now_ms()],
        )?;
        Ok(())
    }

    /// Health of every partner transport, by partner and direction.
    pub fn transport_health(&self) -> Result<Vec<TransportHealth>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT partner, direction, last_ok_at, last_error, last_error_at, failures \
             FROM transport_health ORDER BY partner, direction",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(TransportHealth {
                partner: r.get(0)?,
                direction: r.get(1)?,
                last_ok_at_ms: r.get(2)?,
                last_error: r.get(3)?,
                last_error_at_ms: r.get(4)?,
                failures: u64::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records the outcome of one outbound delivery.
    pub fn record_outbound(
        &mut self,
        partner: &str,
        name: &str,
        size: u64,
        sha256: &str,
        target: &str,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        let state = if error.is_some() {
            "failed"
        } else {
            "delivered"
        };
        self.conn.execute(
            "INSERT INTO outbound_deliveries (partner, name, size, sha256, target, state, error, at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![partner, name, size, sha256, target, state, error.map(cap), now_ms()],
        )?;
        Ok(())
    }

    /// Whether a file with these bytes was delivered to the partner before.
    pub fn outbound_delivered(&self, partner: &str, sha256: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT 1 FROM outbound_deliveries \
                 WHERE partner = ?1 AND sha256 = ?2 AND state = 'delivered' LIMIT 1",
            )?
            .query_row([partner, sha256], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Outbound deliveries by `(partner, state)` counts.
    pub fn outbound_counts(&self, partner: &str) -> Result<(u64, u64), StoreError> {
        let count = |state: &str| -> Result<u64, StoreError> {
            let n: i64 = self.conn.query_row(
                "SELECT COUNT(*) FROM outbound_deliveries WHERE partner = ?1 AND state = ?2",
                [partner, state],
                |r| r.get(0),
            )?;
            Ok(u64::try_from(n).unwrap_or(0))
        };
        Ok((count("delivered")?, count("failed")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_files_and_health_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&dir.path().join("db")).expect("open");
        assert_eq!(store.remote_file("p", "/a", 3, 7).expect("q"), None);
        store
            .record_remote_file("p", "/a", 3, 7, "abc", "a.edi")
            .expect("record");
        let row = store.remote_file("p", "/a", 3, 7).expect("q").expect("row");
        assert!(!row.done && row.sha256 == "abc");
        store.mark_remote_done("p", "/a", 3, 7).expect("done");
        assert!(
            store
                .remote_file("p", "/a", 3, 7)
                .expect("q")
                .expect("row")
                .done
        );
        store
            .transport_error("p", "inbound", "refused")
            .expect("err");
        store
            .transport_error("p", "inbound", "refused again")
            .expect("err");
        store.transport_ok("p", "inbound").expect("ok");
        let h = store.transport_health().expect("health");
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].failures, 2);
        assert_eq!(h[0].last_error.as_deref(), Some("refused again"));
        assert!(h[0].last_ok_at_ms.is_some());
        store
            .record_outbound("p", "ack.x12", 10, "s", "dir", None)
            .expect("out");
        assert!(store.outbound_delivered("p", "s").expect("q"));
        assert_eq!(store.outbound_counts("p").expect("counts"), (1, 0));
    }
}

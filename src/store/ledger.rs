//! The ledger: files, interchanges, transaction sets, records and outbound acknowledgments.
//!
//! [`Store::record_file`] is the one durable hand-off between intake and the outbox: everything
//! learned from a file goes in with one `BEGIN IMMEDIATE ... COMMIT` (`synchronous=FULL`), using
//! cached prepared statements so a file with thousands of sets costs one fsync, not thousands.

use std::collections::{HashMap, HashSet};

use rusqlite::{OptionalExtension, Row, Transaction, TransactionBehavior, params};

use super::{FileIntake, FileRow, FileState, Recorded, Store, StoreError, now_ms};

/// An acknowledgment recorded with its file and not yet written to `out/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckOut {
    /// `acks.id`.
    pub id: i64,
    /// The file it answers.
    pub file_id: i64,
    /// Partner id (decides `<spool>/<partner>/out`).
    pub partner: String,
    /// `TA1`, `997` or `999`.
    pub kind: String,
    /// ISA13 of the acknowledgment interchange.
    pub isa13: String,
    /// The file name to write.
    pub file_name: String,
    /// The acknowledgment interchange.
    pub text: String,
}

pub(crate) const FILE_COLUMNS: &str = "id, partner, name, sha256, size, received_at, finalized_at, state, \
     reason, correlation_id, final_path";

pub(crate) fn file_from_row(r: &Row<'_>) -> rusqlite::Result<FileRow> {
    let state: String = r.get(7)?;
    let size: i64 = r.get(4)?;
    Ok(FileRow {
        id: r.get(0)?,
        partner: r.get(1)?,
        name: r.get(2)?,
        sha256: r.get(3)?,
        size: u64::try_from(size).unwrap_or(0),
        received_at_ms: r.get(5)?,
        finalized_at_ms: r.get(6)?,
        state: FileState::parse(&state).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                7,
                rusqlite::types::Type::Text,
                format!("unknown file state {state:?}").into(),
            )
        })?,
        reason: r.get(8)?,
        correlation_id: r.get(9)?,
        final_path: r.get(10)?,
    })
}

impl Store {
    /// The first recorded arrival of a file with these bytes, if any (a later arrival of the
    /// same bytes is recorded with state [`FileState::Duplicate`]).
    ///
    /// A returned row with `finalized_at_ms == None` means the process stopped between the
    /// commit and the move: finalize that file, do not record it again.
    pub fn file_by_sha256(&self, sha256: &str) -> Result<Option<FileRow>, StoreError> {
        let sql = format!(
            "SELECT {FILE_COLUMNS} FROM files WHERE sha256 = ?1 \
             ORDER BY (state = 'duplicate'), id LIMIT 1"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        Ok(stmt.query_row([sha256], file_from_row).optional()?)
    }

    /// A file by its id.
    pub fn file(&self, file_id: i64) -> Result<Option<FileRow>, StoreError> {
        let sql = format!("SELECT {FILE_COLUMNS} FROM files WHERE id = ?1");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        Ok(stmt.query_row([file_id], file_from_row).optional()?)
    }

    /// Files recorded but not yet finalized (the process stopped between commit and move).
    pub fn unfinalized_files(&self) -> Result<Vec<FileRow>, StoreError> {
        let sql =
            format!("SELECT {FILE_COLUMNS} FROM files WHERE finalized_at IS NULL ORDER BY id");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([], file_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records a file and everything learned from it in ONE SQLite transaction: the file row,
    /// its interchanges (flagging duplicates and reused ISA13s), its transaction sets, its
    /// records (`INSERT OR IGNORE` by canonical id), one pending delivery per newly inserted
    /// record, and its acknowledgments. Returns what was new.
    ///
    /// Nothing is written if any part fails. Recording the same records again (same ids)
    /// creates no second delivery.
    pub fn record_file(&mut self, intake: &FileIntake) -> Result<Recorded, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let recorded = insert_file(&tx, intake, now_ms())?;
        tx.commit()?;
        Ok(recorded)
    }

    /// [`Store::record_file`] for several files in ONE transaction (one fsync for all), in order;
    /// a record id repeated across the files is enqueued once, for the first file. All or
    /// nothing: on `Err` none of the files is recorded (retry them one by one to find the
    /// culprit). Finalize none of them before this returns `Ok`.
    pub fn record_files(&mut self, intakes: &[FileIntake]) -> Result<Vec<Recorded>, StoreError> {
        let now = now_ms();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut out = Vec::with_capacity(intakes.len());
        for intake in intakes {
            out.push(insert_file(&tx, intake, now)?);
        }
        tx.commit()?;
        Ok(out)
    }

    /// [`Store::record_files`] and [`Store::mark_finalized_many`] in ONE transaction: the daemon
    /// records the files just parsed and marks those moved meanwhile (recorded by earlier
    /// commits) with one fsync. All or nothing.
    pub fn record_files_and_finalize(
        &mut self,
        intakes: &[FileIntake],
        finalized: &[(i64, String)],
    ) -> Result<Vec<Recorded>, StoreError> {
        let now = now_ms();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut out = Vec::with_capacity(intakes.len());
        for intake in intakes {
            out.push(insert_file(&tx, intake, now)?);
        }
        set_finalized(&tx, finalized, now)?;
        tx.commit()?;
        Ok(out)
    }
}

/// Marks files finalized inside the caller's transaction; an unknown id fails it.
fn set_finalized(
    tx: &Transaction<'_>,
    files: &[(i64, String)],
    now: i64,
) -> Result<(), StoreError> {
    let mut stmt =
        tx.prepare_cached("UPDATE files SET finalized_at = ?1, final_path = ?2 WHERE id = ?3")?;
    for (file_id, final_path) in files {
        if stmt.execute(params![now, final_path, file_id])? == 0 {
            return Err(StoreError::Invalid(format!("no file with id {file_id}")));
        }
    }
    Ok(())
}

/// Everything [`Store::record_file`] writes for one file, inside the caller's transaction.
fn insert_file(
    tx: &Transaction<'_>,
    intake: &FileIntake,
    now: i64,
) -> Result<Recorded, StoreError> {
    let size = i64::try_from(intake.size).unwrap_or(i64::MAX);
    let mut recorded = Recorded::default();

    tx.prepare_cached(
        "INSERT INTO files (partner, name, sha256, size, received_at, recorded_at, state, \
             reason, correlation_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        intake.partner,
        intake.name,
        intake.sha256,
        size,
        intake.received_at_ms,
        now,
        intake.state.as_str(),
        intake.reason,
        intake.correlation_id,
    ])?;
    let file_id = tx.last_insert_rowid();
    recorded.file_id = file_id;

    // Interchanges: detect duplicates against everything recorded so far, this file included.
    let mut interchange_ids: HashMap<&str, i64> = HashMap::new();
    {
        let mut same = tx.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM interchanges \
                 WHERE sender = ?1 AND isa13 = ?2 AND content_sha256 = ?3)",
        )?;
        let mut other = tx.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM interchanges \
                 WHERE sender = ?1 AND isa13 = ?2 AND content_sha256 <> ?3)",
        )?;
        let mut insert = tx.prepare_cached(
            "INSERT INTO interchanges (file_id, position, sender, receiver, isa13, \
                 content_sha256, duplicate, isa13_reused, rejected, findings) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        for (position, ic) in intake.interchanges.iter().enumerate() {
            let key = params![ic.sender, ic.isa13, ic.content_sha256];
            let seen: bool = same.query_row(key, |r| r.get(0))?;
            let reused = !seen && other.query_row(key, |r| r.get::<_, bool>(0))?;
            let duplicate = seen || ic.duplicate;
            if duplicate {
                recorded.duplicate_interchanges += 1;
            }
            if reused {
                recorded.reused_isa13.push(ic.isa13.clone());
            }
            insert.execute(params![
                file_id,
                position as i64,
                ic.sender,
                ic.receiver,
                ic.isa13,
                ic.content_sha256,
                duplicate,
                reused,
                ic.rejected,
                ic.findings_json,
            ])?;
            interchange_ids
                .entry(ic.isa13.as_str())
                .or_insert_with(|| tx.last_insert_rowid());
        }
    }

    // Records and their deliveries. seq continues the global order of the outbox; a new
    // delivery is due at once (next_attempt_at = 0, immune to the wall clock going back).
    {
        let mut next_seq: i64 = tx
            .prepare_cached("SELECT COALESCE(MAX(seq), 0) + 1 FROM deliveries")?
            .query_row([], |r| r.get(0))?;
        let mut lane =
            tx.prepare_cached("INSERT OR IGNORE INTO lanes (partner, kind) VALUES (?1, ?2)")?;
        let mut record = tx.prepare_cached(
            "INSERT OR IGNORE INTO records (id, kind, partner, test, json, file_id, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        let mut delivery = tx.prepare_cached(
            "INSERT INTO deliveries (record_id, partner, kind, seq, state, attempts, \
                 next_attempt_at, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, 'pending', 0, 0, ?5, ?5)",
        )?;
        let mut lanes_seen: HashSet<(&str, &str)> = HashSet::new();
        for r in &intake.records {
            let inserted = record.execute(params![
                r.id, r.kind, r.partner, r.test, r.json, file_id, now
            ])?;
            if inserted == 0 {
                recorded.duplicate_records += 1;
                continue;
            }
            if lanes_seen.insert((r.partner.as_str(), r.kind.as_str())) {
                lane.execute(params![r.partner, r.kind])?;
            }
            delivery.execute(params![r.id, r.partner, r.kind, next_seq, now])?;
            next_seq += 1;
            recorded.new_records += 1;
        }
    }

    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO transactions (file_id, interchange_id, position, isa13, gs06, st01, \
                 st02, verdict, findings, record_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        for (position, t) in intake.transactions.iter().enumerate() {
            let interchange = interchange_ids.get(t.isa13.as_str()).copied();
            insert.execute(params![
                file_id,
                interchange,
                position as i64,
                t.isa13,
                t.gs06,
                t.st01,
                t.st02,
                t.verdict,
                t.findings_json,
                t.record_id,
            ])?;
        }
    }

    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO acks (file_id, partner, kind, isa13, file_name, text, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for a in &intake.acks {
            insert.execute(params![
                file_id,
                intake.partner,
                a.kind,
                a.isa13,
                a.file_name,
                a.text,
                now
            ])?;
        }
    }

    Ok(recorded)
}

impl Store {
    /// Marks the file finalized (moved to archive/quarantine) with its final path.
    pub fn mark_finalized(&mut self, file_id: i64, final_path: &str) -> Result<(), StoreError> {
        let changed = self
            .conn
            .prepare_cached("UPDATE files SET finalized_at = ?1, final_path = ?2 WHERE id = ?3")?
            .execute(params![now_ms(), final_path, file_id])?;
        if changed == 0 {
            return Err(StoreError::Invalid(format!("no file with id {file_id}")));
        }
        Ok(())
    }

    /// [`Store::mark_finalized`] for several files in one transaction.
    pub fn mark_finalized_many(&mut self, files: &[(i64, String)]) -> Result<(), StoreError> {
        let now = now_ms();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        set_finalized(&tx, files, now)?;
        tx.commit()?;
        Ok(())
    }

    /// Acknowledgments recorded but not yet written to `out/`, oldest first. After a crash these
    /// are the ones to write again (the write is atomic, so rewriting is harmless).
    pub fn unwritten_acks(&self, limit: usize) -> Result<Vec<AckOut>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, file_id, partner, kind, isa13, file_name, text FROM acks \
             WHERE written_at IS NULL ORDER BY id LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit_param(limit)], |r| {
            Ok(AckOut {
                id: r.get(0)?,
                file_id: r.get(1)?,
                partner: r.get(2)?,
                kind: r.get(3)?,
                isa13: r.get(4)?,
                file_name: r.get(5)?,
                text: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Marks acknowledgments as written to `out/`, in one transaction.
    pub fn mark_acks_written(&mut self, ack_ids: &[i64]) -> Result<(), StoreError> {
        let now = now_ms();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE acks SET written_at = ?1 WHERE id = ?2 AND written_at IS NULL",
            )?;
            for id in ack_ids {
                stmt.execute(params![now, id])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

/// SQLite `LIMIT` takes an i64; `usize::MAX` means no limit.
pub(crate) fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::{AckRow, InterchangeRow, RecordRow, TransactionRow};
    use super::*;

    /// A file with `n` records `"<prefix>-<i>"` in lane (`partner`, `kind`).
    pub(crate) fn intake(
        name: &str,
        partner: &str,
        kind: &str,
        prefix: &str,
        n: usize,
    ) -> FileIntake {
        let records: Vec<RecordRow> = (0..n)
            .map(|i| RecordRow {
                id: format!("{prefix}-{i:05}"),
                kind: kind.to_string(),
                partner: partner.to_string(),
                json: format!(r#"{{"id":"{prefix}-{i:05}","kind":"{kind}"}}"#),
                test: false,
            })
            .collect();
        let transactions = records
            .iter()
            .enumerate()
            .map(|(i, r)| TransactionRow {
                isa13: "000000001".into(),
                gs06: "1".into(),
                st01: "940".into(),
                st02: format!("{:04}", i + 1),
                verdict: "accepted".into(),
                findings_json: "[]".into(),
                record_id: Some(r.id.clone()),
            })
            .collect();
        FileIntake {
            partner: partner.to_string(),
            name: name.to_string(),
            sha256: format!("sha-{name}"),
            size: 100,
            received_at_ms: 1_000,
            correlation_id: format!("corr-{name}"),
            state: FileState::Accepted,
            reason: None,
            interchanges: vec![InterchangeRow {
                sender: "ZZ:ACME".into(),
                receiver: "ZZ:US".into(),
                isa13: "000000001".into(),
                content_sha256: format!("content-{name}"),
                rejected: false,
                duplicate: false,
                findings_json: "[]".into(),
            }],
            transactions,
            records,
            acks: vec![AckRow {
                kind: "997".into(),
                isa13: "000000007".into(),
                text: "ISA*...~".into(),
                file_name: format!("{name}.997"),
            }],
        }
    }

    pub(crate) fn count(store: &Store, sql: &str) -> i64 {
        store.conn.query_row(sql, [], |r| r.get(0)).expect("count")
    }

    #[test]
    fn record_file_writes_every_table_in_one_go() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("open");
        let rec = store
            .record_file(&intake("a.x12", "acme", "warehouse_order", "r", 3))
            .expect("record");
        assert_eq!(rec.new_records, 3);
        assert_eq!(rec.duplicate_records, 0);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM files"), 1);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM interchanges"), 1);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM transactions"), 3);
        assert_eq!(
            count(
                &store,
                "SELECT COUNT(*) FROM transactions WHERE interchange_id IS NOT NULL"
            ),
            3
        );
        assert_eq!(count(&store, "SELECT COUNT(*) FROM records"), 3);
        assert_eq!(
            count(
                &store,
                "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'"
            ),
            3
        );
        assert_eq!(count(&store, "SELECT COUNT(*) FROM acks"), 1);
        let file = store
            .file_by_sha256("sha-a.x12")
            .expect("query")
            .expect("found");
        assert_eq!(file.id, rec.file_id);
        assert_eq!(file.state, FileState::Accepted);
        assert_eq!(file.finalized_at_ms, None);
        assert_eq!(store.unfinalized_files().expect("unfinalized").len(), 1);
        store
            .mark_finalized(file.id, "/spool/acme/archive/2024-01-01/a.x12")
            .expect("finalize");
        let file = store.file(file.id).expect("query").expect("found");
        assert!(file.finalized_at_ms.is_some());
        assert_eq!(
            file.final_path.as_deref(),
            Some("/spool/acme/archive/2024-01-01/a.x12")
        );
        assert!(store.unfinalized_files().expect("unfinalized").is_empty());
        assert!(store.mark_finalized(9999, "x").is_err());
    }

    #[test]
    fn same_record_ids_twice_create_no_second_delivery() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("open");
        let first = intake("a.x12", "acme", "warehouse_order", "r", 5);
        store.record_file(&first).expect("first");
        let mut again = first.clone();
        again.name = "a-again.x12".into();
        again.state = FileState::Duplicate;
        again.reason = Some("same bytes as file 1".into());
        let rec = store
            .record_file(&again)
            .expect("duplicate file still records");
        assert_eq!(rec.new_records, 0);
        assert_eq!(rec.duplicate_records, 5);
        assert_eq!(rec.duplicate_interchanges, 1);
        assert!(rec.reused_isa13.is_empty());
        assert_eq!(count(&store, "SELECT COUNT(*) FROM files"), 2);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM records"), 5);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM deliveries"), 5);
        // file_by_sha256 names the first arrival, not the duplicate.
        let file = store
            .file_by_sha256(&first.sha256)
            .expect("query")
            .expect("found");
        assert_eq!(file.name, "a.x12");
        assert_eq!(file.state, FileState::Accepted);
    }

    #[test]
    fn reused_isa13_with_different_content_is_flagged_not_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("open");
        store
            .record_file(&intake("a.x12", "acme", "warehouse_order", "a", 1))
            .expect("a");
        let rec = store
            .record_file(&intake("b.x12", "acme", "warehouse_order", "b", 1))
            .expect("b");
        assert_eq!(rec.reused_isa13, vec!["000000001".to_string()]);
        assert_eq!(rec.duplicate_interchanges, 0);
        assert_eq!(rec.new_records, 1);
        assert_eq!(
            count(
                &store,
                "SELECT COUNT(*) FROM interchanges WHERE isa13_reused = 1"
            ),
            1
        );
    }

    #[test]
    fn a_failing_record_file_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("open");
        let mut bad = intake("a.x12", "acme", "warehouse_order", "r", 3);
        // A NUL-free but CHECK-violating file state cannot be expressed; break a NOT NULL instead.
        store
            .conn
            .execute_batch(
                "CREATE TRIGGER fail_third BEFORE INSERT ON deliveries \
                 WHEN NEW.record_id = 'r-00002' BEGIN SELECT RAISE(ABORT, 'boom'); END;",
            )
            .expect("trigger");
        bad.records[2].id = "r-00002".into();
        assert!(store.record_file(&bad).is_err());
        assert_eq!(count(&store, "SELECT COUNT(*) FROM files"), 0);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM records"), 0);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM deliveries"), 0);
    }

    #[test]
    fn ten_thousand_records_commit_in_one_record_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("open");
        let big = intake("big.x12", "acme", "warehouse_order", "big", 10_000);
        let started = std::time::Instant::now();
        let rec = store.record_file(&big).expect("record");
        let took = started.elapsed();
        assert_eq!(rec.new_records, 10_000);
        // Not a benchmark: a generous bound that only catches a per-row commit or an O(n²) path.
        assert!(took < std::time::Duration::from_secs(10), "took {took:?}");
        assert_eq!(count(&store, "SELECT COUNT(*) FROM deliveries"), 10_000);
    }

    #[test]
    fn record_files_commits_several_files_at_once_or_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("open");
        let a = intake("a.x12", "acme", "warehouse_order", "a", 2);
        let b = intake("b.x12", "acme", "warehouse_order", "b", 2);
        let mut a_again = a.clone();
        a_again.name = "a2.x12".into();
        let recorded = store.record_files(&[a.clone(), b, a_again]).expect("batch");
        assert_eq!(recorded.len(), 3);
        assert_eq!(recorded[0].new_records, 2);
        assert_eq!(recorded[1].new_records, 2);
        assert_eq!(recorded[2].new_records, 0);
        assert_eq!(recorded[2].duplicate_records, 2);
        assert_eq!(recorded[2].duplicate_interchanges, 1);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM deliveries"), 4);
        store
            .mark_finalized_many(&[
                (recorded[0].file_id, "archive/a.x12".into()),
                (recorded[1].file_id, "archive/b.x12".into()),
            ])
            .expect("finalize");
        assert_eq!(store.unfinalized_files().expect("unfinalized").len(), 1);
        assert!(
            store
                .mark_finalized_many(&[(recorded[2].file_id, "x".into()), (777, "y".into())])
                .is_err()
        );
        assert_eq!(
            store.unfinalized_files().expect("unfinalized").len(),
            1,
            "a failed batch finalizes nothing"
        );

        let c = intake("c.x12", "acme", "warehouse_order", "c", 1);
        let mut bad = intake("d.x12", "acme", "warehouse_order", "d", 1);
        bad.records[0].kind = "other".into();
        store
            .conn
            .execute_batch(
                "CREATE TRIGGER no_other BEFORE INSERT ON records \
                 WHEN NEW.kind = 'other' BEGIN SELECT RAISE(ABORT, 'boom'); END;",
            )
            .expect("trigger");
        assert!(store.record_files(&[c, bad]).is_err());
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM files"),
            3,
            "all or nothing"
        );
    }

    #[test]
    fn unwritten_acks_are_listed_until_marked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("open");
        let rec = store
            .record_file(&intake("a.x12", "acme", "warehouse_order", "r", 1))
            .expect("record");
        let acks = store.unwritten_acks(10).expect("acks");
        assert_eq!(acks.len(), 1);
        assert_eq!(acks[0].file_id, rec.file_id);
        assert_eq!(acks[0].partner, "acme");
        assert_eq!(acks[0].file_name, "a.x12.997");
        store.mark_acks_written(&[acks[0].id]).expect("mark");
        assert!(store.unwritten_acks(10).expect("acks").is_empty());
    }
}

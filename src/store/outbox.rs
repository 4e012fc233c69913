//! The outbox: deliveries of records to the ERP, claimed in lane order and settled in batches.
//!
//! # Invariants
//! - A lane is `(partner, kind)`; its order is `deliveries.seq`. The lane's *head* is its
//!   lowest-`seq` delivery that is `pending` or `in_flight`. Only a head that is `pending` and due
//!   (`next_attempt_at <= now`) is handed out, so a lane never has two deliveries in flight and
//!   never overtakes a delivery waiting for its retry. `delivered` and `dead` rows have left the
//!   lane and block nothing.
//! - Claims are committed with `synchronous=NORMAL`: losing a claim in a crash is the same as
//!   [`Store::recover_in_flight`] undoing it. Outcomes and replays are `synchronous=FULL`.
//! - An outcome applies only to a delivery that is `in_flight`; a stale outcome (the delivery was
//!   recovered or replayed meanwhile) is ignored, so nothing moves backwards.
//! - A replay keeps the record id (the ERP's `Idempotency-Key`) and the delivery row, resets the
//!   attempt count, makes it due at once and gives it a new `seq` at the back of its lane. The
//!   attempt history stays (with a `replayed` entry).

use rusqlite::{Transaction, TransactionBehavior, params};

use super::ledger::limit_param;
use super::{DeliveryJob, DeliveryOutcome, DeliveryRow, DeliveryState, Store, StoreError, now_ms};

/// Reads the head of every lane that has one, oldest head first. `CROSS JOIN` pins the join
/// order: lanes outside, one index probe per lane (otherwise the planner may scan every pending
/// delivery and probe the lanes for each, which is quadratic in the backlog).
pub(crate) const LANE_HEADS: &str = "
SELECT d.partner, d.kind
FROM lanes l
CROSS JOIN deliveries d ON d.id = (
    SELECT e.id FROM deliveries e
    WHERE e.partner = l.partner AND e.kind = l.kind AND e.state IN ('pending', 'in_flight')
    ORDER BY e.seq LIMIT 1)
WHERE d.state = 'pending' AND d.next_attempt_at <= ?1
ORDER BY d.seq
LIMIT ?2";

/// The front of one lane, with what a job needs.
pub(crate) const LANE_FRONT: &str = "
SELECT e.id, e.record_id, e.kind, e.partner, f.correlation_id, r.json, e.attempts, e.state,
       e.next_attempt_at
FROM deliveries e
JOIN records r ON r.id = e.record_id
JOIN files f ON f.id = r.file_id
WHERE e.partner = ?1 AND e.kind = ?2 AND e.state IN ('pending', 'in_flight')
ORDER BY e.seq
LIMIT ?3";

pub(crate) const DELIVERY_COLUMNS: &str = "id, record_id, partner, kind, state, attempts, \
     next_attempt_at, last_error, status, excerpt, created_at, updated_at, delivered_at";

pub(crate) fn delivery_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeliveryRow> {
    let state: String = r.get(4)?;
    let attempts: i64 = r.get(5)?;
    let status: Option<i64> = r.get(8)?;
    Ok(DeliveryRow {
        id: r.get(0)?,
        record_id: r.get(1)?,
        partner: r.get(2)?,
        kind: r.get(3)?,
        state: DeliveryState::parse(&state).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                4,
                rusqlite::types::Type::Text,
                format!("unknown delivery state {state:?}").into(),
            )
        })?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_attempt_at_ms: r.get(6)?,
        last_error: r.get(7)?,
        status: status.and_then(|s| u16::try_from(s).ok()),
        excerpt: r.get(9)?,
        created_at_ms: r.get(10)?,
        updated_at_ms: r.get(11)?,
        delivered_at_ms: r.get(12)?,
    })
}

impl Store {
    /// At start-up: `in_flight` deliveries go back to `pending` (the ERP de-duplicates the
    /// second attempt by `Idempotency-Key`). Returns how many were recovered.
    pub fn recover_in_flight(&mut self) -> Result<u64, StoreError> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE deliveries SET state = 'pending', updated_at = ?1 \
                 WHERE state = 'in_flight'",
            )?
            .execute([now_ms()])?;
        Ok(n as u64)
    }

    /// Claims up to `limit` due deliveries (pending, `next_attempt_at <= now_ms`), oldest first,
    /// at most one per `(partner, kind)` lane and only a lane's head, so order is kept per lane;
    /// marks them `in_flight`. One transaction.
    pub fn claim_due(&mut self, now_ms: i64, limit: usize) -> Result<Vec<DeliveryJob>, StoreError> {
        Ok(self
            .claim_due_runs(now_ms, limit, 1)?
            .into_iter()
            .flatten()
            .collect())
    }

    /// Like [`Store::claim_due`], but claims up to `per_lane` consecutive due deliveries from the
    /// front of each of up to `lanes` lanes, for a forwarder that keeps order within a run.
    ///
    /// Contract: send each run strictly in order, one at a time; at the first delivery that is
    /// not `Delivered`, record its outcome and [`Store::release`] the rest of the run unsent.
    /// With `per_lane == 1` this is exactly [`Store::claim_due`].
    pub fn claim_due_runs(
        &mut self,
        now_ms: i64,
        lanes: usize,
        per_lane: usize,
    ) -> Result<Vec<Vec<DeliveryJob>>, StoreError> {
        if lanes == 0 || per_lane == 0 {
            return Ok(Vec::new());
        }
        self.set_synchronous_full(false)?;
        let claimed = claim_runs(&mut self.conn, now_ms, lanes, per_lane);
        let restored = self.set_synchronous_full(true);
        let runs = claimed?;
        restored?;
        Ok(runs)
    }

    /// Returns claimed deliveries to `pending` without counting an attempt (the unsent rest of a
    /// run). Deliveries not `in_flight` are left alone.
    pub fn release(&mut self, delivery_ids: &[i64]) -> Result<(), StoreError> {
        let now = now_ms();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE deliveries SET state = 'pending', updated_at = ?1 \
                 WHERE id = ?2 AND state = 'in_flight'",
            )?;
            for id in delivery_ids {
                stmt.execute(params![now, id])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// When the next lane head becomes due (Unix ms), if any delivery is waiting at all; lets the
    /// forwarder sleep until then. A head already in flight does not count.
    pub fn next_due_at(&self) -> Result<Option<i64>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT MIN(d.next_attempt_at)
             FROM lanes l
             CROSS JOIN deliveries d ON d.id = (
                 SELECT e.id FROM deliveries e
                 WHERE e.partner = l.partner AND e.kind = l.kind
                   AND e.state IN ('pending', 'in_flight')
                 ORDER BY e.seq LIMIT 1)
             WHERE d.state = 'pending'",
        )?;
        Ok(stmt.query_row([], |r| r.get(0))?)
    }

    /// Records a batch of outcomes in one transaction, timed now.
    pub fn record_outcomes(&mut self, outcomes: &[DeliveryOutcome]) -> Result<(), StoreError> {
        self.record_outcomes_at(now_ms(), outcomes)
    }

    /// Records a batch of outcomes in one transaction, with `now_ms` as the attempt time.
    /// Outcomes for deliveries that are no longer `in_flight` are ignored (stale).
    pub fn record_outcomes_at(
        &mut self,
        now_ms: i64,
        outcomes: &[DeliveryOutcome],
    ) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut delivered = tx.prepare_cached(
                "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, status = ?2, \
                 excerpt = ?3, last_error = NULL, delivered_at = ?4, updated_at = ?4 \
                 WHERE id = ?1 AND state = 'in_flight'",
            )?;
            let mut retry = tx.prepare_cached(
                "UPDATE deliveries SET state = 'pending', attempts = attempts + 1, \
                 next_attempt_at = ?2, last_error = ?3, status = ?4, updated_at = ?5 \
                 WHERE id = ?1 AND state = 'in_flight'",
            )?;
            let mut dead = tx.prepare_cached(
                "UPDATE deliveries SET state = 'dead', attempts = attempts + 1, last_error = ?2, \
                 status = ?3, excerpt = ?4, updated_at = ?5 \
                 WHERE id = ?1 AND state = 'in_flight'",
            )?;
            let mut attempt = tx.prepare_cached(
                "INSERT INTO delivery_attempts (delivery_id, at, outcome, status, error, excerpt) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            // A stale outcome (0 rows updated) records no attempt and changes nothing.
            for outcome in outcomes {
                match outcome {
                    DeliveryOutcome::Delivered {
                        delivery_id,
                        status,
                        excerpt,
                    } => {
                        let excerpt = cap(excerpt);
                        let n = delivered.execute(params![delivery_id, status, excerpt, now_ms])?;
                        if n > 0 {
                            attempt.execute(params![
                                delivery_id,
                                now_ms,
                                "delivered",
                                status,
                                Option::<&str>::None,
                                excerpt
                            ])?;
                        }
                    }
                    DeliveryOutcome::Retry {
                        delivery_id,
                        next_attempt_ms,
                        error,
                        status,
                    } => {
                        let error = cap(error);
                        let n = retry.execute(params![
                            delivery_id,
                            next_attempt_ms,
                            error,
                            status,
                            now_ms
                        ])?;
                        if n > 0 {
                            attempt.execute(params![
                                delivery_id,
                                now_ms,
                                "retry",
                                status,
                                error,
                                Option::<&str>::None
                            ])?;
                        }
                    }
                    DeliveryOutcome::Dead {
                        delivery_id,
                        error,
                        status,
                        excerpt,
                    } => {
                        let (error, excerpt) = (cap(error), cap(excerpt));
                        let n =
                            dead.execute(params![delivery_id, error, status, excerpt, now_ms])?;
                        if n > 0 {
                            attempt.execute(params![
                                delivery_id,
                                now_ms,
                                "dead",
                                status,
                                error,
                                excerpt
                            ])?;
                        }
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// One delivery by id.
    pub fn delivery(&self, delivery_id: i64) -> Result<Option<DeliveryRow>, StoreError> {
        use rusqlite::OptionalExtension;
        let sql = format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = ?1");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        Ok(stmt
            .query_row([delivery_id], delivery_from_row)
            .optional()?)
    }

    /// A record's delivery goes back to `pending` (from `dead` or `delivered`), same id.
    /// `false` when the record is unknown or its delivery is already pending or in flight.
    pub fn replay_record(&mut self, record_id: &str) -> Result<bool, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let ids = select_ids(
            &tx,
            "SELECT id FROM deliveries WHERE record_id = ?1 \
             AND state IN ('dead', 'delivered')",
            params![record_id],
        )?;
        let n = replay_ids(&tx, &ids)?;
        tx.commit()?;
        Ok(n > 0)
    }

    /// Replays every dead or delivered record of the file(s) whose SHA-256 or name is given
    /// (records first introduced by the file, and records its sets named). Returns how many.
    pub fn replay_file(&mut self, sha256_or_name: &str) -> Result<u64, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let ids = select_ids(
            &tx,
            "WITH f AS (SELECT id FROM files WHERE sha256 = ?1 OR name = ?1),
                  r AS (SELECT id AS record_id FROM records WHERE file_id IN (SELECT id FROM f)
                        UNION
                        SELECT record_id FROM transactions
                        WHERE file_id IN (SELECT id FROM f) AND record_id IS NOT NULL)
             SELECT d.id FROM deliveries d
             WHERE d.record_id IN (SELECT record_id FROM r)
               AND d.state IN ('dead', 'delivered')
             ORDER BY d.seq",
            params![sha256_or_name],
        )?;
        let n = replay_ids(&tx, &ids)?;
        tx.commit()?;
        Ok(n)
    }

    /// Replays every dead letter, keeping their relative order. Returns how many.
    pub fn replay_dead(&mut self) -> Result<u64, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let ids = select_ids(
            &tx,
            "SELECT id FROM deliveries WHERE state = 'dead' ORDER BY seq",
            [],
        )?;
        let n = replay_ids(&tx, &ids)?;
        tx.commit()?;
        Ok(n)
    }
}

fn claim_runs(
    conn: &mut rusqlite::Connection,
    now_ms: i64,
    lanes: usize,
    per_lane: usize,
) -> Result<Vec<Vec<DeliveryJob>>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut runs = Vec::new();
    {
        let mut heads = tx.prepare_cached(LANE_HEADS)?;
        let lane_keys = heads
            .query_map(params![now_ms, limit_param(lanes)], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut front = tx.prepare_cached(LANE_FRONT)?;
        let mut mark = tx.prepare_cached(
            "UPDATE deliveries SET state = 'in_flight', updated_at = ?2 WHERE id = ?1",
        )?;
        let claimed_at = now_ms;
        for (partner, kind) in lane_keys {
            let rows = front.query_map(params![partner, kind, limit_param(per_lane)], |r| {
                let attempts: i64 = r.get(6)?;
                let state: String = r.get(7)?;
                let next: i64 = r.get(8)?;
                Ok((
                    DeliveryJob {
                        delivery_id: r.get(0)?,
                        record_id: r.get(1)?,
                        kind: r.get(2)?,
                        partner: r.get(3)?,
                        correlation_id: r.get(4)?,
                        body: r.get(5)?,
                        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                    },
                    state == "pending" && next <= now_ms,
                ))
            })?;
            let mut run = Vec::new();
            for row in rows {
                let (job, due) = row?;
                if !due {
                    break;
                }
                run.push(job);
            }
            for job in &run {
                mark.execute(params![job.delivery_id, claimed_at])?;
            }
            if !run.is_empty() {
                runs.push(run);
            }
        }
    }
    tx.commit()?;
    Ok(runs)
}

/// Longest error or response excerpt kept, in bytes: the ledger is evidence, not a log store.
pub const EXCERPT_MAX: usize = 2048;

/// `text` cut to at most [`EXCERPT_MAX`] bytes at a character boundary.
pub(crate) fn cap(text: &str) -> &str {
    if text.len() <= EXCERPT_MAX {
        return text;
    }
    let mut end = EXCERPT_MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn select_ids<P: rusqlite::Params>(
    tx: &Transaction<'_>,
    sql: &str,
    p: P,
) -> Result<Vec<i64>, StoreError> {
    let mut stmt = tx.prepare_cached(sql)?;
    let ids = stmt
        .query_map(p, |r| r.get::<_, i64>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ids)
}

/// Puts deliveries back at the end of their lanes, in the given order, due at once.
fn replay_ids(tx: &Transaction<'_>, ids: &[i64]) -> Result<u64, StoreError> {
    if ids.is_empty() {
        return Ok(0);
    }
    let now = now_ms();
    let mut seq: i64 = tx
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) + 1 FROM deliveries")?
        .query_row([], |r| r.get(0))?;
    let mut update = tx.prepare_cached(
        "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = 0, seq = ?2, \
         delivered_at = NULL, updated_at = ?3 \
         WHERE id = ?1 AND state IN ('dead', 'delivered')",
    )?;
    let mut attempt = tx.prepare_cached(
        "INSERT INTO delivery_attempts (delivery_id, at, outcome) VALUES (?1, ?2, 'replayed')",
    )?;
    let mut n = 0;
    for id in ids {
        if update.execute(params![id, seq, now])? > 0 {
            attempt.execute(params![id, now])?;
            seq += 1;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::super::ledger::tests::{count, intake};
    use super::*;

    fn ids(jobs: &[DeliveryJob]) -> Vec<&str> {
        jobs.iter().map(|j| j.record_id.as_str()).collect()
    }

    fn delivered(job: &DeliveryJob) -> DeliveryOutcome {
        DeliveryOutcome::Delivered {
            delivery_id: job.delivery_id,
            status: 201,
            excerpt: "{\"ok\":true}".into(),
        }
    }

    fn store_with_two_lanes() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("open");
        store
            .record_file(&intake("a.x12", "acme", "warehouse_order", "a", 3))
            .expect("a");
        store
            .record_file(&intake("b.x12", "acme", "ship_notice", "b", 1))
            .expect("b");
        (dir, store)
    }

    #[test]
    fn claim_hands_out_one_head_per_lane_oldest_first() {
        let (_dir, mut store) = store_with_two_lanes();
        let jobs = store.claim_due(1_000, 10).expect("claim");
        assert_eq!(ids(&jobs), vec!["a-00000", "b-00000"]);
        assert_eq!(jobs[0].correlation_id, "corr-a.x12");
        assert_eq!(jobs[0].kind, "warehouse_order");
        assert_eq!(jobs[0].partner, "acme");
        assert!(jobs[0].body.contains("a-00000"));
        assert_eq!(jobs[0].attempts, 0);
        // Both lanes are busy: nothing else is handed out.
        assert!(store.claim_due(1_000, 10).expect("claim").is_empty());
        store
            .record_outcomes(&[delivered(&jobs[0])])
            .expect("outcome");
        let next = store.claim_due(1_000, 10).expect("claim");
        assert_eq!(ids(&next), vec!["a-00001"]);
        // The limit applies across lanes.
        let (_dir2, mut other) = store_with_two_lanes();
        assert_eq!(other.claim_due(1_000, 1).expect("claim").len(), 1);
    }

    #[test]
    fn retry_waits_for_its_time_and_holds_its_lane() {
        let (_dir, mut store) = store_with_two_lanes();
        let jobs = store.claim_due(1_000, 10).expect("claim");
        let a0 = jobs[0].clone();
        store
            .record_outcomes_at(
                1_000,
                &[
                    DeliveryOutcome::Retry {
                        delivery_id: a0.delivery_id,
                        next_attempt_ms: 5_000,
                        error: "503 Service Unavailable".into(),
                        status: Some(503),
                    },
                    delivered(&jobs[1]),
                ],
            )
            .expect("outcomes");
        // Before its time the head waits, and a-00001 must not overtake it.
        assert!(store.claim_due(4_999, 10).expect("claim").is_empty());
        assert_eq!(store.next_due_at().expect("due"), Some(5_000));
        let again = store.claim_due(5_000, 10).expect("claim");
        assert_eq!(ids(&again), vec!["a-00000"]);
        assert_eq!(again[0].attempts, 1, "attempts so far");
        let row = store.delivery(a0.delivery_id).expect("q").expect("row");
        assert_eq!(row.state, DeliveryState::InFlight);
        assert_eq!(row.last_error.as_deref(), Some("503 Service Unavailable"));
        assert_eq!(row.status, Some(503));
    }

    #[test]
    fn dead_letter_does_not_block_its_lane_and_replay_keeps_the_id() {
        let (_dir, mut store) = store_with_two_lanes();
        let jobs = store.claim_due(1_000, 1).expect("claim");
        assert_eq!(ids(&jobs), vec!["a-00000"]);
        store
            .record_outcomes(&[DeliveryOutcome::Dead {
                delivery_id: jobs[0].delivery_id,
                error: "422 Unprocessable Entity: unknown SKU".into(),
                status: Some(422),
                excerpt: "{\"error\":\"unknown SKU\"}".into(),
            }])
            .expect("dead");
        let dead = store.dead_letters(10).expect("dead letters");
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].record_id, "a-00000");
        assert_eq!(dead[0].status, Some(422));
        // The lane moves on.
        let next = store.claim_due(1_000, 10).expect("claim");
        assert_eq!(ids(&next), vec!["a-00001", "b-00000"]);
        store
            .record_outcomes(&next.iter().map(delivered).collect::<Vec<_>>())
            .expect("delivered");

        assert!(store.replay_record("a-00000").expect("replay"));
        assert!(
            !store.replay_record("a-00000").expect("replay"),
            "already pending"
        );
        assert!(!store.replay_record("nope").expect("replay"));
        let row = store
            .delivery(jobs[0].delivery_id)
            .expect("q")
            .expect("row");
        assert_eq!(row.state, DeliveryState::Pending);
        assert_eq!(row.attempts, 0);
        // a-00002 was queued before the replay, so it leaves first; then the replayed record,
        // under the same delivery and record id.
        let first = store.claim_due(1_000, 10).expect("claim");
        assert_eq!(ids(&first), vec!["a-00002"]);
        store
            .record_outcomes(&[delivered(&first[0])])
            .expect("delivered");
        let replayed = store.claim_due(1_000, 10).expect("claim");
        assert_eq!(ids(&replayed), vec!["a-00000"]);
        assert_eq!(replayed[0].delivery_id, jobs[0].delivery_id);
        store
            .record_outcomes(&[delivered(&replayed[0])])
            .expect("delivered");
        assert!(store.dead_letters(10).expect("dead").is_empty());
        assert_eq!(
            count(
                &store,
                "SELECT COUNT(*) FROM delivery_attempts WHERE outcome = 'replayed'"
            ),
            1
        );
    }

    #[test]
    fn replay_by_file_and_all_dead() {
        let (_dir, mut store) = store_with_two_lanes();
        loop {
            let jobs = store.claim_due(1_000, 10).expect("claim");
            if jobs.is_empty() {
                break;
            }
            let outcomes: Vec<_> = jobs
                .iter()
                .map(|j| DeliveryOutcome::Dead {
                    delivery_id: j.delivery_id,
                    error: "400".into(),
                    status: Some(400),
                    excerpt: String::new(),
                })
                .collect();
            store.record_outcomes(&outcomes).expect("dead");
        }
        assert_eq!(store.dead_letters(100).expect("dead").len(), 4);
        assert_eq!(store.replay_file("b.x12").expect("by name"), 1);
        assert_eq!(store.replay_file("sha-a.x12").expect("by sha"), 3);
        assert_eq!(store.replay_file("sha-a.x12").expect("again"), 0);
        assert_eq!(store.replay_dead().expect("dead"), 0);
        let jobs = store.claim_due(1_000, 10).expect("claim");
        // Replayed in lane order: b first (replayed first), a-00000 heads its lane.
        assert_eq!(ids(&jobs), vec!["b-00000", "a-00000"]);
        store
            .record_outcomes(
                &jobs
                    .iter()
                    .map(|j| DeliveryOutcome::Dead {
                        delivery_id: j.delivery_id,
                        error: "400".into(),
                        status: Some(400),
                        excerpt: String::new(),
                    })
                    .collect::<Vec<_>>(),
            )
            .expect("dead");
        assert_eq!(store.replay_dead().expect("dead"), 2);
    }

    #[test]
    fn recover_in_flight_returns_claims_to_pending() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut store = Store::open(dir.path()).expect("open");
            store
                .record_file(&intake("a.x12", "acme", "warehouse_order", "a", 2))
                .expect("a");
            assert_eq!(store.claim_due(1_000, 10).expect("claim").len(), 1);
            // The process dies here: the claim is in the database, the outcome never comes.
        }
        let mut store = Store::open(dir.path()).expect("reopen");
        assert!(store.claim_due(1_000, 10).expect("claim").is_empty());
        assert_eq!(store.recover_in_flight().expect("recover"), 1);
        let jobs = store.claim_due(1_000, 10).expect("claim");
        assert_eq!(ids(&jobs), vec!["a-00000"], "same record, in order");
        assert_eq!(store.recover_in_flight().expect("recover"), 1);
        assert_eq!(store.recover_in_flight().expect("recover"), 0);
    }

    #[test]
    fn long_excerpts_are_capped_at_a_character_boundary() {
        let long = "é".repeat(EXCERPT_MAX);
        let capped = cap(&long);
        assert!(capped.len() <= EXCERPT_MAX && capped.len() >= EXCERPT_MAX - 1);
        assert_eq!(cap("short"), "short");
    }

    #[test]
    fn stale_outcome_is_ignored() {
        let (_dir, mut store) = store_with_two_lanes();
        let jobs = store.claim_due(1_000, 1).expect("claim");
        store.recover_in_flight().expect("recover");
        store
            .record_outcomes(&[delivered(&jobs[0])])
            .expect("outcome");
        let row = store
            .delivery(jobs[0].delivery_id)
            .expect("q")
            .expect("row");
        assert_eq!(row.state, DeliveryState::Pending);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM delivery_attempts"), 0);
    }

    #[test]
    fn runs_claim_consecutive_heads_and_release_returns_the_rest() {
        let (_dir, mut store) = store_with_two_lanes();
        let runs = store.claim_due_runs(1_000, 10, 2).expect("runs");
        assert_eq!(runs.len(), 2);
        assert_eq!(ids(&runs[0]), vec!["a-00000", "a-00001"]);
        assert_eq!(ids(&runs[1]), vec!["b-00000"]);
        // The first of run a fails: its outcome is recorded, the rest released unsent.
        store
            .record_outcomes_at(
                1_000,
                &[DeliveryOutcome::Retry {
                    delivery_id: runs[0][0].delivery_id,
                    next_attempt_ms: 2_000,
                    error: "timeout".into(),
                    status: None,
                }],
            )
            .expect("retry");
        store.release(&[runs[0][1].delivery_id]).expect("release");
        let row = store
            .delivery(runs[0][1].delivery_id)
            .expect("q")
            .expect("row");
        assert_eq!(row.state, DeliveryState::Pending);
        assert_eq!(row.attempts, 0);
        assert!(store.claim_due_runs(1_500, 10, 5).expect("runs").is_empty());
        let runs = store.claim_due_runs(2_000, 10, 5).expect("runs");
        assert_eq!(ids(&runs[0]), vec!["a-00000", "a-00001", "a-00002"]);
    }

    fn plan(store: &Store, sql: &str) -> String {
        let n = sql.matches('?').count();
        let rows: Vec<String> = store
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("plan")
            .query_map(rusqlite::params_from_iter(vec![0i64; n]), |r| {
                r.get::<_, String>(3)
            })
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("rows");
        rows.join("\n")
    }

    #[test]
    fn rare_states_are_found_by_their_partial_indexes() {
        let (_dir, store) = store_with_two_lanes();
        let recover = plan(
            &store,
            "UPDATE deliveries SET state = 'pending', updated_at = ?1 WHERE state = 'in_flight'",
        );
        assert!(recover.contains("deliveries_in_flight"), "{recover}");
        let dead = plan(
            &store,
            "SELECT id FROM deliveries WHERE state = 'dead' ORDER BY seq LIMIT ?1",
        );
        assert!(dead.contains("deliveries_dead"), "{dead}");
        assert!(!dead.contains("TEMP B-TREE"), "{dead}");
    }

    #[test]
    fn claim_reads_lane_heads_by_index() {
        let (_dir, store) = store_with_two_lanes();
        let plan: Vec<String> = store
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {LANE_HEADS}"))
            .expect("plan")
            .query_map(params![0, 10], |r| r.get::<_, String>(3))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("rows");
        let text = plan.join("\n");
        assert!(
            text.contains("deliveries_lane_active"),
            "lane head lookup must use the partial lane index:\n{text}"
        );
        // Regression: driving from the pending deliveries made every claim scan the backlog.
        assert!(
            plan[0].starts_with("SCAN l"),
            "lanes must be the outer loop:\n{text}"
        );
        assert!(!text.contains("SCAN d"), "{text}");
    }
}

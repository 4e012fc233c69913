//! Durable control-number counters (ISA13, GS06) that never hand out a number twice.
//!
//! The stored `value` only grows (it is a count of numbers handed out, per partner and kind);
//! the number given is `((value - 1) mod 999_999_999) + 1`, so it always fits the 9-digit
//! ISA13/GS06 field and repeats only after a billion acknowledgments. Every reservation is its own
//! `synchronous=FULL` commit *before* the numbers are used: a crash can waste numbers, never
//! reuse one.
//!
//! The X12 engine's [`ControlNumbers`] trait cannot fail, but a database can. Two adapters:
//! - [`ReservedCounters`] owns numbers reserved up front with [`Store::reserve_controls`] (no
//!   borrow of the store, so ack generation can run off the writer thread). The daemon counts
//!   the interchanges and groups it will acknowledge, reserves that many, then generates acks.
//! - [`StoreCounters`] borrows the store and draws one number at a time through
//!   [`Store::next_control`] (after any reserved numbers are used).
//!
//! Neither panics: if numbers run out or the database fails, they hand out `0` (never a valid
//! control number), latch the problem, and [`StoreCounters::finish`] /
//! [`ReservedCounters::finish`] return it as an error, so the caller throws the generated acks
//! away instead of recording them.

use std::collections::VecDeque;

use rusqlite::{TransactionBehavior, params};

use super::{Store, StoreError};
use crate::x12::ack::ControlNumbers;

/// Counter kind for ISA13 (interchange control numbers).
pub const ISA13: &str = "isa13";
/// Counter kind for GS06 (group control numbers).
pub const GS06: &str = "gs06";

/// The largest number a 9-digit control field holds.
const MODULUS: u64 = 999_999_999;

/// A block of reserved numbers, in the order they are to be used.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ControlRange {
    /// Counter values `first..=last` (raw, before folding into 9 digits).
    first: u64,
    last: u64,
}

impl ControlRange {
    /// How many numbers the block holds.
    pub fn len(&self) -> u64 {
        if self.last < self.first {
            0
        } else {
            self.last - self.first + 1
        }
    }

    /// Whether the block is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The control numbers of the block, each in `1..=999_999_999`.
    pub fn numbers(&self) -> impl Iterator<Item = u64> + use<> {
        let (first, last) = (self.first, self.last);
        (first..=last).map(fold)
    }
}

fn fold(raw: u64) -> u64 {
    (raw.saturating_sub(1) % MODULUS) + 1
}

impl Store {
    /// Durable, never-reused control numbers per partner and kind (`"isa13"` | `"gs06"`, or any
    /// other name). One committed transaction per call; prefer [`Store::reserve_controls`] for
    /// several numbers at once.
    pub fn next_control(&mut self, partner: &str, kind: &str) -> Result<u64, StoreError> {
        let range = self.reserve_controls(partner, kind, 1)?;
        range
            .numbers()
            .next()
            .ok_or_else(|| StoreError::Invalid("no control number was reserved".to_string()))
    }

    /// Reserves `count` consecutive numbers in one committed transaction. The numbers are the
    /// caller's even if it crashes before using them (they are then skipped, never reused).
    pub fn reserve_controls(
        &mut self,
        partner: &str,
        kind: &str,
        count: u64,
    ) -> Result<ControlRange, StoreError> {
        if count == 0 {
            return Ok(ControlRange { first: 1, last: 0 });
        }
        let step = i64::try_from(count).unwrap_or(i64::MAX);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let last: i64 = tx
            .prepare_cached(
                "INSERT INTO counters (partner, kind, value) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (partner, kind) DO UPDATE SET value = value + excluded.value \
                 RETURNING value",
            )?
            .query_row(params![partner, kind, step], |r| r.get(0))?;
        tx.commit()?;
        let last = u64::try_from(last).unwrap_or(0);
        Ok(ControlRange {
            first: last.saturating_sub(count) + 1,
            last,
        })
    }

    /// Counter adapter for the ack generator, drawing numbers for `partner` (the partner id from
    /// its config file; the engine's own partner argument is ignored).
    pub fn counters(&mut self, partner: &str) -> StoreCounters<'_> {
        StoreCounters {
            store: self,
            partner: partner.to_string(),
            reserved: ReservedCounters::default(),
            failure: None,
        }
    }

    /// Reserves `interchanges` ISA13s and `groups` GS06s for `partner` (two commits) and returns
    /// them as an owned [`ControlNumbers`] source.
    pub fn reserve_counters(
        &mut self,
        partner: &str,
        interchanges: u64,
        groups: u64,
    ) -> Result<ReservedCounters, StoreError> {
        let isa = self.reserve_controls(partner, ISA13, interchanges)?;
        let gs = self.reserve_controls(partner, GS06, groups)?;
        Ok(ReservedCounters::new(isa, gs))
    }
}

/// Numbers reserved in advance; hands them out in order without touching the database.
#[derive(Debug, Clone, Default)]
pub struct ReservedCounters {
    interchanges: VecDeque<u64>,
    groups: VecDeque<u64>,
    short: bool,
}

impl ReservedCounters {
    /// A source over the given blocks.
    pub fn new(interchanges: ControlRange, groups: ControlRange) -> Self {
        ReservedCounters {
            interchanges: interchanges.numbers().collect(),
            groups: groups.numbers().collect(),
            short: false,
        }
    }

    /// Whether more numbers were asked for than were reserved (`0` was handed out).
    pub fn ran_short(&self) -> bool {
        self.short
    }

    /// Numbers reserved but not used (wasted, never reused).
    pub fn unused(&self) -> (usize, usize) {
        (self.interchanges.len(), self.groups.len())
    }

    /// `Ok` when every number handed out was a reserved one.
    pub fn finish(self) -> Result<(), StoreError> {
        if self.short {
            return Err(StoreError::Invalid(
                "acknowledgment generation needed more control numbers than were reserved; \
                 the generated acks carry 0 and must be discarded"
                    .to_string(),
            ));
        }
        Ok(())
    }

    fn take(queue: &mut VecDeque<u64>, short: &mut bool) -> Option<u64> {
        let n = queue.pop_front();
        if n.is_none() {
            *short = true;
        }
        n
    }
}

impl ControlNumbers for ReservedCounters {
    fn next_interchange(&mut self, _partner: &str) -> u64 {
        Self::take(&mut self.interchanges, &mut self.short).unwrap_or(0)
    }
    fn next_group(&mut self, _partner: &str) -> u64 {
        Self::take(&mut self.groups, &mut self.short).unwrap_or(0)
    }
}

/// The store as a [`ControlNumbers`] source for one partner: reserved numbers first, then one
/// durable commit per number. Check [`StoreCounters::finish`] before recording the acks.
pub struct StoreCounters<'a> {
    store: &'a mut Store,
    partner: String,
    reserved: ReservedCounters,
    failure: Option<StoreError>,
}

impl std::fmt::Debug for StoreCounters<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreCounters")
            .field("partner", &self.partner)
            .field("reserved", &self.reserved)
            .field("failure", &self.failure)
            .finish()
    }
}

impl StoreCounters<'_> {
    /// Reserves numbers up front (two commits) so generation needs no further commits.
    pub fn reserve(&mut self, interchanges: u64, groups: u64) -> Result<(), StoreError> {
        let more = self
            .store
            .reserve_counters(&self.partner, interchanges, groups)?;
        self.reserved.interchanges.extend(more.interchanges);
        self.reserved.groups.extend(more.groups);
        Ok(())
    }

    /// `Err` if any number could not be drawn (a `0` was handed out: discard the acks).
    pub fn finish(self) -> Result<(), StoreError> {
        match self.failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn draw(&mut self, kind: &str) -> u64 {
        if self.failure.is_some() {
            return 0;
        }
        let queue = if kind == ISA13 {
            &mut self.reserved.interchanges
        } else {
            &mut self.reserved.groups
        };
        if let Some(n) = queue.pop_front() {
            return n;
        }
        match self.store.next_control(&self.partner, kind) {
            Ok(n) => n,
            Err(e) => {
                self.failure = Some(e);
                0
            }
        }
    }
}

impl ControlNumbers for StoreCounters<'_> {
    fn next_interchange(&mut self, _partner: &str) -> u64 {
        self.draw(ISA13)
    }
    fn next_group(&mut self, _partner: &str) -> u64 {
        self.draw(GS06)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_never_reuse_a_number_after_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut seen = Vec::new();
        {
            let mut store = Store::open(dir.path()).expect("open");
            for _ in 0..3 {
                seen.push(store.next_control("acme", ISA13).expect("next"));
            }
            let block = store.reserve_controls("acme", ISA13, 4).expect("reserve");
            assert_eq!(block.len(), 4);
            seen.extend(block.numbers());
            // Another partner and kind count separately.
            assert_eq!(store.next_control("other", ISA13).expect("next"), 1);
            assert_eq!(store.next_control("acme", GS06).expect("next"), 1);
        }
        let mut store = Store::open(dir.path()).expect("reopen");
        seen.push(store.next_control("acme", ISA13).expect("next"));
        assert_eq!(seen, (1..=8).collect::<Vec<u64>>());
    }

    #[test]
    fn numbers_fold_into_nine_digits_without_zero() {
        assert_eq!(fold(1), 1);
        assert_eq!(fold(999_999_999), 999_999_999);
        assert_eq!(fold(1_000_000_000), 1);
    }

    #[test]
    fn store_counters_use_reserved_numbers_then_draw_durably() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("open");
        {
            let mut c = store.counters("acme");
            c.reserve(1, 1).expect("reserve");
            assert_eq!(c.next_interchange("ZZ:X"), 1);
            assert_eq!(c.next_group("ZZ:X"), 1);
            assert_eq!(c.next_interchange("ZZ:X"), 2);
            c.finish().expect("no failure");
        }
        assert_eq!(store.next_control("acme", ISA13).expect("next"), 3);
    }

    #[test]
    fn reserved_counters_report_running_short() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("open");
        let mut c = store.reserve_counters("acme", 1, 0).expect("reserve");
        assert_eq!(c.next_interchange("x"), 1);
        assert_eq!(c.next_group("x"), 0);
        assert!(c.ran_short());
        assert!(c.finish().is_err());
    }

    #[test]
    fn store_counters_latch_a_database_failure() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ro_dir_store = Store::open(dir.path()).expect("open");
        drop(ro_dir_store.counters("acme"));
        let mut ro = Store::open_readonly(dir.path()).expect("read-only");
        let mut c = ro.counters("acme");
        assert_eq!(c.next_interchange("x"), 0);
        assert_eq!(c.next_group("x"), 0);
        assert!(c.finish().is_err());
        assert_eq!(
            ro_dir_store.next_control("acme", ISA13).expect("next"),
            1,
            "the failed draw used nothing"
        );
    }
}

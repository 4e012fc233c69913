//! Observable events: one struct per event, whose `emit` writes the log line and moves the
//! metric together, so the two never disagree. The in-process registry ([`Metrics`]) holds only
//! what the ledger cannot answer (durations, poll errors); counts of files, transactions and
//! deliveries are read from the ledger when `/metrics` is scraped.
//!
//! Labels: partner ids (configured partners and spool folder names) and fixed enums only.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use tracing::{info, warn};

/// Upper bounds (seconds) of the duration histograms' buckets.
pub const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// A histogram of durations with the fixed [`BUCKETS`].
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations at or below each bucket bound (not cumulative; summed when rendered).
    buckets: [AtomicU64; BUCKETS.len()],
    /// Observations above the last bound.
    over: AtomicU64,
    /// Sum of observations, in microseconds.
    sum_us: AtomicU64,
}

/// A histogram's state at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Cumulative counts per bucket bound, then `+Inf`.
    pub cumulative: Vec<u64>,
    /// Sum in seconds.
    pub sum: f64,
    /// Count.
    pub count: u64,
}

impl Histogram {
    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        match BUCKETS.iter().position(|b| s <= *b) {
            Some(i) => self.buckets[i].fetch_add(1, Ordering::Relaxed),
            None => self.over.fetch_add(1, Ordering::Relaxed),
        };
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// The current counts.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = Vec::with_capacity(BUCKETS.len() + 1);
        let mut total = 0;
        for b in &self.buckets {
            total += b.load(Ordering::Relaxed);
            cumulative.push(total);
        }
        total += self.over.load(Ordering::Relaxed);
        cumulative.push(total);
        HistogramSnapshot {
            cumulative,
            sum: self.sum_us.load(Ordering::Relaxed) as f64 / 1e6,
            count: total,
        }
    }
}

/// Delivery outcomes as histogram labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeliveryOutcome {
    /// The ERP accepted it.
    Delivered,
    /// A retryable failure.
    Retry,
    /// Refused for good (or out of attempts).
    Dead,
}

impl DeliveryOutcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Retry => "retry",
            DeliveryOutcome::Dead => "dead",
        }
    }

    /// Every outcome, in label order.
    pub const ALL: [DeliveryOutcome; 3] = [
        DeliveryOutcome::Delivered,
        DeliveryOutcome::Retry,
        DeliveryOutcome::Dead,
    ];
}

/// The in-process metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Time to parse, translate and record one file.
    pub parse: Histogram,
    /// Time of one delivery request, per outcome.
    pub delivery: [Histogram; 3],
    /// Poll errors per partner.
    poll_errors: Mutex<BTreeMap<String, u64>>,
}

impl Metrics {
    /// Poll errors per partner.
    pub fn poll_errors(&self) -> BTreeMap<String, u64> {
        self.poll_errors
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }
}

/// The process's metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::default);

/// A file was parsed, translated and recorded.
#[derive(Debug)]
pub struct FileRecorded<'a> {
    /// Partner id.
    pub partner: &'a str,
    /// File name.
    pub file: &'a str,
    /// The file's correlation id.
    pub correlation: &'a str,
    /// The interchange control numbers (ISA13) in it, comma-separated.
    pub isa13: &'a str,
    /// Final state (`accepted`, `rejected`, ...).
    pub state: &'a str,
    /// New records.
    pub records: u64,
    /// Records already known.
    pub duplicate_records: u64,
    /// Parse, translate and record time.
    pub took: Duration,
}

impl FileRecorded<'_> {
    /// Logs it and records its duration.
    pub fn emit(self) {
        METRICS.parse.observe(self.took);
        info!(
            partner = %self.partner,
            file = %self.file,
            correlation = %self.correlation,
            isa13 = %self.isa13,
            state = %self.state,
            records = self.records,
            duplicate_records = self.duplicate_records,
            took_ms = self.took.as_millis() as u64,
            "File recorded."
        );
    }
}

/// One delivery request finished.
#[derive(Debug)]
pub struct DeliveryAttempted<'a> {
    /// Record id.
    pub record: &'a str,
    /// Partner id.
    pub partner: &'a str,
    /// The correlation id of the file it came from.
    pub correlation: &'a str,
    /// What happened.
    pub outcome: DeliveryOutcome,
    /// Request time.
    pub took: Duration,
}

impl DeliveryAttempted<'_> {
    /// Records its duration (outcomes are logged where they are decided).
    pub fn emit(self) {
        METRICS.delivery[self.outcome as usize].observe(self.took);
        tracing::debug!(
            record = %self.record,
            partner = %self.partner,
            correlation = %self.correlation,
            outcome = self.outcome.as_str(),
            took_ms = self.took.as_millis() as u64,
            "Delivery attempt finished."
        );
    }
}

/// Polling a partner's remote source failed.
#[derive(Debug)]
pub struct PollFailed<'a> {
    /// Partner id.
    pub partner: &'a str,
    /// Why.
    pub error: &'a str,
}

impl PollFailed<'_> {
    /// Logs it and counts it for the partner.
    pub fn emit(self) {
        if let Ok(mut m) = METRICS.poll_errors.lock() {
            *m.entry(self.partner.to_string()).or_insert(0) += 1;
        }
        warn!(partner = %self.partner, error = %self.error, "Polling the partner failed.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(30));
        h.observe(Duration::from_secs(60));
        let s = h.snapshot();
        assert_eq!(s.count, 3);
        assert_eq!(s.cumulative[0], 1);
        assert_eq!(s.cumulative[5], 2);
        assert_eq!(s.cumulative[BUCKETS.len() - 1], 2);
        assert_eq!(s.cumulative[BUCKETS.len()], 3);
        assert!((s.sum - 60.0305).abs() < 1e-6);
    }
}

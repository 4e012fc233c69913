//! `/metrics` in the Prometheus text format (0.0.4), every name prefixed `edigate_`. Labels are
//! partner ids and fixed enums (file state, verdict, delivery state and outcome, set id).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::events::{BUCKETS, DeliveryOutcome, HistogramSnapshot, Metrics};
use crate::store::metrics::MetricCounts;

/// Escapes a label value.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out(String);

impl Out {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP edigate_{name} {help}");
        let _ = writeln!(self.0, "# TYPE edigate_{name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        let _ = write!(self.0, "edigate_{name}");
        if !labels.is_empty() {
            let inner: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", esc(v)))
                .collect();
            let _ = write!(self.0, "{{{}}}", inner.join(","));
        }
        let _ = writeln!(self.0, " {value}");
    }

    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &HistogramSnapshot) {
        for (i, count) in h.cumulative.iter().enumerate() {
            let le = BUCKETS
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
            let mut l = labels.to_vec();
            l.push(("le", &le));
            self.sample(&format!("{name}_bucket"), &l, count);
        }
        self.sample(&format!("{name}_sum"), labels, h.sum);
        self.sample(&format!("{name}_count"), labels, h.count);
    }
}

/// The whole exposition.
pub fn render(c: &MetricCounts, m: &Metrics) -> String {
    let mut o = Out(String::new());
    o.head(
        "build_info",
        "gauge",
        "Build information; the value is always 1.",
    );
    o.sample("build_info", &[("version", env!("CARGO_PKG_VERSION"))], 1);

    let mut received: BTreeMap<&str, u64> = BTreeMap::new();
    let mut rejected: BTreeMap<&str, u64> = BTreeMap::new();
    for (partner, state, n) in &c.files {
        *received.entry(partner).or_default() += n;
        let r = rejected.entry(partner).or_default();
        if matches!(state.as_str(), "rejected" | "quarantined") {
            *r += n;
        }
    }
    o.head(
        "files_received_total",
        "counter",
        "Files received, per partner.",
    );
    for (p, n) in &received {
        o.sample("files_received_total", &[("partner", p)], n);
    }
    o.head(
        "files_rejected_total",
        "counter",
        "Files rejected or quarantined, per partner.",
    );
    for (p, n) in &rejected {
        o.sample("files_rejected_total", &[("partner", p)], n);
    }
    o.head(
        "files",
        "gauge",
        "Files in the ledger, per partner and state.",
    );
    for (p, s, n) in &c.files {
        o.sample("files", &[("partner", p), ("state", s)], n);
    }

    o.head(
        "transactions_total",
        "counter",
        "Transaction sets, per set (ST01) and verdict.",
    );
    for (set, verdict, n) in &c.transactions {
        let set: String = set
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(3)
            .collect();
        o.sample(
            "transactions_total",
            &[("set", &set), ("status", verdict)],
            n,
        );
    }

    let d = &c.status.deliveries;
    o.head("deliveries", "gauge", "Deliveries, per state.");
    for (state, n) in [
        ("pending", d.pending),
        ("in_flight", d.in_flight),
        ("delivered", d.delivered),
        ("dead", d.dead),
    ] {
        o.sample("deliveries", &[("state", state)], n);
    }
    o.head(
        "delivery_attempts_total",
        "counter",
        "Delivery attempts and replays, per outcome.",
    );
    for (outcome, n) in &c.attempts {
        o.sample("delivery_attempts_total", &[("outcome", outcome)], n);
    }
    o.head(
        "outbox_depth",
        "gauge",
        "Records waiting for delivery (pending or in flight).",
    );
    o.sample("outbox_depth", &[], d.pending + d.in_flight);
    o.head(
        "oldest_pending_age_seconds",
        "gauge",
        "Age of the oldest record waiting for delivery (0 when none waits).",
    );
    o.sample(
        "oldest_pending_age_seconds",
        &[],
        c.status.oldest_pending_age_ms.unwrap_or(0) as f64 / 1000.0,
    );
    o.head("dead_letters", "gauge", "Records in the dead-letter queue.");
    o.sample("dead_letters", &[], c.status.dead_letters);
    o.head(
        "acks_pending",
        "gauge",
        "Acknowledgments recorded but not yet written.",
    );
    o.sample("acks_pending", &[], c.status.unwritten_acks);

    o.head(
        "poll_errors_total",
        "counter",
        "Failed polls of a partner's remote source, per partner.",
    );
    for (p, n) in m.poll_errors() {
        o.sample("poll_errors_total", &[("partner", &p)], n);
    }

    o.head(
        "parse_duration_seconds",
        "histogram",
        "Time to parse, translate and record one file.",
    );
    o.histogram("parse_duration_seconds", &[], &m.parse.snapshot());
    o.head(
        "delivery_duration_seconds",
        "histogram",
        "Time of one delivery request, per outcome.",
    );
    for outcome in DeliveryOutcome::ALL {
        o.histogram(
            "delivery_duration_seconds",
            &[("outcome", outcome.as_str())],
            &m.delivery[outcome as usize].snapshot(),
        );
    }
    o.0
}

//! Operator views of the ledger (status, dead letters, lineage) and their text and JSON forms.
//!
//! The query methods work on a read-only [`Store`] while the daemon writes (WAL readers never
//! block the writer). The `render_*` functions are what `edigate status|dead-letters|replay|
//! inspect` print: plain text for people, `--format json` for scripts (stable field names).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::ledger::{file_from_row, limit_param};
use super::outbox::{DELIVERY_COLUMNS, delivery_from_row};
use super::{DeliveryRow, DeliveryState, FileRow, FileState, Store, StoreError, now_ms};

/// Counts of deliveries by state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryCounts {
    /// Waiting for their turn.
    pub pending: u64,
    /// Claimed by the forwarder.
    pub in_flight: u64,
    /// Accepted by the ERP.
    pub delivered: u64,
    /// Dead letters.
    pub dead: u64,
}

impl DeliveryCounts {
    fn add(&mut self, state: DeliveryState, n: u64) {
        match state {
            DeliveryState::Pending => self.pending += n,
            DeliveryState::InFlight => self.in_flight += n,
            DeliveryState::Delivered => self.delivered += n,
            DeliveryState::Dead => self.dead += n,
        }
    }
}

/// One partner's share of the status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PartnerStatus {
    /// Partner id.
    pub partner: String,
    /// Files recorded for the partner (every state).
    pub files: u64,
    /// Deliveries by state.
    pub deliveries: DeliveryCounts,
    /// Age of the oldest delivery not yet delivered or dead (ms).
    pub oldest_pending_age_ms: Option<i64>,
}

/// What `edigate status` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    /// When the report was made (Unix ms).
    pub generated_at_ms: i64,
    /// Files by state (`accepted`, `partial`, ...); states with no files are absent.
    pub files: BTreeMap<String, u64>,
    /// Files recorded but not yet moved to archive/quarantine.
    pub unfinalized_files: u64,
    /// Deliveries by state.
    pub deliveries: DeliveryCounts,
    /// Age of the oldest delivery not yet delivered or dead (ms).
    pub oldest_pending_age_ms: Option<i64>,
    /// Dead letters (same as `deliveries.dead`, for scripts that only want this).
    pub dead_letters: u64,
    /// Acknowledgments recorded but not yet written to `out/`.
    pub unwritten_acks: u64,
    /// Per partner, by id.
    pub partners: Vec<PartnerStatus>,
    /// Remote transports (pollers and outbound delivery): last success and last error.
    pub transports: Vec<super::transport::TransportHealth>,
}

/// One delivery attempt (or replay) in a record's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttemptRow {
    /// When (Unix ms).
    pub at_ms: i64,
    /// `delivered`, `retry`, `dead` or `replayed`.
    pub outcome: String,
    /// HTTP status, if there was a response.
    pub status: Option<u16>,
    /// Error text.
    pub error: Option<String>,
    /// Start of the response body.
    pub excerpt: Option<String>,
}

/// The interchange a transaction set came in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineageInterchange {
    /// ISA05:ISA06.
    pub sender: String,
    /// ISA07:ISA08.
    pub receiver: String,
    /// ISA13.
    pub isa13: String,
    /// SHA-256 of the interchange.
    pub content_sha256: String,
    /// Recorded before with the same content.
    pub duplicate: bool,
    /// ISA13 seen before with different content.
    pub isa13_reused: bool,
    /// Envelope rejected.
    pub rejected: bool,
}

/// A transaction set that produced (or repeated) the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineageSet {
    /// The file it came in.
    pub file_id: i64,
    /// That file's name.
    pub file_name: String,
    /// Its interchange, when the set could be linked to one.
    pub interchange: Option<LineageInterchange>,
    /// GS06 of its group.
    pub gs06: String,
    /// ST01.
    pub st01: String,
    /// ST02.
    pub st02: String,
    /// The engine's verdict.
    pub verdict: String,
    /// Findings JSON.
    pub findings_json: String,
}

/// The record itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineageRecord {
    /// Canonical id.
    pub id: String,
    /// Kind.
    pub kind: String,
    /// Partner id.
    pub partner: String,
    /// Test data.
    pub test: bool,
    /// When recorded (Unix ms).
    pub created_at_ms: i64,
    /// Canonical JSON.
    pub json: String,
}

/// Everything known about one record: file, interchange, group, set, record, every attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lineage {
    /// The record.
    pub record: LineageRecord,
    /// The file that introduced it.
    pub file: Option<FileRow>,
    /// Every set that named it (a duplicate file or interchange repeats it).
    pub sets: Vec<LineageSet>,
    /// Its delivery.
    pub delivery: Option<DeliveryRow>,
    /// Delivery attempts and replays, oldest first.
    pub attempts: Vec<AttemptRow>,
}

impl Store {
    /// Counts per state, oldest pending age, dead letters, per partner; timed now.
    pub fn status(&self) -> Result<StatusReport, StoreError> {
        self.status_at(now_ms())
    }

    /// [`Store::status`] with ages measured from `now_ms`.
    pub fn status_at(&self, now_ms: i64) -> Result<StatusReport, StoreError> {
        let mut report = StatusReport {
            generated_at_ms: now_ms,
            ..StatusReport::default()
        };
        let mut partners: BTreeMap<String, PartnerStatus> = BTreeMap::new();

        let mut stmt = self
            .conn
            .prepare_cached("SELECT partner, state, COUNT(*) FROM files GROUP BY partner, state")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        for row in rows {
            let (partner, state, n) = row?;
            let n = u64::try_from(n).unwrap_or(0);
            *report.files.entry(state).or_insert(0) += n;
            partner_entry(&mut partners, &partner).files += n;
        }

        let mut stmt = self.conn.prepare_cached(
            "SELECT partner, state, COUNT(*), \
             MIN(CASE WHEN state IN ('pending', 'in_flight') THEN created_at END) \
             FROM deliveries GROUP BY partner, state",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<i64>>(3)?,
            ))
        })?;
        for row in rows {
            let (partner, state, n, oldest) = row?;
            let Some(state) = DeliveryState::parse(&state) else {
                continue;
            };
            let n = u64::try_from(n).unwrap_or(0);
            report.deliveries.add(state, n);
            let p = partner_entry(&mut partners, &partner);
            p.deliveries.add(state, n);
            if let Some(created) = oldest {
                let age = now_ms.saturating_sub(created).max(0);
                p.oldest_pending_age_ms = Some(p.oldest_pending_age_ms.map_or(age, |a| a.max(age)));
                report.oldest_pending_age_ms =
                    Some(report.oldest_pending_age_ms.map_or(age, |a| a.max(age)));
            }
        }
        report.dead_letters = report.deliveries.dead;
        report.unfinalized_files =
            self.count("SELECT COUNT(*) FROM files WHERE finalized_at IS NULL")?;
        report.unwritten_acks = self.count("SELECT COUNT(*) FROM acks WHERE written_at IS NULL")?;
        report.partners = partners.into_values().collect();
        report.transports = self.transport_health()?;
        Ok(report)
    }

    /// Dead letters, oldest first.
    pub fn dead_letters(&self, limit: usize) -> Result<Vec<DeliveryRow>, StoreError> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE state = 'dead' ORDER BY seq LIMIT ?1"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([limit_param(limit)], delivery_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The lineage of one record: file, interchange, group, set, record, every attempt.
    pub fn inspect(&self, record_id: &str) -> Result<Option<Lineage>, StoreError> {
        let record = self
            .conn
            .prepare_cached(
                "SELECT id, kind, partner, test, created_at, json, file_id FROM records WHERE id = ?1",
            )?
            .query_row([record_id], |r| {
                Ok((
                    LineageRecord {
                        id: r.get(0)?,
                        kind: r.get(1)?,
                        partner: r.get(2)?,
                        test: r.get(3)?,
                        created_at_ms: r.get(4)?,
                        json: r.get(5)?,
                    },
                    r.get::<_, i64>(6)?,
                ))
            })
            .optional()?;
        let Some((record, file_id)) = record else {
            return Ok(None);
        };
        let file = self
            .conn
            .prepare_cached(
                "SELECT id, partner, name, sha256, size, received_at, finalized_at, state, \
                 reason, correlation_id, final_path FROM files WHERE id = ?1",
            )?
            .query_row([file_id], file_from_row)
            .optional()?;

        let mut stmt = self.conn.prepare_cached(
            "SELECT t.file_id, f.name, i.sender, i.receiver, i.isa13, i.content_sha256, \
             i.duplicate, i.isa13_reused, i.rejected, t.gs06, t.st01, t.st02, t.verdict, \
             t.findings, i.id \
             FROM transactions t JOIN files f ON f.id = t.file_id \
             LEFT JOIN interchanges i ON i.id = t.interchange_id \
             WHERE t.record_id = ?1 ORDER BY t.id",
        )?;
        let sets = stmt
            .query_map([record_id], |r| {
                let interchange = match r.get::<_, Option<i64>>(14)? {
                    Some(_) => Some(LineageInterchange {
                        sender: r.get(2)?,
                        receiver: r.get(3)?,
                        isa13: r.get(4)?,
                        content_sha256: r.get(5)?,
                        duplicate: r.get(6)?,
                        isa13_reused: r.get(7)?,
                        rejected: r.get(8)?,
                    }),
                    None => None,
                };
                Ok(LineageSet {
                    file_id: r.get(0)?,
                    file_name: r.get(1)?,
                    interchange,
                    gs06: r.get(9)?,
                    st01: r.get(10)?,
                    st02: r.get(11)?,
                    verdict: r.get(12)?,
                    findings_json: r.get(13)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;

        let sql = format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE record_id = ?1");
        let delivery = self
            .conn
            .prepare_cached(&sql)?
            .query_row([record_id], delivery_from_row)
            .optional()?;
        let attempts = match &delivery {
            Some(d) => self.attempts(d.id)?,
            None => Vec::new(),
        };
        Ok(Some(Lineage {
            record,
            file,
            sets,
            delivery,
            attempts,
        }))
    }

    fn attempts(&self, delivery_id: i64) -> Result<Vec<AttemptRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT at, outcome, status, error, excerpt FROM delivery_attempts \
             WHERE delivery_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![delivery_id], |r| {
            let status: Option<i64> = r.get(2)?;
            Ok(AttemptRow {
                at_ms: r.get(0)?,
                outcome: r.get(1)?,
                status: status.and_then(|s| u16::try_from(s).ok()),
                error: r.get(3)?,
                excerpt: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn count(&self, sql: &str) -> Result<u64, StoreError> {
        let n: i64 = self.conn.prepare_cached(sql)?.query_row([], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

fn partner_entry<'m>(
    map: &'m mut BTreeMap<String, PartnerStatus>,
    partner: &str,
) -> &'m mut PartnerStatus {
    map.entry(partner.to_string())
        .or_insert_with(|| PartnerStatus {
            partner: partner.to_string(),
            ..PartnerStatus::default()
        })
}

fn to_json<T: Serialize>(value: &T) -> String {
    match serde_json::to_string_pretty(value) {
        Ok(s) => s + "\n",
        Err(e) => format!("{{\"error\": {:?}}}\n", e.to_string()),
    }
}

/// `3d04h`, `2h05m`, `4m07s`, `12s`, `850ms`.
pub fn format_age(ms: i64) -> String {
    let ms = ms.max(0);
    let s = ms / 1000;
    let (d, h, m) = (s / 86_400, (s / 3600) % 24, (s / 60) % 60);
    if d > 0 {
        format!("{d}d{h:02}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{:02}s", s % 60)
    } else if s > 0 {
        format!("{s}s")
    } else {
        format!("{ms}ms")
    }
}

/// A Unix-ms time as RFC 3339 UTC, to the second.
pub fn format_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}

/// The transports section of `edigate status`: one line per partner and direction.
fn render_transports(out: &mut String, report: &StatusReport) {
    if report.transports.is_empty() {
        return;
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "transports:");
    let at = |ms: Option<i64>| ms.map_or_else(|| "never".to_string(), format_time);
    for t in &report.transports {
        let _ = writeln!(
            out,
            "  {} {}: last ok {}, failures {}",
            t.partner,
            t.direction,
            at(t.last_ok_at_ms),
            t.failures
        );
        if let Some(e) = &t.last_error {
            let _ = writeln!(out, "    last error ({}): {e}", at(t.last_error_at_ms));
        }
    }
}

/// What `edigate status` prints (`json` for `--format json`).
pub fn render_status(report: &StatusReport, json: bool) -> String {
    if json {
        return to_json(report);
    }
    let mut out = String::new();
    let files: Vec<String> = [
        FileState::Accepted,
        FileState::Partial,
        FileState::Rejected,
        FileState::Duplicate,
        FileState::Quarantined,
    ]
    .iter()
    .map(|s| {
        let n = report.files.get(s.as_str()).copied().unwrap_or(0);
        format!("{} {n}", s.as_str())
    })
    .collect();
    let _ = writeln!(out, "files:           {}", files.join(", "));
    let d = &report.deliveries;
    let _ = writeln!(
        out,
        "deliveries:      pending {}, in_flight {}, delivered {}, dead {}",
        d.pending, d.in_flight, d.delivered, d.dead
    );
    let oldest = report
        .oldest_pending_age_ms
        .map_or_else(|| "-".to_string(), format_age);
    let _ = writeln!(out, "oldest pending:  {oldest}");
    let _ = writeln!(out, "dead letters:    {}", report.dead_letters);
    let _ = writeln!(out, "not finalized:   {} file(s)", report.unfinalized_files);
    let _ = writeln!(out, "acks to write:   {}", report.unwritten_acks);
    render_transports(&mut out, report);
    if report.partners.is_empty() {
        return out;
    }
    let width = report
        .partners
        .iter()
        .map(|p| p.partner.len())
        .max()
        .unwrap_or(0)
        .max("PARTNER".len());
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<width$}  {:>7}  {:>8}  {:>9}  {:>10}  {:>6}  OLDEST_PENDING",
        "PARTNER", "FILES", "PENDING", "IN_FLIGHT", "DELIVERED", "DEAD"
    );
    for p in &report.partners {
        let oldest = p
            .oldest_pending_age_ms
            .map_or_else(|| "-".to_string(), format_age);
        let _ = writeln!(
            out,
            "{:<width$}  {:>7}  {:>8}  {:>9}  {:>10}  {:>6}  {oldest}",
            p.partner,
            p.files,
            p.deliveries.pending,
            p.deliveries.in_flight,
            p.deliveries.delivered,
            p.deliveries.dead
        );
    }
    out
}

/// What `edigate dead-letters` prints.
pub fn render_dead_letters(rows: &[DeliveryRow], json: bool) -> String {
    if json {
        return to_json(&rows);
    }
    if rows.is_empty() {
        return "no dead letters\n".to_string();
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<32}  {:<16}  {:<18}  {:>8}  {:>6}  {:<20}  ERROR",
        "RECORD", "PARTNER", "KIND", "ATTEMPTS", "STATUS", "SINCE"
    );
    for r in rows {
        let status = r.status.map_or_else(|| "-".to_string(), |s| s.to_string());
        let error = r.last_error.as_deref().unwrap_or("-").replace('\n', " ");
        let _ = writeln!(
            out,
            "{:<32}  {:<16}  {:<18}  {:>8}  {:>6}  {:<20}  {error}",
            r.record_id,
            r.partner,
            r.kind,
            r.attempts,
            status,
            format_time(r.updated_at_ms)
        );
    }
    out
}

/// What `edigate replay` prints: how many deliveries went back to pending for `target`.
pub fn render_replay(replayed: u64, target: &str, json: bool) -> String {
    if json {
        return to_json(&serde_json::json!({ "target": target, "replayed": replayed }));
    }
    match replayed {
        0 => format!("nothing to replay for {target} (unknown, or already pending)\n"),
        1 => format!("replayed 1 delivery for {target} (same id)\n"),
        n => format!("replayed {n} deliveries for {target} (same ids)\n"),
    }
}

/// What `edigate inspect ID` prints.
pub fn render_lineage(lineage: &Lineage, json: bool) -> String {
    if json {
        return to_json(lineage);
    }
    let mut out = String::new();
    let r = &lineage.record;
    let _ = writeln!(
        out,
        "record      {} ({}, partner {}{}), recorded {}",
        r.id,
        r.kind,
        r.partner,
        if r.test { ", test" } else { "" },
        format_time(r.created_at_ms)
    );
    if let Some(f) = &lineage.file {
        let _ = writeln!(
            out,
            "file        #{} {} ({} bytes, sha256 {}), {} , received {}, correlation {}",
            f.id,
            f.name,
            f.size,
            f.sha256,
            f.state.as_str(),
            format_time(f.received_at_ms),
            f.correlation_id
        );
        let _ = writeln!(
            out,
            "            finalized: {}",
            match (&f.final_path, f.finalized_at_ms) {
                (Some(p), Some(t)) => format!("{} at {}", p, format_time(t)),
                _ => "not yet".to_string(),
            }
        );
    }
    for s in &lineage.sets {
        let interchange = s.interchange.as_ref().map_or_else(
            || "interchange ?".to_string(),
            |i| {
                let mut flags = Vec::new();
                if i.duplicate {
                    flags.push("duplicate");
                }
                if i.isa13_reused {
                    flags.push("isa13 reused");
                }
                if i.rejected {
                    flags.push("rejected");
                }
                let flags = if flags.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", flags.join(", "))
                };
                format!(
                    "interchange {} {} -> {}{flags}",
                    i.isa13, i.sender, i.receiver
                )
            },
        );
        let _ = writeln!(
            out,
            "set         {} {} in group {} of {}, file #{} {}: {}",
            s.st01, s.st02, s.gs06, interchange, s.file_id, s.file_name, s.verdict
        );
    }
    match &lineage.delivery {
        Some(d) => {
            let _ = writeln!(
                out,
                "delivery    #{} {} after {} attempt(s){}",
                d.id,
                d.state.as_str(),
                d.attempts,
                d.last_error
                    .as_deref()
                    .map(|e| format!(", last error: {e}"))
                    .unwrap_or_default()
            );
        }
        None => {
            let _ = writeln!(out, "delivery    none");
        }
    }
    for a in &lineage.attempts {
        let status = a.status.map_or_else(String::new, |s| format!(" {s}"));
        let detail = a
            .error
            .as_deref()
            .or(a.excerpt.as_deref())
            .map(|e| format!(": {}", e.replace('\n', " ")))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  attempt   {} {}{status}{detail}",
            format_time(a.at_ms),
            a.outcome
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::DeliveryOutcome;
    use super::super::ledger::tests::intake;
    use super::*;

    #[test]
    fn status_counts_states_partners_and_oldest_pending() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("open");
        store
            .record_file(&intake("a.x12", "acme", "warehouse_order", "a", 2))
            .expect("a");
        store
            .record_file(&intake("b.x12", "zeta", "ship_notice", "b", 1))
            .expect("b");
        let jobs = store.claim_due(i64::MAX, 10).expect("claim");
        store
            .record_outcomes(&[DeliveryOutcome::Dead {
                delivery_id: jobs[1].delivery_id,
                error: "422 bad".into(),
                status: Some(422),
                excerpt: String::new(),
            }])
            .expect("dead");
        let created: i64 = store
            .conn
            .query_row("SELECT MIN(created_at) FROM deliveries", [], |r| r.get(0))
            .expect("created");
        let report = store.status_at(created + 65_000).expect("status");
        assert_eq!(report.files.get("accepted"), Some(&2));
        assert_eq!(report.deliveries.pending, 1);
        assert_eq!(report.deliveries.in_flight, 1);
        assert_eq!(report.deliveries.dead, 1);
        assert_eq!(report.dead_letters, 1);
        assert_eq!(report.unfinalized_files, 2);
        assert_eq!(report.unwritten_acks, 2);
        assert_eq!(report.oldest_pending_age_ms, Some(65_000));
        assert_eq!(report.partners.len(), 2);
        assert_eq!(report.partners[0].partner, "acme");
        assert_eq!(report.partners[0].files, 1);
        assert_eq!(report.partners[0].deliveries.in_flight, 1);
        assert_eq!(report.partners[1].deliveries.dead, 1);
        assert_eq!(report.partners[1].oldest_pending_age_ms, None);

        let text = render_status(&report, false);
        assert!(
            text.contains("pending 1, in_flight 1, delivered 0, dead 1"),
            "{text}"
        );
        assert!(text.contains("oldest pending:  1m05s"), "{text}");
        assert!(text.contains("zeta"), "{text}");
        let json: serde_json::Value =
            serde_json::from_str(&render_status(&report, true)).expect("json");
        assert_eq!(json["deliveries"]["dead"], 1);
        assert_eq!(json["partners"][0]["partner"], "acme");

        let dead = store.dead_letters(10).expect("dead");
        let text = render_dead_letters(&dead, false);
        assert!(
            text.contains("b-00000") && text.contains("422 bad"),
            "{text}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&render_dead_letters(&dead, true)).expect("json");
        assert_eq!(json[0]["state"], "dead");
    }

    #[test]
    fn status_works_on_a_readonly_handle_while_the_writer_is_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut writer = Store::open(dir.path()).expect("open");
        writer
            .record_file(&intake("a.x12", "acme", "warehouse_order", "a", 2))
            .expect("a");
        let reader = Store::open_readonly(dir.path()).expect("read-only");
        assert_eq!(reader.status().expect("status").deliveries.pending, 2);
        writer
            .record_file(&intake("b.x12", "acme", "warehouse_order", "b", 1))
            .expect("b");
        assert_eq!(reader.status().expect("status").deliveries.pending, 3);
        assert_eq!(reader.integrity_check().expect("check"), "ok");
    }

    #[test]
    fn inspect_shows_file_interchange_set_delivery_and_attempts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("open");
        let first = intake("a.x12", "acme", "warehouse_order", "a", 1);
        store.record_file(&first).expect("a");
        let mut dup = first.clone();
        dup.name = "a-again.x12".into();
        store.record_file(&dup).expect("dup");
        let jobs = store.claim_due(i64::MAX, 10).expect("claim");
        store
            .record_outcomes_at(
                10_000,
                &[DeliveryOutcome::Retry {
                    delivery_id: jobs[0].delivery_id,
                    next_attempt_ms: 0,
                    error: "connection refused".into(),
                    status: None,
                }],
            )
            .expect("retry");
        let jobs = store.claim_due(i64::MAX, 10).expect("claim");
        store
            .record_outcomes_at(
                20_000,
                &[DeliveryOutcome::Delivered {
                    delivery_id: jobs[0].delivery_id,
                    status: 200,
                    excerpt: "ok".into(),
                }],
            )
            .expect("delivered");

        let lineage = store.inspect("a-00000").expect("inspect").expect("found");
        assert_eq!(lineage.record.kind, "warehouse_order");
        assert_eq!(
            lineage.file.as_ref().map(|f| f.name.as_str()),
            Some("a.x12")
        );
        assert_eq!(lineage.sets.len(), 2, "original and duplicate arrival");
        let second = lineage.sets[1].interchange.as_ref().expect("interchange");
        assert!(second.duplicate);
        assert_eq!(lineage.sets[0].st01, "940");
        let delivery = lineage.delivery.as_ref().expect("delivery");
        assert_eq!(delivery.state, DeliveryState::Delivered);
        assert_eq!(delivery.attempts, 2);
        let outcomes: Vec<&str> = lineage
            .attempts
            .iter()
            .map(|a| a.outcome.as_str())
            .collect();
        assert_eq!(outcomes, vec!["retry", "delivered"]);

        let text = render_lineage(&lineage, false);
        assert!(text.contains("connection refused"), "{text}");
        assert!(text.contains("a-again.x12"), "{text}");
        assert!(text.contains("[duplicate]"), "{text}");
        let json: serde_json::Value =
            serde_json::from_str(&render_lineage(&lineage, true)).expect("json");
        assert_eq!(json["delivery"]["state"], "delivered");
        assert!(store.inspect("missing").expect("inspect").is_none());
        assert!(render_replay(0, "x", false).contains("nothing"));
    }

    #[test]
    fn ages_read_well() {
        assert_eq!(format_age(850), "850ms");
        assert_eq!(format_age(12_000), "12s");
        assert_eq!(format_age(247_000), "4m07s");
        assert_eq!(format_age(7_500_000), "2h05m");
        assert_eq!(format_age(3 * 86_400_000 + 4 * 3_600_000), "3d04h");
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
    }
}

//! The validation report for one file: counts, verdict and every finding with its location.

use serde::Serialize;

use super::envelope::{
    FileSummary, GroupOutcome, Interchange, InterchangeOutcome, SetOutcome, Verdict, Visitor,
};
use super::finding::{Finding, Severity};

/// At most this many findings are kept per file (the rest are counted).
pub const MAX_REPORT_FINDINGS: usize = 10_000;
/// At most this many per-set lines are kept per file.
pub const MAX_REPORT_SETS: usize = 10_000;

/// One set's line in the report.
#[derive(Debug, Clone, Serialize)]
pub struct SetLine {
    /// 1-based ordinal in the file.
    pub position: u32,
    /// ISA13.
    pub interchange: String,
    /// GS06.
    pub group: String,
    /// ST01.
    pub set_id: String,
    /// ST02.
    pub control: String,
    /// The set's own verdict.
    pub verdict: Verdict,
}

/// The report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// File name as given.
    pub file: String,
    /// `accepted`, `accepted_with_warnings` or `rejected`.
    pub verdict: &'static str,
    /// Counts.
    pub summary: FileSummary,
    /// Sets (the first [`MAX_REPORT_SETS`]).
    pub sets: Vec<SetLine>,
    /// Findings (the first [`MAX_REPORT_FINDINGS`]).
    pub findings: Vec<Finding>,
    /// Findings not kept.
    pub findings_dropped: u64,
}

/// Collects a [`Report`] while the engine runs.
#[derive(Debug, Default)]
pub struct ReportVisitor {
    /// The report being built.
    pub report: Report,
}

impl ReportVisitor {
    fn keep(&mut self, findings: &[Finding], dropped: u64) {
        for f in findings {
            if self.report.findings.len() < MAX_REPORT_FINDINGS {
                self.report.findings.push(f.clone());
            } else {
                self.report.findings_dropped += 1;
            }
        }
        self.report.findings_dropped += dropped;
    }

    /// Completes the report with the engine's summary.
    pub fn finish(mut self, file: &str, summary: FileSummary) -> Report {
        self.report.file = file.to_string();
        self.report.verdict = if summary.rejected {
            "rejected"
        } else if summary.warnings
            || self
                .report
                .findings
                .iter()
                .any(|f| f.severity == Severity::Warning)
        {
            "accepted_with_warnings"
        } else {
            "accepted"
        };
        self.report.summary = summary;
        self.report
    }
}

impl Visitor for ReportVisitor {
    fn set_end(&mut self, ic: &Interchange, group: &super::envelope::Group, outcome: &SetOutcome) {
        if self.report.sets.len() < MAX_REPORT_SETS {
            self.report.sets.push(SetLine {
                position: outcome.header.ordinal,
                interchange: ic.control().to_string(),
                group: group.control().to_string(),
                set_id: outcome.header.id.to_string(),
                control: outcome.header.control.to_string(),
                verdict: outcome.verdict(),
            });
        }
        self.keep(&outcome.findings.list, outcome.findings.dropped);
    }

    fn group_end(&mut self, _ic: &Interchange, outcome: &GroupOutcome) {
        self.keep(&outcome.findings.list, outcome.findings.dropped);
        if outcome.rejected() {
            let ctl = outcome.group.control().to_string();
            for s in self.report.sets.iter_mut().filter(|s| s.group == ctl) {
                s.verdict = Verdict::Rejected;
            }
        }
    }

    fn interchange_end(&mut self, outcome: &InterchangeOutcome) {
        self.keep(&outcome.findings.list, outcome.findings.dropped);
        if outcome.rejected() {
            let ctl = outcome.interchange.control().to_string();
            for s in self.report.sets.iter_mut().filter(|s| s.interchange == ctl) {
                s.verdict = Verdict::Rejected;
            }
        }
    }

    fn file_finding(&mut self, finding: &Finding) {
        self.keep(std::slice::from_ref(finding), 0);
    }
}

impl Report {
    /// The readable text form.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let s = &self.summary;
        let mut out = String::new();
        let _ = writeln!(out, "{}: {}", self.file, self.verdict.replace('_', " "));
        if !s.x12 {
            let _ = writeln!(out, "  no X12 interchange found");
        }
        let _ = writeln!(
            out,
            "  {} interchange(s) ({} rejected), {} group(s) ({} rejected), {} set(s): {} accepted ({} with warnings), {} rejected",
            s.interchanges,
            s.interchanges_rejected,
            s.groups,
            s.groups_rejected,
            s.sets,
            s.sets_accepted,
            s.sets_with_warnings,
            s.sets_rejected
        );
        for line in &self.sets {
            let v = match line.verdict {
                Verdict::Accepted => "accepted",
                Verdict::AcceptedWithWarnings => "accepted with warnings",
                Verdict::Rejected => "rejected",
            };
            let _ = writeln!(
                out,
                "  set {} ({} {}, ISA13 {}, GS06 {}): {v}",
                line.position, line.set_id, line.control, line.interchange, line.group
            );
        }
        for f in &self.findings {
            let _ = writeln!(out, "  {f}");
        }
        if self.findings_dropped > 0 {
            let _ = writeln!(out, "  ... and {} more finding(s)", self.findings_dropped);
        }
        out
    }
}

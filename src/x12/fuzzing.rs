//! The whole engine on one input, with its invariants asserted: the body of the fuzz target, and
//! of the test that replays the fuzz seed corpus.

use std::sync::OnceLock;

use super::ack::{AckBuilder, AckKind, AckOptions, MemoryCounters};
use super::envelope::{EngineConfig, run};
use super::grammar::Grammars;
use super::lexer::Limits;
use super::policy::Policy;
use super::report::ReportVisitor;

fn grammars() -> &'static Grammars {
    static G: OnceLock<Grammars> = OnceLock::new();
    G.get_or_init(|| Grammars::embedded().unwrap_or_default())
}

/// Runs tokenize → envelope → grammar → report → 997/999/TA1 on `data` under every policy and
/// panics if an invariant breaks (the fuzzer reports that as a crash).
pub fn check_input(data: &[u8]) {
    for (policy, kind) in [
        (Policy::Strict, AckKind::Ack999),
        (Policy::Standard, AckKind::Ack997),
        (Policy::Lenient, AckKind::Ack997),
    ] {
        let mut config = EngineConfig::new(grammars(), policy);
        config.limits = Limits {
            chunk: 1024,
            max_segment: 4096,
        };
        let mut counters = MemoryCounters::default();
        let options = AckOptions {
            kind,
            timestamp: ("20260105".into(), "1200".into()),
            ..AckOptions::default()
        };
        let mut visitors = (
            ReportVisitor::default(),
            AckBuilder::new(options, &mut counters),
        );
        let summary = match run(data, config, &mut visitors) {
            Ok(s) => s,
            Err(e) => panic!("reading from memory cannot fail: {e}"),
        };
        assert_eq!(
            summary.sets,
            summary.sets_accepted + summary.sets_rejected,
            "set counts add up"
        );
        assert!(
            summary.bytes <= data.len() as u64,
            "never reads past the input"
        );
        let (report, builder) = visitors;
        let report = report.finish("fuzz", summary);
        let _ = report.to_text();
        for doc in builder.finish() {
            assert!(
                doc.text.starts_with("ISA"),
                "an acknowledgment is an interchange"
            );
            // What edigate sends must itself be readable by edigate.
            let mut again = ReportVisitor::default();
            let s = run(
                doc.text.as_bytes(),
                EngineConfig::new(grammars(), Policy::Lenient),
                &mut again,
            )
            .unwrap_or_else(|e| panic!("reading from memory cannot fail: {e}"));
            assert!(
                s.x12 && s.interchanges_rejected == 0,
                "generated acknowledgment does not parse:\n{}",
                doc.text
            );
        }
    }
}

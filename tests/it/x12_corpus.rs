//! The public corpus under `$EDIGATE_CORPUS`: every file classified without a panic, every file
//! SOURCES.md marks `valid` passes envelope checks, and every file that validates translates to
//! one record per accepted set and TA1. Skipped, saying so, when unset.

use std::path::{Path, PathBuf};

use crate::support::{grammars, validate};
use edigate::canonical::intake_translate::InputTranslator;
use edigate::canonical::profile::Profiles;
use edigate::canonical::record::Kind;
use edigate::canonical::translate::{Collect, ControlTracker};
use edigate::x12::envelope::{EngineConfig, InterchangeOutcome, Visitor, run};
use edigate::x12::finding::{CodeKind, Severity};
use edigate::x12::policy::{Policy, Rule};

pub fn corpus_dir() -> Option<PathBuf> {
    match std::env::var_os("EDIGATE_CORPUS") {
        Some(d) => Some(PathBuf::from(d)),
        None => {
            eprintln!("EDIGATE_CORPUS is not set: skipping the corpus test");
            None
        }
    }
}

pub fn corpus_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.file_name().is_some_and(|n| n != "SOURCES.md") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, &mut out);
    out.sort();
    out
}

/// Files marked `valid` in SOURCES.md (paths relative to the x12 directory).
pub fn valid_files(root: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(root.join("x12/SOURCES.md")) else {
        return Vec::new();
    };
    text.lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| {
            let cols: Vec<&str> = l.split(" | ").collect();
            let file = cols
                .first()?
                .trim_start_matches("| `")
                .trim_end_matches('`')
                .to_string();
            cols.iter().any(|c| c.trim() == "valid").then_some(file)
        })
        .collect()
}

const ENVELOPE_RULES: [Rule; 6] = [
    Rule::BrokenEnvelope,
    Rule::MissingTrailer,
    Rule::ControlMismatch,
    Rule::CountMismatch,
    Rule::UnsupportedVersion,
    Rule::StraySegment,
];

#[test]
fn corpus_files_classify_and_valid_ones_pass_envelope_checks() {
    let Some(root) = corpus_dir() else { return };
    let grammars = grammars();
    let files = corpus_files(&root);
    assert!(!files.is_empty(), "no files under {}", root.display());
    let valid = valid_files(&root);
    assert!(!valid.is_empty(), "SOURCES.md lists no valid files");
    let mut failures = Vec::new();
    for path in &files {
        let bytes = std::fs::read(path).expect("corpus file");
        let report = validate(&grammars, &bytes, Policy::Standard, usize::MAX);
        let small = validate(&grammars, &bytes, Policy::Standard, 3);
        assert_eq!(
            format!("{:?}", report.summary),
            format!("{:?}", small.summary),
            "{}: chunked reading differs",
            path.display()
        );
        let rel = path
            .strip_prefix(root.join("x12"))
            .unwrap_or(path)
            .to_string_lossy()
            .to_string();
        if valid.contains(&rel) {
            let envelope_errors: Vec<String> = report
                .findings
                .iter()
                .filter(|f| {
                    f.severity == Severity::Error
                        && (ENVELOPE_RULES.contains(&f.rule)
                            || f.code.is_some_and(|c| {
                                matches!(c.kind, CodeKind::Ta105 | CodeKind::Ak905)
                            }))
                })
                .map(|f| f.to_string())
                .collect();
            if !envelope_errors.is_empty() || !report.summary.x12 {
                failures.push(format!("{rel}: {}", envelope_errors.join("; ")));
            }
        }
    }
    eprintln!(
        "corpus: {} files classified, {} marked valid",
        files.len(),
        valid.len()
    );
    assert!(
        failures.is_empty(),
        "valid corpus files failing envelope checks:\n{}",
        failures.join("\n")
    );
}

/// Counts the TA1 segments of accepted interchanges.
#[derive(Default)]
struct AcceptedTa1s(u64);

impl Visitor for AcceptedTa1s {
    fn interchange_end(&mut self, outcome: &InterchangeOutcome) {
        if !outcome.rejected() {
            self.0 += u64::from(outcome.ta1_count);
        }
    }
}

/// Corpus directories whose every set has a canonical mapping.
const MAPPED_DIRS: [&str; 7] = ["940", "945", "856", "214", "997", "999", "ta1"];

#[test]
fn corpus_files_that_validate_translate_one_record_per_accepted_set_and_ta1() {
    let Some(root) = corpus_dir() else { return };
    let grammars = grammars();
    let translator = InputTranslator::new(
        Profiles::new(grammars.clone(), Policy::Standard),
        Vec::new(),
    )
    .expect("no partners");
    let mut problems = Vec::new();
    let mut checked = 0;
    for path in corpus_files(&root) {
        let mut ta1s = AcceptedTa1s::default();
        let file = std::fs::File::open(&path).expect("corpus file");
        let summary = run(
            file,
            EngineConfig::new(&grammars, Policy::Standard),
            &mut ta1s,
        )
        .expect("corpus file reads");
        if !summary.x12 || summary.rejected {
            continue;
        }
        let mapped = path
            .parent()
            .and_then(|d| d.file_name())
            .is_some_and(|d| MAPPED_DIRS.iter().any(|m| d == *m));
        let mut sink = Collect::default();
        let counts =
            match translator.translate_path(&path, &mut ControlTracker::default(), &mut sink) {
                Ok(c) => c,
                Err(e) => {
                    problems.push(format!("{}: {e}", path.display()));
                    continue;
                }
            };
        let set_records = sink
            .records
            .iter()
            .filter(|r| r.kind != Kind::InterchangeAck)
            .count() as u64;
        let ta1_records = sink.records.len() as u64 - set_records;
        let what = path.display();
        if counts.problems > 0 || counts.rejected > 0 {
            problems.push(format!(
                "{what}: validates, but translation reported {:?} {:?}",
                sink.problems, sink.rejected
            ));
        }
        if mapped && counts.skipped > 0 {
            problems.push(format!("{what}: {} sets without a mapping", counts.skipped));
        }
        if set_records + counts.skipped != summary.sets_accepted {
            problems.push(format!(
                "{what}: {} accepted sets, but {set_records} set records (+ {} skipped)",
                summary.sets_accepted, counts.skipped
            ));
        }
        if ta1_records != ta1s.0 {
            problems.push(format!(
                "{what}: {} TA1s in accepted interchanges, but {ta1_records} interchange_ack records",
                ta1s.0
            ));
        }
        checked += 1;
    }
    eprintln!("corpus: {checked} files validate and were translated");
    assert!(checked > 0, "no corpus file validates");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

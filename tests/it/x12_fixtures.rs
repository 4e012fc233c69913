//! Every bad-input and quirk fixture gets its expected verdict, codes and set counts, with a
//! location on every coded finding, in every read mode (whole buffer and tiny chunks).

use serde::Deserialize;

use crate::support::{fixtures, grammars, validate};
use edigate::x12::policy::Policy;

#[derive(Deserialize)]
struct Cases {
    case: Vec<Case>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Case {
    file: String,
    what: String,
    reference: String,
    expect_codes: Vec<String>,
    verdict: String,
    sets_accepted: u64,
    sets_rejected: u64,
    #[serde(default)]
    extra_grammars: Option<String>,
}

#[test]
fn every_fixture_gets_its_verdict_codes_and_locations() {
    let dir = fixtures().join("x12");
    let text = std::fs::read_to_string(dir.join("cases.toml")).expect("cases.toml");
    let cases: Cases = toml::from_str(&text).expect("cases.toml parses");
    let grammars = grammars();
    let mut failures = Vec::new();
    for case in &cases.case {
        let bytes =
            std::fs::read(dir.join(&case.file)).unwrap_or_else(|e| panic!("{}: {e}", case.file));
        let mut first: Option<String> = None;
        for chunk in [usize::MAX, 1, 7, 4096] {
            let report = validate(&grammars, &bytes, Policy::Standard, chunk);
            let verdict = if !report.summary.x12 {
                "not_x12"
            } else {
                match report.verdict {
                    "accepted" => "accepted",
                    "accepted_with_warnings" => "warnings",
                    _ => "rejected",
                }
            };
            let codes: Vec<String> = report
                .findings
                .iter()
                .filter_map(|f| f.code.map(|c| c.to_string()))
                .collect();
            let mut problems = Vec::new();
            if verdict != case.verdict {
                problems.push(format!("verdict {verdict}, expected {}", case.verdict));
            }
            for want in &case.expect_codes {
                if !codes.contains(want) {
                    problems.push(format!("missing code {want} (found {codes:?})"));
                }
            }
            if report.summary.sets_accepted != case.sets_accepted
                || report.summary.sets_rejected != case.sets_rejected
            {
                problems.push(format!(
                    "sets {}/{} accepted/rejected, expected {}/{}",
                    report.summary.sets_accepted,
                    report.summary.sets_rejected,
                    case.sets_accepted,
                    case.sets_rejected
                ));
            }
            for f in &report.findings {
                let set_level = matches!(
                    f.code.map(|c| c.kind),
                    Some(
                        edigate::x12::finding::CodeKind::Ak304
                            | edigate::x12::finding::CodeKind::Ak403
                    )
                );
                if set_level
                    && (f.location.segment_position.is_none()
                        || f.location.set.is_none()
                        || f.location.interchange.is_none())
                {
                    problems.push(format!("finding without a full location: {f}"));
                }
                if f.message.is_empty() {
                    problems.push("finding without a message".into());
                }
            }
            let rendered = format!("{:?}", (&report.summary, &codes));
            match &first {
                None => first = Some(rendered),
                Some(prev) if *prev != rendered => {
                    problems.push(format!("chunk {chunk} differs from whole-buffer reading"))
                }
                _ => {}
            }
            if !problems.is_empty() {
                failures.push(format!(
                    "{} (chunk {chunk}): {}\n{}",
                    case.file,
                    problems.join("; "),
                    report.to_text()
                ));
                break;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n{}",
        failures.len(),
        cases.case.len(),
        failures.join("\n")
    );
}

#[test]
fn a_one_mebibyte_segment_is_rejected_in_bounded_memory() {
    let base =
        std::fs::read_to_string(fixtures().join("x12/sets/940_4010_full.edi")).expect("fixture");
    let huge = format!("NTE*GEN*{}", "X".repeat(1 << 20));
    let text = base.replacen("W66*", &format!("{huge}~W66*"), 1);
    let text = fix_se01(&text, 1);
    let report = validate(&grammars(), text.as_bytes(), Policy::Standard, 64 * 1024);
    assert_eq!(report.verdict, "rejected", "{}", report.to_text());
    let f = report
        .findings
        .iter()
        .find(|f| f.code.map(|c| c.to_string()) == Some("AK304:8".into()))
        .expect("oversized finding");
    assert!(f.message.contains("exceeds"), "{f}");
    assert_eq!(f.location.segment_id.as_deref(), Some("NTE"));
}

/// Adds `extra` to the SE01 of the first set (fixtures whose content a test changes).
fn fix_se01(text: &str, extra: u32) -> String {
    let at = text.find("SE*").expect("an SE");
    let rest = &text[at + 3..];
    let end = rest.find('*').expect("SE01");
    let n: u32 = rest[..end].parse().expect("SE01 numeric");
    format!("{}SE*{}{}", &text[..at], n + extra, &rest[end..])
}

#[test]
fn a_grammar_file_alone_adds_a_transaction_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("004010")).unwrap();
    std::fs::copy(
        fixtures().join("grammars/004010/204.toml"),
        dir.path().join("004010/204.toml"),
    )
    .unwrap();
    let valid = std::fs::read(fixtures().join("x12/sets/204_valid.edi")).unwrap();
    let missing = std::fs::read(fixtures().join("x12/sets/204_missing_b2.edi")).unwrap();
    let builtin = edigate::x12::grammar::Grammars::embedded().unwrap();
    let before = validate(&builtin, &valid, Policy::Standard, usize::MAX);
    assert!(
        before
            .findings
            .iter()
            .any(|f| f.code.map(|c| c.to_string()) == Some("AK502:1".into())),
        "204 unknown before: {}",
        before.to_text()
    );
    let mut with = builtin.clone();
    with.load_dir(dir.path()).expect("204 grammar loads");
    let after = validate(&with, &valid, Policy::Standard, usize::MAX);
    assert_eq!(after.verdict, "accepted", "{}", after.to_text());
    let bad = validate(&with, &missing, Policy::Standard, usize::MAX);
    assert_eq!(bad.verdict, "rejected");
    assert!(
        bad.findings
            .iter()
            .any(|f| f.code.map(|c| c.to_string()) == Some("AK304:3".into())
                && f.location.segment_id.as_deref() == Some("B2")),
        "{}",
        bad.to_text()
    );
}

#[test]
fn every_business_fixture_validates() {
    let grammars = grammars();
    let dir = fixtures().join("x12/sets");
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "edi") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let report = validate(
            &grammars,
            &std::fs::read(&path).unwrap(),
            Policy::Standard,
            usize::MAX,
        );
        let expected_reject = name.contains("missing_b2");
        if (report.verdict == "rejected") != expected_reject {
            failures.push(report.to_text());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

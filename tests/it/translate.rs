//! Translation: golden NDJSON per fixture, idempotency keys, exact decimals, partners and the
//! `edigate translate` command line.
//!
//! Golden files live in `tests/fixtures/golden/<fixture>.ndjson`, one record per line exactly as
//! `edigate translate` prints them. `EDIGATE_BLESS=1 cargo test translate` rewrites them; read
//! the diff against the contract before committing it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::{fixtures, grammars};
use edigate::canonical::profile::Profiles;
use edigate::canonical::record::{Payload, Record};
use edigate::canonical::translate::{Collect, ControlTracker, Rejected, translate, translate_file};
use edigate::config::load_dir;
use edigate::x12::policy::Policy;

const GOLDEN: [&str; 19] = [
    "940_4010_full",
    "940_5010",
    "940_two_sets_redelimited",
    "945_4010",
    "997_4010_errors",
    "999_5010",
    "ta1_only",
    "ta1_with_group",
    "856_0001_pick_pack",
    "856_0001_standard",
    "856_0002",
    "856_0003",
    "856_0004",
    "856_sscc_variants",
    "856_ctt_items",
    "214_ltl_4010",
    "214_parcel_4010",
    "214_exceptions_4010",
    "214_5010",
];

fn set_file(name: &str) -> PathBuf {
    fixtures().join("x12/sets").join(format!("{name}.edi"))
}

fn profiles(policy: Policy) -> Profiles {
    Profiles::new(grammars(), policy)
}

/// Translates a fixture file with no partners under the standard policy.
fn translate_fixture(path: &Path) -> Collect {
    let mut sink = Collect::default();
    let mut tracker = ControlTracker::default();
    translate_file(path, &profiles(Policy::Standard), &mut tracker, &mut sink)
        .unwrap_or_else(|e| panic!("{e}"));
    sink
}

/// Translates bytes in memory as file `name`.
fn translate_bytes(name: &str, bytes: &[u8], tracker: &mut ControlTracker) -> Collect {
    let mut sink = Collect::default();
    translate(
        name,
        || Ok(bytes),
        &profiles(Policy::Standard),
        tracker,
        &mut sink,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    sink
}

pub fn ndjson(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| serde_json::to_string(r).expect("records serialize"))
        .collect()
}

/// Every difference between two JSON values, one line each, named by JSON path.
fn json_diff(path: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                let p = format!("{path}.{k}");
                match g.get(k) {
                    Some(gv) => json_diff(&p, wv, gv, out),
                    None => out.push(format!("{p}: missing (expected {wv})")),
                }
            }
            for (k, gv) in g {
                if !w.contains_key(k) {
                    out.push(format!("{path}.{k}: unexpected {gv}"));
                }
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                json_diff(&format!("{path}[{i}]"), wv, gv, out);
            }
            for (i, wv) in w.iter().enumerate().skip(g.len()) {
                out.push(format!("{path}[{i}]: missing (expected {wv})"));
            }
            for (i, gv) in g.iter().enumerate().skip(w.len()) {
                out.push(format!("{path}[{i}]: unexpected {gv}"));
            }
        }
        _ if want != got => out.push(format!("{path}: expected {want}, got {got}")),
        _ => {}
    }
}

/// Compares NDJSON lines exactly (so number formatting counts), explaining mismatches by path.
pub fn compare_lines(what: &str, want: &[String], got: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    if want.len() != got.len() {
        problems.push(format!(
            "{what}: expected {} records, got {}",
            want.len(),
            got.len()
        ));
    }
    for (i, (w, g)) in want.iter().zip(got).enumerate() {
        if w == g {
            continue;
        }
        let parse = |s: &str| serde_json::from_str::<Value>(s).expect("valid JSON");
        let mut diffs = Vec::new();
        json_diff(
            &format!("record {}", i + 1),
            &parse(w),
            &parse(g),
            &mut diffs,
        );
        if diffs.is_empty() {
            diffs.push(format!(
                "record {}: same values, different text:\n  want {w}\n  got  {g}",
                i + 1
            ));
        }
        problems.extend(diffs.into_iter().map(|d| format!("{what}: {d}")));
    }
    problems
}

/// Compares records with `tests/fixtures/golden/<name>.ndjson` (or rewrites it under
/// `EDIGATE_BLESS=1`); returns the mismatches.
pub fn check_golden(name: &str, records: &[Record]) -> Vec<String> {
    let got = ndjson(records);
    let golden = fixtures().join("golden").join(format!("{name}.ndjson"));
    if std::env::var_os("EDIGATE_BLESS").is_some() {
        std::fs::create_dir_all(golden.parent().expect("has a parent")).expect("mkdir golden");
        std::fs::write(&golden, got.join("\n") + "\n").expect("write golden");
        return Vec::new();
    }
    let text =
        std::fs::read_to_string(&golden).unwrap_or_else(|e| panic!("{}: {e}", golden.display()));
    let want: Vec<String> = text.lines().map(str::to_string).collect();
    compare_lines(name, &want, &got)
}

#[test]
fn golden_records_match_field_by_field() {
    let mut problems = Vec::new();
    for name in GOLDEN {
        let out = translate_fixture(&set_file(name));
        problems.extend(check_golden(name, &out.records));
    }
    assert!(
        problems.is_empty(),
        "golden mismatches:\n{}",
        problems.join("\n")
    );
}

#[test]
fn json_diff_names_each_difference_by_path() {
    let want: Value = serde_json::from_str(r#"{"a":{"b":[1,2],"c":"x"},"d":true}"#).expect("json");
    let got: Value =
        serde_json::from_str(r#"{"a":{"b":[1,3,4],"e":null},"d":true}"#).expect("json");
    let mut out = Vec::new();
    json_diff("$", &want, &got, &mut out);
    assert_eq!(
        out,
        [
            "$.a.b[1]: expected 2, got 3",
            "$.a.b[2]: unexpected 4",
            "$.a.c: missing (expected \"x\")",
            "$.a.e: unexpected null",
        ]
    );
    let lines = |s: &str| vec![s.to_string()];
    let p = compare_lines("t", &lines(r#"{"q":12.50}"#), &lines(r#"{"q":12.5}"#));
    assert_eq!(p.len(), 1);
    assert!(p[0].contains("different text"), "{p:?}");
}

#[test]
fn redelimited_copy_of_a_set_has_the_same_id() {
    let full = translate_fixture(&set_file("940_4010_full"));
    let redelimited = translate_fixture(&set_file("940_two_sets_redelimited"));
    assert_eq!(full.records.len(), 1);
    assert_eq!(redelimited.records.len(), 2);
    let (a, b) = (&full.records[0], &redelimited.records[0]);
    assert_eq!(a.id, b.id);
    let mut b = b.clone();
    b.source.file = a.source.file.clone();
    b.source.file_sha256 = a.source.file_sha256.clone();
    assert_eq!(a, &b, "only source.file and source.file_sha256 may differ");
    let second = &redelimited.records[1];
    assert_ne!(second.id, a.id);
    assert_eq!(second.source.position, Some(2));
    let Payload::WarehouseOrder(o) = &second.payload else {
        panic!("940 maps to warehouse_order")
    };
    assert_eq!(serde_json::to_value(o.status).expect("json"), "change");
}

#[test]
fn one_changed_element_changes_the_id_and_reused_controls_warn() {
    let original = std::fs::read(set_file("940_4010_full")).expect("fixture");
    let text = String::from_utf8(original.clone()).expect("ASCII fixture");
    let changed = text.replace("W01*12*CA*857340900152", "W01*13*CA*857340900152");
    assert_ne!(text, changed);
    let mut tracker = ControlTracker::default();
    let a = translate_bytes("a.edi", &original, &mut tracker);
    let again = translate_bytes("a-again.edi", &original, &mut tracker);
    let b = translate_bytes("b.edi", changed.as_bytes(), &mut tracker);
    assert_eq!(a.records[0].id, again.records[0].id);
    assert!(
        again.records[0].warnings.is_empty(),
        "same content twice is a plain duplicate"
    );
    assert_ne!(a.records[0].id, b.records[0].id);
    let warnings = &b.records[0].warnings;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("already used in this run for different content"),
        "{warnings:?}"
    );
}

#[test]
fn trailing_empty_elements_do_not_change_the_id() {
    let original = std::fs::read_to_string(set_file("940_4010_full")).expect("fixture");
    let padded = original.replace("G69*BATH TOWEL 6PK NAVY~", "G69*BATH TOWEL 6PK NAVY**~");
    assert_ne!(original, padded);
    let mut tracker = ControlTracker::default();
    let a = translate_bytes("a.edi", original.as_bytes(), &mut tracker);
    let b = translate_bytes("b.edi", padded.as_bytes(), &mut tracker);
    assert_eq!(a.records[0].id, b.records[0].id);
}

#[test]
fn decimals_are_written_exactly() {
    let full = translate_fixture(&set_file("940_4010_full"));
    let line = serde_json::to_string(&full.records[0]).expect("json");
    assert!(line.contains(r#""quantity":0.125,"uom":"GA""#), "{line}");
    assert!(line.contains(r#""quantity":12.5,"uom":"YD""#), "{line}");
    assert!(
        line.contains(r#""totals":{"quantity":24.625,"weight":412.75"#),
        "{line}"
    );
    // Decimal keeps trailing fractional zeros as sent (canonical::decimal normalisation).
    let text = std::fs::read_to_string(set_file("940_4010_full")).expect("fixture");
    let zeros = text
        .replace("W01*12.5*YD", "W01*12.50*YD")
        .replace("W76*24.625", "W76*024.6250");
    let mut tracker = ControlTracker::default();
    let line = ndjson(&translate_bytes("z.edi", zeros.as_bytes(), &mut tracker).records).join("\n");
    assert!(line.contains(r#""quantity":12.50,"uom":"YD""#), "{line}");
    assert!(line.contains(r#""totals":{"quantity":24.6250,"#), "{line}");
}

#[test]
fn rejected_sets_are_reported_and_the_others_translated() {
    let out = translate_fixture(&fixtures().join("x12/bad/one_bad_set_among_good.edi"));
    let controls: Vec<_> = out
        .records
        .iter()
        .map(|r| r.source.transaction_control.clone().unwrap_or_default())
        .collect();
    assert_eq!(controls, ["0001", "0003"]);
    assert_eq!(out.rejected.len(), 1);
    let r = &out.rejected[0];
    let Rejected::Set(set) = &r.what else {
        panic!("a set is rejected: {r:?}")
    };
    assert_eq!((set.control.as_str(), set.position), ("0002", 2));
    assert_eq!(
        r.to_string(),
        "rejected 940 ST02 0002 (ISA13 000004560, GS06 4560) at segment 11 SE: AK502:4 SE01 counts 10 segments, actual 11"
    );

    let out = translate_fixture(&fixtures().join("x12/bad/one_bad_group_among_good.edi"));
    assert_eq!(out.records.len(), 1);
    assert_eq!(out.records[0].source.group_control.as_deref(), Some("4562"));
    assert_eq!(out.rejected.len(), 1);
    let line = out.rejected[0].to_string();
    assert!(
        line.starts_with("rejected 940 ST02 0001 (ISA13 000004561, GS06 4561) at GE: AK905:4"),
        "{line}"
    );
}

#[test]
fn lenient_policy_keeps_the_set_and_records_the_warning() {
    let path = fixtures().join("x12/bad/one_bad_set_among_good.edi");
    let mut sink = Collect::default();
    translate_file(
        &path,
        &profiles(Policy::Lenient),
        &mut ControlTracker::default(),
        &mut sink,
    )
    .expect("translates");
    assert_eq!(sink.records.len(), 3);
    assert!(sink.rejected.is_empty());
    assert_eq!(
        sink.records[1].warnings,
        ["SE01 counts 10 segments, actual 11"]
    );
}

fn write_partner(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).expect("write partner");
}

#[test]
fn partners_match_by_isa_sender_and_receiver_and_gs_ids() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_partner(
        dir.path(),
        "bramblewood.toml",
        "id = \"bramblewood\"\nname = \"Bramblewood\"\n[x12]\nsender = \"ZZ:BRAMBLEWOODHG\"\nreceiver = \"ZZ:NORTHGATE3PL\"\n",
    );
    write_partner(
        dir.path(),
        "northgate.toml",
        "id = \"northgate\"\nname = \"Northgate\"\n[x12]\nsender = \"ZZ:NORTHGATE3PL\"\nreceiver = \"ZZ:BRAMBLEWOODHG\"\ngs_sender = \"NGL-OTHER\"\n",
    );
    let partners = load_dir(dir.path()).expect("partners load");
    let profiles = profiles(Policy::Standard)
        .with_partners(&partners)
        .expect("no grammars to load");
    let run = |name: &str| {
        let mut sink = Collect::default();
        translate_file(
            &set_file(name),
            &profiles,
            &mut ControlTracker::default(),
            &mut sink,
        )
        .expect("translates");
        sink.records
    };
    let order = run("940_4010_full");
    let unknown = translate_fixture(&set_file("940_4010_full"));
    assert_eq!(order[0].partner, "bramblewood");
    assert_ne!(
        order[0].id, unknown.records[0].id,
        "the partner id is part of the record id"
    );
    let advice = run("945_4010");
    assert_eq!(
        advice[0].partner, "unknown",
        "GS02 is not the one northgate's file names"
    );
    assert!(
        advice[0].warnings[0].contains("not partner northgate's"),
        "{:?}",
        advice[0].warnings
    );
    let ack = run("997_4010_errors");
    assert_eq!(ack[0].partner, "unknown");
    let mut forced = profiles.clone();
    forced.force("bramblewood").expect("known id");
    let mut sink = Collect::default();
    translate_file(
        &set_file("ta1_only"),
        &forced,
        &mut ControlTracker::default(),
        &mut sink,
    )
    .expect("translates");
    assert_eq!(sink.records[0].partner, "bramblewood");
    assert!(forced.clone().force("nobody").is_err());
}

// ----------------------------------------------------------------------------------------------
// The command line
// ----------------------------------------------------------------------------------------------

fn edigate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edigate"))
        .args(args)
        .output()
        .expect("edigate runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn cli_prints_golden_ndjson_and_exits_0_when_all_is_accepted() {
    let path = set_file("940_two_sets_redelimited");
    let out = edigate(&["translate", path.to_str().expect("UTF-8 path")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let golden = std::fs::read_to_string(fixtures().join("golden/940_two_sets_redelimited.ndjson"))
        .expect("golden");
    assert_eq!(text(&out.stdout), golden);
}

#[test]
fn cli_stops_quietly_when_its_reader_goes_away() {
    // Enough records (about 2 KB each) to fill any pipe buffer many times over.
    let one = std::fs::read(set_file("214_parcel_4010")).expect("fixture");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("many.edi");
    std::fs::write(&path, one.repeat(3000)).expect("write");
    let mut child = Command::new(env!("CARGO_BIN_EXE_edigate"))
        .args(["translate", path.to_str().expect("UTF-8 path")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("edigate runs");
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut first)
        .expect("first record");
    assert!(first.starts_with(r#"{"schema":"#), "{first}");
    // The reader is gone (`edigate translate ... | head -1`).
    let out = child.wait_with_output().expect("edigate ends");
    assert!(
        !text(&out.stderr).contains("Broken pipe"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn cli_exits_1_and_names_each_rejected_set() {
    let path = fixtures().join("x12/bad/one_bad_set_among_good.edi");
    let shown = path.display().to_string();
    let ok = set_file("945_4010");
    let out = edigate(&["translate", &shown, ok.to_str().expect("UTF-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout).lines().count(),
        3,
        "two good 940s and the 945"
    );
    assert_eq!(
        text(&out.stderr),
        format!(
            "edigate: {shown}: rejected 940 ST02 0002 (ISA13 000004560, GS06 4560) at segment 11 SE: AK502:4 SE01 counts 10 segments, actual 11\n"
        )
    );
    let out = edigate(&["translate", "--policy", "lenient", &shown]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 3);
}

#[test]
fn cli_exits_1_for_input_it_cannot_translate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("orders.csv");
    std::fs::write(&csv, "order,qty\nA1,3\n").expect("write");
    let out = edigate(&["translate", csv.to_str().expect("UTF-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        text(&out.stderr),
        format!(
            "edigate: {}: CSV content needs a partner's [[flat]] layout, and no partner is loaded (give --partners DIR)\n",
            csv.display()
        )
    );
    // Named like X12, but binary: the content decides.
    let pdf = dir.path().join("ASN.edi");
    std::fs::write(&pdf, b"%PDF-1.7\n\x01\x02\x03").expect("write");
    let out = edigate(&["translate", pdf.to_str().expect("UTF-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).ends_with(
            "ASN.edi: binary content, not X12, a zip archive, CSV or fixed-width text; not translated\n"
        ),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn cli_exits_2_for_usage_and_io_errors() {
    let out = edigate(&["translate"]);
    assert_eq!(out.status.code(), Some(2), "no file");
    let out = edigate(&["translate", "--partner", "x", "f.edi"]);
    assert_eq!(out.status.code(), Some(2), "--partner needs --partners");
    let out = edigate(&["translate", "/nonexistent/f.edi"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("edigate: f.edi: cannot read"),
        "{}",
        text(&out.stderr)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    write_partner(
        dir.path(),
        "bad.toml",
        "id = \"a\"\nname = \"A\"\ncolour = \"red\"\n",
    );
    let file = set_file("940_4010_full");
    let out = edigate(&[
        "translate",
        "--partners",
        dir.path().to_str().expect("UTF-8"),
        file.to_str().expect("UTF-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("bad.toml:3:1:"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn cli_applies_partner_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_partner(
        dir.path(),
        "bramblewood.toml",
        "id = \"bramblewood\"\nname = \"Bramblewood\"\n[x12]\nsender = \"ZZ:BRAMBLEWOODHG\"\nreceiver = \"ZZ:NORTHGATE3PL\"\npolicy = \"lenient\"\n",
    );
    let partners = dir.path().to_str().expect("UTF-8");
    let file = set_file("940_4010_full");
    let out = edigate(&[
        "translate",
        "--partners",
        partners,
        file.to_str().expect("UTF-8"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let rec: Value = serde_json::from_slice(&out.stdout).expect("one JSON record");
    assert_eq!(rec["partner"], "bramblewood");
    let other = set_file("945_4010");
    let out = edigate(&[
        "translate",
        "--partners",
        partners,
        "--partner",
        "bramblewood",
        other.to_str().expect("UTF-8"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let rec: Value = serde_json::from_slice(&out.stdout).expect("one JSON record");
    assert_eq!(rec["partner"], "bramblewood");
    let out = edigate(&[
        "translate",
        "--partners",
        partners,
        "--partner",
        "nobody",
        other.to_str().expect("UTF-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn corpus_files_translate_and_every_set_ends_exactly_once() {
    let Some(root) = crate::x12_corpus::corpus_dir() else {
        return;
    };
    let profiles = profiles(Policy::Standard);
    let mut tracker = ControlTracker::default();
    let mut problems = Vec::new();
    let mut records = 0;
    for path in crate::x12_corpus::corpus_files(&root) {
        let mut sink = Collect::default();
        let outcome = match translate_file(&path, &profiles, &mut tracker, &mut sink) {
            Ok(o) => o,
            Err(e) => {
                problems.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        let set_records = sink
            .records
            .iter()
            .filter(|r| r.source.transaction_set.is_some())
            .count();
        let set_rejections = sink
            .rejected
            .iter()
            .filter(|r| matches!(r.what, Rejected::Set(_)))
            .count();
        let ended = (set_records + set_rejections + sink.skipped.len()) as u64;
        if ended != outcome.summary.sets {
            problems.push(format!(
                "{}: {} sets, but {set_records} records + {set_rejections} rejections + {} skipped",
                path.display(),
                outcome.summary.sets,
                sink.skipped.len()
            ));
        }
        for r in &sink.records {
            let json = serde_json::to_string(r).expect("records serialize");
            let back: Record =
                serde_json::from_str(&json).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(&back, r, "{}: record does not round-trip", path.display());
        }
        records += sink.records.len();
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(records > 0, "the corpus produced no record at all");
}

#[test]
fn cli_exits_1_for_accepted_sets_it_cannot_map() {
    let grammars = fixtures().join("grammars");
    let file = set_file("204_valid");
    let out = edigate(&[
        "translate",
        "--grammars",
        grammars.to_str().expect("UTF-8"),
        file.to_str().expect("UTF-8"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).ends_with("not translated: 204 ST02 0001 (ISA13 000004570, GS06 4570): transaction set 204 has no canonical mapping\n"),
        "{}",
        text(&out.stderr)
    );
}

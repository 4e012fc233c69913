//! Any input through the library entry (`InputTranslator`): flat files with their partner's
//! layout (goldens), a partner's 214 settings, zip archives under their limits, and the command
//! line on archives and flat files.
//!
//! Partners live in `tests/fixtures/partners/`, flat files in `tests/fixtures/flat/`; goldens
//! are `tests/fixtures/golden/flat_<file stem>.ndjson` (`EDIGATE_BLESS=1` rewrites them).

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use zip::CompressionMethod;
use zip::write::{SimpleFileOptions, ZipWriter};

use crate::support::{fixtures, grammars};
use crate::translate::check_golden;
use edigate::canonical::intake_translate::{InputCounts, InputProblem, InputTranslator};
use edigate::canonical::profile::Profiles;
use edigate::canonical::record::{Milestone, Payload, Record, ShipmentStatus};
use edigate::canonical::translate::{Collect, ControlTracker, Rejected};
use edigate::config::partner::{Partner, load_dir};
use edigate::flat::RowErrorCode;
use edigate::intake::{ZipError, ZipLimits};
use edigate::x12::policy::Policy;

fn partners_dir() -> PathBuf {
    fixtures().join("partners")
}

fn partners() -> Vec<Partner> {
    load_dir(&partners_dir()).unwrap_or_else(|e| panic!("fixture partners: {e:?}"))
}

fn translator_with(partners: Vec<Partner>) -> InputTranslator {
    InputTranslator::new(Profiles::new(grammars(), Policy::Standard), partners)
        .expect("no partner grammar files")
}

fn translator() -> InputTranslator {
    translator_with(partners())
}

fn flat_file(name: &str) -> PathBuf {
    fixtures().join("flat").join(name)
}

fn set_file(name: &str) -> PathBuf {
    fixtures().join("x12/sets").join(format!("{name}.edi"))
}

fn run_path(t: &InputTranslator, path: &Path) -> (Collect, InputCounts) {
    let mut sink = Collect::default();
    let counts = t
        .translate_path(path, &mut ControlTracker::default(), &mut sink)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (sink, counts)
}

fn run_bytes(t: &InputTranslator, name: &str, bytes: &[u8]) -> (Collect, InputCounts) {
    let mut sink = Collect::default();
    let counts = t
        .translate_input(
            name,
            || Ok(Cursor::new(bytes)),
            &mut ControlTracker::default(),
            &mut sink,
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    (sink, counts)
}

fn files(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| r.source.file.as_deref().unwrap_or_default().to_string())
        .collect()
}

// ----------------------------------------------------------------------------------------------
// Flat files
// ----------------------------------------------------------------------------------------------

#[test]
fn flat_goldens_match_field_by_field() {
    let t = translator();
    let mut problems = Vec::new();
    for (file, partner, records) in [
        ("ridgeline_status.csv", "ridgeline", 2),
        ("northgate_advice.txt", "northgate", 2),
        ("bramblewood_orders.csv", "bramblewood", 2),
    ] {
        let (out, counts) = run_path(&t, &flat_file(file));
        assert_eq!(out.records.len(), records, "{file}");
        assert!(out.problems.is_empty(), "{file}: {:?}", out.problems);
        assert!(out.records.iter().all(|r| r.partner == partner), "{file}");
        assert_eq!(counts.row_errors, out.row_errors.len() as u64);
        let stem = file.split('.').next().expect("a stem");
        problems.extend(check_golden(&format!("flat_{stem}"), &out.records));
    }
    assert!(
        problems.is_empty(),
        "golden mismatches:\n{}",
        problems.join("\n")
    );
}

#[test]
fn a_bad_flat_row_is_located_and_the_good_groups_come_out() {
    let (out, counts) = run_path(&translator(), &flat_file("bramblewood_orders.csv"));
    let errors: Vec<String> = out.row_errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        [
            "bramblewood_orders.csv:3:3: payload.dates.ship_no_later: \"20261311\" is not a date in the format \"%Y%m%d\"",
            "bramblewood_orders.csv:3:-: no record for group \"SO-44121\" (lines 3-3): bad rows at line 3",
        ]
    );
    let codes: Vec<_> = out.row_errors.iter().map(|e| e.code).collect();
    assert_eq!(codes, [RowErrorCode::BadDate, RowErrorCode::GroupRejected]);
    let positions: Vec<_> = out.records.iter().map(|r| r.source.position).collect();
    assert_eq!(
        positions,
        [Some(1), Some(3)],
        "the rejected group keeps its ordinal"
    );
    assert!(!counts.clean());
    assert_eq!((counts.records, counts.row_errors), (2, 2));
}

#[test]
fn flat_status_rows_get_the_partner_milestones_and_time_zone() {
    let (out, _) = run_path(&translator(), &flat_file("ridgeline_status.csv"));
    let status = |r: &Record| match &r.payload {
        Payload::ShipmentStatus(s) => s.clone(),
        other => panic!("not a status: {other:?}"),
    };
    let first = status(&out.records[0]);
    let ats: Vec<_> = first.events.iter().map(|e| e.at.as_deref()).collect();
    assert_eq!(
        ats,
        [
            Some("2026-01-08T14:15-05:00"),
            Some("2026-01-09T06:30-06:00"),
            Some("2026-01-09T17:52Z"),
        ],
        "an event without a zone takes the partner's America/Chicago"
    );
    assert_eq!(first.events[1].milestone, Milestone::OutForDelivery);
    assert_eq!(first.milestone, Some(Milestone::Delivered));
    let json = serde_json::to_string(&out.records[0]).expect("json");
    assert!(
        json.contains(r#""weight":412.750,"#),
        "exact decimal: {json}"
    );
    let second = status(&out.records[1]);
    assert_eq!(second.events[1].milestone, Milestone::Delayed);
    assert_eq!(
        second.events[1].exception_reason.as_deref(),
        Some("weather")
    );
    assert_eq!(second.milestone, Some(Milestone::PickedUp));
}

#[test]
fn flat_layouts_are_chosen_by_content_not_by_name() {
    let t = translator();
    // Fixed-width content under a CSV-looking name is still read as fixed width.
    let bytes = std::fs::read(flat_file("northgate_advice.txt")).expect("fixture");
    let (out, counts) = run_bytes(&t, "ORDERS.CSV", &bytes);
    assert!(counts.clean(), "{:?}", out.problems);
    assert_eq!(out.records.len(), 2);
    assert!(
        out.records
            .iter()
            .all(|r| r.partner == "northgate" && matches!(r.payload, Payload::ShipmentAdvice(_)))
    );
    // With another partner named for every input, its layouts are the only candidates.
    let mut bramblewood = translator();
    bramblewood.force_partner("bramblewood").expect("known");
    let (out, counts) = run_bytes(&bramblewood, "advice.txt", &bytes);
    assert_eq!(counts.problems, 1);
    assert_eq!(
        out.problems[0].to_string(),
        "advice.txt: no [[flat]] layout of partner \"bramblewood\" fits this text content"
    );
    // No partner at all.
    let (out, _) = run_bytes(&translator_with(Vec::new()), "advice.txt", &bytes);
    assert!(matches!(
        out.problems[..],
        [InputProblem::NoPartners { .. }]
    ));
}

#[test]
fn equally_good_layouts_are_ambiguous_until_one_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(partners_dir().join("bramblewood.toml")).expect("fixture");
    std::fs::write(dir.path().join("a.toml"), &text).expect("write");
    let copy = text
        .replace("id = \"bramblewood\"", "id = \"bramblewood-eu\"")
        .replace("bramblewood_orders_csv", "bramblewood_eu_csv");
    std::fs::write(dir.path().join("b.toml"), copy).expect("write");
    let partners = load_dir(dir.path()).expect("valid");
    let mut t = translator_with(partners);
    let path = flat_file("bramblewood_orders.csv");
    let (out, _) = run_path(&t, &path);
    assert!(out.records.is_empty());
    assert_eq!(
        out.problems[0].to_string(),
        "bramblewood_orders.csv: several [[flat]] layouts fit equally well (bramblewood/bramblewood_orders_csv, bramblewood-eu/bramblewood_eu_csv); name one with --layout"
    );
    t.force_layout("bramblewood_eu_csv").expect("known layout");
    let (out, _) = run_path(&t, &path);
    assert_eq!(out.records.len(), 2);
    assert_eq!(out.records[0].partner, "bramblewood-eu");
    assert!(t.force_layout("nope").is_err());
}

// ----------------------------------------------------------------------------------------------
// A partner's 214 settings
// ----------------------------------------------------------------------------------------------

fn statuses(records: &[Record]) -> Vec<ShipmentStatus> {
    records
        .iter()
        .map(|r| match &r.payload {
            Payload::ShipmentStatus(s) => s.clone(),
            other => panic!("not a status: {other:?}"),
        })
        .collect()
}

#[test]
fn partner_time_zone_and_milestone_overrides_change_214_output() {
    let plain = translator_with(Vec::new());
    let ridgeline = translator();

    // 214_ltl_4010 comes from 02:RDFL to ZZ:NORTHGATE3PL: matched by its ISA ids.
    let ltl = set_file("214_ltl_4010");
    let (before, _) = run_path(&plain, &ltl);
    let (after, counts) = run_path(&ridgeline, &ltl);
    assert!(counts.clean());
    assert_eq!(after.records[0].partner, "ridgeline");
    assert_ne!(after.records[0].id, before.records[0].id);
    let (b, a) = (&statuses(&before.records)[0], &statuses(&after.records)[0]);
    assert_eq!(b.events[1].milestone, Milestone::InTransit);
    assert_eq!(b.events[1].sub_status.as_deref(), Some("en_route"));
    assert_eq!(b.events[1].at.as_deref(), Some("2026-01-09T06:30"));
    assert_eq!(a.events[1].milestone, Milestone::OutForDelivery);
    assert_eq!(
        a.events[1].sub_status, None,
        "another milestone drops the default detail"
    );
    assert_eq!(a.events[1].at.as_deref(), Some("2026-01-09T06:30-06:00"));
    // Zones the document states are kept; the rest of the event is untouched.
    assert_eq!(a.events[0].at, b.events[0].at);
    assert_eq!(a.events[2].at, b.events[2].at);
    assert_eq!(a.events[1].location, b.events[1].location);
    assert_eq!(a.milestone, Some(Milestone::Delivered));

    // 214_exceptions_4010 is Mapleway's: read as Ridgeline's only when forced.
    let exceptions = set_file("214_exceptions_4010");
    let (before, _) = run_path(&plain, &exceptions);
    let mut forced = translator();
    forced.force_partner("ridgeline").expect("known");
    let (after, _) = run_path(&forced, &exceptions);
    let (b, a) = (&statuses(&before.records)[0], &statuses(&after.records)[0]);
    assert_eq!(b.events[1].milestone, Milestone::Delayed);
    assert_eq!(b.events[1].exception_reason.as_deref(), Some("AO"));
    assert_eq!(a.events[1].milestone, Milestone::Delayed);
    assert_eq!(
        a.events[1].exception_reason.as_deref(),
        Some("weather"),
        "the SD+AO override names the reason"
    );
    // The appointment (no AT707) takes the partner zone; the late X6 is out for delivery now,
    // but the shipment stays delivered (terminal, and earlier by event time).
    assert_eq!(b.events[2].at.as_deref(), Some("2026-01-14T08:00"));
    assert_eq!(a.events[2].at.as_deref(), Some("2026-01-14T08:00-06:00"));
    assert_eq!(b.events[8].milestone, Milestone::InTransit);
    assert_eq!(a.events[8].milestone, Milestone::OutForDelivery);
    assert_eq!(a.milestone, Some(Milestone::Delivered));
    assert_eq!(after.records[0].partner, "ridgeline");
}

#[test]
fn x12_under_a_flat_only_partner_is_a_problem() {
    let mut t = translator();
    t.force_partner("northgate").expect("known");
    let (out, counts) = run_path(&t, &set_file("940_4010_full"));
    assert!(out.records.is_empty());
    assert_eq!(counts.problems, 1);
    assert!(
        out.problems[0]
            .to_string()
            .contains("partner \"northgate\" has no [x12] table"),
        "{}",
        out.problems[0]
    );
}

// ----------------------------------------------------------------------------------------------
// Zip archives
// ----------------------------------------------------------------------------------------------

fn deflated() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(CompressionMethod::Deflated)
}

/// An archive of (name, bytes) members.
fn archive(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in members {
        w.start_file(*name, deflated()).expect("start member");
        w.write_all(bytes).expect("write member");
    }
    w.finish().expect("finish archive").into_inner()
}

fn fixture(path: PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn good_archive_with_bad_members_translates_the_others() {
    let asn = fixture(set_file("856_0001_standard"));
    let status = fixture(flat_file("ridgeline_status.csv"));
    let bad_set = fixture(fixtures().join("x12/bad/one_bad_set_among_good.edi"));
    let zip = archive(&[
        ("asn/856_0001_standard.edi", &asn),
        ("../escape.edi", &asn),
        ("junk.bin", b"\x7fELF\x02\x01\x01\0\0\0binary"),
        ("status.csv", &status),
        ("orders/batch.edi", &bad_set),
    ]);
    let (out, counts) = run_bytes(&translator(), "batch.zip", &zip);
    assert_eq!(
        files(&out.records),
        [
            "batch.zip!/asn/856_0001_standard.edi",
            "batch.zip!/status.csv",
            "batch.zip!/status.csv",
            "batch.zip!/orders/batch.edi",
            "batch.zip!/orders/batch.edi",
        ]
    );
    assert_eq!(out.rejected.len(), 1);
    assert_eq!(out.rejected[0].file, "batch.zip!/orders/batch.edi");
    assert!(matches!(out.rejected[0].what, Rejected::Set(_)));
    let problems: Vec<String> = out.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        problems,
        [
            "batch.zip!/junk.bin: binary content, not X12, a zip archive, CSV or fixed-width text; not translated",
            "batch.zip: member \"../escape.edi\" was rejected: its name contains a parent-directory component",
        ]
    );
    assert_eq!(
        counts,
        InputCounts {
            records: 5,
            rejected: 1,
            skipped: 0,
            row_errors: 0,
            problems: 2,
        }
    );
    // A member is the same document as the file it was: same id, same content hash.
    let (direct, _) = run_path(&translator(), &set_file("856_0001_standard"));
    let (member, file) = (&out.records[0], &direct.records[0]);
    assert_eq!(member.id, file.id);
    assert_eq!(member.source.file_sha256, file.source.file_sha256);
}

#[test]
fn a_zip_bomb_is_stopped_by_the_ratio_and_the_rest_is_read() {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    w.start_file("zeros.edi", deflated().compression_level(Some(9)))
        .expect("start");
    let chunk = vec![b'0'; 1 << 20];
    for _ in 0..64 {
        w.write_all(&chunk).expect("write");
    }
    w.start_file("ok.edi", deflated()).expect("start");
    w.write_all(&fixture(set_file("940_4010_full")))
        .expect("write");
    let zip = w.finish().expect("finish").into_inner();
    assert!(zip.len() < 256 * 1024, "{} bytes", zip.len());
    let (out, counts) = run_bytes(&translator(), "bomb.zip", &zip);
    assert_eq!(files(&out.records), ["bomb.zip!/ok.edi"]);
    assert_eq!(counts.problems, 1);
    assert!(
        matches!(&out.problems[..], [InputProblem::Zip(ZipError::RatioExceeded { member, .. })] if member == "zeros.edi"),
        "{:?}",
        out.problems
    );
}

#[test]
fn too_many_entries_stop_the_archive() {
    let asn = fixture(set_file("856_0001_standard"));
    let names: Vec<String> = (0..6).map(|i| format!("asn{i}.edi")).collect();
    let members: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &asn[..])).collect();
    let mut t = translator();
    t.set_zip_limits(ZipLimits {
        max_entries: 5,
        ..ZipLimits::default()
    });
    let (out, counts) = run_bytes(&t, "many.zip", &archive(&members));
    assert!(out.records.is_empty());
    assert_eq!(
        out.problems[0].to_string(),
        "many.zip: 6 entries bring the walk over the limit of 5"
    );
    assert_eq!(counts.problems, 1);
}

#[test]
fn symlink_and_absolute_names_are_rejected() {
    let asn = fixture(set_file("856_0001_standard"));
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    w.add_symlink("link.edi", "/etc/passwd", deflated())
        .expect("symlink");
    w.start_file("/abs/asn.edi", deflated()).expect("start");
    w.write_all(&asn).expect("write");
    w.start_file("asn.edi", deflated()).expect("start");
    w.write_all(&asn).expect("write");
    let zip = w.finish().expect("finish").into_inner();
    let (out, _) = run_bytes(&translator(), "links.zip", &zip);
    assert_eq!(files(&out.records), ["links.zip!/asn.edi"]);
    let problems: Vec<String> = out.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        problems,
        [
            "links.zip: member \"link.edi\" was rejected: it is a symbolic link",
            "links.zip: member \"/abs/asn.edi\" was rejected: its name is an absolute path",
        ]
    );
}

#[test]
fn nested_archives_are_walked_to_the_depth_limit() {
    let order = fixture(set_file("940_4010_full"));
    let inner = archive(&[("940_4010_full.edi", &order)]);
    let middle = archive(&[
        ("inner.zip", &inner),
        ("orders.csv", &fixture(flat_file("bramblewood_orders.csv"))),
    ]);
    let outer = archive(&[("middle.zip", &middle)]);
    let (out, counts) = run_bytes(&translator(), "outer.zip", &outer);
    assert_eq!(
        files(&out.records),
        [
            "outer.zip!/middle.zip!/inner.zip!/940_4010_full.edi",
            "outer.zip!/middle.zip!/orders.csv",
            "outer.zip!/middle.zip!/orders.csv",
        ]
    );
    assert_eq!(out.row_errors[0].file, "outer.zip!/middle.zip!/orders.csv");
    assert_eq!(counts.problems, 0);
    let mut shallow = translator();
    shallow.set_zip_limits(ZipLimits {
        max_depth: 1,
        ..ZipLimits::default()
    });
    let (out, _) = run_bytes(&shallow, "outer.zip", &outer);
    assert_eq!(files(&out.records).len(), 2, "only orders.csv");
    assert_eq!(
        out.problems[0].to_string(),
        "outer.zip!/middle.zip: member \"inner.zip\" was rejected: it is a zip archive nested deeper than 1 levels"
    );
}

#[test]
fn large_members_are_spooled_to_a_temporary_file() {
    let order = fixture(set_file("940_two_sets_redelimited"));
    let zip = archive(&[
        ("a.edi", &order),
        ("b.csv", &fixture(flat_file("ridgeline_status.csv"))),
    ]);
    let (in_memory, _) = run_bytes(&translator(), "s.zip", &zip);
    let mut t = translator();
    t.set_spool_memory_bytes(64);
    let (spooled, counts) = run_bytes(&t, "s.zip", &zip);
    assert!(counts.clean());
    assert_eq!(spooled.records.len(), 4);
    assert_eq!(spooled.records, in_memory.records);
}

// ----------------------------------------------------------------------------------------------
// The command line
// ----------------------------------------------------------------------------------------------

fn edigate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_edigate"))
        .args(args)
        .output()
        .expect("edigate runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn cli_reports_bad_rows_and_bad_members_by_path() {
    let partners = partners_dir();
    let partners = partners.to_str().expect("UTF-8");
    let csv = flat_file("bramblewood_orders.csv");
    let shown = csv.display().to_string();
    let out = edigate(&["translate", "--partners", partners, &shown]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout).lines().count(), 2);
    assert_eq!(
        text(&out.stderr),
        format!(
            "edigate: {shown}:3:3: bad_date payload.dates.ship_no_later: \"20261311\" is not a date in the format \"%Y%m%d\"\n\
             edigate: {shown}:3:-: group_rejected no record for group \"SO-44121\" (lines 3-3): bad rows at line 3\n"
        )
    );
    let golden = std::fs::read_to_string(fixtures().join("golden/flat_ridgeline_status.ndjson"))
        .expect("golden");
    let status = flat_file("ridgeline_status.csv");
    let out = edigate(&[
        "translate",
        "--partners",
        partners,
        status.to_str().expect("UTF-8"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), golden);

    let dir = tempfile::tempdir().expect("tempdir");
    let zip_path = dir.path().join("drop.zip");
    let zip = archive(&[
        ("ok.edi", &fixture(set_file("940_4010_full"))),
        ("junk.bin", b"\x00\x01\x02\x03binary"),
    ]);
    std::fs::write(&zip_path, zip).expect("write zip");
    let shown = zip_path.display().to_string();
    let out = edigate(&["translate", &shown]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout).lines().count(), 1);
    let rec: serde_json::Value =
        serde_json::from_str(text(&out.stdout).trim()).expect("one record");
    assert_eq!(rec["source"]["file"], "drop.zip!/ok.edi");
    assert_eq!(
        text(&out.stderr),
        format!(
            "edigate: {shown}!/junk.bin: binary content, not X12, a zip archive, CSV or fixed-width text; not translated\n"
        )
    );
}

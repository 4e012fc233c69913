//! NDJSON writing benchmark: `NdjsonWriter::write_record` on the records the X12 fixture sets make
//! and on one generated 214 (five AT7 events with location, equipment and weights, as the x12
//! bench's 214 file has), written over and over into a writer that only counts bytes.
//!
//! `cargo bench --bench json` prints nanoseconds per record and per output byte for each group
//! (under `cargo test` it is a 200-record smoke run).
//! `-- --iters N` sets the rounds (default 20000); `-- --only 214` or `-- --only fixtures` runs one
//! group. For instruction counts, run the binary under callgrind with
//! `--toggle-collect=*write_rounds*`, which leaves out translating the inputs.

use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use edigate::canonical::ndjson::NdjsonWriter;
use edigate::canonical::profile::Profiles;
use edigate::canonical::record::Record;
use edigate::canonical::translate::{Collect, ControlTracker, translate};
use edigate::x12::grammar::Grammars;
use edigate::x12::policy::Policy;

/// Counts the bytes written through it.
struct CountingWriter(u64);

impl Write for CountingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn records_of(name: &str, text: &[u8], profiles: &Profiles) -> Vec<Record> {
    let mut sink = Collect::default();
    translate(
        name,
        || Ok(text),
        profiles,
        &mut ControlTracker::default(),
        &mut sink,
    )
    .expect("in memory");
    sink.records
}

/// Every record the X12 fixture sets make.
fn fixture_records(profiles: &Profiles) -> Vec<Record> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/x12/sets");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "edi"))
        .collect();
    paths.sort();
    let mut records = Vec::new();
    for path in paths {
        let text = std::fs::read(&path).expect("fixture");
        records.extend(records_of(&path.display().to_string(), &text, profiles));
    }
    records
}

/// One 214 like those of the x12 bench's file, with five events.
fn generated_214(profiles: &Profiles) -> Vec<Record> {
    let mut body = vec![
        "B10*PRO1234567*SHIP0042*QXRL".to_string(),
        "L11*BOL778812*BM".into(),
        "L11*PO99812*PO".into(),
        "N1*SH*GRANITE BAY 3PL".into(),
        "N1*CN*RIVERBEND DISTRIBUTION".into(),
        "N3*1200 INDUSTRIAL PKWY".into(),
        "N4*COLUMBUS*OH*43215*US".into(),
    ];
    for (i, code) in ["AF", "X3", "X6", "X1", "D1"].iter().enumerate() {
        body.push(format!("LX*{}", i + 1));
        body.push(format!("AT7*{code}*NS***2026010{}*1430*ET", i + 1));
        body.push("MS1*COLUMBUS*OH*US".into());
        body.push("MS2*QXRL*TRL5521".into());
        body.push("AT8*G*L*812.5*40".into());
    }
    let mut text = String::from(
        "ISA*00*          *00*          *ZZ*BENCH3PL       *ZZ*BENCHRETAIL    *260105*1430*U*00401*000000001*0*P*>~\n\
         GS*QM*BENCH3PL*BENCHRETAIL*20260105*1430*1*X*004010~\nST*214*0001~\n",
    );
    for s in &body {
        text.push_str(s);
        text.push_str("~\n");
    }
    text.push_str(&format!(
        "SE*{}*0001~\nGE*1*1~\nIEA*1*000000001~\n",
        body.len() + 2
    ));
    let records = records_of("214-bench.edi", text.as_bytes(), profiles);
    assert_eq!(records.len(), 1, "the generated 214 translates");
    records
}

/// Writes every record `rounds` times; returns the bytes written.
#[inline(never)]
fn write_rounds(records: &[Record], rounds: u64) -> u64 {
    let mut w = NdjsonWriter::new(CountingWriter(0));
    for _ in 0..rounds {
        for r in records {
            w.write_record(black_box(r)).expect("in memory");
        }
    }
    w.flush().expect("in memory");
    w.get_ref().0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    // Under `cargo test` (no `--bench`) it is a smoke run.
    let default_iters = if args.iter().any(|a| a == "--bench") {
        20_000
    } else {
        200
    };
    let iters: u64 = arg("--iters").map_or(default_iters, |s| s.parse().expect("--iters N"));
    let only = arg("--only");
    let profiles = Profiles::new(Grammars::embedded().expect("grammars"), Policy::Standard);
    let groups = [
        ("214", generated_214(&profiles)),
        ("fixtures", fixture_records(&profiles)),
    ];
    for (name, records) in &groups {
        if only.as_deref().is_some_and(|o| o != *name) {
            continue;
        }
        // Rounds scaled so each group writes about the same number of bytes.
        let rounds = (iters / records.len() as u64).max(1);
        let start = Instant::now();
        let bytes = write_rounds(records, rounds);
        let ns = start.elapsed().as_secs_f64() * 1e9;
        let n = rounds * records.len() as u64;
        println!(
            "{name:<9} {} records x {rounds}: {:.0} ns/record, {:.2} ns/byte, {} bytes/record",
            records.len(),
            ns / n as f64,
            ns / bytes as f64,
            bytes / n
        );
    }
}

//! Shared helpers: fixture paths, a reader that hands out tiny chunks, one-call validation.

use std::io::Read;
use std::path::{Path, PathBuf};

use edigate::x12::envelope::{EngineConfig, run};
use edigate::x12::grammar::Grammars;
use edigate::x12::policy::Policy;
use edigate::x12::report::{Report, ReportVisitor};

/// The repository's test fixtures.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Built-in grammars plus the test-only ones (204).
pub fn grammars() -> Grammars {
    let mut g = Grammars::embedded().expect("built-in grammars load");
    g.load_dir(&fixtures().join("grammars"))
        .expect("test grammars load");
    g
}

/// A reader that returns at most `n` bytes per call, to exercise every buffer boundary.
pub struct Trickle<'a> {
    pub data: &'a [u8],
    pub n: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.n.min(buf.len()).min(self.data.len());
        buf[..k].copy_from_slice(&self.data[..k]);
        self.data = &self.data[k..];
        Ok(k)
    }
}

/// Validates bytes, read `chunk` bytes at a time.
pub fn validate(grammars: &Grammars, bytes: &[u8], policy: Policy, chunk: usize) -> Report {
    let mut v = ReportVisitor::default();
    let summary = run(
        Trickle {
            data: bytes,
            n: chunk,
        },
        EngineConfig::new(grammars, policy),
        &mut v,
    )
    .expect("in-memory reads do not fail");
    v.finish("input", summary)
}

/// The body of the 940 fixture's one set (ST through SE, exclusive), for generated files.
fn order_set_body() -> String {
    let text = std::fs::read_to_string(fixtures().join("x12/sets/940_4010_full.edi"))
        .expect("940 fixture");
    let start = text.find("W05*").expect("W05 in the fixture");
    let end = text.find("SE*").expect("SE in the fixture");
    text[start..end].to_string()
}

/// A 940 interchange from Bramblewood (partners/bramblewood.toml) with `sets` orders, all its
/// control numbers derived from `n` so each generated file yields different record ids.
pub fn order_file(n: u64, sets: usize) -> String {
    let body = order_set_body();
    let segs = body.matches('~').count() + 2;
    let mut out = format!(
        "ISA*00*          *00*          *ZZ*BRAMBLEWOODHG  *ZZ*NORTHGATE3PL   *260105*1430*U*00401*{n:09}*0*P*>~\nGS*OW*BRAMBLEWOODHG*NORTHGATE3PL*20260105*1430*{n}*X*004010~\n"
    );
    for i in 1..=sets {
        out.push_str(&format!("ST*940*{i:04}~\n{body}SE*{segs}*{i:04}~\n"));
    }
    out.push_str(&format!("GE*{sets}*{n}~\nIEA*1*{n:09}~\n"));
    out
}

/// The record ids the translator gives `text` under the repository's example partners.
pub fn expected_ids(name: &str, text: &str) -> Vec<String> {
    use edigate::canonical::profile::Profiles;
    use edigate::canonical::translate::{Collect, ControlTracker, translate};
    let partners = edigate::config::load_dir(&repo_partners()).expect("example partners");
    let profiles = Profiles::new(Grammars::embedded().expect("grammars"), Policy::Standard)
        .with_partners(&partners)
        .expect("profiles");
    let mut sink = Collect::default();
    translate(
        name,
        || Ok(text.as_bytes()),
        &profiles,
        &mut ControlTracker::default(),
        &mut sink,
    )
    .expect("in-memory translation");
    assert!(sink.rejected.is_empty(), "{:?}", sink.rejected);
    sink.records
        .into_iter()
        .map(|r| r.id.into_string())
        .collect()
}

/// The repository's example partner files.
pub fn repo_partners() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("partners")
}

/// Drops a file into a spool `in/` atomically: written under a dot-name, then renamed.
pub fn drop_file(inbox: &Path, name: &str, text: &str) {
    let tmp = inbox.join(format!(".{name}.uploading"));
    std::fs::write(&tmp, text).expect("write spool file");
    std::fs::rename(&tmp, inbox.join(name)).expect("rename into in/");
}

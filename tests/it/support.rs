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

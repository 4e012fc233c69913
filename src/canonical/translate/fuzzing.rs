//! The body of the `x12_translate` fuzz target and of the test that replays its seeds.

use std::io;

use super::pipeline::{HOLD_SETS, MapOn, Options};
use super::{ControlTracker, Record, Rejection, Sink, Skipped, translate_with};
use crate::canonical::profile::Profiles;

/// Everything a sink is told, in order, one line each: `record <json>`, `rejected <line>`,
/// `skipped <line>`.
#[derive(Default)]
pub(super) struct Lines(pub(super) Vec<String>);

impl Sink for Lines {
    fn record(&mut self, record: &Record) -> io::Result<()> {
        let json = serde_json::to_string(record).map_err(io::Error::other)?;
        self.0.push(format!("record {json}"));
        Ok(())
    }
    fn rejected(&mut self, rejection: &Rejection) -> io::Result<()> {
        self.0.push(format!("rejected {rejection}"));
        Ok(())
    }
    fn skipped(&mut self, skipped: &Skipped) -> io::Result<()> {
        self.0.push(format!("skipped {skipped}"));
        Ok(())
    }
}

/// The fuzz target's body (and the seed-replay test's): translates `data` on one thread and on
/// two (mapping forced onto each thread, or done ahead of a late translator), under the default
/// settings, and panics unless all give the same records, rejections and skips, each counted
/// once; a mapper that panics on some input panics here too.
pub fn check_translation(data: &[u8]) {
    static PROFILES: std::sync::OnceLock<Profiles> = std::sync::OnceLock::new();
    let profiles = PROFILES.get_or_init(|| {
        Profiles::new(
            crate::x12::grammar::Grammars::embedded().unwrap_or_default(),
            crate::x12::policy::Policy::Standard,
        )
    });
    let once = |pipeline_min, map_on, hold_sets, start_late| {
        let mut lines = Lines::default();
        let outcome = translate_with(
            "fuzz.edi",
            || Ok(data),
            profiles,
            &mut ControlTracker::default(),
            &mut lines,
            Options {
                min_bytes: pipeline_min,
                map_on,
                hold_sets,
                start_late,
            },
        )
        .unwrap_or_else(|e| panic!("translating from memory cannot fail: {e}"));
        (lines.0, outcome)
    };
    let (one, outcome) = once(u64::MAX, MapOn::Shared, HOLD_SETS, false);
    let counts = &outcome.counts;
    assert_eq!(
        one.len() as u64,
        counts.records + counts.rejected + counts.skipped,
        "every output is counted once"
    );
    // Interchanges held for their IEA, pass 1 started at the first set, and every set mapped
    // ahead of a late translator.
    for (map_on, hold_sets, start_late) in [
        (MapOn::Engine, HOLD_SETS, false),
        (MapOn::Caller, 0, false),
        (MapOn::Caller, HOLD_SETS, true),
    ] {
        let (two, _) = once(0, map_on, hold_sets, start_late);
        assert_eq!(
            one, two,
            "two threads ({map_on:?}, holding {hold_sets} sets, late start {start_late}) differ from one"
        );
    }
}

//! Replays the fuzz seed corpus and every X12 fixture through the fuzz target's body.

use crate::support::fixtures;

#[test]
fn fuzz_seed_corpus_replays_clean() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for dir in [
        root.join("fuzz/corpus/x12_validate"),
        fixtures().join("x12/quirks"),
        fixtures().join("x12/bad"),
        fixtures().join("x12/sets"),
    ] {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path
                .extension()
                .is_some_and(|e| e == "py" || e == "md" || e == "toml")
            {
                continue;
            }
            let data = std::fs::read(&path).unwrap();
            edigate::x12::fuzzing::check_input(&data);
            edigate::canonical::translate::check_translation(&data);
            n += 1;
        }
    }
    assert!(n > 60, "only {n} seeds replayed");
}

//! Fuzz target: translation to canonical records on arbitrary bytes (every mapper), on one
//! thread and on two, which must agree. Run: `cargo fuzz run x12_translate
//! fuzz/corpus/x12_translate tests/fixtures/x12/quirks tests/fixtures/x12/bad
//! tests/fixtures/x12/sets`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    edigate::canonical::translate::check_translation(data);
});

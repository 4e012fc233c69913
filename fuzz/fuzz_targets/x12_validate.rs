//! Fuzz target: tokenizer, envelope checks, grammar validation and acknowledgment generation on
//! arbitrary bytes, under every policy. Run: `cargo fuzz run x12_validate fuzz/corpus/x12_validate
//! tests/fixtures/x12/quirks tests/fixtures/x12/bad tests/fixtures/x12/sets`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    edigate::x12::fuzzing::check_input(data);
});

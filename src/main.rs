//! The `edigate` command line.
fn main() {}

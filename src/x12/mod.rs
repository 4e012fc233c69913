//! The pure X12 engine: bytes in; segments, findings, verdicts and acknowledgments out.
//!
//! Nothing here does I/O beyond reading a `Read` source, spawns tasks, touches SQLite or logs:
//! callers decide what to do with the findings.
#![warn(missing_docs)]

pub mod ack;
pub mod delimiters;
pub mod envelope;
pub mod finding;
pub mod fuzzing;
pub mod grammar;
pub mod isa;
pub mod lexer;
pub mod policy;
pub mod report;
pub mod scan;
pub mod segment;
pub mod validate;

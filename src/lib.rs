//! edigate: an on-premises EDI and file-exchange gateway.
//!
//! # Layout
//! - [`x12`]: the pure X12 engine: delimiters, streaming tokenizer, envelope checks, grammars,
//!   validation policy and acknowledgment (997/999/TA1) generation. No I/O beyond a byte source.
//! - [`canonical`]: canonical-v1 record types, the idempotency key and one mapper per set.
//! - [`config`]: operator configuration files (trading partners), checked with `file:line:column`.
//! - [`flat`]: partner-defined CSV and fixed-width layouts.
//! - [`intake`]: content sniffing and zip intake.
//! - [`store`]: the SQLite ledger and outbox (files, records, deliveries, acks, counters); the
//!   only place that opens the database.

pub mod canonical;
pub mod config;
pub mod flat;
pub mod intake;
pub mod store;
pub mod x12;

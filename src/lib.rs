//! edigate: an on-premises EDI and file-exchange gateway.
//!
//! # Layout
//! - [`x12`]: the pure X12 engine: delimiters, streaming tokenizer, envelope checks, grammars,
//!   validation policy and acknowledgment (997/999/TA1) generation. No I/O beyond a byte source.
//! - [`canonical`]: canonical-v1 record types, the idempotency key and one mapper per set.
//! - [`config`]: operator configuration files (trading partners), checked with `file:line:column`.
//! - [`flat`]: partner-defined CSV and fixed-width layouts.
//! - [`intake`]: content sniffing and zip intake.
//! - [`sources`]: where partner files come from (the spool folder); finalize after commit.
//! - [`sinks`]: where records go (the ERP over HTTP, or a directory), retry classification,
//!   backoff and the circuit breaker.
//! - [`store`]: the SQLite ledger and outbox (files, records, deliveries, acks, counters); the
//!   only place that opens the database.
//! - [`writer`]: the single thread that owns the store.
//! - [`forwarder`]: claims due deliveries, hands them to a sink, records outcomes.
//! - [`app`]: wiring of the daemon.
//! - [`events`]: observable events (a log line and a metric each) and the metrics registry.
//! - [`api`]: the HTTP API: health, Prometheus metrics, status and replay.
//! - [`reload`]: live partner changes (directory watch and SIGHUP).
//! - [`systemd`]: readiness, stopping and watchdog notifications.
//! - [`shutdown`]: the shutdown signal every loop selects on.

pub mod api;
pub mod app;
pub mod canonical;
pub mod config;
pub mod events;
pub mod flat;
pub mod forwarder;
pub mod intake;
pub mod reload;
pub mod shutdown;
pub mod sinks;
pub mod sources;
pub mod store;
pub mod systemd;
pub mod writer;
pub mod x12;

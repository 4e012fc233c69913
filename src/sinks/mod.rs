//! Where records go: the ERP over HTTP, or a directory when no ERP is configured.
//!
//! A sink makes one attempt and says what it came to ([`retry::Attempt`]); the forwarder owns
//! backoff, the circuit breaker and the ledger. Both sinks are idempotent by record id: the HTTP
//! sink sends it as `Idempotency-Key`, the directory sink names the file after it.
//! [`outbound`] delivers the spool's `out/` files to partners (SFTP, FTP or a directory).

pub mod directory;
pub mod erp_http;
pub mod outbound;
pub mod retry;

pub use directory::DirectorySink;
pub use erp_http::{ErpHttpSink, SinkError};
pub use retry::Attempt;

/// One record to hand over.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The record's canonical id (the idempotency key).
    pub id: &'a str,
    /// Record kind, e.g. `warehouse_order`.
    pub kind: &'a str,
    /// Shared by everything from one file.
    pub correlation_id: &'a str,
    /// The canonical JSON.
    pub body: &'a str,
}

/// The configured sink.
#[derive(Debug, Clone)]
pub enum AnySink {
    /// POST to the ERP.
    Http(ErpHttpSink),
    /// Files under `<state>/outbox`.
    Directory(DirectorySink),
}

impl AnySink {
    /// Makes one attempt.
    pub async fn deliver(&self, delivery: Delivery<'_>) -> Attempt {
        match self {
            AnySink::Http(s) => s.deliver(delivery).await,
            AnySink::Directory(s) => s.deliver(delivery).await,
        }
    }
}

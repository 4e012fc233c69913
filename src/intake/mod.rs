//! Intake: content sniffing and safe zip walking ahead of parsing, the per-file pipeline that
//! records a claimed file in the ledger and finalizes it, and the writer of acknowledgments.

pub mod ack_writer;
pub mod batcher;
pub mod sniff;
pub mod worker;
pub mod zip;

pub use self::sniff::{Sniffed, sniff};
pub use self::worker::{IntakeContext, IntakeError, PartnerBook, Processed, process_file};
pub use self::zip::{Member, ZipError, ZipLimits, ZipReport, walk_zip};

//! Sources of partner files. One contract: hand intake a complete file, and finalize it (move it
//! to `archive/` or `quarantine/`) only after its ledger commit.

pub mod spool;

pub use spool::{ClaimedFile, PartnerDirs, SpoolPartner, SpoolSource};

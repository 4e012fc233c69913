//! Sources of partner files. One contract: hand intake a complete file, and finalize it (move it
//! to `archive/` or `quarantine/`) only after its ledger commit.
//!
//! Remote pollers ([`remote`], over [`sftp`] or [`ftp`]) download into the spool's `in/` folder with the
//! same temp-fsync-rename hand-off any partner uses, and complete the remote after-action only
//! once the ledger holds the file.

pub mod ftp;
mod ftp_implicit;
pub mod remote;
pub mod sftp;
pub mod spool;
pub mod supervisor;
pub mod transport;

pub use spool::{ClaimedFile, PartnerDirs, SpoolPartner, SpoolSource};

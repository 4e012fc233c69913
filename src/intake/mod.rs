//! Intake helpers: content sniffing and safe zip walking, ahead of parsing.

pub mod sniff;
pub mod zip;

pub use self::sniff::{Sniffed, sniff};
pub use self::zip::{Member, ZipError, ZipLimits, ZipReport, walk_zip};

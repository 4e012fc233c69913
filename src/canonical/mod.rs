//! Canonical-v1 records: the serde types, exact decimals, the idempotency key, one mapper per X12
//! set and the translator that drives them.
//!
//! Mappers: [`order940`] (940), [`advice945`] (945), [`ack997`] (997/999 and TA1); [`asn856`] (856),
//! [`status214`] (214) with [`milestone`]. [`common`] holds what they share. [`translate`] drives
//! the X12 mappers over a file; [`intake_translate`] takes any input (X12, zip, CSV, fixed width).

pub mod ack997;
pub mod advice945;
pub mod asn856;
pub mod common;
pub mod decimal;
pub mod id;
pub mod intake_translate;
pub mod json;
pub mod map;
pub mod milestone;
pub mod ndjson;
pub mod order940;
pub mod profile;
pub mod record;
pub mod status214;
#[cfg(test)]
pub(crate) mod test_support;
pub mod translate;
pub mod x12util;

pub use decimal::{Decimal, DecimalError, DecimalErrorReason, DecimalSyntax};
pub use id::{ContentDigest, flat_record_id, x12_record_id};
pub use record::*;

//! Canonical-v1 records: the serde types, exact decimals and the idempotency key.
//!
//! The per-set mappers (940, 945, 856, 214, 997/999/TA1) come with the X12 engine.

pub mod asn856;
pub mod decimal;
pub mod id;
pub mod map;
pub mod milestone;
pub mod record;
pub mod status214;
pub mod x12util;

pub use decimal::{Decimal, DecimalError, DecimalErrorReason, DecimalSyntax};
pub use id::{ContentDigest, flat_record_id, x12_record_id};
pub use record::*;

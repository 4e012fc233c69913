//! The interface every X12 set mapper implements, and the settings a partner gives them.
//!
//! A mapper sees one accepted transaction set (its segments from ST to SE, copied out of the
//! tokenizer) plus its envelope, and returns the kind-specific payload, the business references
//! and any warnings. The envelope fields of the record (`id`, `source`, `test`, ...) are filled by
//! the translator, not by mappers.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::record::{Milestone, Payload, References};
use crate::x12::envelope::{Group, Interchange, SetHeader};
#[allow(unused_imports)]
use crate::x12::segment::OwnedSegment;

/// One override of the 214 milestone table (x12-reference §5.3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MilestoneOverride {
    /// The milestone this code (or code+reason) means for this partner.
    pub milestone: Option<Milestone>,
    /// Sub-status to record.
    pub sub_status: Option<String>,
    /// Exception reason to record.
    pub exception_reason: Option<String>,
    /// Drop the event from the timeline (it is still kept in `events`).
    #[serde(default)]
    pub ignore: bool,
}

/// What a partner's configuration tells the mappers.
#[derive(Debug, Clone, Default)]
pub struct MappingSettings {
    /// The partner id (`"unknown"` when none matched).
    pub partner: String,
    /// Time zone for event times that state none (AT707 absent or `LT`).
    pub default_timezone: Option<chrono_tz::Tz>,
    /// Overrides keyed by AT701 (`"X6"`) or AT701+AT702 (`"SD+AO"`).
    pub milestones: BTreeMap<String, MilestoneOverride>,
}

/// Everything a mapper may look at besides the segments.
pub struct SetContext<'a> {
    /// The interchange the set came in.
    pub interchange: &'a Interchange,
    /// Its functional group.
    pub group: &'a Group,
    /// Its ST header.
    pub header: &'a SetHeader,
    /// Partner settings.
    pub settings: &'a MappingSettings,
}

/// What a mapper returns.
#[derive(Debug, Clone)]
pub struct Mapped {
    /// The kind-specific body.
    pub payload: Payload,
    /// Business keys found in the set.
    pub references: References,
    /// Tolerated deviations found while mapping (e.g. an SSCC normalised from 20 digits).
    pub warnings: Vec<String>,
}

/// The signature every set mapper has: the set's segments are ST..SE inclusive.
pub type MapFn = fn(&SetContext<'_>, &[OwnedSegment]) -> Mapped;

/// A set that cannot be mapped (its kind is not one edigate maps).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transaction set {set} has no canonical mapping")]
pub struct Unmapped {
    /// ST01.
    pub set: String,
}

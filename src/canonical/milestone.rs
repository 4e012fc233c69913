//! The 214 milestone mapping: the default AT701/AT703 tables, reason overlays, partner overrides and the state rule.
//!
//! Invariants (x12-reference §5):
//! - The tables are data ([`STATUS_TABLE`], [`APPOINTMENT_TABLE`], the reason sets); the code
//!   below only looks them up. [`MAPPING_VERSION`] names this table set so stored events can be
//!   re-normalised when it changes.
//! - Resolution order, first match wins: partner `code+reason` → partner `code` → global
//!   `code+reason` → global `code` → `unmapped`. An unknown code is never dropped.
//! - The reason overlay (AT702 present, not `NS`) always records `exception_reason`; it changes
//!   the milestone only for codes that are not progress milestones (a progress code keeps its
//!   progress, §5.2), never downgrades (delayed < exception < returned_to_shipper), never
//!   hides `unmapped` and leaves appointments alone.
//! - The shipment's current milestone is computed over events ordered by event time, using
//!   [`Milestone::advance`] (highest rank wins, terminal states stick, `delivery_attempted` may
//!   fall back to `in_transit`/`out_for_delivery`).

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::map::MilestoneOverride;
use super::record::Text;
use super::record::{EventMeaning, Milestone, MilestoneLookup};

/// Version of the default tables below; bump it when a row changes.
pub const MAPPING_VERSION: &str = "x12-ref-5.2/1";

/// One row of the default AT701 table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRow {
    /// AT701 code.
    pub code: &'static str,
    /// Milestone it means by default.
    pub milestone: Milestone,
    /// Detail recorded beside it.
    pub sub_status: Option<&'static str>,
    /// Special handling noted in the §5.2 table.
    pub note: RowNote,
}

/// Special handling of a table row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowNote {
    /// None.
    Plain,
    /// Also an exception (`PA`: delivered + exception): without a reason code the sub-status is
    /// recorded as the exception reason.
    AlsoException,
    /// Means delivered only when no exception is present (`CD`): an exception or return reason
    /// replaces the milestone (this is the global `code+reason` level of the resolution order).
    UnlessException,
}

const fn row(code: &'static str, milestone: Milestone, sub_status: &'static str) -> StatusRow {
    StatusRow {
        code,
        milestone,
        sub_status: if sub_status.is_empty() {
            None
        } else {
            Some(sub_status)
        },
        note: RowNote::Plain,
    }
}

const fn noted(
    code: &'static str,
    m: Milestone,
    sub_status: &'static str,
    note: RowNote,
) -> StatusRow {
    let mut r = row(code, m, sub_status);
    r.note = note;
    r
}

use Milestone as M;

/// The default AT701 → milestone table (x12-reference §5.2).
pub static STATUS_TABLE: &[StatusRow] = &[
    row("XB", M::Tendered, "carrier_acknowledged"),
    row("OO", M::Info, "paperwork_received"),
    row("X3", M::ArrivedAtPickup, ""),
    row("X8", M::ArrivedAtPickup, "at_dock"),
    row("L1", M::Loaded, "loading_started"),
    row("CP", M::Loaded, "loading_complete"),
    row("CL", M::Loaded, "trailer_closed"),
    row("AM", M::Loaded, "loaded_on_truck"),
    row("AF", M::PickedUp, "departed_pickup"),
    row("BA", M::PickedUp, "cartage_or_connecting_pickup"),
    row("R1", M::InTransit, "received_from_prior_carrier"),
    row("J1", M::InTransit, "handed_to_connecting_line"),
    row("X4", M::InTransit, "arrived_terminal"),
    row("I1", M::InTransit, "in_gate"),
    row("P1", M::InTransit, "departed_terminal"),
    row("OA", M::InTransit, "out_gate"),
    row("RL", M::InTransit, "rail_departed_origin_ramp"),
    row("AR", M::InTransit, "rail_arrived_destination_ramp"),
    row("AN", M::InTransit, "diverted_to_air"),
    row("BC", M::InTransit, "storage_in_transit"),
    // A customs reason code on K1 raises the exception overlay like any reason does.
    row("K1", M::InTransit, "arrived_customs"),
    row("X6", M::InTransit, "en_route"),
    row("AJ", M::OutForDelivery, "tendered_for_delivery"),
    row("AV", M::ArrivedAtDestination, "available_for_delivery"),
    row("X1", M::ArrivedAtDestination, ""),
    row("X5", M::ArrivedAtDestination, "at_dock"),
    row("S1", M::ArrivedAtDestination, "trailer_spotted"),
    row("AH", M::DeliveryAttempted, ""),
    row("AP", M::DeliveryAttempted, "delivery_not_completed"),
    row("D1", M::Delivered, "unloading_complete"),
    noted(
        "CD",
        M::Delivered,
        "departed_delivery_location",
        RowNote::UnlessException,
    ),
    row("CB", M::Delivered, "final_partial_completed"),
    noted(
        "PA",
        M::Delivered,
        "partial_delivery",
        RowNote::AlsoException,
    ),
    row("A7", M::Exception, "refused_by_consignee"),
    row("A9", M::Exception, "damaged"),
    row("AI", M::Exception, "reconsigned"),
    row("PR", M::Exception, "customs_hold_in_bond"),
    row("SD", M::Delayed, ""),
    row("A3", M::ReturnedToShipper, ""),
    row("CA", M::Cancelled, ""),
    row("AG", M::EtaUpdated, "estimated_delivery"),
    row("X2", M::EtaUpdated, "eta_consignee"),
    row("B6", M::EtaUpdated, "eta_terminal"),
    row("C1", M::EtaUpdated, "etd_terminal"),
    // Quirk 29: appointment codes sent in AT701 instead of AT703 (they are not AT701 codes).
    row("AA", M::AppointmentScheduled, "pickup_window"),
    row("AB", M::AppointmentScheduled, "delivery_window"),
];

/// AT703 appointment status codes → `appointment_scheduled` with the window they describe.
pub static APPOINTMENT_TABLE: &[(&str, &str)] = &[
    ("AA", "pickup_window"),
    ("XA", "pickup_window"),
    ("EP", "pickup_window"),
    ("LP", "pickup_window"),
    ("AB", "delivery_window"),
    ("AC", "delivery_window"),
    ("X9", "delivery_window"),
    ("ED", "delivery_window"),
    ("LD", "delivery_window"),
];

/// AT701 codes whose date and time are an estimate, not an actual event.
pub static ESTIMATE_CODES: &[&str] = &["AG", "X2", "B6", "C1"];

/// What an AT702 reason escalates a non-progress event to (x12-reference §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReasonClass {
    /// `delayed`.
    Delay,
    /// `exception`.
    Exception,
    /// `returned_to_shipper`.
    Return,
}

/// Reasons that escalate to `delayed`: weather (`AO`), road (`BE` road conditions, `AF`
/// accident), mechanical (`AI`), driver (`AH` driver related, `D2` driver not available), missed
/// (`A1` missed delivery, `AY` missed pickup), closed (`AN` holiday/closed, `B1` consignee
/// closed), appointment (`BK` prearranged appointment, `HB` held pending appointment, `AD`
/// customer requested future delivery).
pub static DELAY_REASONS: &[&str] = &[
    "AO", "BE", "AF", "AI", "AH", "D2", "A1", "AY", "AN", "B1", "BK", "HB", "AD",
];

/// Reasons that escalate to `exception`: refused (`BS`, `A7`), damage (`AK`), customs (`AS`,
/// `CA`, `BD`), incorrect address (`A2`) or unable to locate (`A5`).
pub static EXCEPTION_REASONS: &[&str] = &["BS", "A7", "AK", "AS", "CA", "BD", "A2", "A5"];

/// Reasons that escalate to `returned_to_shipper`.
pub static RETURN_REASONS: &[&str] = &["BT"];

/// The escalation class of an AT702 reason; `None` for `NS`, blank and reasons that only annotate.
pub fn reason_class(reason: &str) -> Option<ReasonClass> {
    if RETURN_REASONS.contains(&reason) {
        Some(ReasonClass::Return)
    } else if EXCEPTION_REASONS.contains(&reason) {
        Some(ReasonClass::Exception)
    } else if DELAY_REASONS.contains(&reason) {
        Some(ReasonClass::Delay)
    } else {
        None
    }
}

impl ReasonClass {
    fn milestone(self) -> Milestone {
        match self {
            ReasonClass::Delay => Milestone::Delayed,
            ReasonClass::Exception => Milestone::Exception,
            ReasonClass::Return => Milestone::ReturnedToShipper,
        }
    }

    /// How serious a non-progress milestone already is, in the same order.
    fn of(milestone: Milestone) -> Option<ReasonClass> {
        match milestone {
            Milestone::Delayed => Some(ReasonClass::Delay),
            Milestone::Exception => Some(ReasonClass::Exception),
            Milestone::ReturnedToShipper => Some(ReasonClass::Return),
            _ => None,
        }
    }
}

/// A default table row with what every event of its code needs, made once.
#[derive(Debug)]
struct StatusEntry {
    row: &'static StatusRow,
    /// `row.sub_status` as text.
    sub_status: Option<Text>,
    /// The code is one of [`ESTIMATE_CODES`].
    estimate: bool,
}

/// [`STATUS_TABLE`] indexed by code (first row wins, as a scan would).
struct StatusIndex {
    /// Two-byte codes (every code of the table) keyed by their two bytes.
    short: rustc_hash::FxHashMap<u16, StatusEntry>,
    /// Codes of any other length.
    other: rustc_hash::FxHashMap<&'static str, StatusEntry>,
}

/// The default table entry for an AT701 code.
fn status_entry(code: &str) -> Option<&'static StatusEntry> {
    // Every AT7 looks its code up; the table is indexed once.
    static INDEX: std::sync::OnceLock<StatusIndex> = std::sync::OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let mut index = StatusIndex {
            short: rustc_hash::FxHashMap::default(),
            other: rustc_hash::FxHashMap::default(),
        };
        for row in STATUS_TABLE {
            let entry = StatusEntry {
                row,
                sub_status: row.sub_status.map(Text::const_new),
                estimate: ESTIMATE_CODES.contains(&row.code),
            };
            match *row.code.as_bytes() {
                [a, b] => index
                    .short
                    .entry(u16::from_le_bytes([a, b]))
                    .or_insert(entry),
                _ => index.other.entry(row.code).or_insert(entry),
            };
        }
        index
    });
    match *code.as_bytes() {
        [a, b] => index.short.get(&u16::from_le_bytes([a, b])),
        _ => index.other.get(code),
    }
}

/// The default table row for an AT701 code.
pub fn status_row(code: &str) -> Option<&'static StatusRow> {
    status_entry(code).map(|e| e.row)
}

/// The default milestone of an AT701-style status code (no reason, no overrides); `unmapped`
/// when the code is not in the table. Used by flat-file status records too.
pub fn milestone_for_code(code: &str) -> Milestone {
    status_row(code.trim()).map_or(Milestone::Unmapped, |r| r.milestone)
}

/// Which level of the resolution order decided an event's milestone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// A partner override keyed `CODE+REASON`.
    PartnerCodeReason,
    /// A partner override keyed `CODE`.
    PartnerCode,
    /// A reason-specific default row (`CD` with an exception reason).
    GlobalCodeReason,
    /// The default table.
    GlobalCode,
    /// AT703 appointment status (no AT701).
    Appointment,
    /// Nothing matched: the event is `unmapped`.
    Unmapped,
}

/// A normalised event (x12-reference §5.1 item 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// The milestone.
    pub milestone: Milestone,
    /// Detail.
    pub sub_status: Option<Text>,
    /// The exception reason (AT702 or the override's).
    pub exception_reason: Option<Text>,
    /// Date and time are an estimate or an appointment, not an actual event.
    pub is_estimate: bool,
    /// A partner override asked to keep the event off the timeline.
    pub ignored: bool,
    /// What decided the milestone.
    pub resolution: Resolution,
}

/// The raw codes of one AT7.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatusCodes<'a> {
    /// AT701.
    pub status: Option<&'a str>,
    /// AT702.
    pub reason: Option<&'a str>,
    /// AT703.
    pub appointment: Option<&'a str>,
}

/// Normalises one event's codes with the partner's overrides (`"X6"`, `"SD+AO"`).
///
/// An override replaces the default row: its `milestone` (if set) replaces the default one and,
/// when different, drops the default sub-status; its `sub_status` and `exception_reason` replace
/// the default ones. The reason overlay still applies, except after a `CODE+REASON` override,
/// which already says what that exact pair means. `ignore` keeps the event (raw codes and all)
/// but turns it into `info` (sub-status `ignored` unless the override names one), so no timeline
/// computed from the events can be moved by it.
pub fn normalize(
    codes: StatusCodes<'_>,
    overrides: &BTreeMap<String, MilestoneOverride>,
) -> Normalized {
    let status = clean(codes.status);
    let reason = clean(codes.reason).filter(|r| r != "NS");
    let appointment = clean(codes.appointment);

    let Some(code) = status else {
        return appointment_event(appointment.as_deref());
    };
    let partner_pair = match &reason {
        Some(r) if !overrides.is_empty() => overrides.get(&format!("{code}+{r}")),
        _ => None,
    };
    let entry = status_entry(&code);
    let row = entry.map(|e| e.row);
    let (over, mut resolution) = match (partner_pair, overrides.get(code.as_ref()), row) {
        (Some(o), _, _) => (Some(o), Resolution::PartnerCodeReason),
        (None, Some(o), _) => (Some(o), Resolution::PartnerCode),
        (None, None, Some(_)) => (None, Resolution::GlobalCode),
        (None, None, None) => (None, Resolution::Unmapped),
    };
    let reason_cls = reason.as_deref().and_then(reason_class);
    let mut milestone = row.map_or(Milestone::Unmapped, |r| r.milestone);
    let mut sub_status = entry.and_then(|e| e.sub_status.clone());
    // Global code+reason: `CD` means delivered only when no exception is present.
    if over.is_none()
        && let Some(r) = row
        && r.note == RowNote::UnlessException
        && let Some(cls @ (ReasonClass::Exception | ReasonClass::Return)) = reason_cls
    {
        milestone = cls.milestone();
        resolution = Resolution::GlobalCodeReason;
    }
    let mut exception_reason = reason.as_deref().map(Text::from);
    if exception_reason.is_none() && row.is_some_and(|r| r.note == RowNote::AlsoException) {
        exception_reason = sub_status.clone();
    }

    if let Some(o) = over {
        if let Some(m) = o.milestone {
            if m != milestone {
                sub_status = None;
            }
            milestone = m;
        }
        if o.sub_status.is_some() {
            sub_status = o.sub_status.as_deref().map(Text::from);
        }
        if o.exception_reason.is_some() {
            exception_reason = o.exception_reason.as_deref().map(Text::from);
        }
    }
    // Progress keeps its progress; unmapped stays visible; an appointment's reason is about the
    // appointment, not a delay.
    let escalate = resolution != Resolution::PartnerCodeReason
        && milestone.rank().is_none()
        && !matches!(
            milestone,
            Milestone::Unmapped | Milestone::AppointmentScheduled
        );
    if escalate
        && let Some(cls) = reason_cls
        && ReasonClass::of(milestone).is_none_or(|cur| cls > cur)
    {
        milestone = cls.milestone();
    }

    let is_estimate = entry.map_or_else(|| ESTIMATE_CODES.contains(&code.as_ref()), |e| e.estimate)
        || milestone == Milestone::EtaUpdated
        || milestone == Milestone::AppointmentScheduled;
    let mut out = Normalized {
        milestone,
        sub_status,
        exception_reason,
        is_estimate,
        ignored: false,
        resolution,
    };
    if let Some(o) = over
        && o.ignore
    {
        out.ignored = true;
        out.milestone = Milestone::Info;
        out.sub_status = Some(Text::from(o.sub_status.as_deref().unwrap_or("ignored")));
    }
    out
}

/// A code trimmed and upper-cased (copied only when it has lower-case letters); `None` when empty.
fn clean(c: Option<&str>) -> Option<Cow<'_, str>> {
    let c = c?.trim();
    if c.is_empty() {
        None
    } else if c.bytes().any(|b| b.is_ascii_lowercase()) {
        Some(Cow::Owned(c.to_ascii_uppercase()))
    } else {
        Some(Cow::Borrowed(c))
    }
}

/// An AT7 without AT701: an appointment (AT703), or nothing at all.
fn appointment_event(appointment: Option<&str>) -> Normalized {
    let window = appointment.and_then(|a| APPOINTMENT_TABLE.iter().find(|(c, _)| *c == a));
    let (milestone, resolution) = match window {
        Some(_) => (Milestone::AppointmentScheduled, Resolution::Appointment),
        None => (Milestone::Unmapped, Resolution::Unmapped),
    };
    Normalized {
        milestone,
        sub_status: window.map(|(_, w)| Text::const_new(w)),
        exception_reason: None,
        // An appointment's date and time are planned, not something that happened.
        is_estimate: window.is_some(),
        ignored: false,
        resolution,
    }
}

/// The default table plus one partner's overrides and default time zone, as a
/// [`MilestoneLookup`] (what flat `shipment_status` rows are normalised with).
#[derive(Debug, Clone, Copy)]
pub struct PartnerMilestones<'a> {
    overrides: &'a BTreeMap<String, MilestoneOverride>,
    timezone: Option<chrono_tz::Tz>,
}

/// No overrides.
static NO_OVERRIDES: BTreeMap<String, MilestoneOverride> = BTreeMap::new();

impl<'a> PartnerMilestones<'a> {
    /// The default table with these overrides (`"X6"`, `"SD+AO"`) and default zone.
    pub fn new(
        overrides: &'a BTreeMap<String, MilestoneOverride>,
        timezone: Option<chrono_tz::Tz>,
    ) -> Self {
        PartnerMilestones {
            overrides,
            timezone,
        }
    }

    /// The default table alone (no partner).
    pub fn defaults() -> PartnerMilestones<'static> {
        PartnerMilestones {
            overrides: &NO_OVERRIDES,
            timezone: None,
        }
    }
}

impl MilestoneLookup for PartnerMilestones<'_> {
    fn milestone(&self, status_code: &str, reason_code: Option<&str>) -> Milestone {
        self.meaning(Some(status_code), reason_code, None).milestone
    }

    fn meaning(
        &self,
        status_code: Option<&str>,
        reason_code: Option<&str>,
        appointment_code: Option<&str>,
    ) -> EventMeaning {
        let codes = StatusCodes {
            status: status_code,
            reason: reason_code,
            appointment: appointment_code,
        };
        let n = normalize(codes, self.overrides);
        EventMeaning {
            milestone: n.milestone,
            sub_status: n.sub_status,
            exception_reason: n.exception_reason,
            is_estimate: n.is_estimate,
            ignored: n.ignored,
        }
    }

    fn default_timezone(&self) -> Option<chrono_tz::Tz> {
        self.timezone
    }
}

/// One event as the shipment's timeline sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedEvent {
    /// Event time as UTC seconds (naive seconds when no zone is known); `None` when undated.
    pub key: Option<i64>,
    /// An estimate or appointment: its time is not when something happened.
    pub estimate: bool,
    /// A partner override keeps it off the timeline.
    pub ignored: bool,
    /// Its milestone.
    pub milestone: Milestone,
}

/// The shipment's milestone from its events in document order (x12-reference §5.1): by event
/// time, where an undated event takes the time of the last actual (non-estimate) event before
/// it in the document, so it stays where the sender put it (one before any dated event sorts
/// first). Ignored events are left out.
pub fn shipment_milestone(events: impl IntoIterator<Item = TimedEvent>) -> Option<Milestone> {
    let mut last_actual = i64::MIN;
    let mut timeline = Vec::new();
    for (i, e) in events.into_iter().enumerate() {
        let key = match e.key {
            Some(k) => {
                if !e.estimate {
                    last_actual = k;
                }
                k
            }
            None => last_actual,
        };
        if !e.ignored {
            timeline.push(((key, i), e.milestone));
        }
    }
    current_milestone(timeline)
}

/// The shipment's current milestone: events are ordered by `at` (their event time as a sortable
/// key; ties keep the order given) and folded with [`Milestone::advance`]. `None` when no event
/// is a progress milestone.
pub fn current_milestone<K: Ord + Copy>(
    events: impl IntoIterator<Item = (K, Milestone)>,
) -> Option<Milestone> {
    let mut timeline: Vec<(K, Milestone)> = events.into_iter().collect();
    timeline.sort_by_key(|(k, _)| *k);
    timeline
        .into_iter()
        .fold(None, |state, (_, m)| Milestone::advance(state, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes<'a>(status: &'a str, reason: &'a str) -> StatusCodes<'a> {
        StatusCodes {
            status: Some(status),
            reason: Some(reason),
            appointment: None,
        }
    }

    fn norm(status: &str, reason: &str) -> Normalized {
        normalize(codes(status, reason), &BTreeMap::new())
    }

    #[test]
    fn status_index_finds_what_a_scan_of_the_table_finds() {
        let alphabet: Vec<char> = ('A'..='Z')
            .chain('0'..='9')
            .chain(['a', ' ', '+'])
            .collect();
        let mut asked: Vec<String> = ["", "X", "X6X", "XB ", "\u{e9}"]
            .iter()
            .map(|c| c.to_string())
            .collect();
        for a in &alphabet {
            for b in &alphabet {
                asked.push(format!("{a}{b}"));
            }
        }
        for code in asked {
            let scanned = STATUS_TABLE.iter().find(|r| r.code == code);
            let entry = status_entry(&code);
            assert_eq!(entry.map(|e| e.row), scanned, "{code:?}");
            assert_eq!(status_row(&code), scanned, "{code:?}");
            if let Some(e) = entry {
                assert_eq!(e.sub_status.as_deref(), e.row.sub_status, "{code:?}");
                assert_eq!(
                    e.estimate,
                    ESTIMATE_CODES.contains(&code.as_str()),
                    "{code:?}"
                );
            }
        }
    }

    #[test]
    fn table_has_each_code_once_and_known_defaults() {
        for (i, r) in STATUS_TABLE.iter().enumerate() {
            assert!(
                !STATUS_TABLE[..i].iter().any(|o| o.code == r.code),
                "{} twice",
                r.code
            );
        }
        assert_eq!(milestone_for_code("AF"), M::PickedUp);
        assert_eq!(milestone_for_code("X6"), M::InTransit);
        assert_eq!(milestone_for_code("X1"), M::ArrivedAtDestination);
        assert_eq!(milestone_for_code("D1"), M::Delivered);
        assert_eq!(milestone_for_code("AH"), M::DeliveryAttempted);
        assert_eq!(milestone_for_code("SD"), M::Delayed);
        assert_eq!(milestone_for_code("A3"), M::ReturnedToShipper);
        assert_eq!(milestone_for_code("AG"), M::EtaUpdated);
        assert_eq!(milestone_for_code("CA"), M::Cancelled);
        assert_eq!(milestone_for_code("A9"), M::Exception);
        assert_eq!(milestone_for_code("ZZ"), M::Unmapped);
    }

    #[test]
    fn reason_sets_do_not_overlap() {
        for r in DELAY_REASONS {
            assert!(
                !EXCEPTION_REASONS.contains(r) && !RETURN_REASONS.contains(r),
                "{r}"
            );
        }
        for r in EXCEPTION_REASONS {
            assert!(!RETURN_REASONS.contains(r), "{r}");
        }
    }

    #[test]
    fn normal_status_has_no_exception_reason() {
        let n = norm("X6", "NS");
        assert_eq!(n.milestone, M::InTransit);
        assert_eq!(n.sub_status.as_deref(), Some("en_route"));
        assert_eq!(n.exception_reason, None);
        assert_eq!(n.resolution, Resolution::GlobalCode);
        assert!(!n.is_estimate);
    }

    #[test]
    fn progress_code_keeps_progress_and_raises_overlay() {
        let n = norm("AH", "A1");
        assert_eq!(n.milestone, M::DeliveryAttempted);
        assert_eq!(n.exception_reason.as_deref(), Some("A1"));
        let n = norm("K1", "AS");
        assert_eq!(n.milestone, M::InTransit);
        assert_eq!(n.exception_reason.as_deref(), Some("AS"));
    }

    #[test]
    fn reasons_escalate_non_progress_codes_without_downgrading() {
        assert_eq!(norm("SD", "AO").milestone, M::Delayed);
        assert_eq!(norm("SD", "AO").exception_reason.as_deref(), Some("AO"));
        assert_eq!(norm("SD", "AK").milestone, M::Exception);
        assert_eq!(norm("SD", "BT").milestone, M::ReturnedToShipper);
        assert_eq!(norm("A9", "AO").milestone, M::Exception);
        assert_eq!(norm("A9", "AK").milestone, M::Exception);
        assert_eq!(norm("AG", "AO").milestone, M::Delayed);
        assert!(norm("AG", "AO").is_estimate);
        assert_eq!(norm("OO", "BS").milestone, M::Exception);
        assert_eq!(norm("A3", "BT").milestone, M::ReturnedToShipper);
        assert_eq!(norm("SD", "BG").milestone, M::Delayed);
        // Unknown codes stay visible as unmapped whatever the reason.
        assert_eq!(norm("ZZ", "AK").milestone, M::Unmapped);
        assert_eq!(norm("ZZ", "NS").resolution, Resolution::Unmapped);
    }

    #[test]
    fn cd_with_an_exception_is_not_delivered() {
        assert_eq!(norm("CD", "NS").milestone, M::Delivered);
        let n = norm("CD", "BS");
        assert_eq!(n.milestone, M::Exception);
        assert_eq!(n.resolution, Resolution::GlobalCodeReason);
        assert_eq!(norm("CD", "AO").milestone, M::Delivered);
    }

    #[test]
    fn partial_delivery_is_delivered_plus_exception() {
        let n = norm("PA", "NS");
        assert_eq!(n.milestone, M::Delivered);
        assert_eq!(n.exception_reason.as_deref(), Some("partial_delivery"));
        assert_eq!(norm("PA", "AK").exception_reason.as_deref(), Some("AK"));
    }

    #[test]
    fn appointments_and_estimates() {
        let n = normalize(
            StatusCodes {
                status: None,
                reason: None,
                appointment: Some("AB"),
            },
            &BTreeMap::new(),
        );
        assert_eq!(n.milestone, M::AppointmentScheduled);
        assert_eq!(n.sub_status.as_deref(), Some("delivery_window"));
        assert!(n.is_estimate);
        let n = normalize(
            StatusCodes {
                status: None,
                reason: None,
                appointment: Some("QQ"),
            },
            &BTreeMap::new(),
        );
        assert_eq!(n.milestone, M::Unmapped);
        assert!(norm("X2", "NS").is_estimate);
        assert_eq!(norm("AB", "NS").milestone, M::AppointmentScheduled);
        assert_eq!(norm("AB", "BK").milestone, M::AppointmentScheduled);
    }

    fn overrides() -> BTreeMap<String, MilestoneOverride> {
        BTreeMap::from([
            (
                "X6".to_string(),
                MilestoneOverride {
                    milestone: Some(M::OutForDelivery),
                    ..MilestoneOverride::default()
                },
            ),
            (
                "SD+AO".to_string(),
                MilestoneOverride {
                    milestone: Some(M::Delayed),
                    exception_reason: Some("weather".into()),
                    ..MilestoneOverride::default()
                },
            ),
            (
                "SD".to_string(),
                MilestoneOverride {
                    sub_status: Some("carrier_delay".into()),
                    ..MilestoneOverride::default()
                },
            ),
            (
                "CD".to_string(),
                MilestoneOverride {
                    ignore: true,
                    ..MilestoneOverride::default()
                },
            ),
            (
                "QQ".to_string(),
                MilestoneOverride {
                    milestone: Some(M::Info),
                    sub_status: Some("partner_ping".into()),
                    ..MilestoneOverride::default()
                },
            ),
        ])
    }

    #[test]
    fn overrides_resolve_in_order() {
        let o = overrides();
        let n = normalize(codes("X6", "NS"), &o);
        assert_eq!(n.milestone, M::OutForDelivery);
        assert_eq!(n.sub_status, None);
        assert_eq!(n.resolution, Resolution::PartnerCode);

        let n = normalize(codes("SD", "AO"), &o);
        assert_eq!(n.milestone, M::Delayed);
        assert_eq!(n.exception_reason.as_deref(), Some("weather"));
        assert_eq!(n.resolution, Resolution::PartnerCodeReason);

        // SD with another reason falls to the partner's code-only row, overlay still applied.
        let n = normalize(codes("SD", "AK"), &o);
        assert_eq!(n.resolution, Resolution::PartnerCode);
        assert_eq!(n.sub_status.as_deref(), Some("carrier_delay"));
        assert_eq!(n.milestone, M::Exception);
        assert_eq!(n.exception_reason.as_deref(), Some("AK"));

        // Not overridden: global table.
        assert_eq!(
            normalize(codes("D1", "NS"), &o).resolution,
            Resolution::GlobalCode
        );

        // A partner-only code is mapped, not unmapped.
        let n = normalize(codes("QQ", "NS"), &o);
        assert_eq!(n.milestone, M::Info);
        assert_eq!(n.sub_status.as_deref(), Some("partner_ping"));
        assert_eq!(n.resolution, Resolution::PartnerCode);

        let n = normalize(codes("CD", "NS"), &o);
        assert!(n.ignored);
        assert_eq!(n.milestone, M::Info);
        assert_eq!(n.sub_status.as_deref(), Some("ignored"));
    }

    #[test]
    fn state_follows_event_time_not_document_order() {
        // D1 then an earlier-dated X6: delivered stays.
        assert_eq!(
            current_milestone([(15, M::Delivered), (13, M::InTransit)]),
            Some(M::Delivered)
        );
        // Lower rank later does not move back.
        assert_eq!(
            current_milestone([(1, M::InTransit), (2, M::PickedUp)]),
            Some(M::InTransit)
        );
        // Attempted delivery may go back out for delivery.
        assert_eq!(
            current_milestone([(2, M::DeliveryAttempted), (3, M::OutForDelivery)]),
            Some(M::OutForDelivery)
        );
        assert_eq!(
            current_milestone([(3, M::OutForDelivery), (2, M::DeliveryAttempted)]),
            Some(M::OutForDelivery)
        );
        // Terminal states stick even against a higher rank later.
        assert_eq!(
            current_milestone([(1, M::Delivered), (2, M::Cancelled)]),
            Some(M::Delivered)
        );
        assert_eq!(current_milestone([(1, M::Delayed), (2, M::Unmapped)]), None);
    }
}

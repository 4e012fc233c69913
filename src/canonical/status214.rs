//! 214 Transportation Carrier Shipment Status → `shipment_status` (contract §6).
//!
//! One pass over the set, whatever the release: the 4010 layout (heading L11/N1, LX loops with
//! AT7, MS1, MS2, L11, AT8) and the 4020+/5010 layout (LX loops with AT7, MS1, MS2, L11, AT8 and
//! LX-level N1 loops) read the same way, because each segment is handled by what it is:
//! - AT7 opens an event; MS1/MS2 that follow it (in the same LX) describe that event.
//! - AT8 is an LX-level segment: it describes every event of its LX that has no AT8 yet.
//! - L11, MAN, B10 and PRF anywhere feed `references` (L11: value first, qualifier second).
//! - N1 loops anywhere become parties.
//!
//! Event times carry an offset only when the zone is stated: AT707, or the partner's default
//! zone for `LT`/absent codes (quirk 24). The shipment milestone is computed by event time.

use super::decimal::Decimal;
use super::map::{Mapped, MappingSettings, SetContext};
use super::milestone::{self, Resolution, StatusCodes, TimedEvent};
use super::record::Text;
use super::record::{Equipment, Location, Milestone, Payload, ShipmentStatus, StatusEvent};
use super::x12util::{DateTimeParts, PartyReader, ReferenceCollector, decimal, resolve_offset};
use crate::x12::segment::OwnedSegment;

/// Maps one accepted 214 set.
pub fn map(ctx: &SetContext<'_>, segs: &[OwnedSegment]) -> Mapped {
    map_segments(ctx.settings, segs)
}

/// Maps one 214 set's segments (ST..SE) with a partner's settings.
pub fn map_segments(settings: &MappingSettings, segs: &[OwnedSegment]) -> Mapped {
    let mut reader = Reader::new(settings);
    for seg in segs {
        reader.feed(seg);
    }
    reader.finish()
}

/// Bookkeeping kept beside each event (not part of the record).
struct EventMeta {
    /// LX ordinal the event belongs to (0 before any LX).
    lx: usize,
    /// Event time as UTC seconds (or naive seconds when no zone is known).
    time_key: Option<i64>,
    /// An estimate or appointment: its time is not when something happened.
    estimate: bool,
    /// A partner override keeps it off the timeline.
    ignored: bool,
}

struct Reader<'a> {
    settings: &'a MappingSettings,
    status: ShipmentStatus,
    meta: Vec<EventMeta>,
    refs: ReferenceCollector,
    parties: PartyReader,
    warnings: Vec<String>,
    lx: usize,
    /// An AT8 seen in the current LX before any of its AT7s.
    pending_at8: Option<(usize, Lading)>,
    /// First event an AT8 of the current LX may still describe.
    lading_from: usize,
    prf_po: Option<Text>,
    seen_b10: bool,
}

/// AT8 contents.
#[derive(Clone)]
struct Lading {
    weight: Option<Decimal>,
    weight_uom: Option<Text>,
    lading_quantity: Option<Decimal>,
}

impl<'a> Reader<'a> {
    fn new(settings: &'a MappingSettings) -> Self {
        Reader {
            settings,
            status: ShipmentStatus::default(),
            meta: Vec::new(),
            refs: ReferenceCollector::default(),
            parties: PartyReader::default(),
            warnings: Vec::new(),
            lx: 0,
            pending_at8: None,
            lading_from: 0,
            prf_po: None,
            seen_b10: false,
        }
    }

    fn feed(&mut self, seg: &OwnedSegment) {
        self.parties.feed(seg);
        match seg.tag() {
            b"B10" => self.b10(seg),
            b"L11" => self.l11(seg),
            b"MAN" => {
                self.refs.man(seg, &mut self.warnings);
            }
            b"PRF" if self.prf_po.is_none() => self.prf_po = seg.get(1),
            b"LX" => {
                self.lx += 1;
                self.pending_at8 = None;
                self.lading_from = self.status.events.len();
            }
            b"AT7" => self.at7(seg),
            b"MS1" => {
                // The current event (as `current_event` finds it), filled in place.
                if let Some(m) = self.meta.last()
                    && m.lx == self.lx
                    && let Some(ev) = self.status.events.last_mut()
                    && ev.location.is_empty()
                {
                    read_location(seg, &mut ev.location, &mut self.warnings);
                }
            }
            b"MS2" => {
                if let Some(ev) = self.current_event()
                    && ev.equipment.is_empty()
                {
                    ev.equipment = Equipment {
                        scac: seg.get(1),
                        number: seg.get(2),
                    };
                }
            }
            b"AT8" => self.at8(seg),
            _ => {}
        }
    }

    /// The last event, when it belongs to the current LX.
    fn current_event(&mut self) -> Option<&mut StatusEvent> {
        let lx = self.lx;
        match self.meta.last() {
            Some(m) if m.lx == lx => self.status.events.last_mut(),
            _ => None,
        }
    }

    fn b10(&mut self, seg: &OwnedSegment) {
        if self.seen_b10 {
            return;
        }
        self.seen_b10 = true;
        self.status.carrier_reference = seg.get(1);
        self.status.shipment_id = seg.get(2);
        self.status.scac = seg.get(3);
        self.refs.refs.shipment_id = self.status.shipment_id.clone();
        self.refs.refs.scac = self.status.scac.clone();
        if let (Some(q), Some(v)) = (seg.get(5), seg.get(6)) {
            self.refs.qualified(&q.to_ascii_uppercase(), v);
        }
    }

    /// L11: L1101 is the value, L1102 the qualifier (the reverse of REF).
    fn l11(&mut self, seg: &OwnedSegment) {
        let (Some(value), Some(qualifier)) = (seg.get(1), seg.get(2)) else {
            return;
        };
        let qualifier = qualifier.to_ascii_uppercase();
        self.status
            .references_extra
            .entry(qualifier.clone())
            .or_insert_with(|| value.clone());
        self.refs.qualified(&qualifier, value);
    }

    fn at7(&mut self, seg: &OwnedSegment) {
        let status = seg.get(1);
        let reason = seg.get(2);
        let appointment = seg.get(3);
        let codes = StatusCodes {
            status: status.as_deref(),
            reason: reason.as_deref(),
            appointment: appointment.as_deref(),
        };
        let norm = milestone::normalize(codes, &self.settings.milestones);
        let lx = self.lx;
        if norm.milestone == Milestone::Unmapped {
            let what = match (&status, &appointment) {
                (Some(s), _) => format!("AT701 {s:?}"),
                (None, Some(a)) => format!("AT703 {a:?}"),
                (None, None) => "an AT7 without status or appointment code".to_string(),
            };
            self.warnings.push(format!(
                "LX {lx}: {what} has no milestone mapping; event kept as unmapped"
            ));
        }
        if let Some(s) = status.as_deref()
            && matches!(s, "AA" | "AB")
            && norm.resolution == Resolution::GlobalCode
        {
            self.warnings.push(format!(
                "LX {lx}: AT701 {s} is an appointment code (AT703); read as appointment_scheduled"
            ));
        }

        let when = DateTimeParts::read(seg, 5, 6, &mut self.warnings);
        let time_code = seg.get(7);
        let (at, time_key) = self.event_time(&when, time_code.as_deref(), lx);

        // Built in place: an event is several hundred bytes, not worth a copy into the list.
        self.status.events.push(StatusEvent::new(norm.milestone));
        let Some(event) = self.status.events.last_mut() else {
            return;
        };
        event.status_code = status;
        event.reason_code = reason;
        event.appointment_code = appointment;
        event.sub_status = norm.sub_status;
        event.exception_reason = norm.exception_reason;
        event.is_estimate = norm.is_estimate;
        event.date = when.date_text();
        event.time = when.time_text();
        event.time_code = time_code;
        event.at = at;
        if let Some((pending_lx, lading)) = &self.pending_at8
            && *pending_lx == lx
        {
            apply_lading(event, lading);
        }
        self.meta.push(EventMeta {
            lx,
            time_key,
            estimate: norm.is_estimate,
            ignored: norm.ignored,
        });
    }

    /// `at` and the sort key of an event time.
    fn event_time(
        &mut self,
        when: &DateTimeParts,
        code: Option<&str>,
        lx: usize,
    ) -> (Option<Text>, Option<i64>) {
        let Some(local) = when.naive() else {
            return (None, None);
        };
        let naive_key = local.and_utc().timestamp();
        let offset = match resolve_offset(code, local, self.settings.default_timezone) {
            Ok(o) => o,
            Err(w) => {
                self.warnings.push(format!("LX {lx}: {w}"));
                None
            }
        };
        let key = offset.map_or(naive_key, |o| naive_key - i64::from(o));
        let at = when.time().and_then(|_| when.text_with_offset(offset));
        (at, Some(key))
    }

    fn at8(&mut self, seg: &OwnedSegment) {
        let lading = Lading {
            weight: decimal(seg, 3, &mut self.warnings),
            weight_uom: seg.get(2),
            lading_quantity: decimal(seg, 4, &mut self.warnings),
        };
        // Only events after the last AT8 of this LX are looked at, so a long run of CD3 loops
        // (AT7 + AT8 each) stays linear.
        let start = self.lading_from.min(self.status.events.len());
        let fresh = &mut self.status.events[start..];
        if fresh.is_empty() {
            if self.pending_at8.is_none() {
                self.pending_at8 = Some((self.lx, lading));
            }
            return;
        }
        let undescribed = |ev: &StatusEvent| {
            ev.weight.is_none() && ev.weight_uom.is_none() && ev.lading_quantity.is_none()
        };
        // The last event it describes takes the AT8's values, the others a copy.
        if let Some(last) = fresh.iter().rposition(undescribed)
            && let Some((before, [last, ..])) = fresh.split_at_mut_checked(last)
        {
            for ev in before.iter_mut().filter(|ev| undescribed(ev)) {
                apply_lading(ev, &lading);
            }
            last.weight = lading.weight;
            last.weight_uom = lading.weight_uom;
            last.lading_quantity = lading.lading_quantity;
        }
        self.lading_from = self.status.events.len();
    }

    fn finish(mut self) -> Mapped {
        self.status.parties = self.parties.finish();
        let mut refs = self.refs.refs;
        if refs.pro_number.is_none() {
            refs.pro_number = self.status.carrier_reference.clone();
        }
        if refs.purchase_order.is_none() {
            refs.purchase_order = self.prf_po;
        }
        self.status.milestone = current(&self.status.events, &self.meta);
        Mapped {
            payload: Payload::ShipmentStatus(self.status),
            references: refs,
            warnings: self.warnings,
        }
    }
}

fn apply_lading(event: &mut StatusEvent, lading: &Lading) {
    event.weight = lading.weight.clone();
    event.weight_uom = lading.weight_uom.clone();
    event.lading_quantity = lading.lading_quantity.clone();
}

/// The shipment milestone by event time ([`milestone::shipment_milestone`]).
fn current(events: &[StatusEvent], meta: &[EventMeta]) -> Option<Milestone> {
    milestone::shipment_milestone(events.iter().zip(meta).map(|(ev, m)| TimedEvent {
        key: m.time_key,
        estimate: m.estimate,
        ignored: m.ignored,
        milestone: ev.milestone,
    }))
}

/// MS1: city/state/country, and/or coordinates (MS104 longitude, MS105 latitude as `DDDMMSS`,
/// MS106 `E`/`W`, MS107 `N`/`S`) as decimal degrees with six decimals, into `loc` (every field
/// is set).
fn read_location(seg: &OwnedSegment, loc: &mut Location, warnings: &mut Vec<String>) {
    loc.city = seg.get(1);
    loc.state = seg.get(2);
    loc.country = seg.get(3);
    let mut read = |n: usize, hemi: usize, axis: Axis| -> Option<Decimal> {
        let raw = seg.text(n)?;
        match coordinate(&raw, seg.text(hemi).as_deref(), axis) {
            Ok(d) => Some(d),
            Err(why) => {
                warnings.push(format!("MS1{n:02} {raw:?}: {why}; coordinate left out"));
                None
            }
        }
    };
    loc.longitude = read(4, 6, Axis::Longitude);
    loc.latitude = read(5, 7, Axis::Latitude);
}

#[derive(Clone, Copy)]
enum Axis {
    Latitude,
    Longitude,
}

/// Decimal places of coordinates: a 1-second grid is ~30 m, six decimals hold it exactly enough
/// (0.11 m) and give every coordinate the same shape.
const COORDINATE_DECIMALS: u32 = 6;

/// `DDDMMSS` + hemisphere → signed decimal degrees, rounded half up to six decimals with integer
/// arithmetic (no floating point).
fn coordinate(raw: &str, hemisphere: Option<&str>, axis: Axis) -> Result<Decimal, String> {
    if !(5..=7).contains(&raw.len()) || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not DDDMMSS".to_string());
    }
    let split = raw.len() - 4;
    let num = |s: Option<&str>| s.and_then(|s| s.parse::<i64>().ok()).ok_or("not DDDMMSS");
    let degrees = num(raw.get(..split))?;
    let minutes = num(raw.get(split..split + 2))?;
    let seconds = num(raw.get(split + 2..))?;
    let (max, negative_hemi, positive_hemi) = match axis {
        Axis::Latitude => (90, "S", "N"),
        Axis::Longitude => (180, "W", "E"),
    };
    if minutes >= 60 || seconds >= 60 {
        return Err("minutes or seconds above 59".to_string());
    }
    let total_seconds = degrees * 3600 + minutes * 60 + seconds;
    if total_seconds > max * 3600 {
        return Err(format!("beyond {max} degrees"));
    }
    let negative = match hemisphere.map(str::to_ascii_uppercase) {
        Some(h) if h == negative_hemi => true,
        Some(h) if h == positive_hemi => false,
        Some(h) => {
            return Err(format!(
                "hemisphere {h:?} is not {positive_hemi}/{negative_hemi}"
            ));
        }
        None => return Err("no hemisphere".to_string()),
    };
    let scale = 10_i64.pow(COORDINATE_DECIMALS);
    // degrees = total_seconds / 3600; scaled and rounded half up: (2 * x * scale + 3600) / 7200.
    let scaled = (2 * total_seconds * scale + 3600) / 7200;
    let sign = if negative && scaled != 0 { "-" } else { "" };
    let text = format!(
        "{sign}{}.{:0width$}",
        scaled / scale,
        scaled % scale,
        width = COORDINATE_DECIMALS as usize
    );
    Decimal::parse(&text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::canonical::map::MilestoneOverride;
    use crate::canonical::x12util::test_segments::{segs, sets};

    fn run_with(settings: &MappingSettings, text: &str) -> (ShipmentStatus, Mapped) {
        let mapped = map_segments(settings, &segs(text));
        match &mapped.payload {
            Payload::ShipmentStatus(s) => (s.clone(), mapped),
            other => panic!("not a shipment status: {other:?}"),
        }
    }

    fn run(text: &str) -> (ShipmentStatus, Mapped) {
        run_with(&MappingSettings::default(), text)
    }

    fn ats(s: &ShipmentStatus) -> Vec<Option<&str>> {
        s.events.iter().map(|e| e.at.as_deref()).collect()
    }

    #[test]
    fn header_references_and_events_4010() {
        let (s, m) = run(concat!(
            "ST*214*0001~B10*PRO1*SH1*RDFL~L11*BOL1*BM~L11*PO1*PO~L11*PRO-CN*CN~L11*AP1*AO~L11*X*ZZ~",
            "N1*SH*NORTHGATE*UL*0812459000216~N3*1200 GANTRY ROAD~N4*JOLIET*IL*60436*US~",
            "LX*1~AT7*AF*NS***20260108*1415*ET~MS1*JOLIET*IL*US~MS2*RDFL*T48817~AT8*G*L*412.75*3*24~",
            "LX*2~AT7*X6*NS***20260109*0630~MS1*FORT WAYNE*IN~",
            "LX*3~AT7*D1*NS***20260109*1752*UT~AT8*G*L*412.75*3*24~SE*1*0001~"
        ));
        assert_eq!(s.carrier_reference.as_deref(), Some("PRO1"));
        assert_eq!(s.shipment_id.as_deref(), Some("SH1"));
        assert_eq!(s.scac.as_deref(), Some("RDFL"));
        assert_eq!(
            s.references_extra,
            BTreeMap::from(
                [
                    ("BM", "BOL1"),
                    ("PO", "PO1"),
                    ("CN", "PRO-CN"),
                    ("AO", "AP1"),
                    ("ZZ", "X")
                ]
                .map(|(k, v)| (k.into(), v.into()))
            )
        );
        let r = &m.references;
        assert_eq!(r.pro_number.as_deref(), Some("PRO-CN"));
        assert_eq!(r.bill_of_lading.as_deref(), Some("BOL1"));
        assert_eq!(r.purchase_order.as_deref(), Some("PO1"));
        assert_eq!(r.appointment_number.as_deref(), Some("AP1"));
        assert_eq!(r.shipment_id.as_deref(), Some("SH1"));
        assert_eq!(r.scac.as_deref(), Some("RDFL"));
        assert_eq!(s.parties.len(), 1);
        assert_eq!(s.parties[0].address.city.as_deref(), Some("JOLIET"));
        assert_eq!(
            ats(&s),
            [
                Some("2026-01-08T14:15-05:00"),
                Some("2026-01-09T06:30"),
                Some("2026-01-09T17:52Z")
            ]
        );
        let e = &s.events[0];
        assert_eq!(e.status_code.as_deref(), Some("AF"));
        assert_eq!(e.reason_code.as_deref(), Some("NS"));
        assert_eq!(e.milestone, Milestone::PickedUp);
        assert_eq!(e.exception_reason, None);
        assert_eq!(e.date.as_deref(), Some("2026-01-08"));
        assert_eq!(e.time.as_deref(), Some("14:15"));
        assert_eq!(e.time_code.as_deref(), Some("ET"));
        assert_eq!(e.location.state.as_deref(), Some("IL"));
        assert_eq!(e.equipment.number.as_deref(), Some("T48817"));
        assert_eq!(e.weight.as_ref().map(Decimal::as_str), Some("412.75"));
        assert_eq!(e.weight_uom.as_deref(), Some("L"));
        assert_eq!(e.lading_quantity.as_ref().map(Decimal::as_str), Some("3"));
        assert_eq!(s.events[1].location.country, None);
        assert_eq!(s.events[1].weight, None);
        assert_eq!(s.milestone, Some(Milestone::Delivered));
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    }

    #[test]
    fn pro_number_falls_back_to_b1001_and_tracking_from_2i() {
        let (_, m) = run("ST*214*1~B10*1QK1*SH*QKPX~L11*1QK1*2I~MAN*CP*1QK2~SE*1*1~");
        assert_eq!(m.references.pro_number.as_deref(), Some("1QK1"));
        assert_eq!(m.references.tracking_numbers, ["1QK1", "1QK2"]);
    }

    #[test]
    fn generic_eastern_time_follows_daylight_saving() {
        let (s, _) = run(
            "ST*214*1~B10*P*S*C~LX*1~AT7*X6*NS***20260115*1000*ET~LX*2~AT7*X6*NS***20260715*1000*ET~SE*1*1~",
        );
        assert_eq!(
            ats(&s),
            [
                Some("2026-01-15T10:00-05:00"),
                Some("2026-07-15T10:00-04:00")
            ]
        );
    }

    #[test]
    fn numeric_time_codes_and_fixed_zones() {
        let (s, _) = run(concat!(
            "ST*214*1~B10*P*S*C~",
            "LX*1~AT7*AF*NS***20260104*1630*05~LX*2~AT7*X6*NS***20260105*2310*24~",
            "LX*3~AT7*X6*NS***20260106*0320*18~LX*4~AT7*X6*NS***20260106*0320*13~",
            "LX*5~AT7*X6*NS***20260106*0320*CD~LX*6~AT7*X6*NS***20260106*032015*NS~",
            "LX*7~AT7*X6*NS***20260106*0320*LT~SE*1*1~"
        ));
        assert_eq!(
            ats(&s),
            [
                Some("2026-01-04T16:30+05:00"),
                Some("2026-01-05T23:10-01:00"),
                Some("2026-01-06T03:20-07:00"),
                Some("2026-01-06T03:20-12:00"),
                Some("2026-01-06T03:20-05:00"),
                Some("2026-01-06T03:20:15-03:30"),
                Some("2026-01-06T03:20"),
            ]
        );
    }

    #[test]
    fn partner_default_zone_applies_only_to_local_times() {
        let settings = MappingSettings {
            default_timezone: Some(chrono_tz::America::Chicago),
            ..MappingSettings::default()
        };
        let (s, _) = run_with(
            &settings,
            "ST*214*1~B10*P*S*C~LX*1~AT7*X6*NS***20260715*1000~LX*2~AT7*X6*NS***20260715*1000*LT~LX*3~AT7*X6*NS***20260715*1000*UT~SE*1*1~",
        );
        assert_eq!(
            ats(&s),
            [
                Some("2026-07-15T10:00-05:00"),
                Some("2026-07-15T10:00-05:00"),
                Some("2026-07-15T10:00Z")
            ]
        );
    }

    #[test]
    fn bad_dates_times_and_codes_are_warnings() {
        let (s, m) = run(
            "ST*214*1~B10*P*S*C~LX*1~AT7*X6*NS***20260230*1000*ET~LX*2~AT7*X6*NS***20260301*2400~LX*3~AT7*X6*NS***20260301*1000*QQ~SE*1*1~",
        );
        assert_eq!(s.events[0].date, None);
        assert_eq!(s.events[0].at, None);
        assert_eq!(s.events[1].date.as_deref(), Some("2026-03-01"));
        assert_eq!(s.events[1].time, None);
        assert_eq!(s.events[2].at.as_deref(), Some("2026-03-01T10:00"));
        assert_eq!(m.warnings.len(), 3, "{:?}", m.warnings);
    }

    #[test]
    fn coordinates_become_signed_decimal_degrees() {
        let (s, _) = run(concat!(
            "ST*214*1~B10*P*S*C~",
            "LX*1~AT7*D1*NS***20260108*112714*20~MS1****0825643*0395217*W*N~",
            "LX*2~AT7*AF*NS***20260104*1630*05~MS1****0670036*0245136*E*N~",
            "LX*3~AT7*X6*NS***20260104*1630*05~MS1****0254032*0374428*W*S~SE*1*1~"
        ));
        let coords: Vec<(String, String)> = s
            .events
            .iter()
            .map(|e| {
                let l = &e.location;
                (
                    l.latitude.as_ref().map_or("", Decimal::as_str).to_string(),
                    l.longitude.as_ref().map_or("", Decimal::as_str).to_string(),
                )
            })
            .collect();
        let want = [
            ("39.871389", "-82.945278"),
            ("24.860000", "67.010000"),
            ("-37.741111", "-25.675556"),
        ];
        assert_eq!(coords, want.map(|(a, b)| (a.to_string(), b.to_string())));
        let json = serde_json::to_string(&s.events[1].location).unwrap();
        assert_eq!(json, r#"{"latitude":24.860000,"longitude":67.010000}"#);
    }

    #[test]
    fn bad_coordinates_are_left_out_with_a_warning() {
        let (s, m) = run(
            "ST*214*1~B10*P*S*C~LX*1~AT7*X6*NS~MS1*CITY***0825643*0395217*Q*N~LX*2~AT7*X6*NS~MS1****0825643*9995217*W*N~LX*3~AT7*X6*NS~MS1****0826043*0395217*W~SE*1*1~",
        );
        assert_eq!(s.events[0].location.city.as_deref(), Some("CITY"));
        assert_eq!(s.events[0].location.longitude, None);
        assert!(s.events[0].location.latitude.is_some());
        assert_eq!(s.events[1].location.latitude, None);
        assert!(s.events[1].location.longitude.is_some());
        assert!(s.events[2].location.is_empty());
        assert_eq!(m.warnings.len(), 4, "{:?}", m.warnings);
    }

    #[test]
    fn delivered_stays_when_an_earlier_dated_x6_comes_later() {
        let (s, _) = run(
            "ST*214*1~B10*P*S*C~LX*1~AT7*D1*NS***20260115*1120*ET~LX*2~AT7*X6*NS***20260113*1900*ET~SE*1*1~",
        );
        assert_eq!(s.events[1].milestone, Milestone::InTransit);
        assert_eq!(s.milestone, Some(Milestone::Delivered));
    }

    #[test]
    fn event_time_not_document_order_decides() {
        // Sent out of order: X6 (in transit) dated after AH (attempt) wins the state.
        let (s, _) = run(
            "ST*214*1~B10*P*S*C~LX*1~AT7*X6*NS***20260115*0900*ET~LX*2~AT7*AH*A1***20260114*1030*ET~SE*1*1~",
        );
        assert_eq!(s.milestone, Some(Milestone::InTransit));
        // Same codes, other zones: 10:30 UTC is before 09:00 ET (14:00 UTC).
        let (s, _) = run(
            "ST*214*1~B10*P*S*C~LX*1~AT7*AH*A1***20260115*1030*UT~LX*2~AT7*X6*NS***20260115*0900*ET~SE*1*1~",
        );
        assert_eq!(s.milestone, Some(Milestone::InTransit));
    }

    #[test]
    fn delivery_attempted_may_go_back_out_for_delivery() {
        let (s, _) = run(
            "ST*214*1~B10*P*S*C~LX*1~AT7*AH*A1***20260114*1030*ET~LX*2~AT7*AJ*NS***20260115*0800*ET~SE*1*1~",
        );
        assert_eq!(s.events[0].milestone, Milestone::DeliveryAttempted);
        assert_eq!(s.events[0].exception_reason.as_deref(), Some("A1"));
        assert_eq!(s.milestone, Some(Milestone::OutForDelivery));
    }

    #[test]
    fn partner_overrides_x6_and_sd_ao() {
        let settings = MappingSettings {
            milestones: BTreeMap::from([
                (
                    "X6".to_string(),
                    MilestoneOverride {
                        milestone: Some(Milestone::OutForDelivery),
                        ..MilestoneOverride::default()
                    },
                ),
                (
                    "SD+AO".to_string(),
                    MilestoneOverride {
                        milestone: Some(Milestone::Delayed),
                        exception_reason: Some("weather".into()),
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
            ]),
            ..MappingSettings::default()
        };
        let (s, m) = run_with(
            &settings,
            "ST*214*1~B10*P*S*C~LX*1~AT7*X6*NS***20260114*0800*ET~LX*2~AT7*SD*AO***20260114*0900*ET~LX*3~AT7*CD*NS***20260114*1000*ET~SE*1*1~",
        );
        assert_eq!(s.events[0].milestone, Milestone::OutForDelivery);
        assert_eq!(s.events[1].milestone, Milestone::Delayed);
        assert_eq!(s.events[1].exception_reason.as_deref(), Some("weather"));
        // Ignored: kept in events with its raw code, but not delivered.
        assert_eq!(s.events[2].status_code.as_deref(), Some("CD"));
        assert_eq!(s.events[2].milestone, Milestone::Info);
        assert_eq!(s.milestone, Some(Milestone::OutForDelivery));
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    }

    #[test]
    fn unknown_status_is_unmapped_kept_and_warned() {
        let (s, m) = run("ST*214*1~B10*P*S*C~LX*1~AT7*ZZ*NS***20260114*1600*ET~SE*1*1~");
        assert_eq!(s.events.len(), 1);
        assert_eq!(s.events[0].milestone, Milestone::Unmapped);
        assert_eq!(s.events[0].status_code.as_deref(), Some("ZZ"));
        assert_eq!(s.milestone, None);
        assert_eq!(m.warnings.len(), 1, "{:?}", m.warnings);
    }

    #[test]
    fn appointment_in_at703_and_misplaced_in_at701() {
        let (s, m) = run(
            "ST*214*1~B10*P*S*C~LX*1~AT7***AB*NA*20260114*0800~L11*APPT-1*AO~LX*2~AT7*AA*NS***20260115*0800~SE*1*1~",
        );
        let e = &s.events[0];
        assert_eq!(e.status_code, None);
        assert_eq!(e.appointment_code.as_deref(), Some("AB"));
        assert_eq!(e.milestone, Milestone::AppointmentScheduled);
        assert!(e.is_estimate);
        assert_eq!(e.at.as_deref(), Some("2026-01-14T08:00"));
        assert_eq!(s.events[1].milestone, Milestone::AppointmentScheduled);
        assert_eq!(m.references.appointment_number.as_deref(), Some("APPT-1"));
        assert_eq!(m.warnings.len(), 1, "{:?}", m.warnings);
    }

    #[test]
    fn at8_before_at7_in_an_lx_still_applies() {
        let (s, _) = run("ST*214*1~B10*P*S*C~LX*1~AT8*G*K*10*1~AT7*X6*NS~LX*2~AT7*X6*NS~SE*1*1~");
        assert_eq!(s.events[0].weight_uom.as_deref(), Some("K"));
        assert_eq!(s.events[1].weight_uom, None);
    }

    #[test]
    fn each_at8_describes_the_events_since_the_previous_one() {
        // LX-level AT8, then two CD3-style AT7/AT8 pairs in the same LX.
        let (s, _) = run(concat!(
            "ST*214*1~B10*P*S*C~LX*1~AT7*X6*NS~AT8*G*L*30*3~",
            "CD3*1~AT7*X6*NS~AT8*G*L*10*1~CD3*2~AT7*X6*NS~AT8*G*L*20*2~SE*1*1~"
        ));
        let w: Vec<_> = s
            .events
            .iter()
            .map(|e| e.weight.as_ref().map_or("", Decimal::as_str))
            .collect();
        assert_eq!(w, ["30", "10", "20"]);
    }

    #[test]
    fn an_lx_level_at8_describes_each_event_of_its_lx() {
        let (s, _) = run(concat!(
            "ST*214*1~B10*P*S*C~LX*1~AT7*X6*NS~AT7*X1*NS~AT7*D1*NS~AT8*G*L*30*3~",
            "LX*2~AT8*G*K*5*1~AT7*X6*NS~AT7*X6*NS~AT8*G*L*7*2~SE*1*1~"
        ));
        let got: Vec<_> = s
            .events
            .iter()
            .map(|e| {
                (
                    e.weight.as_ref().map_or("", Decimal::as_str),
                    e.weight_uom.as_deref(),
                    e.lading_quantity.as_ref().map_or("", Decimal::as_str),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("30", Some("L"), "3"),
                ("30", Some("L"), "3"),
                ("30", Some("L"), "3"),
                ("5", Some("K"), "1"),
                ("5", Some("K"), "1"),
            ]
        );
    }

    fn fixture(text: &str) -> Vec<(ShipmentStatus, Mapped)> {
        sets(text)
            .into_iter()
            .map(|set| {
                let m = map_segments(&MappingSettings::default(), &set);
                match &m.payload {
                    Payload::ShipmentStatus(s) => (s.clone(), m.clone()),
                    other => panic!("{other:?}"),
                }
            })
            .collect()
    }

    #[test]
    fn fixture_parcel_sets_match_readme() {
        let sets = fixture(include_str!(
            "../../tests/fixtures/x12/sets/214_parcel_4010.edi"
        ));
        let milestones: Vec<_> = sets.iter().map(|(s, _)| s.milestone).collect();
        use Milestone::*;
        assert_eq!(
            milestones,
            [
                Some(Delivered),
                Some(OutForDelivery),
                Some(InTransit),
                Some(ArrivedAtDestination),
                Some(InTransit),
                Some(ReturnedToShipper)
            ]
        );
        assert_eq!(
            sets[0].0.events[2].at.as_deref(),
            Some("2026-01-08T11:27:14-05:00")
        );
        assert_eq!(
            sets[2].0.events[1].at.as_deref(),
            Some("2026-01-05T23:10-01:00")
        );
        assert!(sets[2].0.parties.is_empty());
        assert_eq!(sets[3].0.events[0].at.as_deref(), Some("2026-01-06T14:05"));
        assert_eq!(
            sets[4].0.events[2].at.as_deref(),
            Some("2026-01-06T03:20-07:00")
        );
        assert_eq!(
            sets[0].1.references.pro_number.as_deref(),
            Some("1QK7730011842")
        );
        assert!(sets.iter().all(|(_, m)| m.warnings.is_empty()));
    }

    #[test]
    fn fixture_exceptions_match_readme() {
        let (s, m) = fixture(include_str!(
            "../../tests/fixtures/x12/sets/214_exceptions_4010.edi"
        ))
        .remove(0);
        use Milestone::*;
        let got: Vec<_> = s
            .events
            .iter()
            .map(|e| (e.milestone, e.exception_reason.as_deref(), e.is_estimate))
            .collect();
        assert_eq!(
            got,
            [
                (PickedUp, None, false),
                (Delayed, Some("AO"), false),
                (AppointmentScheduled, None, true),
                (EtaUpdated, None, true),
                (DeliveryAttempted, Some("A1"), false),
                (Exception, Some("AK"), false),
                (Unmapped, None, false),
                (Delivered, None, false),
                (InTransit, None, false),
            ]
        );
        assert_eq!(s.milestone, Some(Delivered));
        assert_eq!(m.references.pro_number.as_deref(), Some("MPW55120877"));
        assert_eq!(
            m.references.appointment_number.as_deref(),
            Some("APPT-88412")
        );
        assert_eq!(m.warnings.len(), 1, "{:?}", m.warnings);
    }

    #[test]
    fn fixture_ltl_and_5010_match_readme() {
        let (s, m) = fixture(include_str!(
            "../../tests/fixtures/x12/sets/214_ltl_4010.edi"
        ))
        .remove(0);
        assert_eq!(s.milestone, Some(Milestone::Delivered));
        assert_eq!(m.references.pro_number.as_deref(), Some("884123077"));
        assert_eq!(s.references_extra.len(), 4);
        assert_eq!(
            s.parties[1].address.lines,
            ["4480 HARTWELL INDUSTRIAL PKWY", "BUILDING C"]
        );

        let (s, m) = fixture(include_str!("../../tests/fixtures/x12/sets/214_5010.edi")).remove(0);
        assert_eq!(s.milestone, Some(Milestone::ArrivedAtDestination));
        assert!(s.parties.is_empty());
        assert_eq!(
            m.references.bill_of_lading.as_deref(),
            Some("NGL0000449107")
        );
        assert_eq!(
            m.references.purchase_order.as_deref(),
            Some("CLO-PO-7732015")
        );
        assert_eq!(
            m.references.appointment_number.as_deref(),
            Some("APPT-88533")
        );
        assert_eq!(s.events[2].at.as_deref(), Some("2026-01-21T13:40-05:00"));
        assert_eq!(
            s.events[0].weight.as_ref().map(Decimal::as_str),
            Some("980")
        );
    }
}

//! Received acknowledgments → `functional_ack` (997 and 999) and `interchange_ack` (TA1), contract §7.
//!
//! 997 and 999 share one shape: AK3/AK4/AK5 in a 997 are IK3/IK4/IK5 in a 999, and both are read
//! the same way. CTX segments (999 context) have no canonical field and are skipped. An AK3 or
//! AK4 that arrives without the loop it belongs to is kept under an empty parent, with a warning,
//! rather than dropped.

use super::common::{count, short_date, time};
use super::map::{Mapped, SetContext};
use super::record::Text;
use super::record::{
    AckStatus, AckTransaction, ElementError, FunctionalAck, InterchangeAck, Payload, References,
    SegmentError,
};
use crate::x12::segment::OwnedSegment;

/// Maps one 997 or 999 (its segments from ST to SE).
pub fn map(_ctx: &SetContext<'_>, segs: &[OwnedSegment]) -> Mapped {
    let mut ack = FunctionalAck::default();
    let mut warnings = Vec::new();
    for seg in segs {
        match seg.tag() {
            b"AK1" => {
                ack.functional_id = seg.get(1);
                ack.group_control = seg.get(2);
                ack.version = seg.get(3);
            }
            b"AK2" => ack.transactions.push(AckTransaction {
                set_id: seg.get(1),
                control: seg.get(2),
                ..AckTransaction::default()
            }),
            b"AK3" | b"IK3" => {
                let position = count(seg, 2, &mut warnings);
                let error = SegmentError {
                    segment_id: seg.get(1),
                    position,
                    loop_id: seg.get(3),
                    code: seg.get(4),
                    elements: Vec::new(),
                };
                transaction(&mut ack, &mut warnings, seg)
                    .segment_errors
                    .push(error);
            }
            b"AK4" | b"IK4" => {
                let error = element_error(seg, &mut warnings);
                let t = transaction(&mut ack, &mut warnings, seg);
                if t.segment_errors.is_empty() {
                    warnings.push(format!(
                        "{} at segment {} has no segment error before it; kept under an empty one",
                        tag(seg),
                        seg.position
                    ));
                    t.segment_errors.push(SegmentError::default());
                }
                if let Some(last) = t.segment_errors.last_mut() {
                    last.elements.push(error);
                }
            }
            b"AK5" | b"IK5" => {
                let t = transaction(&mut ack, &mut warnings, seg);
                t.status_code = seg.get(1);
                t.status = t.status_code.as_deref().map(AckStatus::from_code);
                t.errors = (2..=6).filter_map(|n| seg.get(n)).collect();
            }
            b"AK9" => {
                ack.group_status_code = seg.get(1);
                ack.group_status = ack.group_status_code.as_deref().map(AckStatus::from_code);
                ack.sets_included = count(seg, 2, &mut warnings);
                ack.sets_received = count(seg, 3, &mut warnings);
                ack.sets_accepted = count(seg, 4, &mut warnings);
                ack.group_errors = (5..=9).filter_map(|n| seg.get(n)).collect();
            }
            _ => {}
        }
    }
    Mapped {
        payload: Payload::FunctionalAck(ack),
        references: References::default(),
        warnings,
    }
}

/// The open AK2 loop, or an empty one (with a warning) when the segment came without one.
fn transaction<'a>(
    ack: &'a mut FunctionalAck,
    warnings: &mut Vec<String>,
    seg: &OwnedSegment,
) -> &'a mut AckTransaction {
    if ack.transactions.is_empty() {
        warnings.push(format!(
            "{} at segment {} has no AK2 before it; kept under an empty transaction",
            tag(seg),
            seg.position
        ));
        ack.transactions.push(AckTransaction::default());
    }
    let last = ack.transactions.len() - 1;
    &mut ack.transactions[last]
}

/// AK4/IK4: AK401 is a composite (element, component, repetition) from 4020 on.
fn element_error(seg: &OwnedSegment, warnings: &mut Vec<String>) -> ElementError {
    let mut part = |c: usize, what: &str| {
        let text = seg.get_component(1, c)?;
        let parsed = text.parse::<u64>().ok();
        if parsed.is_none() {
            warnings.push(format!(
                "{}01 {what} {text:?} is not a number; omitted",
                tag(seg)
            ));
        }
        parsed
    };
    ElementError {
        position: part(1, "element position"),
        component: part(2, "component position"),
        element_ref: seg.get(2),
        code: seg.get(3),
        bad_value: seg.get(4),
    }
}

fn tag(seg: &OwnedSegment) -> String {
    String::from_utf8_lossy(seg.tag()).into_owned()
}

/// Maps a received TA1 segment (TA101..TA105).
pub fn interchange_ack(ta1: &OwnedSegment) -> Mapped {
    let mut warnings = Vec::new();
    let mut read = |n: usize, what: &str, f: fn(&str) -> Option<Text>| {
        let raw = ta1.get(n)?;
        let value = f(&raw);
        if value.is_none() {
            warnings.push(format!("TA1{n:02} {raw:?} is not a valid {what}; omitted"));
        }
        value
    };
    // TA102 is YYMMDD; a CCYYMMDD value is unambiguous, so it is read (with a warning below).
    let long_or_short = |d: &str| {
        if d.len() == 8 {
            super::common::date(d)
        } else {
            short_date(d)
        }
    };
    let date = read(2, "date", long_or_short);
    let time = read(3, "time", |t| if t.len() == 4 { time(t) } else { None });
    if let Some(d) = ta1.get(2).filter(|d| d.len() == 8 && date.is_some()) {
        warnings.push(format!("TA102 {d:?} is sent as CCYYMMDD instead of YYMMDD"));
    }
    let status_code = ta1.get(4);
    let ack = InterchangeAck {
        interchange_control: ta1.get(1),
        date,
        time,
        status: status_code.as_deref().map(AckStatus::from_code),
        status_code,
        note_code: ta1.get(5),
    };
    Mapped {
        payload: Payload::InterchangeAck(ack),
        references: References::default(),
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::map::MappingSettings;
    use crate::canonical::test_support::{context, segments};

    fn ack(text: &str) -> (FunctionalAck, Vec<String>) {
        let segs = segments(text);
        let settings = MappingSettings::default();
        let m = context(&settings, |ctx| map(ctx, &segs));
        match m.payload {
            Payload::FunctionalAck(a) => (a, m.warnings),
            other => panic!("not a functional ack: {other:?}"),
        }
    }

    #[test]
    fn ack_997_with_segment_and_element_errors() {
        let (a, warnings) = ack(concat!(
            "ST*997*0001~AK1*OW*906~AK2*940*0001~AK5*A~AK2*940*0002~AK3*W01*12*0310*8~",
            "AK4*2*355*7*CX~AK4*1*380*6*12.5O~AK5*R*5~AK9*P*2*2*1~SE*11*0001"
        ));
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(a.functional_id.as_deref(), Some("OW"));
        assert_eq!(a.group_control.as_deref(), Some("906"));
        assert_eq!(a.version, None);
        assert_eq!(a.group_status, Some(AckStatus::PartiallyAccepted));
        assert_eq!(
            (a.sets_included, a.sets_received, a.sets_accepted),
            (Some(2), Some(2), Some(1))
        );
        assert!(a.group_errors.is_empty());
        assert_eq!(a.transactions.len(), 2);
        assert_eq!(a.transactions[0].status, Some(AckStatus::Accepted));
        assert!(a.transactions[0].segment_errors.is_empty());
        let t = &a.transactions[1];
        assert_eq!(t.status, Some(AckStatus::Rejected));
        assert_eq!(t.errors, ["5"]);
        let s = &t.segment_errors[0];
        assert_eq!(
            (
                s.segment_id.as_deref(),
                s.position,
                s.loop_id.as_deref(),
                s.code.as_deref()
            ),
            (Some("W01"), Some(12), Some("0310"), Some("8"))
        );
        assert_eq!(s.elements.len(), 2);
        assert_eq!(s.elements[0].position, Some(2));
        assert_eq!(s.elements[0].component, None);
        assert_eq!(s.elements[1].bad_value.as_deref(), Some("12.5O"));
    }

    #[test]
    fn ack_999_composite_positions_and_ctx() {
        let (a, warnings) = ack(concat!(
            "ST*999*0001*005010X231A1~AK1*SH*3188*005010VICS~AK2*856*0001*005010VICS~",
            "IK3*MEA*14*HL*8~CTX*SITUATIONAL TRIGGER*TD1*6*HL*7~IK4*4>1*355*7*ZZ~IK5*R*I5~",
            "AK9*R*1*1*0~SE*9*0001"
        ));
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(a.version.as_deref(), Some("005010VICS"));
        assert_eq!(a.group_status, Some(AckStatus::Rejected));
        let t = &a.transactions[0];
        assert_eq!(t.errors, ["I5"]);
        let e = &t.segment_errors[0].elements[0];
        assert_eq!((e.position, e.component), (Some(4), Some(1)));
        assert_eq!(e.element_ref.as_deref(), Some("355"));
        assert_eq!(e.code.as_deref(), Some("7"));
    }

    #[test]
    fn orphan_segments_are_kept_with_warnings() {
        let (a, warnings) = ack("ST*997*0001~AK1*SH*1~AK4*X*355*7~AK5*A~AK9*A*1*1*1*5*6~SE*6*0001");
        assert_eq!(a.transactions.len(), 1);
        assert_eq!(a.transactions[0].segment_errors[0].elements.len(), 1);
        assert_eq!(a.group_errors, ["5", "6"]);
        assert_eq!(warnings.len(), 3, "{warnings:?}");
    }

    #[test]
    fn ta1() {
        let seg = &segments("TA1*000000907*260105*1447*R*022")[0];
        let m = interchange_ack(seg);
        assert!(m.warnings.is_empty());
        let Payload::InterchangeAck(t) = m.payload else {
            panic!("not an interchange ack")
        };
        assert_eq!(t.interchange_control.as_deref(), Some("000000907"));
        assert_eq!(t.date.as_deref(), Some("2026-01-05"));
        assert_eq!(t.time.as_deref(), Some("14:47"));
        assert_eq!(t.status, Some(AckStatus::Rejected));
        assert_eq!(t.status_code.as_deref(), Some("R"));
        assert_eq!(t.note_code.as_deref(), Some("022"));
        let bad = interchange_ack(&segments("TA1*000000907*261305*2500*A*000")[0]);
        assert_eq!(bad.warnings.len(), 2);
        let long = interchange_ack(&segments("TA1*000000907*20110922*1447*A*000")[0]);
        assert_eq!(long.warnings.len(), 1, "{:?}", long.warnings);
        let Payload::InterchangeAck(t) = long.payload else {
            panic!("not an interchange ack")
        };
        assert_eq!(t.date.as_deref(), Some("2011-09-22"));
    }
}

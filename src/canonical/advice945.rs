//! 945 Warehouse Shipping Advice → `shipment_advice` (contract §4).
//!
//! The heading (W06, N1 loops, N9, W27) runs until the first LX. Each W12 is one line; it takes
//! its line number and SSCCs from the LX loop around it (MAN `GM` marks may come before or after
//! the W12 inside that loop). An SSCC with a wrong check digit stays on its line, as sent, but is
//! not a reference: correlating on it would match the wrong pallet.

use super::common::{
    ItemIdsBuilder, Sscc, date_at, decimal, extra_reference, party, push_unique,
    reference_qualifier, set_once,
};
use super::map::{Mapped, SetContext};
use super::record::Text;
use super::record::{AdviceLine, AdviceTotals, LineStatus, Payload, References, ShipmentAdvice};
use crate::x12::segment::OwnedSegment;

/// Maps one 945 (its segments from ST to SE).
pub fn map(_ctx: &SetContext<'_>, segs: &[OwnedSegment]) -> Mapped {
    let mut m = AdviceMapper::default();
    let mut i = 0;
    while i < segs.len() {
        let seg = &segs[i];
        if seg.is("N1") && !m.in_detail {
            let (p, used) = party(&segs[i..]);
            m.advice.parties.push(p);
            i += used.max(1);
            continue;
        }
        m.segment(seg);
        i += 1;
    }
    m.finish()
}

#[derive(Default)]
struct AdviceMapper {
    advice: ShipmentAdvice,
    refs: References,
    warnings: Vec<String>,
    in_detail: bool,
    line_number: Option<Text>,
    /// SSCCs of the open LX loop.
    sscc: Vec<Text>,
    /// Lines of the open LX loop.
    lines: Vec<AdviceLine>,
}

impl AdviceMapper {
    fn segment(&mut self, seg: &OwnedSegment) {
        match seg.tag() {
            b"W06" => self.w06(seg),
            b"N9" if !self.in_detail => {
                if let (Some(q), Some(v)) = (seg.get(1), seg.get(2)) {
                    reference_qualifier(&mut self.refs, &q, &v);
                    let extra = &mut self.advice.references_extra;
                    extra_reference(extra, &mut self.warnings, "N9", q, v);
                }
            }
            b"W27" => {
                let c = &mut self.advice.carrier;
                c.transport_method = seg.get(1);
                c.scac = seg.get(2);
                c.routing = seg.get(3);
                c.payment_method = seg.get(4);
                set_once(&mut self.refs.scac, c.scac.clone());
            }
            b"LX" => {
                self.close_lx();
                self.in_detail = true;
                self.line_number = seg.get(1);
            }
            b"MAN" if self.in_detail => {
                self.mark(seg.get(1), seg.get(2));
                self.mark(seg.get(4), seg.get(5));
            }
            b"W12" => {
                self.in_detail = true;
                let line = self.w12(seg);
                self.lines.push(line);
            }
            b"W03" => {
                self.close_lx();
                let w = &mut self.warnings;
                self.advice.totals = AdviceTotals {
                    units_shipped: decimal(seg, 1, w),
                    weight: decimal(seg, 2, w),
                    weight_uom: seg.get(3),
                    volume: decimal(seg, 4, w),
                    volume_uom: seg.get(5),
                    lading_quantity: decimal(seg, 6, w),
                };
            }
            _ => {}
        }
    }

    fn w06(&mut self, seg: &OwnedSegment) {
        let a = &mut self.advice;
        a.reporting_code = seg.get(1);
        a.order_number = seg.get(2);
        a.shipped_on = date_at(seg, 3, &mut self.warnings);
        a.shipment_id = seg.get(4);
        a.agent_shipment_id = seg.get(5);
        a.purchase_order = seg.get(6);
        set_once(&mut self.refs.order_number, a.order_number.clone());
        set_once(&mut self.refs.shipment_id, a.shipment_id.clone());
        set_once(&mut self.refs.purchase_order, a.purchase_order.clone());
    }

    /// One MAN qualifier/mark pair: `GM` is an SSCC, `CP` a carrier tracking number.
    fn mark(&mut self, qualifier: Option<Text>, mark: Option<Text>) {
        let (Some(q), Some(mark)) = (qualifier, mark) else {
            return;
        };
        match q.as_str() {
            "GM" => {
                let sscc = Sscc::read(&mark);
                if let Some(w) = sscc.warning(&mark) {
                    self.warnings.push(w);
                }
                if let Some(s) = sscc.usable() {
                    push_unique(&mut self.refs.sscc, Text::from(s));
                }
                push_unique(&mut self.sscc, Text::from(sscc.value()));
            }
            "CP" => push_unique(&mut self.refs.tracking_numbers, mark),
            _ => {}
        }
    }

    fn w12(&mut self, seg: &OwnedSegment) -> AdviceLine {
        let status_code = seg.get(1);
        let mut ids = ItemIdsBuilder::new();
        ids.case_code(seg.get(6)).pair_at(seg, 7);
        let w = &mut self.warnings;
        AdviceLine {
            line_number: self.line_number.clone(),
            status: status_code.as_deref().map(LineStatus::from_code),
            status_code,
            quantity_ordered: decimal(seg, 2, w),
            quantity_shipped: decimal(seg, 3, w),
            quantity_difference: decimal(seg, 4, w),
            uom: seg.get(5),
            item: ids.finish(),
            lot: seg.get(9),
            sscc: Vec::new(),
        }
    }

    fn close_lx(&mut self) {
        let sscc = std::mem::take(&mut self.sscc);
        for mut line in self.lines.drain(..) {
            line.sscc.clone_from(&sscc);
            self.advice.lines.push(line);
        }
    }

    fn finish(mut self) -> Mapped {
        self.close_lx();
        let a = &mut self.advice;
        a.short_shipped = a
            .lines
            .iter()
            .any(|l| l.status_code.as_deref().is_some_and(|c| c != "CC"));
        Mapped {
            payload: Payload::ShipmentAdvice(self.advice),
            references: self.refs,
            warnings: self.warnings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::map::MappingSettings;
    use crate::canonical::record::PartyRole;
    use crate::canonical::test_support::{context, segments};

    fn advice(text: &str) -> (ShipmentAdvice, References, Vec<String>) {
        let segs = segments(text);
        let settings = MappingSettings::default();
        let m = context(&settings, |ctx| map(ctx, &segs));
        match m.payload {
            Payload::ShipmentAdvice(a) => (a, m.references, m.warnings),
            other => panic!("not an advice: {other:?}"),
        }
    }

    #[test]
    fn heading_lines_sscc_and_totals() {
        let (a, refs, warnings) = advice(concat!(
            "ST*945*0001~W06*F*SO1*20260108*SH1*AG1*PO1~N1*DE*DEPOSITOR*UL*0857340000012~",
            "N9*CN*884123077~N9*BM*BOL1~W27*M*RDFL*RIDGELINE*PP~",
            "LX*1~MAN*GM*008124590001044110~W12*CC*12*12*0*CA*857340900152*VN*V1~",
            "LX*2~MAN*GM*00008124590001044127**CP*1QK7730011835~W12*PR*12.5*10*2.50*YD**SK*558~",
            "N1*ST*LINE PARTY~",
            "LX*3~W12*IS*1*1*0*GA**VN*NEW*L2025*8.4*G*L*****VN*OLD~MAN*GM*008124590001044135~",
            "W03*25.5*398.2*LB*36.1*CF*3*PL~SE*16*0001"
        ));
        assert_eq!(a.reporting_code.as_deref(), Some("F"));
        assert_eq!(a.shipped_on.as_deref(), Some("2026-01-08"));
        assert_eq!(a.agent_shipment_id.as_deref(), Some("AG1"));
        assert_eq!(a.parties.len(), 1, "line-level N1 is not a heading party");
        assert_eq!(a.parties[0].role, PartyRole::Depositor);
        assert_eq!(a.carrier.scac.as_deref(), Some("RDFL"));
        assert_eq!(a.carrier.payment_method.as_deref(), Some("PP"));
        assert_eq!(a.lines.len(), 3);
        assert_eq!(a.lines[0].status, Some(LineStatus::Complete));
        assert_eq!(a.lines[0].item.upc.as_deref(), Some("857340900152"));
        assert_eq!(a.lines[0].sscc, ["008124590001044110"]);
        let l = &a.lines[1];
        assert_eq!(l.status, Some(LineStatus::Partial));
        assert_eq!(
            l.quantity_ordered.as_ref().map(|d| d.as_str()),
            Some("12.5")
        );
        assert_eq!(
            l.quantity_difference.as_ref().map(|d| d.as_str()),
            Some("2.50")
        );
        assert_eq!(l.sscc, ["008124590001044127"], "20-digit form cut to 18");
        let l = &a.lines[2];
        assert_eq!(l.status, Some(LineStatus::Substituted));
        assert_eq!(
            l.item.vendor_item.as_deref(),
            Some("NEW"),
            "W1217/18 is not the item"
        );
        assert_eq!(l.lot.as_deref(), Some("L2025"));
        assert_eq!(l.sscc, ["008124590001044135"], "kept on the line as sent");
        assert!(a.short_shipped);
        assert_eq!(
            a.totals.lading_quantity.as_ref().map(|d| d.as_str()),
            Some("3")
        );
        assert_eq!(refs.order_number.as_deref(), Some("SO1"));
        assert_eq!(refs.shipment_id.as_deref(), Some("SH1"));
        assert_eq!(refs.purchase_order.as_deref(), Some("PO1"));
        assert_eq!(refs.pro_number.as_deref(), Some("884123077"));
        assert_eq!(refs.scac.as_deref(), Some("RDFL"));
        assert_eq!(refs.tracking_numbers, ["1QK7730011835"]);
        assert_eq!(refs.sscc, ["008124590001044110", "008124590001044127"]);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].contains("application identifier"),
            "{warnings:?}"
        );
        assert!(warnings[1].contains("wrong check digit"), "{warnings:?}");
    }

    #[test]
    fn all_complete_lines_are_not_short_shipped() {
        let (a, _, _) = advice("ST*945*0001~W06*F*SO1~LX*1~W12*CC*1*1~LX*2~W12*CC*2*2~SE*7*0001");
        assert!(!a.short_shipped);
        assert_eq!(a.lines.len(), 2);
        assert_eq!(a.lines[1].line_number.as_deref(), Some("2"));
    }

    #[test]
    fn line_statuses_map_per_contract() {
        for (code, want) in [
            ("CP", LineStatus::PartialNoBackorder),
            ("BP", LineStatus::PartialBackorder),
            ("CS", LineStatus::CompleteSubstituted),
            ("IC", LineStatus::Cancelled),
            ("CM", LineStatus::Other),
        ] {
            let (a, _, _) = advice(&format!("ST*945*0001~W06*F~LX*1~W12*{code}*1*0~SE*5*0001"));
            assert_eq!(a.lines[0].status, Some(want), "{code}");
            assert!(a.short_shipped, "{code}");
        }
    }
}

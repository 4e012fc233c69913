//! 940 Warehouse Shipping Order → `warehouse_order` (contract §3).
//!
//! The heading (W05, N1 loops, N9, G62, W66) runs until the first LX; N1/N9/G62 inside the LX
//! and W01 loops are line detail the contract has no field for, and are not mixed into the
//! heading. Every W01 is one line (an LX loop may hold several), numbered by its LX01.

use super::common::{
    ItemIdsBuilder, date_at, decimal, extra_reference, party, reference_qualifier, set_once,
};
use super::map::{Mapped, SetContext};
use super::record::Text;
use super::record::{
    OrderDates, OrderLine, OrderStatus, OrderTotals, Payload, References, WarehouseOrder,
};
use crate::x12::segment::OwnedSegment;

/// Maps one 940 (its segments from ST to SE).
pub fn map(_ctx: &SetContext<'_>, segs: &[OwnedSegment]) -> Mapped {
    let mut m = OrderMapper::default();
    let mut i = 0;
    while i < segs.len() {
        let seg = &segs[i];
        if seg.is("N1") && !m.in_detail {
            let (p, used) = party(&segs[i..]);
            m.order.parties.push(p);
            i += used.max(1);
            continue;
        }
        m.segment(seg);
        i += 1;
    }
    m.finish()
}

#[derive(Default)]
struct OrderMapper {
    order: WarehouseOrder,
    refs: References,
    warnings: Vec<String>,
    in_detail: bool,
    line_number: Option<Text>,
    line: Option<OrderLine>,
}

impl OrderMapper {
    fn segment(&mut self, seg: &OwnedSegment) {
        match seg.tag() {
            b"W05" => self.w05(seg),
            b"N9" if !self.in_detail => {
                if let (Some(q), Some(v)) = (seg.get(1), seg.get(2)) {
                    reference_qualifier(&mut self.refs, &q, &v);
                    let extra = &mut self.order.references_extra;
                    extra_reference(extra, &mut self.warnings, "N9", q, v);
                }
            }
            b"G62" if !self.in_detail => self.g62(seg),
            b"W66" => {
                let c = &mut self.order.carrier;
                c.payment_method = seg.get(1);
                c.transport_method = seg.get(2);
                c.routing = seg.get(5);
                c.scac = seg.get(10);
                set_once(&mut self.refs.scac, c.scac.clone());
            }
            b"LX" => {
                self.flush_line();
                self.in_detail = true;
                self.line_number = seg.get(1);
            }
            b"W01" => {
                self.flush_line();
                self.in_detail = true;
                self.line = Some(self.w01(seg));
            }
            b"G69" => {
                if let (Some(line), Some(text)) = (&mut self.line, seg.get(1)) {
                    line.description = Some(match line.description.take() {
                        Some(d) => compact_str::format_compact!("{d} {text}"),
                        None => text,
                    });
                }
            }
            b"W76" => {
                self.flush_line();
                let w = &mut self.warnings;
                self.order.totals = OrderTotals {
                    quantity: decimal(seg, 1, w),
                    weight: decimal(seg, 2, w),
                    weight_uom: seg.get(3),
                    volume: decimal(seg, 4, w),
                    volume_uom: seg.get(5),
                };
            }
            _ => {}
        }
    }

    fn w05(&mut self, seg: &OwnedSegment) {
        let o = &mut self.order;
        o.status_code = seg.get(1);
        o.status = o.status_code.as_deref().map(OrderStatus::from_code);
        o.order_number = seg.get(2);
        o.purchase_order = seg.get(3);
        set_once(&mut self.refs.order_number, o.order_number.clone());
        set_once(&mut self.refs.purchase_order, o.purchase_order.clone());
    }

    fn g62(&mut self, seg: &OwnedSegment) {
        let Some(qualifier) = seg.get(1) else { return };
        let Some(value) = date_at(seg, 2, &mut self.warnings) else {
            return;
        };
        let d: &mut OrderDates = &mut self.order.dates;
        let slot = match qualifier.as_str() {
            "10" => &mut d.requested_ship,
            "02" => &mut d.requested_delivery,
            "37" => &mut d.ship_not_before,
            "38" => &mut d.ship_no_later,
            "53" => &mut d.deliver_not_before,
            "54" => &mut d.deliver_no_later,
            _ => {
                let extra = &mut d.other;
                extra_reference(extra, &mut self.warnings, "G62", qualifier, value);
                return;
            }
        };
        match slot {
            None => *slot = Some(value),
            Some(first) if *first == value => {}
            Some(first) => self.warnings.push(format!(
                "G62 {qualifier} sent twice ({first}, then {value}); the first is kept"
            )),
        }
    }

    fn w01(&mut self, seg: &OwnedSegment) -> OrderLine {
        let mut ids = ItemIdsBuilder::new();
        ids.case_code(seg.get(3))
            .pair_at(seg, 4)
            .pair_at(seg, 6)
            .pair_at(seg, 15);
        OrderLine {
            line_number: self.line_number.clone(),
            quantity: decimal(seg, 1, &mut self.warnings),
            uom: seg.get(2),
            item: ids.finish(),
            description: None,
            lot: seg.get(13),
        }
    }

    fn flush_line(&mut self) {
        if let Some(line) = self.line.take() {
            self.order.lines.push(line);
        }
    }

    fn finish(mut self) -> Mapped {
        self.flush_line();
        Mapped {
            payload: Payload::WarehouseOrder(self.order),
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

    fn order(text: &str) -> (WarehouseOrder, References, Vec<String>) {
        let segs = segments(text);
        let settings = MappingSettings::default();
        let m = context(&settings, |ctx| map(ctx, &segs));
        match m.payload {
            Payload::WarehouseOrder(o) => (o, m.references, m.warnings),
            other => panic!("not an order: {other:?}"),
        }
    }

    #[test]
    fn heading_lines_and_totals() {
        let (o, refs, warnings) = order(concat!(
            "ST*940*0001~W05*F*SO1*PO1~N1*ST*STORE*92*0117~N3*1 MAIN ST*UNIT B~N4*COLUMBUS*OH*43228*US~",
            "N1*WH*DC~N9*BM*BOL1~N9*ZZ*X~G62*10*20260108~G62*99*20260102~G62*54*20260230~",
            "W66*CC*U***QUILLEX*****QKPX~LX*1~W01*12.5*YD**SK*558*UP*857340312078~G69*GREY~G69*THROW~",
            "N9*LI*LINE-REF~G62*02*20260109~W01*0.125*GA**VN*V1********L1**UK*10857340401182~",
            "LX*2~W01*6*CA*857340900152~W76*18.625*48*LB~SE*20*0001"
        ));
        assert_eq!(o.status, Some(OrderStatus::Cancel));
        assert_eq!(o.status_code.as_deref(), Some("F"));
        assert_eq!(o.parties.len(), 2);
        assert_eq!(o.parties[0].role, PartyRole::ShipTo);
        assert_eq!(o.parties[0].address.lines, ["1 MAIN ST", "UNIT B"]);
        assert_eq!(o.parties[1].role, PartyRole::Warehouse);
        assert_eq!(
            o.references_extra.len(),
            2,
            "line-level N9 stays out of the heading"
        );
        assert_eq!(o.dates.requested_ship.as_deref(), Some("2026-01-08"));
        assert_eq!(o.dates.requested_delivery, None, "line-level G62 stays out");
        assert_eq!(o.dates.deliver_no_later, None, "invalid date omitted");
        assert_eq!(o.dates.other["99"], "2026-01-02");
        assert!(warnings.iter().any(|w| w.contains("G6202")), "{warnings:?}");
        assert_eq!(o.carrier.scac.as_deref(), Some("QKPX"));
        assert_eq!(o.carrier.payment_method.as_deref(), Some("CC"));
        assert_eq!(o.lines.len(), 3);
        let l = &o.lines[0];
        assert_eq!(l.line_number.as_deref(), Some("1"));
        assert_eq!(l.quantity.as_ref().map(|d| d.as_str()), Some("12.5"));
        assert_eq!(l.item.sku.as_deref(), Some("558"));
        assert_eq!(l.item.upc.as_deref(), Some("857340312078"));
        assert_eq!(l.description.as_deref(), Some("GREY THROW"));
        let l = &o.lines[1];
        assert_eq!(l.line_number.as_deref(), Some("1"), "second W01 of LX 1");
        assert_eq!(l.quantity.as_ref().map(|d| d.as_str()), Some("0.125"));
        assert_eq!(l.lot.as_deref(), Some("L1"));
        assert_eq!(l.item.gtin.as_deref(), Some("10857340401182"));
        assert_eq!(o.lines[2].item.upc.as_deref(), Some("857340900152"));
        assert_eq!(
            o.totals.quantity.as_ref().map(|d| d.as_str()),
            Some("18.625")
        );
        assert_eq!(o.totals.volume, None);
        assert_eq!(refs.order_number.as_deref(), Some("SO1"));
        assert_eq!(refs.purchase_order.as_deref(), Some("PO1"));
        assert_eq!(refs.bill_of_lading.as_deref(), Some("BOL1"));
        assert_eq!(refs.scac.as_deref(), Some("QKPX"));
    }

    #[test]
    fn status_codes_map_per_contract() {
        for (code, want) in [
            ("N", OrderStatus::Original),
            ("R", OrderStatus::Change),
            ("F", OrderStatus::Cancel),
            ("C", OrderStatus::Confirmation),
            ("D", OrderStatus::Delete),
            ("L", OrderStatus::Other),
        ] {
            let (o, _, _) = order(&format!("ST*940*0001~W05*{code}*SO1~SE*3*0001"));
            assert_eq!(o.status, Some(want), "{code}");
        }
    }

    #[test]
    fn bad_numbers_warn_and_are_omitted() {
        let (o, _, warnings) = order("ST*940*0001~W05*N*SO1~LX*1~W01*1O*EA~SE*5*0001");
        assert_eq!(o.lines[0].quantity, None);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("W0101"), "{warnings:?}");
    }
}

//! 856 Ship Notice/Manifest → `ship_notice` (contract §5): the HL tree rebuilt from HL01/HL02, then flattened.
//!
//! Invariants:
//! - Parentage comes only from HL02 (never from document order): a child may come before or
//!   after its siblings, or after another order's subtree (quirk 28). HL02 naming no HL, or a
//!   loop of parents, is a warning; those levels are flattened as top levels and nothing panics.
//! - Every pass is iterative (an explicit stack; each HL is visited at most once), so memory and
//!   time are linear in the segments whatever the depth an untrusted tree claims.
//! - Each item HL produces exactly one item in the output, so no SN1 quantity is ever counted
//!   twice. Packs are repeated only as containers (an SSCC may appear in more than one order
//!   when a carton holds several orders), never with the same item twice.
//!
//! Flattening, by level, walking down the tree with what the path above has set:
//! - `O` opens an order (orders with the same PRF01 merge into one, so a PO packed in two
//!   cartons under structure 0003 is one order with two packs). If a pack encloses it
//!   (0003: S>T>P>O>I, S>P>O>I) the order gets that pack (SSCC and tare), and the items below
//!   go into it: the carton is listed in each order it holds items of, with that order's items.
//! - `T` sets the tare SSCC that packs below it carry as `tare_sscc` (0001 S>O>T>P>I).
//! - `P` opens a pack in the enclosing order; above any order it waits for the orders below.
//! - `I` goes into the enclosing pack, else into the order's `items` (0004 S>O>I).
//! - 0002 (S>O>I>P, packs under items): the item goes to the order's `items` with its SN1
//!   quantity (the quantity of the item across all its cartons: copying it into each pack would
//!   multiply it, splitting it would invent numbers), and each pack under the item is listed in
//!   the order's `packs` (SSCC, tare) with `items: []`. The item↔carton link has no v1 field.
//! - An item with no order above it is put in one order without `purchase_order` (warning).
//! - `S` and unknown levels (`Q`, ...) pass the context through unchanged.

use std::borrow::Cow;

use rustc_hash::FxHashMap;

use super::decimal::Decimal;
use super::map::{Mapped, MappingSettings, SetContext};
use super::record::Text;
use super::record::{
    Carrier, NoticeItem, NoticeOrder, NoticeTotals, Pack, Packaging, Payload, Purpose, ShipNotice,
};
use super::x12util::{
    DateTimeParts, PartyReader, ReferenceCollector, decimal, format_date, format_offset,
    item_ids_from_pairs, parse_date, resolve_offset,
};
use crate::x12::segment::OwnedSegment;

/// Maps one accepted 856 set.
pub fn map(ctx: &SetContext<'_>, segs: &[OwnedSegment]) -> Mapped {
    map_segments(ctx.settings, segs)
}

/// Maps one 856 set's segments (ST..SE). The settings are not used by the 856 yet.
pub fn map_segments(_settings: &MappingSettings, segs: &[OwnedSegment]) -> Mapped {
    let mut warnings = Vec::new();
    let mut scan = Scan::read(segs, &mut warnings);
    let tree = Tree::build(&scan.nodes, &mut warnings);
    let items = scan
        .nodes
        .iter_mut()
        .map(|n| std::mem::take(&mut n.item))
        .collect();
    let orders = Flattener::run(&scan.nodes, items, &tree, &mut warnings);

    let Scan {
        mut notice,
        nodes,
        refs,
        parties,
        hl_count,
        first_scac,
    } = scan;
    let mut refs = refs.refs;
    refs.shipment_id = notice.shipment_id.clone();
    refs.scac = first_scac;
    if let Some(po) = orders.iter().find_map(|o| o.purchase_order.clone()) {
        refs.purchase_order = Some(po);
    }
    notice.parties = parties.finish();
    notice.orders = orders;
    notice.totals = NoticeTotals {
        hl_count,
        hl_count_actual: Some(nodes.len() as u64),
    };
    Mapped {
        payload: Payload::ShipNotice(notice),
        references: refs,
        warnings,
    }
}

/// One HL level as read; its ids borrow from the set's segments.
#[derive(Debug, Default)]
struct Node<'s> {
    /// HL01.
    id: Cow<'s, str>,
    /// HL02.
    parent: Option<Cow<'s, str>>,
    /// HL03, upper case.
    level: Cow<'s, str>,
    /// PRF01 / PRF04 (order levels).
    purchase_order: Option<Text>,
    order_date: Option<Text>,
    /// First MAN GM, normalised when it is numeric.
    sscc: Option<Text>,
    /// LIN/SN1/PID (item levels).
    item: NoticeItem,
    seen_lin: bool,
    seen_sn1: bool,
}

/// The linear pass: header fields, HL levels and their segments, references, parties.
struct Scan<'s> {
    notice: ShipNotice,
    nodes: Vec<Node<'s>>,
    refs: ReferenceCollector,
    parties: PartyReader,
    hl_count: Option<Decimal>,
    first_scac: Option<Text>,
}

impl<'s> Scan<'s> {
    fn read(segs: &'s [OwnedSegment], warnings: &mut Vec<String>) -> Scan<'s> {
        let mut s = Scan {
            notice: ShipNotice::default(),
            // Nodes are large: sized once rather than moved on every growth.
            nodes: Vec::with_capacity(segs.iter().filter(|s| s.is("HL")).count()),
            refs: ReferenceCollector::default(),
            parties: PartyReader::default(),
            hl_count: None,
            first_scac: None,
        };
        let mut seen = Seen::default();
        for seg in segs {
            s.segment(seg, &mut seen, warnings);
        }
        for node in &s.nodes {
            if node.level != "I" && node.seen_sn1 {
                warnings.push(format!(
                    "HL {} ({}) carries SN1 item detail outside an item level; not mapped",
                    node.id, node.level
                ));
            }
        }
        s
    }

    fn segment(&mut self, seg: &'s OwnedSegment, seen: &mut Seen, warnings: &mut Vec<String>) {
        let at_shipment = self.nodes.last().is_none_or(|n| n.level == "S");
        if seg.is("HL") {
            self.parties.close();
            let level = seg.text(3).unwrap_or_default();
            let level = if level.bytes().any(|b| b.is_ascii_lowercase()) {
                Cow::Owned(level.to_ascii_uppercase())
            } else {
                level
            };
            self.nodes.push(Node {
                id: seg.text(1).unwrap_or_default(),
                parent: seg.text(2),
                level,
                ..Node::default()
            });
            return;
        }
        if at_shipment {
            self.parties.feed(seg);
        }
        match seg.tag() {
            b"BSN" if !seen.bsn => {
                seen.bsn = true;
                let n = &mut self.notice;
                n.purpose_code = seg.get(1);
                n.purpose = n.purpose_code.as_deref().map(Purpose::from_code);
                n.shipment_id = seg.get(2);
                n.issued_at = DateTimeParts::read(seg, 3, 4, warnings).local_text();
                n.structure_code = seg.get(5);
            }
            b"DTM" => {
                let slot = match seg.get(1).as_deref() {
                    Some("011") => &mut self.notice.shipped_at,
                    Some("017") => &mut self.notice.estimated_delivery,
                    _ => return,
                };
                if slot.is_none() {
                    *slot = dtm_datetime(seg, warnings);
                }
            }
            b"TD1" if !seen.td1 => {
                seen.td1 = true;
                self.notice.packaging = Packaging {
                    code: seg.get(1),
                    lading_quantity: decimal(seg, 2, warnings),
                    weight: decimal(seg, 7, warnings),
                    weight_uom: seg.get(8),
                };
            }
            b"TD5" => {
                if self.first_scac.is_none() {
                    self.first_scac = seg.get(3);
                }
                if !seen.td5 {
                    seen.td5 = true;
                    self.notice.carrier = Carrier {
                        scac: seg.get(3),
                        transport_method: seg.get(4),
                        routing: seg.get(5),
                        payment_method: None,
                    };
                }
            }
            b"REF" => {
                if let (Some(q), Some(v)) = (seg.get(1), seg.get(2)) {
                    self.refs.qualified(&q.to_ascii_uppercase(), v);
                }
            }
            b"MAN" => {
                let marks = self.refs.man(seg, warnings);
                if let Some(node) = self.nodes.last_mut()
                    && node.sscc.is_none()
                {
                    node.sscc = marks.first().map(|m| Text::from(m.text()));
                }
            }
            b"CTT" if self.hl_count.is_none() => self.hl_count = decimal(seg, 1, warnings),
            _ => {
                if let Some(node) = self.nodes.last_mut() {
                    node_segment(node, seg, warnings);
                }
            }
        }
    }
}

/// First-occurrence flags for header segments.
#[derive(Default)]
struct Seen {
    bsn: bool,
    td1: bool,
    td5: bool,
}

/// Order and item segments of an HL level (the first of each counts).
fn node_segment(node: &mut Node<'_>, seg: &OwnedSegment, warnings: &mut Vec<String>) {
    match seg.tag() {
        b"PRF" if node.purchase_order.is_none() => {
            node.purchase_order = seg.get(1);
            node.order_date = seg.get(4).and_then(|d| {
                let date = parse_date(&d).map(format_date);
                if date.is_none() {
                    warnings.push(format!("PRF04 {d:?} is not a valid date; left out"));
                }
                date
            });
        }
        b"LIN" if !node.seen_lin => {
            node.seen_lin = true;
            node.item.item = item_ids_from_pairs(seg, 2);
        }
        b"SN1" if !node.seen_sn1 => {
            node.seen_sn1 = true;
            node.item.quantity_shipped = decimal(seg, 2, warnings);
            node.item.uom = seg.get(3);
            node.item.quantity_ordered = decimal(seg, 5, warnings);
        }
        b"PID" if node.item.description.is_none() => node.item.description = seg.get(5),
        _ => {}
    }
}

/// DTM02/DTM03 as a datetime, with an offset only when DTM04 states the zone.
fn dtm_datetime(seg: &OwnedSegment, warnings: &mut Vec<String>) -> Option<Text> {
    let when = DateTimeParts::read(seg, 2, 3, warnings);
    let text = when.local_text()?;
    let (Some(local), Some(_)) = (when.naive(), when.time()) else {
        return Some(text);
    };
    let Some(code) = seg.get(4) else {
        return Some(text);
    };
    match resolve_offset(Some(&code), local, None) {
        Ok(Some(o)) => Some(compact_str::format_compact!("{text}{}", format_offset(o))),
        Ok(None) => Some(text),
        Err(w) => {
            warnings.push(format!("DTM04: {w}"));
            Some(text)
        }
    }
}

/// The HL tree: children per level (document order) and the levels to start from. Children are
/// stored flat: those of level `i` are `child_list[child_start[i]..child_start[i + 1]]`.
struct Tree {
    child_start: Vec<usize>,
    child_list: Vec<usize>,
    roots: Vec<usize>,
}

impl Tree {
    fn build(nodes: &[Node<'_>], warnings: &mut Vec<String>) -> Tree {
        let mut index: FxHashMap<&str, usize> = FxHashMap::default();
        index.reserve(nodes.len());
        for (i, n) in nodes.iter().enumerate() {
            if n.id.is_empty() {
                continue;
            }
            if index.contains_key(n.id.as_ref()) {
                warnings.push(format!(
                    "HL01 {} is used twice; children go to its first use",
                    n.id
                ));
            } else {
                index.insert(&n.id, i);
            }
        }
        let mut parent_of: Vec<Option<usize>> = Vec::with_capacity(nodes.len());
        let mut roots = Vec::new();
        for (i, n) in nodes.iter().enumerate() {
            let parent = match n.parent.as_deref() {
                None => None,
                Some(p) => match index.get(p) {
                    Some(&parent) if parent != i => Some(parent),
                    _ => {
                        warnings.push(format!(
                            "HL {} names parent {p}, which is not an HL of this set; flattened as a top level",
                            n.id
                        ));
                        None
                    }
                },
            };
            if parent.is_none() {
                roots.push(i);
            }
            parent_of.push(parent);
        }
        let mut child_start = vec![0usize; nodes.len() + 1];
        for p in parent_of.iter().flatten() {
            child_start[p + 1] += 1;
        }
        for i in 0..nodes.len() {
            child_start[i + 1] += child_start[i];
        }
        let mut fill = child_start.clone();
        let mut child_list = vec![0usize; child_start[nodes.len()]];
        for (i, p) in parent_of.iter().enumerate() {
            if let Some(p) = *p {
                child_list[fill[p]] = i;
                fill[p] += 1;
            }
        }
        Tree {
            child_start,
            child_list,
            roots,
        }
    }

    /// The children of level `i`, in document order.
    fn children(&self, i: usize) -> &[usize] {
        match (self.child_start.get(i), self.child_start.get(i + 1)) {
            (Some(&a), Some(&b)) => self.child_list.get(a..b).unwrap_or(&[]),
            _ => &[],
        }
    }
}

/// Where the path above an HL has put us.
#[derive(Debug, Clone, Default)]
struct Context {
    /// Index into the output orders.
    order: Option<usize>,
    /// The nearest enclosing tare (T) level, whose SSCC packs below carry.
    tare: Option<usize>,
    /// The nearest enclosing pack (its HL index), placed or waiting for an order.
    pack: Option<usize>,
    /// The tare level enclosing that pack.
    pack_tare: Option<usize>,
    /// Where that pack sits in the current order.
    pack_slot: Option<(usize, usize)>,
}

struct Flattener<'a> {
    nodes: &'a [Node<'a>],
    /// Each item level's item, taken out when it is placed (each is placed once).
    items: Vec<NoticeItem>,
    orders: Vec<NoticeOrder>,
    by_po: FxHashMap<&'a str, usize>,
    /// (order, pack HL) → index in that order's packs.
    pack_slots: FxHashMap<(usize, usize), usize>,
    orphan_order: Option<usize>,
    unknown_levels: Vec<Text>,
}

impl<'a> Flattener<'a> {
    fn run(
        nodes: &'a [Node<'a>],
        items: Vec<NoticeItem>,
        tree: &Tree,
        warnings: &mut Vec<String>,
    ) -> Vec<NoticeOrder> {
        let mut f = Flattener {
            nodes,
            items,
            orders: Vec::new(),
            by_po: FxHashMap::default(),
            pack_slots: FxHashMap::with_capacity_and_hasher(nodes.len(), Default::default()),
            orphan_order: None,
            unknown_levels: Vec::new(),
        };
        let mut visited = vec![false; nodes.len()];
        let mut is_root = vec![false; nodes.len()];
        for &r in &tree.roots {
            is_root[r] = true;
        }
        let mut stack: Vec<(usize, Context)> = Vec::new();
        // Roots first; then whatever a loop of HL02 parents kept out of reach.
        let starts = tree.roots.iter().copied().chain(0..nodes.len());
        for start in starts {
            if visited[start] {
                continue;
            }
            if !is_root[start] {
                warnings.push(format!(
                    "HL {} is not reachable from a top level (its parents form a loop); flattened as a top level",
                    nodes[start].id
                ));
            }
            stack.push((start, Context::default()));
            while let Some((i, ctx)) = stack.pop() {
                if std::mem::replace(&mut visited[i], true) {
                    continue;
                }
                let ctx = f.visit(i, ctx, warnings);
                for &child in tree.children(i).iter().rev() {
                    if !visited[child] {
                        stack.push((child, ctx.clone()));
                    }
                }
            }
        }
        f.orders
    }

    fn visit(&mut self, i: usize, mut ctx: Context, warnings: &mut Vec<String>) -> Context {
        let node = &self.nodes[i];
        match node.level.as_ref() {
            "S" => {}
            "O" => {
                let order = self.order_for(node);
                ctx.order = Some(order);
                ctx.pack_slot = ctx.pack.map(|p| (order, self.pack_in(order, p, &ctx)));
            }
            "T" => ctx.tare = Some(i),
            "P" => {
                ctx.pack = Some(i);
                ctx.pack_tare = ctx.tare;
                ctx.pack_slot = ctx.order.map(|o| (o, self.pack_in(o, i, &ctx)));
            }
            "I" => self.place_item(i, &ctx, warnings),
            other => {
                if !self.unknown_levels.iter().any(|l| l == other) {
                    self.unknown_levels.push(Text::from(other));
                    warnings.push(format!(
                        "HL level {other:?} is not mapped; its children are flattened into the level above"
                    ));
                }
            }
        }
        ctx
    }

    fn order_for(&mut self, node: &'a Node<'a>) -> usize {
        if let Some(po) = &node.purchase_order
            && let Some(&o) = self.by_po.get(po.as_str())
        {
            return o;
        }
        let o = self.orders.len();
        self.orders.push(NoticeOrder {
            purchase_order: node.purchase_order.clone(),
            order_date: node.order_date.clone(),
            packs: Vec::new(),
            items: Vec::new(),
        });
        if let Some(po) = &node.purchase_order {
            self.by_po.insert(po.as_str(), o);
        }
        o
    }

    /// The pack made from HL `pack` in order `order`, created on first use.
    fn pack_in(&mut self, order: usize, pack: usize, ctx: &Context) -> usize {
        if let Some(&slot) = self.pack_slots.get(&(order, pack)) {
            return slot;
        }
        let packs = &mut self.orders[order].packs;
        packs.push(Pack {
            sscc: self.nodes[pack].sscc.clone(),
            tare_sscc: ctx.pack_tare.and_then(|t| self.nodes[t].sscc.clone()),
            items: Vec::new(),
        });
        let slot = packs.len() - 1;
        self.pack_slots.insert((order, pack), slot);
        slot
    }

    fn place_item(&mut self, i: usize, ctx: &Context, warnings: &mut Vec<String>) {
        let item = self
            .items
            .get_mut(i)
            .map(std::mem::take)
            .unwrap_or_default();
        let (order, pack) = match (ctx.order, ctx.pack_slot, ctx.pack) {
            (_, Some((o, p)), _) => (o, Some(p)),
            (Some(o), None, _) => (o, None),
            (None, None, pack) => {
                warnings.push(format!(
                    "HL {} (I) has no order above it; listed under an order without purchase_order",
                    self.nodes[i].id
                ));
                let o = self.orphan_order();
                (o, pack.map(|p| self.pack_in(o, p, ctx)))
            }
        };
        let target = &mut self.orders[order];
        match pack.and_then(|p| target.packs.get_mut(p)) {
            Some(pack) => pack.items.push(item),
            None => target.items.push(item),
        }
    }

    fn orphan_order(&mut self) -> usize {
        if let Some(o) = self.orphan_order {
            return o;
        }
        self.orders.push(NoticeOrder::default());
        let o = self.orders.len() - 1;
        self.orphan_order = Some(o);
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::x12util::test_segments::{segs, sets};

    fn run(text: &str) -> (ShipNotice, Mapped) {
        let mapped = map_segments(&MappingSettings::default(), &segs(text));
        match &mapped.payload {
            Payload::ShipNotice(n) => (n.clone(), mapped),
            other => panic!("not a ship notice: {other:?}"),
        }
    }

    fn qty(item: &NoticeItem) -> &str {
        item.quantity_shipped.as_ref().map_or("", |d| d.as_str())
    }

    /// Every SN102 of the output, to prove nothing is duplicated.
    fn all_quantities(n: &ShipNotice) -> Vec<String> {
        let mut q: Vec<String> = n
            .orders
            .iter()
            .flat_map(|o| {
                o.items
                    .iter()
                    .chain(o.packs.iter().flat_map(|p| p.items.iter()))
                    .map(|i| qty(i).to_string())
            })
            .collect();
        q.sort();
        q
    }

    const HEAD: &str = "ST*856*0001~BSN*00*SH1*20260106*1545*";

    #[test]
    fn header_fields_and_references() {
        let (n, m) = run(concat!(
            "ST*856*0001~BSN*05*SH1*20260106*163045*0001~DTM*011*20260106*1545*ET~DTM*017*20260109~",
            "HL*1**S*1~TD1*CTN25*3****G*184.6*LB~TD5*B*2*RDFL*M*RIDGELINE~TD5*B*2*XXXX~",
            "REF*BM*BOL1~REF*CN*PRO1~REF*2I*TRK1~REF*LO*LD1~REF*AO*AP1~REF*PK*IGNORED~",
            "N1*ST*DC 42*92*0042~N3*9100 BLVD~N4*GROVEPORT*OH*43125*US~N1*SU*HOLLOWAY~",
            "HL*2*1*O*1~PRF*PO1***20251228~N1*BY*ORDER LEVEL BUYER~",
            "HL*3*2*P*1~MAN*GM*008682150000041016**CP*TRK2~",
            "HL*4*3*I*0~LIN**UP*868215100249~SN1**24*EA~",
            "CTT*4~SE*20*0001~"
        ));
        assert_eq!(n.purpose, Some(Purpose::Replace));
        assert_eq!(n.purpose_code.as_deref(), Some("05"));
        assert_eq!(n.issued_at.as_deref(), Some("2026-01-06T16:30:45"));
        assert_eq!(n.structure_code.as_deref(), Some("0001"));
        assert_eq!(n.shipped_at.as_deref(), Some("2026-01-06T15:45-05:00"));
        assert_eq!(n.estimated_delivery.as_deref(), Some("2026-01-09"));
        assert_eq!(n.carrier.scac.as_deref(), Some("RDFL"));
        assert_eq!(n.carrier.transport_method.as_deref(), Some("M"));
        assert_eq!(n.carrier.routing.as_deref(), Some("RIDGELINE"));
        assert_eq!(n.packaging.code.as_deref(), Some("CTN25"));
        assert_eq!(
            n.packaging.lading_quantity.as_ref().map(Decimal::as_str),
            Some("3")
        );
        assert_eq!(
            n.packaging.weight.as_ref().map(Decimal::as_str),
            Some("184.6")
        );
        assert_eq!(n.packaging.weight_uom.as_deref(), Some("LB"));
        // Shipment-level parties only; the order-level BY has no v1 field.
        assert_eq!(n.parties.len(), 2);
        assert_eq!(n.parties[0].address.lines, ["9100 BLVD"]);
        assert_eq!(n.parties[1].code.as_deref(), Some("SU"));
        let r = &m.references;
        assert_eq!(r.shipment_id.as_deref(), Some("SH1"));
        assert_eq!(r.purchase_order.as_deref(), Some("PO1"));
        assert_eq!(r.bill_of_lading.as_deref(), Some("BOL1"));
        assert_eq!(r.pro_number.as_deref(), Some("PRO1"));
        assert_eq!(r.load_number.as_deref(), Some("LD1"));
        assert_eq!(r.appointment_number.as_deref(), Some("AP1"));
        assert_eq!(r.scac.as_deref(), Some("RDFL"));
        assert_eq!(r.tracking_numbers, ["TRK1", "TRK2"]);
        assert_eq!(r.sscc, ["008682150000041016"]);
        assert_eq!(n.orders[0].order_date.as_deref(), Some("2025-12-28"));
        assert_eq!(n.totals.hl_count.as_ref().map(Decimal::as_str), Some("4"));
        assert_eq!(n.totals.hl_count_actual, Some(4));
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    }

    #[test]
    fn structure_0001_pick_pack_children_listed_after_another_order() {
        // HL 6 (parent 3) and its item come after order 5's subtree; HL 7 is listed before its
        // sibling pack 4's item.
        let (n, m) = run(&format!(
            "{HEAD}0001~HL*1**S*1~\
             HL*2*1*O*1~PRF*PO-A~\
             HL*3*2*T*1~MAN*GM*108682150000041006~\
             HL*4*3*P*1~MAN*GM*008682150000041016~\
             HL*7*6*I*0~SN1**16*EA~\
             HL*5*1*O*1~PRF*PO-B~\
             HL*8*5*P*1~MAN*GM*008682150000041030~\
             HL*9*8*I*0~SN1**12*EA~\
             HL*6*3*P*1~MAN*GM*008682150000041023~\
             HL*10*4*I*0~SN1**24*EA~\
             HL*11*6*I*0~SN1**8*EA~CTT*11~SE*1*0001~"
        ));
        assert_eq!(n.orders.len(), 2);
        let a = &n.orders[0];
        assert_eq!(a.purchase_order.as_deref(), Some("PO-A"));
        assert_eq!(a.packs.len(), 2);
        assert_eq!(a.packs[0].sscc.as_deref(), Some("008682150000041016"));
        assert_eq!(a.packs[0].tare_sscc.as_deref(), Some("108682150000041006"));
        assert_eq!(a.packs[0].items.iter().map(qty).collect::<Vec<_>>(), ["24"]);
        assert_eq!(a.packs[1].sscc.as_deref(), Some("008682150000041023"));
        assert_eq!(a.packs[1].tare_sscc.as_deref(), Some("108682150000041006"));
        assert_eq!(
            a.packs[1].items.iter().map(qty).collect::<Vec<_>>(),
            ["16", "8"]
        );
        assert!(a.items.is_empty());
        let b = &n.orders[1];
        assert_eq!(b.packs.len(), 1);
        assert_eq!(b.packs[0].tare_sscc, None);
        assert_eq!(b.packs[0].items.iter().map(qty).collect::<Vec<_>>(), ["12"]);
        assert_eq!(all_quantities(&n), ["12", "16", "24", "8"]);
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    }

    #[test]
    fn children_listed_before_their_parent_are_still_attached() {
        let (n, _) = run(&format!(
            "{HEAD}0004~HL*3*2*I*0~SN1**5*EA~HL*1**S*1~HL*2*1*O*1~PRF*PO-X~HL*4*2*I*0~SN1**6*EA~SE*1*0001~"
        ));
        assert_eq!(n.orders.len(), 1);
        assert_eq!(
            n.orders[0].items.iter().map(qty).collect::<Vec<_>>(),
            ["5", "6"]
        );
    }

    #[test]
    fn structure_0002_items_keep_quantities_packs_listed_empty() {
        let (n, m) = run(&format!(
            "{HEAD}0002~HL*1**S*1~HL*2*1*O*1~PRF*PO-2~\
             HL*3*2*I*1~LIN**UP*868215100249~SN1**48*EA**48*EA~\
             HL*4*3*P*0~MAN*GM*008682150000041313~HL*5*3*P*0~MAN*GM*008682150000041320~\
             HL*6*2*I*1~SN1**24*EA~HL*7*6*P*0~MAN*GM*008682150000041337~SE*1*0001~"
        ));
        let o = &n.orders[0];
        assert_eq!(o.items.iter().map(qty).collect::<Vec<_>>(), ["48", "24"]);
        let ssccs: Vec<_> = o
            .packs
            .iter()
            .map(|p| p.sscc.as_deref().unwrap_or(""))
            .collect();
        assert_eq!(
            ssccs,
            [
                "008682150000041313",
                "008682150000041320",
                "008682150000041337"
            ]
        );
        assert!(o.packs.iter().all(|p| p.items.is_empty()));
        assert_eq!(all_quantities(&n), ["24", "48"]);
        assert_eq!(m.references.sscc.len(), 3);
    }

    #[test]
    fn structure_0003_packs_above_orders_merge_by_po() {
        let (n, m) = run(&format!(
            "{HEAD}0003~HL*1**S*1~\
             HL*2*1*T*1~MAN*GM*108682150000041402~\
             HL*3*2*P*1~MAN*GM*008682150000041412~HL*4*3*O*1~PRF*PO-55~HL*5*4*I*0~SN1**24*EA~\
             HL*6*2*P*1~MAN*GM*008682150000041429~HL*7*6*O*1~PRF*PO-55~HL*8*7*I*0~SN1**16*EA~\
             HL*12*7*I*0~SN1**4*EA~\
             HL*9*1*P*1~MAN*GM*008682150000041436~\
             HL*10*9*O*1~PRF*PO-62~HL*11*10*I*0~SN1**12*EA~\
             HL*13*9*O*1~PRF*PO-55~HL*14*13*I*0~SN1**2*EA~SE*1*0001~"
        ));
        assert_eq!(n.orders.len(), 2, "{:?}", n.orders);
        let a = &n.orders[0];
        assert_eq!(a.purchase_order.as_deref(), Some("PO-55"));
        let packs: Vec<_> = a
            .packs
            .iter()
            .map(|p| {
                (
                    p.sscc.as_deref().unwrap_or_default().to_string(),
                    p.tare_sscc.as_deref().map(str::to_string),
                    p.items.iter().map(qty).collect::<Vec<_>>(),
                )
            })
            .collect();
        assert_eq!(
            packs,
            [
                (
                    "008682150000041412".to_string(),
                    Some("108682150000041402".to_string()),
                    vec!["24"]
                ),
                (
                    "008682150000041429".to_string(),
                    Some("108682150000041402".to_string()),
                    vec!["16", "4"]
                ),
                // The mixed carton 9 appears in both orders, each with its own items.
                ("008682150000041436".to_string(), None, vec!["2"]),
            ]
        );
        let b = &n.orders[1];
        assert_eq!(b.purchase_order.as_deref(), Some("PO-62"));
        assert_eq!(b.packs.len(), 1);
        assert_eq!(b.packs[0].sscc.as_deref(), Some("008682150000041436"));
        assert_eq!(b.packs[0].items.iter().map(qty).collect::<Vec<_>>(), ["12"]);
        assert_eq!(all_quantities(&n), ["12", "16", "2", "24", "4"]);
        assert_eq!(m.references.purchase_order.as_deref(), Some("PO-55"));
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    }

    #[test]
    fn structure_0004_items_under_orders_with_ids_in_any_order() {
        let (n, _) = run(&format!(
            "{HEAD}0004~HL*1**S*1~HL*2*1*O*1~PRF*PO-70~\
             HL*3*2*I*0~LIN**MG*HOL-PL10-S*EN*5906821004720*IN*CLO-88133*VN*HC-PLT~SN1**24*EA**30*EA~PID*F****PLATE~\
             HL*4*2*I*0~LIN**SN*HC-VS-1*LT*KILN-7*SK*77120455*UA*30868215201176~SN1**2.5*DZ**3*DZ~SE*1*0001~"
        ));
        let o = &n.orders[0];
        assert!(o.packs.is_empty());
        let i = &o.items[0];
        assert_eq!(i.item.ean.as_deref(), Some("5906821004720"));
        assert_eq!(i.item.buyer_item.as_deref(), Some("CLO-88133"));
        assert_eq!(i.item.other.get("MG").map(Text::as_str), Some("HOL-PL10-S"));
        assert_eq!(i.quantity_ordered.as_ref().map(Decimal::as_str), Some("30"));
        assert_eq!(i.uom.as_deref(), Some("EA"));
        assert_eq!(i.description.as_deref(), Some("PLATE"));
        let j = &o.items[1];
        assert_eq!(j.item.serial.as_deref(), Some("HC-VS-1"));
        assert_eq!(j.item.lot.as_deref(), Some("KILN-7"));
        assert_eq!(j.item.sku.as_deref(), Some("77120455"));
        assert_eq!(
            j.item.other.get("UA").map(Text::as_str),
            Some("30868215201176")
        );
        assert_eq!(qty(j), "2.5");
    }

    #[test]
    fn sscc_twenty_digits_normalised_and_bad_check_digit_kept_out() {
        let (n, m) = run(&format!(
            "{HEAD}0001~HL*1**S*1~HL*2*1*O*1~PRF*PO~\
             HL*3*2*P*1~MAN*GM*00008682150000041511~HL*4*3*I*0~SN1**1*EA~\
             HL*5*2*P*1~MAN*GM*(00) 008682150000041538~HL*6*5*I*0~SN1**2*EA~SE*1*0001~"
        ));
        let packs = &n.orders[0].packs;
        assert_eq!(packs[0].sscc.as_deref(), Some("008682150000041511"));
        assert_eq!(packs[1].sscc.as_deref(), Some("008682150000041538"));
        assert_eq!(m.references.sscc, ["008682150000041511"]);
        assert_eq!(m.warnings.len(), 2, "{:?}", m.warnings);
        assert!(m.warnings[0].contains("application identifier"));
        assert!(m.warnings[1].contains("check digit"));
    }

    #[test]
    fn unknown_parent_and_parent_loops_do_not_panic_or_drop_items() {
        let (n, m) = run(&format!(
            "{HEAD}0001~HL*1**S*1~HL*2*1*O*1~PRF*PO~\
             HL*3*99*I*0~SN1**7*EA~\
             HL*4*5*P*1~HL*5*4*P*1~HL*6*5*I*0~SN1**9*EA~\
             HL*7*7*I*0~SN1**1*EA~HL*2*1*O*0~SE*1*0001~"
        ));
        assert_eq!(all_quantities(&n), ["1", "7", "9"]);
        assert!(
            m.warnings.iter().any(|w| w.contains("parent 99")),
            "{:?}",
            m.warnings
        );
        assert!(
            m.warnings.iter().any(|w| w.contains("loop")),
            "{:?}",
            m.warnings
        );
        assert!(
            m.warnings.iter().any(|w| w.contains("used twice")),
            "{:?}",
            m.warnings
        );
        assert!(n.orders.iter().any(|o| o.purchase_order.is_none()));
    }

    #[test]
    fn deep_chains_are_flattened_without_recursion() {
        let mut text = format!("{HEAD}0001~HL*1**S*1~HL*2*1*O*1~PRF*PO~");
        for i in 3..20_000 {
            text.push_str(&format!("HL*{i}*{}*P*1~", i - 1));
        }
        text.push_str("HL*20000*19999*I*0~SN1**3*EA~SE*1*0001~");
        let (n, _) = run(&text);
        assert_eq!(all_quantities(&n), ["3"]);
        assert_eq!(n.totals.hl_count_actual, Some(20_000));
    }

    #[test]
    fn empty_set_maps_to_an_empty_notice() {
        let (n, m) = run("ST*856*0001~SE*2*0001~");
        assert!(n.orders.is_empty());
        assert_eq!(n.totals.hl_count_actual, Some(0));
        assert!(m.warnings.is_empty());
    }

    fn fixture(text: &str) -> Vec<(ShipNotice, Mapped)> {
        sets(text)
            .into_iter()
            .map(|set| {
                let m = map_segments(&MappingSettings::default(), &set);
                match &m.payload {
                    Payload::ShipNotice(n) => (n.clone(), m.clone()),
                    other => panic!("{other:?}"),
                }
            })
            .collect()
    }

    #[test]
    fn fixture_pick_pack_matches_readme() {
        let (n, m) = fixture(include_str!(
            "../../tests/fixtures/x12/sets/856_0001_pick_pack.edi"
        ))
        .remove(0);
        let a = &n.orders[0];
        assert_eq!(a.purchase_order.as_deref(), Some("CLO-PO-7731904"));
        assert_eq!(a.order_date.as_deref(), Some("2025-12-28"));
        assert_eq!(a.packs.len(), 2);
        assert_eq!(a.packs[1].sscc.as_deref(), Some("008682150000041023"));
        assert_eq!(a.packs[1].items.len(), 2);
        assert!(
            a.packs
                .iter()
                .all(|p| p.tare_sscc.as_deref() == Some("108682150000041006"))
        );
        let b = &n.orders[1];
        assert_eq!(b.packs[0].sscc.as_deref(), Some("008682150000041030"));
        assert_eq!(b.packs[0].tare_sscc, None);
        assert_eq!(m.references.sscc.len(), 4);
        assert_eq!(
            m.references.purchase_order.as_deref(),
            Some("CLO-PO-7731904")
        );
        assert_eq!(n.shipped_at.as_deref(), Some("2026-01-06T15:45"));
        assert_eq!(n.totals.hl_count_actual, Some(11));
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    }

    #[test]
    fn fixture_sets_map_without_surprises() {
        let standard = fixture(include_str!(
            "../../tests/fixtures/x12/sets/856_0001_standard.edi"
        ));
        let (n, m) = &standard[0];
        assert_eq!(
            m.references.tracking_numbers,
            ["1QK7730011835", "1QK7730011842", "1QK7730011859"]
        );
        assert_eq!(
            n.orders[0].packs[1].items[0]
                .quantity_ordered
                .as_ref()
                .map(Decimal::as_str),
            Some("12")
        );

        let (n, _) = &fixture(include_str!("../../tests/fixtures/x12/sets/856_0002.edi"))[0];
        assert_eq!(n.issued_at.as_deref(), Some("2026-01-06T16:30:45"));
        assert_eq!(all_quantities(n), ["24", "48"]);

        let (n, _) = &fixture(include_str!("../../tests/fixtures/x12/sets/856_0003.edi"))[0];
        assert_eq!(n.orders.len(), 2);
        assert_eq!(n.orders[0].packs.len(), 2);
        assert_eq!(n.parties[2].code.as_deref(), Some("SU"));

        let (n, m) = &fixture(include_str!("../../tests/fixtures/x12/sets/856_0004.edi"))[0];
        assert_eq!(
            n.orders[0].items[1].item.other.get("MG").map(Text::as_str),
            Some("HOL-PL10-S")
        );
        assert_eq!(m.references.load_number.as_deref(), Some("LD-CLO-0106-22"));

        let variants = fixture(include_str!(
            "../../tests/fixtures/x12/sets/856_sscc_variants.edi"
        ));
        assert_eq!(
            variants[0].1.references.sscc,
            ["008682150000041511", "008682150000041528"]
        );
        assert!(variants[1].1.references.sscc.is_empty());
        assert_eq!(variants[1].1.warnings.len(), 1);

        let (n, _) = &fixture(include_str!(
            "../../tests/fixtures/x12/sets/856_ctt_items.edi"
        ))[0];
        assert_eq!(n.totals.hl_count.as_ref().map(Decimal::as_str), Some("3"));
        assert_eq!(n.totals.hl_count_actual, Some(7));
    }
}

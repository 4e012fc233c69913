//! Grammar validation of one transaction set, segment by segment, as it streams past.
//!
//! Invariants:
//! - Placement is a walk over the grammar's loop tree with an explicit stack of open loops (depth
//!   bounded by [`MAX_LOOP_DEPTH`](super::grammar::MAX_LOOP_DEPTH)): a segment is placed at the
//!   first matching entry at or after the current position, searching the innermost open loop
//!   first, then its parents (which closes the inner loops). A segment that cannot be placed is
//!   reported and leaves the state unchanged, so one stray segment never derails the rest.
//! - A loop's trigger segment, seen again, starts a new repetition of that loop (found from the
//!   parent's entry).
//! - Memory per set: the stack, the HL ids seen (bounded by the set), and at most
//!   `MAX_FINDINGS` findings (a count of the rest is kept, and the verdict stays exact).

mod elements;
mod hierarchy;
#[cfg(test)]
mod tests;
mod values;

use super::finding::{Code, Finding, Location, bad_value};
use super::grammar::{Entry, Grammar, Tag, tag_key};
use super::policy::{Policy, Rule};
use super::segment::Segment;
use compact_str::CompactString;
use hierarchy::{HlLevels, PackedStructure, level_key};
pub use values::{decimal_len, valid_date, valid_time};

/// At most this many findings are kept per set; the rest are counted.
pub const MAX_FINDINGS: usize = 500;

#[derive(Debug, Clone, Copy)]
struct Frame {
    loop_index: usize,
    pos: usize,
    uses: u32,
}

/// Validates one transaction set against its grammar.
pub struct SetValidator<'g> {
    grammar: &'g Grammar,
    policy: Policy,
    stack: Vec<Frame>,
    base: Location,
    hl_levels: HlLevels,
    structure_code: Option<String>,
    /// The structure's root level and its allowed parent>child level pairs, packed.
    structure: Option<PackedStructure>,
    counted: Vec<u64>,
    claimed: Vec<Option<(u64, u32)>>,
    /// Per segment definition, the presence bits of the last of its segments whose mandatory
    /// elements were there and whose syntax notes held ([`NO_BITS`] before the first).
    bits_held: Vec<u64>,
    hl_tag: Tag,
}

/// Presence bits no segment has (element positions start at 1, bit 0 is never set).
const NO_BITS: u64 = u64::MAX;

/// Where findings go: a capped list plus an exact error flag.
#[derive(Debug, Default, Clone)]
pub struct Findings {
    /// Findings kept, in order.
    pub list: Vec<Finding>,
    /// Findings beyond the cap.
    pub dropped: u64,
    /// Whether any finding (kept or not) is an error.
    pub has_error: bool,
}

impl Findings {
    /// Records a finding.
    pub fn push(&mut self, f: Finding) {
        self.has_error |= f.is_error();
        if self.list.len() < MAX_FINDINGS {
            self.list.push(f);
        } else {
            self.dropped += 1;
        }
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty() && self.dropped == 0
    }
}

/// The allocations of a finished validator, handed to the next set's so that a long run of sets
/// stops allocating (the HL map in particular grows with each set's hierarchy).
#[derive(Debug, Default)]
pub struct ValidatorScratch {
    stack: Vec<Frame>,
    hl_levels: HlLevels,
    counted: Vec<u64>,
    claimed: Vec<Option<(u64, u32)>>,
    bits_held: Vec<u64>,
}

impl<'g> SetValidator<'g> {
    /// A validator for a set; `base` carries the envelope part of every location.
    pub fn new(grammar: &'g Grammar, policy: Policy, base: Location) -> Self {
        Self::with_scratch(grammar, policy, base, ValidatorScratch::default())
    }

    /// A validator for a set that reuses the allocations of an earlier one.
    pub fn with_scratch(
        grammar: &'g Grammar,
        policy: Policy,
        base: Location,
        scratch: ValidatorScratch,
    ) -> Self {
        let ValidatorScratch {
            mut stack,
            mut hl_levels,
            mut counted,
            mut claimed,
            mut bits_held,
        } = scratch;
        stack.clear();
        stack.push(Frame {
            loop_index: 0,
            pos: 0,
            uses: 1,
        });
        hl_levels.clear();
        counted.clear();
        counted.resize(grammar.counts.len(), 0);
        claimed.clear();
        claimed.resize(grammar.counts.len(), None);
        // The scratch may come from a set of another grammar: nothing it remembers holds here.
        bits_held.clear();
        bits_held.resize(grammar.segments.len(), NO_BITS);
        SetValidator {
            grammar,
            policy,
            stack,
            base,
            hl_levels,
            structure_code: None,
            structure: None,
            counted,
            claimed,
            bits_held,
            hl_tag: tag_key(b"HL").unwrap_or(0),
        }
    }

    /// Gives back the allocations for the next set's validator.
    pub fn into_scratch(self) -> ValidatorScratch {
        ValidatorScratch {
            stack: self.stack,
            hl_levels: self.hl_levels,
            counted: self.counted,
            claimed: self.claimed,
            bits_held: self.bits_held,
        }
    }

    fn loc(&self, seg: &Segment<'_>, position: u32) -> Location {
        let mut loc = self.base.clone();
        loc.offset = seg.offset;
        loc.segment_position = Some(position);
        loc.segment_id = Some(String::from_utf8_lossy(seg.tag()).as_ref().into());
        loc.loop_id = self.current_loop();
        loc
    }

    fn current_loop(&self) -> Option<CompactString> {
        let top = self.stack.last()?;
        let id = &self.grammar.loops[top.loop_index].id;
        (!id.is_empty()).then(|| id.as_str().into())
    }

    fn find(&self, out: &mut Findings, rule: Rule, code: Option<Code>, loc: Location, msg: String) {
        out.push(Finding::new(self.policy, rule, code, loc, msg));
    }

    /// Validates the next segment (ST is position 1 and is only element-checked).
    pub fn segment(&mut self, seg: &Segment<'_>, position: u32, out: &mut Findings) {
        // The tag straight from the bounds: this runs for every segment.
        let tag_bytes = match seg.bounds.first() {
            Some(&(s, e)) => seg.data.get(s as usize..e as usize).unwrap_or(&[]),
            None => &[],
        };
        let Some(tag) = tag_key(tag_bytes) else {
            let loc = self.loc(seg, position);
            let shown = bad_value(seg.tag());
            self.find(
                out,
                Rule::SegmentPlacement,
                Some(Code::segment("1")),
                loc,
                format!("{shown:?} is not a segment tag"),
            );
            return;
        };
        let mut placed_def = None;
        if position > 1 && !self.place(tag, seg, position, out, &mut placed_def) {
            let loc = self.loc(seg, position);
            let name = String::from_utf8_lossy(seg.tag());
            if self.grammar.in_structure.contains(&tag) {
                self.find(
                    out,
                    Rule::SegmentPlacement,
                    Some(Code::segment("7")),
                    loc,
                    format!("segment {name} is not in its proper sequence here"),
                );
            } else {
                self.find(
                    out,
                    Rule::SegmentPlacement,
                    Some(Code::segment("6")),
                    loc,
                    format!(
                        "segment {name} is not defined for transaction set {} in {}",
                        self.grammar.set, self.grammar.version
                    ),
                );
                return;
            }
        }
        let def = placed_def.or_else(|| self.grammar.by_tag.get(&tag).copied());
        if let Some(def) = def {
            self.check_elements(def, seg, position, out);
        }
        if tag == self.hl_tag && self.grammar.hierarchy.is_some() {
            self.check_hl(seg, position, out);
        }
        if let Some(h) = &self.grammar.hierarchy
            && h.segment == tag
        {
            let v = seg.element(h.element);
            if !v.is_empty() {
                let code = String::from_utf8_lossy(v).into_owned();
                self.structure = h.structures.get(&code).map(|(root, pairs)| {
                    let pairs = pairs
                        .iter()
                        .map(|(a, b)| (level_key(a.as_bytes()), level_key(b.as_bytes())))
                        .collect();
                    (level_key(root.as_bytes()), pairs)
                });
                self.structure_code = Some(code);
            }
        }
        if self.grammar.counts.is_empty() {
            return;
        }
        for (i, rule) in self.grammar.counts.iter().enumerate() {
            if rule.counted == tag {
                self.counted[i] += 1;
            }
            if rule.segment == tag
                && let Ok(n) = std::str::from_utf8(seg.element(rule.element))
                    .unwrap_or("")
                    .trim()
                    .parse::<u64>()
            {
                self.claimed[i] = Some((n, position));
            }
        }
    }

    /// Checks what can only be checked at the end of the set (content counts).
    pub fn finish(&mut self, se_offset: u64, out: &mut Findings) {
        for (i, rule) in self.grammar.counts.iter().enumerate() {
            if let Some((claimed, position)) = self.claimed[i]
                && claimed != self.counted[i]
            {
                let mut loc = self.base.clone();
                loc.offset = se_offset;
                loc.segment_position = Some(position);
                loc.element_ref = None;
                self.find(
                    out,
                    Rule::ContentCount,
                    None,
                    loc,
                    format!(
                        "{} counts {claimed}, but the set has {} of the segments it counts",
                        rule.name, self.counted[i]
                    ),
                );
            }
        }
    }

    fn place(
        &mut self,
        tag: Tag,
        seg: &Segment<'_>,
        position: u32,
        out: &mut Findings,
        def: &mut Option<usize>,
    ) -> bool {
        let g = self.grammar;
        for depth in (0..self.stack.len()).rev() {
            let f = self.stack[depth];
            let lp = &g.loops[f.loop_index];
            // A loop's trigger (entry 0) is only matched from the parent (a new repetition).
            let lo = if depth > 0 { f.pos.max(1) } else { f.pos };
            // Segments mostly come in grammar order: the entry at the current position or the
            // next one is the first candidate at or after it, with no map lookup.
            let near = [lo, lo + 1]
                .into_iter()
                .find(|&i| lp.entries.get(i).is_some_and(|e| e.tag() == tag));
            let first = match near {
                Some(i) => Some(i),
                None => lp
                    .by_tag
                    .get(&tag)
                    .and_then(|c| c.iter().copied().find(|&i| i >= lo)),
            };
            if let Some(i) = first {
                let entry = &lp.entries[i];
                let (matches, limit, is_loop) = match entry {
                    Entry::Segment { tag: t, max, .. } => (*t == tag, *max, None),
                    Entry::Loop {
                        trigger,
                        repeat,
                        index,
                        ..
                    } => (*trigger == tag, *repeat, Some(*index)),
                };
                if !matches {
                    continue;
                }
                // A loop's trigger is its first entry: its definition is found there, not by
                // looking the tag up.
                let seg_entry = match is_loop {
                    Some(index) => g.loops[index].entries.first(),
                    None => Some(entry),
                };
                if let Some(Entry::Segment { def: d, .. }) = seg_entry {
                    *def = Some(*d);
                }
                self.close_above(depth, seg, position, out);
                let frame = &mut self.stack[depth];
                if i == frame.pos {
                    frame.uses += 1;
                    if frame.uses > limit {
                        let uses = frame.uses;
                        let loc = self.loc(seg, position);
                        let name = String::from_utf8_lossy(seg.tag());
                        let (code, what) = if is_loop.is_some() {
                            ("4", "loop")
                        } else {
                            ("5", "segment")
                        };
                        self.find(
                            out,
                            Rule::MaxUse,
                            Some(Code::segment(code)),
                            loc,
                            format!("{what} {name} occurs {uses} times; at most {limit} allowed"),
                        );
                    }
                } else {
                    let from = frame.pos;
                    frame.pos = i;
                    frame.uses = 1;
                    if from + 1 < i {
                        self.missing_between(depth, from + 1, i, seg, position, out);
                    }
                }
                if let Some(index) = is_loop {
                    self.stack.push(Frame {
                        loop_index: index,
                        pos: 0,
                        uses: 1,
                    });
                }
                return true;
            }
        }
        false
    }

    fn close_above(&mut self, depth: usize, seg: &Segment<'_>, position: u32, out: &mut Findings) {
        while self.stack.len() > depth + 1 {
            let f = self.stack[self.stack.len() - 1];
            let len = self.grammar.loops[f.loop_index].entries.len();
            if f.pos + 1 < len {
                self.missing_between(self.stack.len() - 1, f.pos + 1, len, seg, position, out);
            }
            self.stack.pop();
        }
    }

    /// Reports the required entries from `from` up to (not including) `to` of the loop open at
    /// `depth`, skipped over.
    #[inline]
    fn missing_between(
        &self,
        depth: usize,
        from: usize,
        to: usize,
        seg: &Segment<'_>,
        position: u32,
        out: &mut Findings,
    ) {
        let lp = &self.grammar.loops[self.stack[depth].loop_index];
        // Skipping only optional entries (the usual case) is found without a search or a call.
        if lp.required_before.get(from) != lp.required_before.get(to) {
            self.report_missing(depth, from, to, seg, position, out);
        }
    }

    #[cold]
    fn report_missing(
        &self,
        depth: usize,
        from: usize,
        to: usize,
        seg: &Segment<'_>,
        position: u32,
        out: &mut Findings,
    ) {
        let f = self.stack[depth];
        let g = self.grammar;
        let lp = &g.loops[f.loop_index];
        // `required` is ascending: the entries between `from` and `to` are one slice of it.
        let lo = lp.required.partition_point(|&i| i < from);
        let hi = lp.required.partition_point(|&i| i < to);
        for entry in lp
            .required
            .get(lo..hi)
            .unwrap_or(&[])
            .iter()
            .map(|&i| &lp.entries[i])
        {
            let (required, tag) = match entry {
                Entry::Segment { required, tag, .. } => (*required, *tag),
                Entry::Loop {
                    required, trigger, ..
                } => (*required, *trigger),
            };
            if required {
                let name = tag_name(tag);
                let mut loc = self.loc(seg, position);
                loc.segment_id = Some(name.as_str().into());
                let lid = &g.loops[f.loop_index].id;
                loc.loop_id = (!lid.is_empty()).then(|| lid.as_str().into());
                self.find(
                    out,
                    Rule::MandatorySegment,
                    Some(Code::segment("3")),
                    loc,
                    format!("mandatory segment {name} is missing"),
                );
            }
        }
    }
}

fn tag_name(tag: Tag) -> String {
    let bytes = tag.to_be_bytes();
    String::from_utf8_lossy(&bytes)
        .trim_start_matches('\0')
        .to_string()
}

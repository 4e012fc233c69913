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

use rustc_hash::FxHashMap;

use super::finding::{Code, Finding, Location, bad_value};
use super::grammar::{ElementDef, ElementType, Entry, Grammar, SegmentDef, Tag, tag_key};
use super::policy::{Policy, Rule};
use super::segment::{Segment, split_component};

/// At most this many findings are kept per set; the rest are counted.
pub const MAX_FINDINGS: usize = 500;

#[derive(Debug, Clone, Copy)]
struct Frame {
    loop_index: usize,
    pos: usize,
    uses: u32,
}

/// An HL structure's root level and its allowed parent>child level pairs, as packed codes.
type PackedStructure = ([u8; 2], Vec<([u8; 2], [u8; 2])>);

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
    hl_tag: Tag,
}

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
        }
    }

    fn loc(&self, seg: &Segment<'_>, position: u32) -> Location {
        let mut loc = self.base.clone();
        loc.offset = seg.offset;
        loc.segment_position = Some(position);
        loc.segment_id = Some(String::from_utf8_lossy(seg.tag()).into_owned());
        loc.loop_id = self.current_loop();
        loc
    }

    fn current_loop(&self) -> Option<String> {
        let top = self.stack.last()?;
        let id = &self.grammar.loops[top.loop_index].id;
        (!id.is_empty()).then(|| id.clone())
    }

    fn find(&self, out: &mut Findings, rule: Rule, code: Option<Code>, loc: Location, msg: String) {
        out.push(Finding::new(self.policy, rule, code, loc, msg));
    }

    /// Validates the next segment (ST is position 1 and is only element-checked).
    pub fn segment(&mut self, seg: &Segment<'_>, position: u32, out: &mut Findings) {
        let Some(tag) = tag_key(seg.tag()) else {
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
        let def = match placed_def {
            Some(i) => self.grammar.segments.get(i),
            None => self.grammar.segment(tag),
        };
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
                if let Entry::Segment { def: d, .. } = entry {
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

    fn missing_between(
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
                loc.segment_id = Some(name.clone());
                let lid = &g.loops[f.loop_index].id;
                loc.loop_id = (!lid.is_empty()).then(|| lid.clone());
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

    fn check_elements(
        &self,
        def: &SegmentDef,
        seg: &Segment<'_>,
        position: u32,
        out: &mut Findings,
    ) {
        let count = seg.element_count();
        let last = (1..=count)
            .rev()
            .find(|&i| !is_blank(seg.element(i)))
            .unwrap_or(0);
        if count > last {
            let loc = self.loc(seg, position);
            self.find(
                out,
                Rule::TrailingEmpty,
                None,
                loc,
                format!("segment ends with {} empty element(s)", count - last),
            );
        }
        if last > def.elements.len() {
            let mut loc = self.loc(seg, position);
            loc.element = Some(def.elements.len() as u16 + 1);
            loc.bad_value = Some(bad_value(seg.element(def.elements.len() + 1)));
            self.find(
                out,
                Rule::TooManyElements,
                Some(Code::element("3")),
                loc,
                format!(
                    "segment has {last} elements; {} are defined (a delimiter inside data?)",
                    def.elements.len()
                ),
            );
        }
        let checked = def.elements.len().min(count.max(def.last_mandatory));
        // Most segments are plain printable ASCII with no repetition separator in them: their
        // elements take the fast path, and only a value that fails it is checked (and reported)
        // in full.
        let plain = is_plain_ascii(seg.data)
            && seg
                .delimiters
                .repetition
                .is_none_or(|rep| memchr::memchr(rep, seg.data).is_none());
        for (i, ed) in def.elements[..checked].iter().enumerate() {
            let n = i + 1;
            let value = seg.element(n);
            if plain && !is_blank(value) && self.plain_value_ok(ed, value) {
                continue;
            }
            if is_blank(value) {
                if ed.mandatory {
                    self.element_finding(
                        seg,
                        position,
                        n,
                        None,
                        ed,
                        Rule::MandatoryElement,
                        "1",
                        value,
                        "mandatory element is missing".into(),
                        out,
                    );
                }
                continue;
            }
            match (ed.kind, seg.delimiters.repetition) {
                (ElementType::Composite, _) => {
                    self.check_composite(seg, position, n, ed, value, out)
                }
                (_, Some(rep)) if memchr::memchr(rep, value).is_some() => {
                    for piece in value.split(|b| *b == rep) {
                        if !is_blank(piece) {
                            self.check_value(seg, position, n, None, ed, piece, out);
                        }
                    }
                }
                _ => self.check_value(seg, position, n, None, ed, value, out),
            }
        }
        for note in &def.syntax {
            // A note whose elements all lie beyond those sent holds unless it requires one of them.
            if note.kind != b'R' && note.first > last {
                continue;
            }
            // Presence as a small array (notes name at most a handful of elements): no allocation.
            let mut present = [false; 16];
            let k = note.positions.len().min(16);
            for (slot, &p) in present.iter_mut().zip(&note.positions) {
                *slot = !is_blank(seg.element(p));
            }
            let present = &present[..k];
            let first = present[0];
            let n_present = present.iter().filter(|p| **p).count();
            let violation = match note.kind {
                b'P' => n_present > 0 && n_present < present.len(),
                b'R' => n_present == 0,
                b'E' => n_present > 1,
                b'C' => first && present[1..].iter().any(|p| !p),
                b'L' => first && !present[1..].iter().any(|p| *p),
                _ => false,
            };
            if violation {
                let code = if note.kind == b'E' { "10" } else { "2" };
                let at = match note.kind {
                    b'E' => note
                        .positions
                        .iter()
                        .zip(present)
                        .filter(|(_, p)| **p)
                        .nth(1)
                        .map(|(p, _)| *p),
                    _ => note
                        .positions
                        .iter()
                        .zip(present)
                        .find(|(_, p)| !**p)
                        .map(|(p, _)| *p),
                }
                .unwrap_or(note.positions[0]);
                let ed = &def.elements[at - 1];
                let what = match note.kind {
                    b'P' => "all or none of these elements must be present",
                    b'R' => "at least one of these elements is required",
                    b'E' => "only one of these elements may be present",
                    b'C' => "when the first is present, all of the others are required",
                    _ => "when the first is present, at least one of the others is required",
                };
                self.element_finding(
                    seg,
                    position,
                    at,
                    None,
                    ed,
                    Rule::SyntaxNote,
                    code,
                    seg.element(at),
                    format!("syntax note {}: {what}", note.text),
                    out,
                );
            }
        }
    }

    fn check_composite(
        &self,
        seg: &Segment<'_>,
        position: u32,
        n: usize,
        ed: &ElementDef,
        value: &[u8],
        out: &mut Findings,
    ) {
        let sep = seg.delimiters.component;
        let parts = value.split(|b| *b == sep).count();
        let last = (1..=parts)
            .rev()
            .find(|&c| !is_blank(split_component(value, sep, c)))
            .unwrap_or(0);
        if last > ed.components.len() {
            self.element_finding(
                seg,
                position,
                n,
                Some(last),
                ed,
                Rule::TooManyElements,
                "13",
                value,
                format!(
                    "composite has {last} components; {} are defined",
                    ed.components.len()
                ),
                out,
            );
        }
        for (c, cd) in ed.components.iter().enumerate() {
            let v = split_component(value, sep, c + 1);
            if is_blank(v) {
                if cd.mandatory {
                    self.element_finding(
                        seg,
                        position,
                        n,
                        Some(c + 1),
                        cd,
                        Rule::MandatoryElement,
                        "1",
                        v,
                        "mandatory component is missing".into(),
                        out,
                    );
                }
            } else {
                self.check_value(seg, position, n, Some(c + 1), cd, v, out);
            }
        }
    }

    /// Whether a value of a plain-ASCII segment certainly passes [`Self::check_value`]; `false`
    /// sends it to the full check, which decides and reports.
    #[inline]
    fn plain_value_ok(&self, ed: &ElementDef, v: &[u8]) -> bool {
        let len = match ed.kind {
            ElementType::An => v.len(),
            ElementType::Id => {
                if let Some(ci) = ed.codes {
                    let list = &self.grammar.codes[ci];
                    if list.complete && !list.contains(trim_spaces(v)) {
                        return false;
                    }
                }
                v.len()
            }
            ElementType::N(_) => {
                let digits = v.strip_prefix(b"-").unwrap_or(v);
                if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                    return false;
                }
                digits.len()
            }
            ElementType::R => match decimal_len(v) {
                Some(l) => l,
                None => return false,
            },
            ElementType::Dt => {
                if !valid_date(v) {
                    return false;
                }
                v.len()
            }
            ElementType::Tm => {
                if !valid_time(v) {
                    return false;
                }
                v.len()
            }
            ElementType::Composite => return false,
        };
        len >= ed.min as usize && len <= ed.max as usize
    }

    #[allow(clippy::too_many_arguments)]
    fn check_value(
        &self,
        seg: &Segment<'_>,
        position: u32,
        n: usize,
        comp: Option<usize>,
        ed: &ElementDef,
        v: &[u8],
        out: &mut Findings,
    ) {
        // One pass: control bytes (an error anywhere) and non-ASCII (AN length counts characters).
        let mut control = false;
        let mut non_ascii = false;
        for &b in v {
            control |= b < 0x20 || b == 0x7F;
            non_ascii |= b >= 0x80;
        }
        if control {
            self.element_finding(
                seg,
                position,
                n,
                comp,
                ed,
                Rule::InvalidCharacter,
                "6",
                v,
                "element contains control characters".into(),
                out,
            );
            return;
        }
        let len = match ed.kind {
            ElementType::N(_) => {
                let digits = v.strip_prefix(b"-").unwrap_or(v);
                if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                    self.element_finding(
                        seg,
                        position,
                        n,
                        comp,
                        ed,
                        Rule::InvalidCharacter,
                        "6",
                        v,
                        "numeric element holds non-digits".into(),
                        out,
                    );
                    return;
                }
                digits.len()
            }
            ElementType::R => match decimal_len(v) {
                Some(l) => l,
                None => {
                    self.element_finding(
                        seg,
                        position,
                        n,
                        comp,
                        ed,
                        Rule::InvalidCharacter,
                        "6",
                        v,
                        "decimal element is not a number".into(),
                        out,
                    );
                    return;
                }
            },
            ElementType::Dt => {
                if !valid_date(v) {
                    self.element_finding(
                        seg,
                        position,
                        n,
                        comp,
                        ed,
                        Rule::InvalidDate,
                        "8",
                        v,
                        "not a valid date".into(),
                        out,
                    );
                    return;
                }
                v.len()
            }
            ElementType::Tm => {
                if !valid_time(v) {
                    self.element_finding(
                        seg,
                        position,
                        n,
                        comp,
                        ed,
                        Rule::InvalidTime,
                        "9",
                        v,
                        "not a valid time".into(),
                        out,
                    );
                    return;
                }
                v.len()
            }
            ElementType::Id => {
                if let Some(ci) = ed.codes {
                    let list = &self.grammar.codes[ci];
                    let trimmed = trim_spaces(v);
                    if list.complete && !list.contains(trimmed) {
                        let rule = if ed.key {
                            Rule::InvalidKeyCode
                        } else {
                            Rule::InvalidCode
                        };
                        self.element_finding(
                            seg,
                            position,
                            n,
                            comp,
                            ed,
                            rule,
                            "7",
                            v,
                            format!("code {:?} is not in list {}", bad_value(v), list.name),
                            out,
                        );
                        return;
                    }
                }
                v.len()
            }
            ElementType::An | ElementType::Composite => {
                if !non_ascii {
                    v.len()
                } else {
                    String::from_utf8_lossy(v).chars().count()
                }
            }
        };
        if len < ed.min as usize {
            self.element_finding(
                seg,
                position,
                n,
                comp,
                ed,
                Rule::ElementLength,
                "4",
                v,
                format!("{len} characters; at least {} required", ed.min),
                out,
            );
        } else if len > ed.max as usize {
            self.element_finding(
                seg,
                position,
                n,
                comp,
                ed,
                Rule::ElementLength,
                "5",
                v,
                format!("{len} characters; at most {} allowed", ed.max),
                out,
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn element_finding(
        &self,
        seg: &Segment<'_>,
        position: u32,
        n: usize,
        comp: Option<usize>,
        ed: &ElementDef,
        rule: Rule,
        code: &'static str,
        value: &[u8],
        msg: String,
        out: &mut Findings,
    ) {
        let mut loc = self.loc(seg, position);
        loc.element = Some(n as u16);
        loc.component = comp.map(|c| c as u16);
        loc.element_ref = Some(ed.reference.clone());
        if !value.is_empty() {
            loc.bad_value = Some(bad_value(value));
        }
        self.find(out, rule, Some(Code::element(code)), loc, msg);
    }

    fn check_hl(&mut self, seg: &Segment<'_>, position: u32, out: &mut Findings) {
        let id = trim_spaces(seg.element(1));
        let parent = trim_spaces(seg.element(2));
        let level = trim_spaces(seg.element(3));
        let hl_finding = |this: &Self, out: &mut Findings, rule: Rule, n: usize, msg: String| {
            let mut loc = this.loc(seg, position);
            loc.element = Some(n as u16);
            loc.element_ref = Some(["628", "734", "735"][n - 1].to_string());
            loc.bad_value = Some(bad_value(seg.element(n)));
            this.find(out, rule, Some(Code::element("7")), loc, msg);
        };
        if id.is_empty() {
            return;
        }
        let key = HlKey::of(id);
        if self.hl_levels.get(&key).is_some() {
            hl_finding(
                self,
                out,
                Rule::HierarchyParent,
                1,
                format!("HL01 {} is used twice", bad_value(id)),
            );
        }
        let parent_level = if parent.is_empty() {
            None
        } else {
            match self.hl_levels.get(&HlKey::of(parent)) {
                Some(l) => Some(l),
                None => {
                    hl_finding(
                        self,
                        out,
                        Rule::HierarchyParent,
                        2,
                        format!("HL02 {} names no HL seen before", bad_value(parent)),
                    );
                    None
                }
            }
        };
        if let (Some((root, pairs)), Some(code)) = (&self.structure, &self.structure_code)
            && !level.is_empty()
        {
            let lk = level_key(level);
            match (&parent_level, parent.is_empty()) {
                (None, true) if lk != *root || level.len() > 2 => hl_finding(
                    self,
                    out,
                    Rule::HierarchyLevel,
                    3,
                    format!(
                        "top level is {}; structure {code} starts with {}",
                        String::from_utf8_lossy(level),
                        level_text(root)
                    ),
                ),
                (Some(pl), _)
                    if level.len() > 2 || !pairs.iter().any(|(a, b)| a == pl && *b == lk) =>
                {
                    hl_finding(
                        self,
                        out,
                        Rule::HierarchyLevel,
                        3,
                        format!(
                            "level {} under {} does not fit structure {code}",
                            String::from_utf8_lossy(level),
                            level_text(pl)
                        ),
                    );
                }
                _ => {}
            }
        }
        self.hl_levels.insert(key, level_key(level));
    }
}

/// The level of every HL01 seen in the set. Ids are nearly always small sequential numbers:
/// those index a vector (bounded: at most `DENSE_HL` slots); any other id goes to a map.
#[derive(Debug, Default)]
struct HlLevels {
    dense: Vec<Option<[u8; 2]>>,
    sparse: FxHashMap<HlKey, [u8; 2]>,
}

/// HL01 numbers below this are kept in the vector.
const DENSE_HL: u64 = 1 << 16;

impl HlLevels {
    fn clear(&mut self) {
        self.dense.clear();
        self.sparse.clear();
    }

    fn get(&self, key: &HlKey) -> Option<[u8; 2]> {
        match key {
            HlKey::Number(n) if *n < DENSE_HL => self.dense.get(*n as usize).copied().flatten(),
            other => self.sparse.get(other).copied(),
        }
    }

    fn insert(&mut self, key: HlKey, level: [u8; 2]) {
        match key {
            HlKey::Number(n) if n < DENSE_HL => {
                let i = n as usize;
                if self.dense.len() <= i {
                    self.dense.resize(i + 1, None);
                }
                self.dense[i] = Some(level);
            }
            other => {
                self.sparse.insert(other, level);
            }
        }
    }
}

/// An HL01 value as a map key: numeric ids (the usual case) without allocating.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum HlKey {
    Number(u64),
    Text(Box<[u8]>),
}

impl HlKey {
    fn of(id: &[u8]) -> HlKey {
        if !id.is_empty()
            && id.len() <= 18
            && id.iter().all(u8::is_ascii_digit)
            && (id[0] != b'0' || id.len() == 1)
        {
            HlKey::Number(id.iter().fold(0u64, |a, b| a * 10 + u64::from(b - b'0')))
        } else {
            HlKey::Text(id.into())
        }
    }
}

/// An HL03 level code (one or two characters) packed for the map.
fn level_key(level: &[u8]) -> [u8; 2] {
    [
        level.first().copied().unwrap_or(0),
        level.get(1).copied().unwrap_or(0),
    ]
}

fn level_text(level: &[u8; 2]) -> String {
    level
        .iter()
        .take_while(|b| **b != 0)
        .map(|b| *b as char)
        .collect()
}

fn tag_name(tag: Tag) -> String {
    let bytes = tag.to_be_bytes();
    String::from_utf8_lossy(&bytes)
        .trim_start_matches('\0')
        .to_string()
}

/// Whether every byte is printable ASCII (no control bytes, nothing at or above 0x7F), eight
/// bytes at a time.
fn is_plain_ascii(data: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Adding 0x60 to a byte below 0x20 leaves its high bit clear; 0x7F and up already have it or
    // get it. Masking to 7 bits first keeps carries from crossing bytes.
    const ADD: u64 = 0x6060_6060_6060_6060;
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let mut words = data.chunks_exact(8);
    for chunk in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        let w = u64::from_le_bytes(b);
        // printable: 0x20..=0x7E: high bit clear, (w & 0x7F) + 0x60 has its high bit set, and
        // (w & 0x7F) + 1 does not.
        let ge_space = (w & LOW7).wrapping_add(ADD) & HIGH;
        let is_del = (w & LOW7).wrapping_add(0x0101_0101_0101_0101) & HIGH;
        if w & HIGH != 0 || ge_space != HIGH || is_del != 0 {
            return false;
        }
    }
    words.remainder().iter().all(|&b| (0x20..0x7F).contains(&b))
}

#[inline]
fn is_blank(v: &[u8]) -> bool {
    // Most values start with something other than a space: no loop for them.
    match v.first() {
        None => true,
        Some(b' ') => v.iter().all(|b| *b == b' '),
        Some(_) => false,
    }
}

fn trim_spaces(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| *b != b' ').unwrap_or(v.len());
    let end = v.iter().rposition(|b| *b != b' ').map_or(start, |e| e + 1);
    &v[start..end]
}

/// Length of an X12 R value (sign and point not counted), or `None` when it is not a number.
pub fn decimal_len(v: &[u8]) -> Option<usize> {
    let body = v.strip_prefix(b"-").unwrap_or(v);
    let mut digits = 0;
    let mut points = 0;
    for b in body {
        match b {
            b'0'..=b'9' => digits += 1,
            b'.' => points += 1,
            _ => return None,
        }
    }
    (digits > 0 && points <= 1).then_some(digits)
}

/// Whether `v` is a valid `CCYYMMDD` (or `YYMMDD`) date.
pub fn valid_date(v: &[u8]) -> bool {
    if !v.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let num = |s: &[u8]| s.iter().fold(0u32, |a, b| a * 10 + u32::from(b - b'0'));
    let (y, m, d) = match v.len() {
        8 => (num(&v[0..4]) as i32, num(&v[4..6]), num(&v[6..8])),
        6 => (
            super::isa::century(num(&v[0..2]) as i32),
            num(&v[2..4]),
            num(&v[4..6]),
        ),
        _ => return false,
    };
    chrono::NaiveDate::from_ymd_opt(y, m, d).is_some()
}

/// Whether `v` is a valid `HHMM[SS[D[D]]]` time.
pub fn valid_time(v: &[u8]) -> bool {
    if !matches!(v.len(), 4 | 6 | 7 | 8) || !v.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let num = |s: &[u8]| s.iter().fold(0u32, |a, b| a * 10 + u32::from(b - b'0'));
    num(&v[0..2]) < 24 && num(&v[2..4]) < 60 && (v.len() == 4 || num(&v[4..6]) < 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ascii_is_printable_ascii_only() {
        for b in 0u8..=255 {
            let printable = (0x20..0x7F).contains(&b);
            // The byte at every position of a 17-byte run (two words and a tail).
            for at in 0..17 {
                let mut v = vec![b'A'; 17];
                v[at] = b;
                assert_eq!(is_plain_ascii(&v), printable, "byte {b:#x} at {at}");
            }
        }
        assert!(is_plain_ascii(b""));
    }

    #[test]
    fn dates_and_times() {
        assert!(valid_date(b"20240229"));
        assert!(!valid_date(b"20230229"));
        assert!(!valid_date(b"20240230"));
        assert!(valid_date(b"260105"));
        assert!(valid_time(b"2359"));
        assert!(!valid_time(b"2400"));
        assert!(!valid_time(b"235960"));
        assert!(valid_time(b"23595999"));
    }

    #[test]
    fn decimals() {
        assert_eq!(decimal_len(b"-12.50"), Some(4));
        assert_eq!(decimal_len(b".5"), Some(1));
        assert_eq!(decimal_len(b"1.2.3"), None);
        assert_eq!(decimal_len(b"1,000"), None);
        assert_eq!(decimal_len(b"-"), None);
    }
}

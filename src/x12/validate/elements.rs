//! Element checks of one segment: types, lengths, codes, dates and times, composites and
//! repetitions, and the syntax notes; with a fast path for plain printable-ASCII segments.

use super::values::{decimal_len, is_blank, is_plain_ascii, trim_spaces, valid_date, valid_time};
use super::{Findings, SetValidator};
use crate::x12::finding::{Code, bad_value};
use crate::x12::grammar::{ElementDef, ElementType, SegmentDef, SyntaxNote};
use crate::x12::policy::Rule;
use crate::x12::segment::{Segment, split_component};

impl SetValidator<'_> {
    /// Checks the elements and syntax notes of a segment of definition `def` (an index into the
    /// grammar's segments).
    pub(super) fn check_elements(
        &mut self,
        def: usize,
        seg: &Segment<'_>,
        position: u32,
        out: &mut Findings,
    ) {
        let g = self.grammar;
        let Some(def_ref) = g.segments.get(def) else {
            return;
        };
        if def_ref.bit_checked && self.passes_plainly(def, def_ref, seg) {
            return;
        }
        self.check_elements_as::<true>(def_ref, seg, position, out);
    }

    /// Whether a segment certainly has nothing to report, found in one pass over its elements:
    /// plain printable ASCII, no trailing empty element and none beyond those defined, every
    /// mandatory element present, every present value accepted by [`Self::plain_value_ok`], and
    /// every syntax note held on the presence bits. `false` sends the segment to the checks that
    /// decide and report. Only for definitions with `bit_checked`.
    #[inline]
    fn passes_plainly(&mut self, index: usize, def: &SegmentDef, seg: &Segment<'_>) -> bool {
        if !is_plain_ascii(seg.data, seg.delimiters.repetition) {
            return false;
        }
        let bounds = seg.bounds.get(1..).unwrap_or(&[]);
        let mut present = 0u64;
        let mut last = 0;
        for (i, &(s, e)) in bounds.iter().enumerate() {
            let v = seg.data.get(s as usize..e as usize).unwrap_or(&[]);
            if is_blank(v) {
                continue;
            }
            // A `bit_checked` definition has at most 63 elements, so `i < 63` always holds for
            // a defined element; a present element past the definition is one too many.
            match def.elements.get(i) {
                Some(ed) if i < 63 && self.plain_value_ok(ed, v) => {
                    present |= 2 << i;
                    last = i + 1;
                }
                _ => return false,
            }
        }
        if last != bounds.len() {
            return false;
        }
        // Whether the mandatory elements are there and the notes hold depends on the presence
        // bits alone, and segments of one kind mostly send the same elements: the bits that last
        // passed are remembered per definition, and the same bits pass again at once.
        let Some(held) = self.bits_held.get_mut(index) else {
            return false;
        };
        if *held == present {
            return true;
        }
        let holds = def.mandatory_bits & !present == 0
            && def.syntax.iter().all(|note| !note_broken(note, present));
        if holds {
            *held = present;
        }
        holds
    }

    /// Checks a segment's elements and syntax notes. With `FAST`, plain printable-ASCII
    /// segments take the fast path: each present value that [`Self::plain_value_ok`] accepts is
    /// not checked further, and each syntax note is first tested on the segment's presence bits
    /// (only a note broken there is checked, and reported, element by element). Without it,
    /// every value and note is checked in full: the reference the fast path is tested against.
    pub(super) fn check_elements_as<const FAST: bool>(
        &self,
        def: &SegmentDef,
        seg: &Segment<'_>,
        position: u32,
        out: &mut Findings,
    ) {
        let bounds = seg.bounds.get(1..).unwrap_or(&[]);
        let count = bounds.len();
        let value_at = |&(s, e): &(u32, u32)| seg.data.get(s as usize..e as usize).unwrap_or(&[]);
        // One pass over the elements: which ones are present (not blank), as bit `n` for
        // element `n` up to 63, and the last present one.
        let mut present = 0u64;
        let mut last = 0;
        for (i, b) in bounds.iter().enumerate() {
            if !is_blank(value_at(b)) {
                last = i + 1;
                if i < 63 {
                    present |= 2 << i;
                }
            }
        }
        if !FAST {
            last = (1..=count)
                .rev()
                .find(|&i| !is_blank(seg.element(i)))
                .unwrap_or(0);
        }
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
            loc.bad_value = Some(bad_value(seg.element(def.elements.len() + 1)).into());
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
        let plain = FAST && is_plain_ascii(seg.data, seg.delimiters.repetition);
        for (i, ed) in def.elements[..checked].iter().enumerate() {
            let n = i + 1;
            let value = bounds.get(i).map_or(&[][..], value_at);
            let blank = if FAST && n < 64 {
                present & (1 << n) == 0
            } else {
                is_blank(value)
            };
            if plain && !blank && self.plain_value_ok(ed, value) {
                continue;
            }
            if blank {
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
            if FAST && note.mask != 0 && !note_broken(note, present) {
                continue;
            }
            self.check_note(def, seg, position, note, last, out);
        }
    }

    /// Tests one syntax note element by element, and reports it when it is broken.
    fn check_note(
        &self,
        def: &SegmentDef,
        seg: &Segment<'_>,
        position: u32,
        note: &SyntaxNote,
        last: usize,
        out: &mut Findings,
    ) {
        // A note whose elements all lie beyond those sent holds unless it requires one of them.
        if note.kind != b'R' && note.first > last {
            return;
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
        if !violation {
            return;
        }
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
    /// sends it to the full check, which decides and reports. It restates `check_value`'s type
    /// rules on purpose (a shared function returning the reason cost 5% of validation): a change
    /// to one must be made to both.
    #[inline(always)]
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
                let digits = match v {
                    [b'-', rest @ ..] => rest,
                    _ => v,
                };
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
        loc.element_ref = Some(ed.reference.as_str().into());
        if !value.is_empty() {
            loc.bad_value = Some(bad_value(value).into());
        }
        self.find(out, rule, Some(Code::element(code)), loc, msg);
    }
}

/// Whether a note with a position mask is broken, given the segment's presence bits (bit `n` set
/// when element `n` is present). It restates [`SetValidator::check_note`]'s rules on bits: a
/// note's positions are distinct when it has a mask, so counting present elements is counting
/// bits.
#[inline]
fn note_broken(note: &SyntaxNote, present: u64) -> bool {
    let p = present & note.mask;
    let lead = present & note.lead != 0;
    match note.kind {
        b'P' => p != 0 && p != note.mask,
        b'R' => p == 0,
        // More than one bit set.
        b'E' => p & p.wrapping_sub(1) != 0,
        b'C' => lead && p != note.mask,
        b'L' => lead && p & !note.lead == 0,
        _ => false,
    }
}

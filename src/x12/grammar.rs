//! Grammars as data: loading, checking and compiling the TOML files in `grammars/`.
//!
//! A grammar describes one transaction set in one version (format: `grammars/README.md`). Loading
//! checks everything the validator relies on (every segment defined, every code list present,
//! loops well formed and not nested beyond [`MAX_LOOP_DEPTH`]) and reports each problem with
//! `file:line:column`. The compiled form is what [`super::validate`] walks.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Deserialize;
use toml::Spanned;

/// How deep loops may nest (the validator's stack is bounded by this).
pub const MAX_LOOP_DEPTH: usize = 16;

/// A grammar problem, located in its file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct GrammarError {
    /// The grammar file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// A segment tag packed into an integer for fast comparison.
pub type Tag = u32;

/// Packs a 2- or 3-character tag; `None` for anything else.
#[inline]
pub fn tag_key(tag: &[u8]) -> Option<Tag> {
    // Every segment goes through here: the two lengths are spelled out, with no loop.
    let key = match *tag {
        [a, b] => (u32::from(a) << 8) | u32::from(b),
        [a, b, c] => (u32::from(a) << 16) | (u32::from(b) << 8) | u32::from(c),
        _ => return None,
    };
    tag.iter().all(u8::is_ascii_alphanumeric).then_some(key)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrammar {
    set: Spanned<String>,
    version: Spanned<String>,
    functional_id: String,
    name: String,
    structure: Vec<Spanned<RawEntry>>,
    #[serde(default)]
    loops: BTreeMap<String, Spanned<RawLoop>>,
    segments: BTreeMap<String, Spanned<RawSegment>>,
    #[serde(default)]
    codes: BTreeMap<String, Spanned<RawCodes>>,
    hierarchy: Option<Spanned<RawHierarchy>>,
    #[serde(default)]
    counts: Vec<Spanned<RawCount>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    seg: Option<String>,
    #[serde(rename = "loop")]
    loop_id: Option<String>,
    req: String,
    max: Option<u32>,
    repeat: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLoop {
    structure: Vec<Spanned<RawEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSegment {
    #[allow(dead_code)]
    name: Option<String>,
    #[serde(default)]
    syntax: Vec<String>,
    elements: Vec<Spanned<RawElement>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRef {
    Number(u32),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawElement {
    #[serde(rename = "ref")]
    reference: RawRef,
    #[serde(rename = "type")]
    kind: String,
    req: String,
    min: Option<u32>,
    max: Option<u32>,
    codes: Option<String>,
    #[serde(default)]
    key: bool,
    components: Option<Vec<Spanned<RawElement>>>,
    #[allow(dead_code)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCodes {
    complete: bool,
    values: Vec<String>,
    #[allow(dead_code)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHierarchy {
    structure_element: String,
    structures: BTreeMap<String, RawStructure>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStructure {
    root: String,
    pairs: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCount {
    element: String,
    segment: String,
}

/// An element's data type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementType {
    /// String.
    An,
    /// Code from a list.
    Id,
    /// Integer with `n` implied decimals.
    N(u8),
    /// Decimal with an optional explicit point.
    R,
    /// Date.
    Dt,
    /// Time.
    Tm,
    /// Composite of components.
    Composite,
}

/// One element (or component) definition.
#[derive(Debug, Clone)]
pub struct ElementDef {
    /// Data element reference number (AK402).
    pub reference: String,
    /// Type.
    pub kind: ElementType,
    /// Requirement: `M`, `O` or `C`.
    pub mandatory: bool,
    /// Minimum length.
    pub min: u32,
    /// Maximum length.
    pub max: u32,
    /// Code list index.
    pub codes: Option<usize>,
    /// The mapping depends on this code.
    pub key: bool,
    /// Components of a composite.
    pub components: Vec<ElementDef>,
}

/// A syntax note: `P0405`, `R0304`, `E0103`, `C0605`, `L010203`.
#[derive(Debug, Clone)]
pub struct SyntaxNote {
    /// P, R, E, C or L.
    pub kind: u8,
    /// 1-based element positions.
    pub positions: Vec<usize>,
    /// The note as written.
    pub text: String,
    /// The smallest of `positions` (a note whose elements all lie beyond those sent is skipped
    /// on this alone).
    pub first: usize,
    /// `positions` as bits (bit `p` for position `p`), so that the validator can test the note
    /// against a segment's presence bits in a few instructions; 0 when the note cannot be
    /// tested that way (a position above 63, a position named twice, or more than 16 of them),
    /// and it is then tested element by element.
    pub mask: u64,
    /// The bit of the first position as written (what C and L notes hinge on).
    pub lead: u64,
}

/// A segment definition.
#[derive(Debug, Clone)]
pub struct SegmentDef {
    /// Tag.
    pub tag: String,
    /// Elements in position order.
    pub elements: Vec<ElementDef>,
    /// Syntax notes.
    pub syntax: Vec<SyntaxNote>,
    /// Position of the last mandatory element (0 when none): beyond it and beyond the elements
    /// sent there is nothing to check.
    pub last_mandatory: usize,
    /// Bit `n` set for each mandatory element `n`.
    pub mandatory_bits: u64,
    /// Whether a segment of this kind can be passed on presence bits (bit `n` for element `n`):
    /// at most 63 elements, and every syntax note has a mask.
    pub bit_checked: bool,
}

/// One entry of a loop body.
#[derive(Debug, Clone)]
pub enum Entry {
    /// A segment position.
    Segment {
        /// Packed tag.
        tag: Tag,
        /// Index into `Grammar::segments`.
        def: usize,
        /// Mandatory.
        required: bool,
        /// Maximum use.
        max: u32,
    },
    /// A nested loop.
    Loop {
        /// Index into `Grammar::loops`.
        index: usize,
        /// Mandatory.
        required: bool,
        /// Maximum repetitions.
        repeat: u32,
        /// The loop's trigger tag.
        trigger: Tag,
    },
}

impl Entry {
    /// The segment tag, or the loop's trigger tag.
    pub fn tag(&self) -> Tag {
        match self {
            Entry::Segment { tag, .. } => *tag,
            Entry::Loop { trigger, .. } => *trigger,
        }
    }
}

/// A loop (index 0 is the set body).
#[derive(Debug, Clone)]
pub struct LoopDef {
    /// Loop id (empty for the body).
    pub id: String,
    /// Entries; for a real loop, the first is its trigger.
    pub entries: Vec<Entry>,
    /// Tag (segment tag or loop trigger) → the entry positions it matches, ascending.
    pub by_tag: FxHashMap<Tag, Vec<usize>>,
    /// Positions of the required entries, ascending.
    pub required: Vec<usize>,
    /// For each position `i` (and one past the last), how many required entries come before
    /// it: whether a skip from `a` to `b` passes a required entry is one subtraction.
    pub required_before: Vec<u32>,
}

/// A code list.
#[derive(Debug, Clone)]
pub struct CodeList {
    /// Its name.
    pub name: String,
    /// The whole list for the version (values outside are invalid).
    pub complete: bool,
    /// Codes of up to seven bytes (nearly all of them), packed into integers.
    short: FxHashSet<u64>,
    /// Longer codes.
    long: FxHashSet<Box<[u8]>>,
}

/// A code of up to seven bytes as one integer: its bytes and its length, so distinct codes never
/// share a key.
fn pack_code(value: &[u8]) -> Option<u64> {
    // Byte `i` goes to bits `8 * i`, the length to the top byte. Every ID element of every
    // segment is packed, so this reads the bytes as two overlapping words (which agree where
    // they overlap) instead of copying a slice of unknown length, which calls memcpy.
    let n = value.len();
    let two = |at: usize| {
        value
            .get(at..at + 2)
            .and_then(|w| <[u8; 2]>::try_from(w).ok())
            .map_or(0, |w| u64::from(u16::from_le_bytes(w)))
    };
    let four = |at: usize| {
        value
            .get(at..at + 4)
            .and_then(|w| <[u8; 4]>::try_from(w).ok())
            .map_or(0, |w| u64::from(u32::from_le_bytes(w)))
    };
    let bytes = match *value {
        [] => 0,
        [b] => u64::from(b),
        [_, _] | [_, _, _] => two(0) | (two(n - 2) << (8 * (n - 2))),
        _ if n <= 7 => four(0) | (four(n - 4) << (8 * (n - 4))),
        _ => return None,
    };
    Some(bytes | ((n as u64) << 56))
}

impl CodeList {
    fn new(name: String, complete: bool, values: &[String]) -> CodeList {
        let mut list = CodeList {
            name,
            complete,
            short: FxHashSet::default(),
            long: FxHashSet::default(),
        };
        for v in values {
            match pack_code(v.as_bytes()) {
                Some(k) => list.short.insert(k),
                None => list.long.insert(v.as_bytes().into()),
            };
        }
        list
    }

    /// How many distinct codes the list holds.
    pub fn len(&self) -> usize {
        self.short.len() + self.long.len()
    }

    /// Whether the list holds no code.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The codes, sorted (for tests that need valid values).
    #[cfg(test)]
    pub(crate) fn codes(&self) -> Vec<Vec<u8>> {
        let short = self.short.iter().map(|k| {
            let b = k.to_le_bytes();
            b[..usize::from(b[7])].to_vec()
        });
        let mut all: Vec<Vec<u8>> = short.chain(self.long.iter().map(|v| v.to_vec())).collect();
        all.sort();
        all
    }

    /// Whether `value` is listed.
    pub fn contains(&self, value: &[u8]) -> bool {
        match pack_code(value) {
            Some(k) => self.short.contains(&k),
            None => self.long.contains(value),
        }
    }
}

/// HL rules.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    /// Segment holding the structure code.
    pub segment: Tag,
    /// Element position of the structure code.
    pub element: usize,
    /// Structure code → (root level, allowed parent>child pairs).
    pub structures: HashMap<String, (String, Vec<(String, String)>)>,
}

/// A count rule (`CTT01` counts `HL`).
#[derive(Debug, Clone)]
pub struct CountRule {
    /// Segment holding the count.
    pub segment: Tag,
    /// Element position of the count.
    pub element: usize,
    /// Tag of the counted segments.
    pub counted: Tag,
    /// The rule as written (`CTT01`).
    pub name: String,
}

/// A compiled grammar for one set and version.
#[derive(Debug, Clone)]
pub struct Grammar {
    /// ST01.
    pub set: String,
    /// Version (six characters).
    pub version: String,
    /// Expected GS01.
    pub functional_id: String,
    /// Human name.
    pub name: String,
    /// Where it was loaded from.
    pub source: String,
    /// Loops; index 0 is the body.
    pub loops: Vec<LoopDef>,
    /// Segment definitions.
    pub segments: Vec<SegmentDef>,
    /// Tag → segment definition.
    pub by_tag: FxHashMap<Tag, usize>,
    /// Tags that appear somewhere in the structure.
    pub in_structure: HashSet<Tag>,
    /// Code lists.
    pub codes: Vec<CodeList>,
    /// HL rules.
    pub hierarchy: Option<Hierarchy>,
    /// Count rules.
    pub counts: Vec<CountRule>,
    /// Loop id of each tag's innermost loop (for AK303), by tag.
    pub loop_of: HashMap<Tag, String>,
}

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
    errors: Vec<GrammarError>,
}

impl Ctx<'_> {
    fn err(&mut self, at: usize, message: impl Into<String>) {
        let (line, column) = line_col(self.text, at);
        self.errors.push(GrammarError {
            file: self.file.to_string(),
            line,
            column,
            message: message.into(),
        });
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let before = &text.as_bytes()[..at];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let column = at
        - before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |p| p + 1)
        + 1;
    (line, column)
}

/// Splits an element name such as `BSN05` into tag and position.
pub fn element_name(name: &str) -> Option<(Tag, usize)> {
    if name.len() < 4 || !name.is_ascii() {
        return None;
    }
    let (tag, pos) = name.split_at(name.len() - 2);
    let pos: usize = pos.parse().ok()?;
    Some((tag_key(tag.as_bytes())?, pos))
}

impl Grammar {
    /// Parses and checks a grammar file's text. `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Grammar, Vec<GrammarError>> {
        let mut ctx = Ctx {
            file,
            text,
            errors: Vec::new(),
        };
        let raw: RawGrammar = match toml::from_str(text) {
            Ok(r) => r,
            Err(e) => {
                let at = e.span().map_or(0, |s| s.start);
                ctx.err(at, e.message().to_string());
                return Err(ctx.errors);
            }
        };
        let g = compile(&mut ctx, raw);
        if ctx.errors.is_empty() {
            g.ok_or_else(Vec::new)
        } else {
            Err(ctx.errors)
        }
    }

    /// Loads a grammar file.
    pub fn load(path: &Path) -> Result<Grammar, Vec<GrammarError>> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![GrammarError {
                file: file.clone(),
                line: 1,
                column: 1,
                message: format!("cannot read: {e}"),
            }]
        })?;
        Grammar::parse(&file, &text)
    }

    /// The segment definition for a tag.
    pub fn segment(&self, tag: Tag) -> Option<&SegmentDef> {
        self.by_tag.get(&tag).map(|i| &self.segments[*i])
    }
}

fn parse_req(ctx: &mut Ctx<'_>, at: usize, req: &str, allow_c: bool) -> bool {
    match req {
        "M" => true,
        "O" => false,
        "C" if allow_c => false,
        other => {
            ctx.err(
                at,
                format!(
                    "req {other:?} must be {}",
                    if allow_c { "M, O or C" } else { "M or O" }
                ),
            );
            false
        }
    }
}

fn compile(ctx: &mut Ctx<'_>, raw: RawGrammar) -> Option<Grammar> {
    let set_at = raw.set.span().start;
    if raw.set.get_ref().len() != 3 || !raw.set.get_ref().bytes().all(|b| b.is_ascii_digit()) {
        ctx.err(
            set_at,
            format!(
                "set {:?} is not a 3-digit transaction set id",
                raw.set.get_ref()
            ),
        );
    }
    let version_at = raw.version.span().start;
    if raw.version.get_ref().len() != 6
        || !raw.version.get_ref().bytes().all(|b| b.is_ascii_digit())
    {
        ctx.err(
            version_at,
            format!(
                "version {:?} is not six digits (e.g. 004010)",
                raw.version.get_ref()
            ),
        );
    }
    // Code lists.
    let mut code_index = HashMap::new();
    let mut codes = Vec::new();
    for (name, list) in &raw.codes {
        let at = list.span().start;
        let list = list.get_ref();
        if list.values.is_empty() {
            ctx.err(at, format!("code list {name} is empty"));
        }
        let compiled = CodeList::new(name.clone(), list.complete, &list.values);
        if compiled.len() != list.values.len() {
            ctx.err(at, format!("code list {name} has duplicate values"));
        }
        code_index.insert(name.clone(), codes.len());
        codes.push(compiled);
    }
    // Segments.
    let mut segments = Vec::new();
    let mut by_tag = FxHashMap::default();
    let mut used_codes = HashSet::new();
    for (tag, seg) in &raw.segments {
        let at = seg.span().start;
        let Some(key) = tag_key(tag.as_bytes()) else {
            ctx.err(
                at,
                format!("segment tag {tag:?} is not 2 or 3 letters and digits"),
            );
            continue;
        };
        let seg = seg.get_ref();
        let mut elements = Vec::new();
        for el in &seg.elements {
            if let Some(def) = compile_element(ctx, el, &code_index, &mut used_codes, false) {
                elements.push(def);
            }
        }
        let mut syntax = Vec::new();
        for note in &seg.syntax {
            match parse_syntax(note, elements.len()) {
                Ok(n) => syntax.push(n),
                Err(m) => ctx.err(at, format!("segment {tag}: {m}")),
            }
        }
        by_tag.insert(key, segments.len());
        let last_mandatory = elements
            .iter()
            .rposition(|e| e.mandatory)
            .map_or(0, |i| i + 1);
        let bit_checked = elements.len() < 64 && syntax.iter().all(|n| n.mask != 0);
        let mandatory_bits = elements
            .iter()
            .enumerate()
            .filter(|(i, e)| e.mandatory && *i < 63)
            .fold(0u64, |bits, (i, _)| bits | (2 << i));
        segments.push(SegmentDef {
            tag: tag.clone(),
            elements,
            syntax,
            last_mandatory,
            mandatory_bits,
            bit_checked,
        });
    }
    for name in code_index.keys() {
        if !used_codes.contains(name) {
            let at = raw.codes.get(name).map_or(0, |c| c.span().start);
            ctx.err(at, format!("code list {name} is not used by any element"));
        }
    }
    // Loops: index 0 is the body; others in definition order, resolved by id.
    let mut loop_ids: HashMap<String, usize> = HashMap::new();
    for (i, id) in raw.loops.keys().enumerate() {
        loop_ids.insert(id.clone(), i + 1);
    }
    let mut loops = vec![LoopDef {
        id: String::new(),
        entries: Vec::new(),
        by_tag: FxHashMap::default(),
        required: Vec::new(),
        required_before: Vec::new(),
    }];
    for id in raw.loops.keys() {
        loops.push(LoopDef {
            id: id.clone(),
            entries: Vec::new(),
            by_tag: FxHashMap::default(),
            required: Vec::new(),
            required_before: Vec::new(),
        });
    }
    let mut in_structure = HashSet::new();
    let bodies: Vec<(usize, &Vec<Spanned<RawEntry>>, usize)> =
        std::iter::once((0, &raw.structure, 0))
            .chain(
                raw.loops
                    .iter()
                    .map(|(id, l)| (loop_ids[id], &l.get_ref().structure, l.span().start)),
            )
            .collect();
    for (index, body, at) in &bodies {
        if body.is_empty() {
            ctx.err(
                *at,
                format!("loop {} has an empty structure", loops[*index].id),
            );
            continue;
        }
        let mut entries = Vec::new();
        for (n, entry) in body.iter().enumerate() {
            let eat = entry.span().start;
            let e = entry.get_ref();
            let required = parse_req(ctx, eat, &e.req, false);
            match (&e.seg, &e.loop_id) {
                (Some(tag), None) => {
                    let Some(key) = tag_key(tag.as_bytes()) else {
                        ctx.err(
                            eat,
                            format!("segment tag {tag:?} is not 2 or 3 letters and digits"),
                        );
                        continue;
                    };
                    let Some(&def) = by_tag.get(&key) else {
                        ctx.err(
                            eat,
                            format!("segment {tag} is used but not defined under [segments.{tag}]"),
                        );
                        continue;
                    };
                    let max = e.max.unwrap_or(0);
                    if max == 0 || e.repeat.is_some() {
                        ctx.err(eat, format!("segment {tag} needs max >= 1 (and no repeat)"));
                    }
                    if *index != 0 && n == 0 && (!required || max != 1) {
                        ctx.err(
                            eat,
                            format!("loop trigger {tag} must be req = \"M\", max = 1"),
                        );
                    }
                    in_structure.insert(key);
                    entries.push(Entry::Segment {
                        tag: key,
                        def,
                        required,
                        max: max.max(1),
                    });
                }
                (None, Some(id)) => {
                    let Some(&li) = loop_ids.get(id) else {
                        ctx.err(
                            eat,
                            format!("loop {id} is used but not defined under [loops.{id}]"),
                        );
                        continue;
                    };
                    if *index != 0 && n == 0 {
                        ctx.err(
                            eat,
                            "a loop must begin with its trigger segment, not a loop",
                        );
                    }
                    let repeat = e.repeat.unwrap_or(0);
                    if repeat == 0 || e.max.is_some() {
                        ctx.err(eat, format!("loop {id} needs repeat >= 1 (and no max)"));
                    }
                    entries.push(Entry::Loop {
                        index: li,
                        required,
                        repeat: repeat.max(1),
                        trigger: 0,
                    });
                }
                _ => ctx.err(eat, "an entry needs exactly one of seg or loop"),
            }
        }
        loops[*index].entries = entries;
    }
    // Resolve triggers, check depth and cycles.
    let triggers: Vec<Tag> = loops
        .iter()
        .map(|l| match l.entries.first() {
            Some(Entry::Segment { tag, .. }) => *tag,
            _ => 0,
        })
        .collect();
    for l in &mut loops {
        for e in &mut l.entries {
            if let Entry::Loop { index, trigger, .. } = e {
                *trigger = triggers[*index];
            }
        }
        for (i, e) in l.entries.iter().enumerate() {
            let (tag, required) = match e {
                Entry::Segment { tag, required, .. } => (*tag, *required),
                Entry::Loop {
                    trigger, required, ..
                } => (*trigger, *required),
            };
            l.by_tag.entry(tag).or_default().push(i);
            l.required_before.push(l.required.len() as u32);
            if required {
                l.required.push(i);
            }
        }
        l.required_before.push(l.required.len() as u32);
    }
    let mut loop_of = HashMap::new();
    let mut reached = HashSet::new();
    walk_depth(
        ctx,
        &loops,
        0,
        0,
        &mut Vec::new(),
        &mut loop_of,
        &mut reached,
    );
    for (id, l) in &raw.loops {
        if !reached.contains(&loop_ids[id]) {
            ctx.err(
                l.span().start,
                format!("loop {id} is defined but never used"),
            );
        }
    }
    match (
        raw.structure.first().map(|e| e.get_ref()),
        raw.structure.last().map(|e| e.get_ref()),
    ) {
        (Some(first), Some(last))
            if first.seg.as_deref() == Some("ST") && last.seg.as_deref() == Some("SE") => {}
        _ => ctx.err(0, "structure must begin with ST and end with SE"),
    }
    // Hierarchy and counts.
    let hierarchy = raw.hierarchy.as_ref().and_then(|h| {
        let at = h.span().start;
        let h = h.get_ref();
        let Some((segment, element)) = element_name(&h.structure_element) else {
            ctx.err(
                at,
                format!(
                    "structure_element {:?} is not an element name like BSN05",
                    h.structure_element
                ),
            );
            return None;
        };
        let mut structures = HashMap::new();
        for (code, s) in &h.structures {
            let mut pairs = Vec::new();
            for p in &s.pairs {
                match p.split_once('>') {
                    Some((a, b)) if !a.is_empty() && !b.is_empty() => {
                        pairs.push((a.to_string(), b.to_string()))
                    }
                    _ => ctx.err(
                        at,
                        format!("structure {code}: pair {p:?} is not written parent>child"),
                    ),
                }
            }
            structures.insert(code.clone(), (s.root.clone(), pairs));
        }
        Some(Hierarchy {
            segment,
            element,
            structures,
        })
    });
    let mut counts = Vec::new();
    for c in &raw.counts {
        let at = c.span().start;
        let c = c.get_ref();
        match (element_name(&c.element), tag_key(c.segment.as_bytes())) {
            (Some((segment, element)), Some(counted)) => counts.push(CountRule {
                segment,
                element,
                counted,
                name: c.element.clone(),
            }),
            _ => ctx.err(
                at,
                format!(
                    "count {:?} of {:?} is not an element name and a tag",
                    c.element, c.segment
                ),
            ),
        }
    }
    Some(Grammar {
        set: raw.set.into_inner(),
        version: raw.version.into_inner(),
        functional_id: raw.functional_id,
        name: raw.name,
        source: ctx.file.to_string(),
        loops,
        segments,
        by_tag,
        in_structure,
        codes,
        hierarchy,
        counts,
        loop_of,
    })
}

fn walk_depth(
    ctx: &mut Ctx<'_>,
    loops: &[LoopDef],
    index: usize,
    depth: usize,
    path: &mut Vec<usize>,
    loop_of: &mut HashMap<Tag, String>,
    reached: &mut HashSet<usize>,
) {
    if depth > MAX_LOOP_DEPTH || path.contains(&index) {
        ctx.err(
            0,
            format!("loop {} nests too deep or contains itself", loops[index].id),
        );
        return;
    }
    reached.insert(index);
    path.push(index);
    for e in &loops[index].entries {
        match e {
            Entry::Segment { tag, .. } => {
                if index != 0 {
                    loop_of
                        .entry(*tag)
                        .or_insert_with(|| loops[index].id.clone());
                }
            }
            Entry::Loop { index: li, .. } => {
                walk_depth(ctx, loops, *li, depth + 1, path, loop_of, reached)
            }
        }
    }
    path.pop();
}

fn compile_element(
    ctx: &mut Ctx<'_>,
    el: &Spanned<RawElement>,
    code_index: &HashMap<String, usize>,
    used: &mut HashSet<String>,
    in_composite: bool,
) -> Option<ElementDef> {
    let at = el.span().start;
    let e = el.get_ref();
    let reference = match &e.reference {
        RawRef::Number(n) => n.to_string(),
        RawRef::Text(t) => t.clone(),
    };
    let kind = match e.kind.as_str() {
        "AN" => ElementType::An,
        "ID" => ElementType::Id,
        "R" => ElementType::R,
        "DT" => ElementType::Dt,
        "TM" => ElementType::Tm,
        "composite" if !in_composite => ElementType::Composite,
        n if n.len() == 2 && n.starts_with('N') && n.as_bytes()[1].is_ascii_digit() => {
            ElementType::N(n.as_bytes()[1] - b'0')
        }
        other => {
            ctx.err(
                at,
                format!(
                    "element {reference}: type {other:?} is not AN, ID, Nn, R, DT, TM or composite"
                ),
            );
            return None;
        }
    };
    let mandatory = parse_req(ctx, at, &e.req, true);
    let codes = match &e.codes {
        Some(name) => match code_index.get(name) {
            Some(i) => {
                used.insert(name.clone());
                Some(*i)
            }
            None => {
                ctx.err(
                    at,
                    format!("element {reference}: code list {name:?} is not defined under [codes]"),
                );
                None
            }
        },
        None => None,
    };
    let mut components = Vec::new();
    let (min, max) = if kind == ElementType::Composite {
        match &e.components {
            Some(list) if !list.is_empty() => {
                for c in list {
                    if let Some(def) = compile_element(ctx, c, code_index, used, true) {
                        components.push(def);
                    }
                }
            }
            _ => ctx.err(at, format!("composite {reference} needs components")),
        }
        (0, 0)
    } else {
        match (e.min, e.max) {
            (Some(min), Some(max)) if min >= 1 && min <= max => (min, max),
            _ => {
                ctx.err(
                    at,
                    format!("element {reference}: needs min and max with 1 <= min <= max"),
                );
                (1, 1)
            }
        }
    };
    Some(ElementDef {
        reference,
        kind,
        mandatory,
        min,
        max,
        codes,
        key: e.key,
        components,
    })
}

fn parse_syntax(note: &str, count: usize) -> Result<SyntaxNote, String> {
    let bytes = note.as_bytes();
    if bytes.len() < 5
        || (bytes.len() - 1) % 2 != 0
        || !b"PRECL".contains(&bytes[0])
        || !note.is_ascii()
    {
        return Err(format!("syntax note {note:?} is not like P0405 or L010203"));
    }
    let mut positions = Vec::new();
    for pair in note.as_bytes()[1..].chunks(2) {
        let p: usize = std::str::from_utf8(pair)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("syntax note {note:?} has a bad position"))?;
        if p == 0 || p > count {
            return Err(format!("syntax note {note} names element {p} of {count}"));
        }
        positions.push(p);
    }
    let mut mask = 0u64;
    let mut distinct = positions.len() <= 16;
    for &p in &positions {
        let bit = if p < 64 { 1u64 << p } else { 0 };
        distinct &= bit != 0 && mask & bit == 0;
        mask |= bit;
    }
    let mask = if distinct { mask } else { 0 };
    Ok(SyntaxNote {
        kind: bytes[0],
        first: positions.iter().copied().min().unwrap_or(0),
        lead: mask
            & positions
                .first()
                .map_or(0, |&p| 1u64.checked_shl(p as u32).unwrap_or(0)),
        mask,
        positions,
        text: note.to_string(),
    })
}

/// The grammar files compiled into the binary (every file under `grammars/`).
pub const EMBEDDED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/grammars.rs"));

/// How a set found its grammar.
#[derive(Debug, Clone)]
pub enum Resolution<'g> {
    /// A grammar for exactly this version.
    Exact(&'g Grammar),
    /// The closest grammar of the same version family (e.g. 004030 validated as 004010).
    Fallback(&'g Grammar),
    /// The version family has grammars, but none for this set.
    UnknownSet,
    /// No grammar at all for this version family.
    UnsupportedVersion,
}

/// All grammars available, keyed by set and version.
#[derive(Debug, Clone, Default)]
pub struct Grammars {
    by_key: HashMap<(String, String), Arc<Grammar>>,
}

impl Grammars {
    /// The grammars compiled into the binary.
    pub fn embedded() -> Result<Grammars, Vec<GrammarError>> {
        let mut g = Grammars::default();
        let mut errors = Vec::new();
        for (name, text) in EMBEDDED {
            match Grammar::parse(name, text) {
                Ok(gr) => g.insert(gr),
                Err(e) => errors.extend(e),
            }
        }
        if errors.is_empty() {
            Ok(g)
        } else {
            Err(errors)
        }
    }

    /// Adds (or replaces) every `*.toml` grammar under `dir` (searched recursively).
    pub fn load_dir(&mut self, dir: &Path) -> Result<usize, Vec<GrammarError>> {
        let mut files = Vec::new();
        collect_toml(dir, &mut files).map_err(|e| {
            vec![GrammarError {
                file: dir.display().to_string(),
                line: 1,
                column: 1,
                message: format!("cannot read directory: {e}"),
            }]
        })?;
        files.sort();
        let mut errors = Vec::new();
        let mut n = 0;
        for f in files {
            match Grammar::load(&f) {
                Ok(g) => {
                    self.insert(g);
                    n += 1;
                }
                Err(e) => errors.extend(e),
            }
        }
        if errors.is_empty() {
            Ok(n)
        } else {
            Err(errors)
        }
    }

    /// Adds (or replaces) one grammar.
    pub fn insert(&mut self, g: Grammar) {
        self.by_key
            .insert((g.set.clone(), g.version.clone()), Arc::new(g));
    }

    /// Number of grammars.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Whether any grammar serves this version family (the first three digits of GS08).
    pub fn supports_family(&self, version: &str) -> bool {
        let fam = version.get(..3).unwrap_or(version);
        self.by_key.keys().any(|(_, v)| v.starts_with(fam))
    }

    /// Finds the grammar for a set in a version (the first six characters of GS08).
    pub fn resolve(&self, set: &str, version: &str) -> Resolution<'_> {
        let version = version.get(..6).unwrap_or(version);
        if let Some(g) = self.by_key.get(&(set.to_string(), version.to_string())) {
            return Resolution::Exact(g);
        }
        if version.len() < 3 || !self.supports_family(version) {
            return Resolution::UnsupportedVersion;
        }
        let fam = &version[..3];
        let mut candidates: Vec<&Arc<Grammar>> = self
            .by_key
            .iter()
            .filter(|((s, v), _)| s == set && v.starts_with(fam))
            .map(|(_, g)| g)
            .collect();
        candidates.sort_by(|a, b| a.version.cmp(&b.version));
        let below = candidates
            .iter()
            .rev()
            .find(|g| g.version.as_str() <= version);
        match below.or(candidates.first()) {
            Some(g) => Resolution::Fallback(g),
            None => Resolution::UnknownSet,
        }
    }
}

fn collect_toml(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_toml(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINI: &str = r#"
set = "940"
version = "004010"
functional_id = "OW"
name = "mini"
structure = [
  { seg = "ST", req = "M", max = 1 },
  { seg = "W05", req = "M", max = 1 },
  { loop = "0300", req = "M", repeat = 999999 },
  { seg = "SE", req = "M", max = 1 },
]
[loops.0300]
structure = [ { seg = "LX", req = "M", max = 1 }, { seg = "W01", req = "M", max = 1 } ]
[segments.ST]
elements = [ { ref = 143, type = "ID", req = "M", min = 3, max = 3 }, { ref = 329, type = "AN", req = "M", min = 4, max = 9 } ]
[segments.SE]
elements = [ { ref = 96, type = "N0", req = "M", min = 1, max = 10 }, { ref = 329, type = "AN", req = "M", min = 4, max = 9 } ]
[segments.W05]
elements = [ { ref = 473, type = "ID", req = "M", min = 1, max = 1, codes = "W0501", key = true } ]
[segments.LX]
elements = [ { ref = 554, type = "N0", req = "M", min = 1, max = 6 } ]
[segments.W01]
elements = [ { ref = 330, type = "R", req = "M", min = 1, max = 15 } ]
[codes.W0501]
complete = true
values = ["N", "F"]
"#;

    #[test]
    fn a_small_grammar_compiles() {
        let g = Grammar::parse("mini.toml", MINI).expect("valid grammar");
        assert_eq!(g.loops.len(), 2);
        assert_eq!(
            g.loop_of.get(&tag_key(b"W01").unwrap()).map(String::as_str),
            Some("0300")
        );
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let bad = MINI.replace(
            "{ seg = \"W05\", req = \"M\", max = 1 }",
            "{ seg = \"W06\", req = \"M\", max = 1 }",
        );
        let errs = Grammar::parse("mini.toml", &bad).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].line, 8);
        assert!(
            errs[0].to_string().starts_with("mini.toml:8:"),
            "{}",
            errs[0]
        );
        let unknown = MINI.replace("name = \"mini\"", "name = \"mini\"\ncolour = 1");
        let errs = Grammar::parse("mini.toml", &unknown).unwrap_err();
        assert!(errs[0].message.contains("colour"), "{errs:?}");
    }

    #[test]
    fn code_lists_tell_short_and_long_codes_apart() {
        let values: Vec<String> = ["A", "AB", "ABCDEFG", "ABCDEFGH", "", "00"]
            .iter()
            .map(|v| v.to_string())
            .collect();
        let list = CodeList::new("t".into(), true, &values);
        assert_eq!(list.len(), 6);
        for v in &values {
            assert!(list.contains(v.as_bytes()), "{v}");
        }
        for v in ["B", "A\0", "ABCDEF", "ABCDEFGHI", "0", "000", "AB\0\0"] {
            assert!(!list.contains(v.as_bytes()), "{v:?}");
        }
    }

    #[test]
    fn packed_codes_are_the_bytes_and_the_length() {
        // What `pack_code` must equal: the bytes copied into a zeroed word, the length on top.
        let copied = |v: &[u8]| {
            let mut b = [0u8; 8];
            b[..v.len()].copy_from_slice(v);
            b[7] = v.len() as u8;
            u64::from_le_bytes(b)
        };
        let source: Vec<u8> = (0u8..=255).rev().collect();
        for n in 0..=7 {
            for start in 0..source.len() - n {
                let v = &source[start..start + n];
                assert_eq!(pack_code(v), Some(copied(v)), "{v:?}");
            }
        }
        assert_eq!(pack_code(b"ABCDEFGH"), None);
    }

    #[test]
    fn syntax_notes_as_bits() {
        let n = parse_syntax("C0605", 7).unwrap();
        assert_eq!((n.mask, n.lead), ((1 << 6) | (1 << 5), 1 << 6));
        // A position named twice is tested element by element.
        assert_eq!(parse_syntax("E0101", 7).unwrap().mask, 0);
        assert_eq!(parse_syntax("P6364", 70).unwrap().mask, 0);
        assert_ne!(parse_syntax("P6263", 70).unwrap().mask, 0);
    }

    #[test]
    fn embedded_grammars_all_load() {
        let g = Grammars::embedded().unwrap_or_else(|e| {
            panic!(
                "{}",
                e.iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
        assert!(!g.is_empty());
    }

    #[test]
    fn version_resolution_falls_back_within_the_family() {
        let mut gs = Grammars::default();
        gs.insert(Grammar::parse("mini.toml", MINI).unwrap());
        assert!(matches!(
            gs.resolve("940", "004010VICS"),
            Resolution::Exact(_)
        ));
        assert!(matches!(
            gs.resolve("940", "004030"),
            Resolution::Fallback(_)
        ));
        assert!(matches!(
            gs.resolve("945", "004010"),
            Resolution::UnknownSet
        ));
        assert!(matches!(
            gs.resolve("940", "002001"),
            Resolution::UnsupportedVersion
        ));
    }
}

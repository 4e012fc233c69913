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

mod compile;

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
        // A look at each of a few dozen grammars at most, with no key to allocate: this runs
        // for every set.
        if let Some(g) = self
            .by_key
            .iter()
            .find_map(|((s, v), g)| (s == set && v == version).then_some(g))
        {
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
    use super::compile::parse_syntax;
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

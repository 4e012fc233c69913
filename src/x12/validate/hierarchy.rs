//! The 856 hierarchy as a tree: HL01 ids seen in the set with their levels, HL02 pointing at an
//! HL already seen, and levels that fit the structure code (BSN05).

use rustc_hash::FxHashMap;

use super::values::trim_spaces;
use super::{Findings, SetValidator};
use crate::x12::finding::{Code, bad_value};
use crate::x12::policy::Rule;
use crate::x12::segment::Segment;

/// An HL structure's root level and its allowed parent>child level pairs, as packed codes.
pub(super) type PackedStructure = ([u8; 2], Vec<([u8; 2], [u8; 2])>);

impl SetValidator<'_> {
    pub(super) fn check_hl(&mut self, seg: &Segment<'_>, position: u32, out: &mut Findings) {
        let id = trim_spaces(seg.element(1));
        let parent = trim_spaces(seg.element(2));
        let level = trim_spaces(seg.element(3));
        let hl_finding = |this: &Self, out: &mut Findings, rule: Rule, n: usize, msg: String| {
            let mut loc = this.loc(seg, position);
            loc.element = Some(n as u16);
            loc.element_ref = Some(["628", "734", "735"][n - 1].into());
            loc.bad_value = Some(bad_value(seg.element(n)).into());
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
pub(super) struct HlLevels {
    dense: Vec<Option<[u8; 2]>>,
    sparse: FxHashMap<HlKey, [u8; 2]>,
}

/// HL01 numbers below this are kept in the vector.
const DENSE_HL: u64 = 1 << 16;

impl HlLevels {
    pub(super) fn clear(&mut self) {
        self.dense.clear();
        self.sparse.clear();
    }

    #[inline]
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
                // Ids nearly always come in order: the next one is a push.
                if i == self.dense.len() {
                    self.dense.push(Some(level));
                    return;
                }
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
pub(super) enum HlKey {
    Number(u64),
    Text(Box<[u8]>),
}

impl HlKey {
    #[inline]
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
pub(super) fn level_key(level: &[u8]) -> [u8; 2] {
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

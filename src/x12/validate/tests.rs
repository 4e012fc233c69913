//! The fast path held to the full path: every segment, generated against the real grammars,
//! gets the same findings in the same order either way.

use std::sync::OnceLock;

use proptest::prelude::*;

use super::{Findings, SetValidator};
use crate::x12::delimiters::Delimiters;
use crate::x12::finding::{Finding, Location};
use crate::x12::grammar::{ElementDef, ElementType, Grammar, Grammars, Resolution};
use crate::x12::policy::Policy;
use crate::x12::segment::Segment;

/// The embedded grammars, parsed once for all cases.
fn grammars() -> &'static [Grammar] {
    static ALL: OnceLock<Vec<Grammar>> = OnceLock::new();
    ALL.get_or_init(|| {
        let all = Grammars::embedded().expect("embedded grammars load");
        let mut out = Vec::new();
        for version in ["004010", "005010"] {
            for set in ["214", "856", "940", "945", "997", "999"] {
                if let Resolution::Exact(g) = all.resolve(set, version) {
                    out.push(g.clone());
                }
            }
        }
        assert!(out.len() >= 10, "{} grammars", out.len());
        out
    })
}

/// One piece of a generated value: what it is and a number that picks among its kind.
type Piece = (u8, u32);

/// Turns pieces into bytes for an element (or component) of the given definition: valid codes,
/// digits, decimals, dates and times mixed with blanks, separators, control bytes and
/// non-ASCII, so that both the accepting and the reporting side of every check are reached.
fn render(g: &Grammar, ed: &ElementDef, pieces: &[Piece], d: &Delimiters, out: &mut Vec<u8>) {
    for &(kind, n) in pieces {
        let n = n as usize;
        match kind % 17 {
            0..=2 => match ed.codes {
                Some(ci) => {
                    let codes = g.codes[ci].codes();
                    out.extend_from_slice(&codes[n % codes.len()]);
                }
                None => out.extend(std::iter::repeat_n(b'7', 1 + n % 4)),
            },
            3 => out.extend(std::iter::repeat_n(b'1', n % 20)),
            4 => out.extend_from_slice(
                [
                    &b"20240229"[..],
                    b"20230229",
                    b"260105",
                    b"20261301",
                    b"19991231",
                ][n % 5],
            ),
            5 => out.extend_from_slice(
                [
                    &b"1430"[..],
                    b"2400",
                    b"235959",
                    b"2359599",
                    b"12345678",
                    b"0960",
                ][n % 6],
            ),
            6 => out.extend_from_slice([&b"-"[..], b".", b"-12.5", b"1.2.3", b"0"][n % 5]),
            7 => out.extend(std::iter::repeat_n(b' ', 1 + n % 3)),
            8 => out.push(d.repetition.unwrap_or(b'^')),
            9 => out.push(d.component),
            10 => out.push([0x01, 0x1D, 0x7F, b'\t'][n % 4]),
            11 => out.extend_from_slice(["é".as_bytes(), &[0xFF], "€".as_bytes()][n % 3]),
            12 => out.extend((0..1 + n % 40).map(|i| b"ABCXYZ mnop-0189/"[(i * 7 + n) % 17])),
            16 => {
                // A value that fits the definition's type and length.
                let span = ed.max.saturating_sub(ed.min) as usize + 1;
                let len = (ed.min as usize + n % span).min(30);
                match ed.kind {
                    ElementType::Id if ed.codes.is_some() => {
                        render(g, ed, &[(0, n as u32)], d, out);
                    }
                    ElementType::N(_) | ElementType::R => {
                        out.extend((0..len).map(|i| b'1' + ((i + n) % 9) as u8));
                    }
                    ElementType::Dt if ed.max >= 8 => out.extend_from_slice(b"20260101"),
                    ElementType::Dt => out.extend_from_slice(b"260101"),
                    ElementType::Tm => {
                        let fits = [&b"1430"[..], b"143059", b"1430591", b"14305912"]
                            .into_iter()
                            .filter(|t| (ed.min as usize..=ed.max as usize).contains(&t.len()))
                            .collect::<Vec<_>>();
                        out.extend_from_slice(
                            fits.get(n % fits.len().max(1)).unwrap_or(&&b"1430"[..]),
                        );
                    }
                    _ => out.extend((0..len).map(|i| b"AZ09 mq-/"[(i + n) % 9])),
                }
            }
            _ => {
                // The right shape for the element's type, most of the time valid.
                let text: &[u8] = match ed.kind {
                    ElementType::N(_) => [&b"12"[..], b"-7", b"000123"][n % 3],
                    ElementType::R => [&b"812.5"[..], b"-0.25", b"40"][n % 3],
                    ElementType::Dt => [&b"20260101"[..], b"260101"][n % 2],
                    ElementType::Tm => [&b"1430"[..], b"143059"][n % 2],
                    _ => [&b"AB"[..], b"QXRL", b"TRL5521"][n % 3],
                };
                out.extend_from_slice(text);
            }
        }
    }
}

/// A composite's value: components joined by the component separator.
fn render_composite(
    g: &Grammar,
    ed: &ElementDef,
    parts: &[Vec<Piece>],
    d: &Delimiters,
    out: &mut Vec<u8>,
) {
    for (c, pieces) in parts.iter().enumerate() {
        if c > 0 {
            out.push(d.component);
        }
        let cd = ed.components.get(c).unwrap_or(ed);
        render(g, cd, pieces, d, out);
    }
}

/// The findings of the full path, after checking that the fast path (with and without the
/// one-pass test for segments with nothing to report) finds the same. `v` is kept from one
/// segment to the next, as in a set.
fn findings(
    v: &mut SetValidator<'_>,
    g: &Grammar,
    def_index: usize,
    seg: &Segment<'_>,
    position: u32,
) -> Result<Vec<Finding>, TestCaseError> {
    let def = &g.segments[def_index];
    let mut full = Findings::default();
    v.check_elements_as::<false>(def, seg, position, &mut full);
    let mut fast = Findings::default();
    v.check_elements_as::<true>(def, seg, position, &mut fast);
    let mut first = Findings::default();
    v.check_elements(def_index, seg, position, &mut first);
    let shown = String::from_utf8_lossy(seg.data);
    prop_assert_eq!(&fast.list, &full.list, "fast path on {}", shown);
    prop_assert_eq!(&first.list, &full.list, "one-pass test on {}", shown);
    prop_assert_eq!(full.dropped, 0);
    Ok(full.list)
}

fn pieces() -> impl Strategy<Value = Vec<Piece>> {
    // Mostly one well-shaped piece (the common case), sometimes a mix.
    prop_oneof![
        3 => (13u8..17, any::<u32>()).prop_map(|p| vec![p]),
        2 => (0u8..3, any::<u32>()).prop_map(|p| vec![p]),
        1 => Just(Vec::new()),
        3 => prop::collection::vec((any::<u8>(), any::<u32>()), 0..4),
    ]
}

/// How one generated segment is made: its values' pieces, whether to tidy them, and how many
/// elements it has beyond (`extra`) or short of (`short`) its definition.
#[derive(Debug, Clone)]
struct Shape {
    elements: Vec<Vec<Vec<Piece>>>,
    tidy: bool,
    extra: usize,
    short: usize,
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        prop::collection::vec(prop::collection::vec(pieces(), 1..4), 0..40),
        any::<bool>(),
        prop_oneof![3 => Just(0usize), 1 => 1usize..4],
        0usize..3,
    )
        .prop_map(|(elements, tidy, extra, short)| Shape {
            elements,
            tidy,
            extra,
            short,
        })
}

/// A segment's bytes and element bounds, built from its shape.
fn build(
    g: &Grammar,
    def_index: usize,
    shape: &Shape,
    d: &Delimiters,
) -> (Vec<u8>, Vec<(u32, u32)>) {
    let def = &g.segments[def_index];
    // Between a few short of the definition and a few beyond it (too many elements).
    let count = (def.elements.len() + shape.extra)
        .saturating_sub(shape.short)
        .min(shape.elements.len());
    let mut data = def.tag.as_bytes().to_vec();
    let mut bounds = vec![(0u32, data.len() as u32)];
    for (i, parts) in shape.elements.iter().take(count).enumerate() {
        // A tidy segment has only empty or well-shaped values: most of them have nothing to
        // report, or only a syntax note or a missing element.
        let tidied: Vec<Vec<Piece>>;
        let parts = if shape.tidy {
            tidied = parts
                .iter()
                .map(|p| match p.first() {
                    Some(&(k, n)) if k % 3 != 0 => vec![(16, n)],
                    _ => Vec::new(),
                })
                .collect();
            &tidied
        } else {
            parts
        };
        data.push(d.element);
        let start = data.len() as u32;
        match def.elements.get(i) {
            Some(ed) if ed.kind == ElementType::Composite => {
                render_composite(g, ed, parts, d, &mut data)
            }
            Some(ed) => render(g, ed, &parts[0], d, &mut data),
            None => render(g, &def.elements[0], &parts[0], d, &mut data),
        }
        bounds.push((start, data.len() as u32));
    }
    (data, bounds)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// A few segments of one kind through one validator (so that what it remembers between
    /// segments is tested too), each against the full path.
    #[test]
    fn fast_path_finds_what_the_full_path_finds(
        which in any::<prop::sample::Index>(),
        seg_pick in any::<prop::sample::Index>(),
        shapes in prop::collection::vec(shape(), 1..4),
        again in any::<prop::sample::Index>(),
        repetition in prop::option::of(Just(b'^')),
        element_sep in prop::sample::select(vec![b'*', b'*', b'*', 0x1D]),
    ) {
        let all = grammars();
        let g = &all[which.index(all.len())];
        let def_index = seg_pick.index(g.segments.len());
        let delimiters = Delimiters {
            element: element_sep,
            ..Delimiters::standard(repetition)
        };
        let mut v = SetValidator::new(g, Policy::default(), Location::default());
        // One of the shapes comes again at the end: the same elements sent twice.
        let order = (0..shapes.len()).chain(std::iter::once(again.index(shapes.len())));
        for (position, i) in order.enumerate() {
            let (data, bounds) = build(g, def_index, &shapes[i], &delimiters);
            let seg = Segment {
                offset: 100,
                data: &data,
                bounds: &bounds,
                delimiters: &delimiters,
                lowercase_tag: false,
                unterminated: false,
            };
            findings(&mut v, g, def_index, &seg, position as u32 + 2)?;
        }
    }
}

/// The generator reaches what it is meant to: segments that pass and segments with each kind of
/// finding, through both the fast path and the full one.
#[test]
fn generated_segments_reach_every_element_rule() {
    use crate::x12::policy::Rule;
    let all = grammars();
    let g = &all[0];
    let d = Delimiters::standard(Some(b'^'));
    let mut rules = std::collections::HashSet::new();
    for (def_index, def) in g.segments.iter().enumerate() {
        for seed in 0u32..64 {
            let mut data = def.tag.as_bytes().to_vec();
            let mut bounds = vec![(0u32, data.len() as u32)];
            for (i, ed) in def.elements.iter().enumerate() {
                data.push(b'*');
                let start = data.len() as u32;
                let kind = ((seed as usize + i * 5) % 17) as u8;
                render(
                    g,
                    ed,
                    &[(kind, seed.wrapping_mul(2_654_435_761))],
                    &d,
                    &mut data,
                );
                bounds.push((start, data.len() as u32));
            }
            let seg = Segment {
                offset: 0,
                data: &data,
                bounds: &bounds,
                delimiters: &d,
                lowercase_tag: false,
                unterminated: false,
            };
            let mut v = SetValidator::new(g, Policy::default(), Location::default());
            let found = findings(&mut v, g, def_index, &seg, 2).expect("the paths agree");
            rules.extend(found.iter().map(|f| f.rule));
        }
    }
    for rule in [
        Rule::MandatoryElement,
        Rule::InvalidCharacter,
        Rule::InvalidDate,
        Rule::InvalidTime,
        Rule::ElementLength,
        Rule::SyntaxNote,
        Rule::TrailingEmpty,
    ] {
        assert!(
            rules.contains(&rule),
            "{rule:?} never found; found {rules:?}"
        );
    }
}

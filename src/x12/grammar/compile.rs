//! Compiling a grammar file: its TOML read into raw tables, then checked and turned into the
//! form the validator walks, with every problem reported at `file:line:column`.

use super::*;

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

pub(super) fn parse_syntax(note: &str, count: usize) -> Result<SyntaxNote, String> {
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

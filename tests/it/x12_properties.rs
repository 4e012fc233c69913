//! Property tests: generated interchanges with random legal delimiters, optional line breaks and
//! wrapping parse back to the same segments and elements; arbitrary bytes never panic.

use proptest::prelude::*;

use edigate::x12::envelope::{EngineConfig, NoVisitor, run};
use edigate::x12::lexer::{Token, Tokenizer};
use edigate::x12::policy::Policy;

use crate::support::Trickle;

const DELIMS: &[u8] = b"*|+~^:!#$%&'()-./;<=>?@[]{}`\\\x1c\x1d\x1e\x1f\x07";

fn delimiters() -> impl Strategy<Value = (u8, u8, Option<u8>)> {
    (
        0..DELIMS.len(),
        0..DELIMS.len(),
        prop::option::of(0..DELIMS.len()),
    )
        .prop_filter("distinct", |(e, c, t)| {
            e != c && Some(*e) != *t && Some(*c) != *t
        })
        .prop_map(|(e, c, t)| (DELIMS[e], DELIMS[c], t.map(|t| DELIMS[t])))
}

fn segments() -> impl Strategy<Value = Vec<Vec<String>>> {
    let tag = "[A-Z][A-Z0-9]{1,2}".prop_filter("not envelope", |t| {
        !matches!(
            t.as_str(),
            "ISA" | "IEA" | "GS" | "GE" | "ST" | "SE" | "TA1"
        )
    });
    let element = "[A-Za-z0-9]([A-Za-z0-9 ]{0,10}[A-Za-z0-9])?|";
    let segment = (tag, prop::collection::vec(element, 1..8)).prop_map(|(t, mut els)| {
        if els.last().is_some_and(String::is_empty) {
            els.push("X".into());
        }
        let mut v = vec![t];
        v.extend(els);
        v
    });
    prop::collection::vec(segment, 1..30)
}

fn render(
    segs: &[Vec<String>],
    e: u8,
    c: u8,
    term: Option<u8>,
    line_break: bool,
    wrap: Option<usize>,
) -> (Vec<u8>, Vec<Vec<String>>) {
    let e = e as char;
    let t = term.map_or("\n".to_string(), |t| (t as char).to_string());
    let after = if line_break && term.is_some() {
        "\r\n"
    } else {
        ""
    };
    let mut all: Vec<Vec<String>> = Vec::new();
    all.push(vec![
        "GS".into(),
        "OW".into(),
        "SENDER".into(),
        "RECEIVER".into(),
        "20260105".into(),
        "1430".into(),
        "77".into(),
        "X".into(),
        "004010".into(),
    ]);
    all.push(vec!["ST".into(), "940".into(), "0001".into()]);
    all.extend(segs.iter().cloned());
    all.push(vec![
        "SE".into(),
        (segs.len() + 2).to_string(),
        "0001".into(),
    ]);
    all.push(vec!["GE".into(), "1".into(), "77".into()]);
    all.push(vec!["IEA".into(), "1".into(), "000000077".into()]);
    let isa = format!(
        "ISA{e}00{e}          {e}00{e}          {e}ZZ{e}SENDER         {e}ZZ{e}RECEIVER       {e}260105{e}1430{e}U{e}00401{e}000000077{e}0{e}P{e}{}{t}{after}",
        c as char
    );
    let mut body = String::new();
    for s in &all {
        body.push_str(&s.join(&e.to_string()));
        body.push_str(&t);
        body.push_str(after);
    }
    if let (Some(w), Some(_)) = (wrap, term) {
        let chars: Vec<char> = body.chars().collect();
        body = chars
            .chunks(w)
            .map(|c| c.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join("\n");
    }
    (format!("{isa}{body}").into_bytes(), all)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn generated_interchanges_round_trip(
        (e, c, term) in delimiters(),
        segs in segments(),
        line_break in any::<bool>(),
        wrap in prop::option::of(20usize..90),
        chunk in prop::sample::select(vec![1usize, 3, 64, 1 << 20]),
    ) {
        let (bytes, expected) = render(&segs, e, c, term, line_break, wrap);
        let mut t = Tokenizer::new(Trickle { data: &bytes, n: chunk });
        let mut got: Vec<Vec<String>> = Vec::new();
        let mut headers = 0;
        while let Some(tok) = t.next_token().unwrap() {
            match tok {
                Token::Interchange { header, .. } => {
                    headers += 1;
                    prop_assert_eq!(header.delimiters.element, e);
                    prop_assert_eq!(header.delimiters.component, c);
                }
                Token::Segment(s) => {
                    let mut v = vec![String::from_utf8_lossy(s.tag()).to_string()];
                    v.extend(s.elements().map(|x| String::from_utf8_lossy(x).to_string()));
                    got.push(v);
                }
                other => prop_assert!(false, "unexpected token {:?}", other),
            }
        }
        prop_assert_eq!(headers, 1);
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600), chunk in 1usize..50) {
        let grammars = crate::support::grammars();
        let _ = run(Trickle { data: &bytes, n: chunk }, EngineConfig::new(&grammars, Policy::Standard), &mut NoVisitor);
    }

    #[test]
    fn mutated_valid_files_never_panic(pos in 0usize..2000, byte in any::<u8>(), cut in 0usize..2000) {
        let base = std::fs::read(crate::support::fixtures().join("x12/sets/856_0001_pick_pack.edi")).unwrap();
        let mut bytes = base.clone();
        if !bytes.is_empty() {
            let p = pos % bytes.len();
            bytes[p] = byte;
            bytes.truncate(cut.max(p + 1).min(bytes.len()));
        }
        let grammars = crate::support::grammars();
        let _ = run(bytes.as_slice(), EngineConfig::new(&grammars, Policy::Strict), &mut NoVisitor);
    }
}

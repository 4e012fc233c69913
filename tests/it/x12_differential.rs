//! Differential test against the `edi` crate: on valid files both tokenizers see the same
//! transaction-set segments and elements.

use std::path::PathBuf;

use edigate::x12::lexer::{Token, Tokenizer};

use crate::support::fixtures;

/// Body segments (between ST and SE) per set, as tag + elements, by edigate's tokenizer.
fn ours(bytes: &[u8]) -> Vec<Vec<Vec<String>>> {
    let mut t = Tokenizer::new(bytes);
    let mut sets = Vec::new();
    let mut current: Option<Vec<Vec<String>>> = None;
    while let Some(tok) = t.next_token().expect("in-memory") {
        if let Token::Segment(s) = tok {
            let mut seg = vec![String::from_utf8_lossy(s.tag()).to_string()];
            seg.extend(
                s.elements()
                    .map(|e| String::from_utf8_lossy(e).trim().to_string()),
            );
            match s.tag() {
                b"ST" => current = Some(Vec::new()),
                b"SE" => sets.extend(current.take()),
                _ => {
                    if let Some(c) = &mut current {
                        c.push(seg);
                    }
                }
            }
        }
    }
    sets
}

fn theirs(text: &str) -> Option<Vec<Vec<Vec<String>>>> {
    let doc = edi::parse(text).ok()?;
    let mut sets = Vec::new();
    for ic in &doc.interchanges {
        for g in &ic.functional_groups {
            for t in &g.transactions {
                let segs = t
                    .segments
                    .iter()
                    .map(|s| {
                        let mut v = vec![s.segment_abbreviation.trim().to_string()];
                        v.extend(s.elements.iter().map(|e| e.trim().to_string()));
                        v
                    })
                    .collect();
                sets.push(segs);
            }
        }
    }
    Some(sets)
}

fn candidates() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures().join("x12/sets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "edi"))
        .collect();
    if let Some(root) = std::env::var_os("EDIGATE_CORPUS") {
        let root = PathBuf::from(root);
        for rel in crate::x12_corpus::valid_files(&root) {
            v.push(root.join("x12").join(rel));
        }
    }
    v.sort();
    v
}

#[test]
fn same_segments_as_the_edi_crate_on_valid_files() {
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for path in candidates() {
        let bytes = std::fs::read(&path).unwrap();
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        // The edi crate needs `~`-style one-byte terminators and no BOM; compare where it parses.
        let Some(expected) = theirs(text) else {
            continue;
        };
        if expected.is_empty() {
            continue;
        }
        compared += 1;
        let got = ours(&bytes);
        if got != expected {
            mismatches.push(format!(
                "{}:\n ours   {:?}\n theirs {:?}",
                path.display(),
                got.first(),
                expected.first()
            ));
        }
    }
    assert!(compared >= 5, "only {compared} files were comparable");
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

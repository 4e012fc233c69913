//! Unit-test helpers for the mappers: inline segments and a ready-made envelope context.

use super::map::{Mapped, MappingSettings, SetContext};
use crate::x12::delimiters::Delimiters;
use crate::x12::envelope::{Group, Interchange, SetHeader};
use crate::x12::isa::IsaHeader;
use crate::x12::segment::OwnedSegment;

/// Splits `ST*940*0001~W05*N~...` into owned segments (`*` elements, `>` components, `~`
/// segments), numbered from 1.
pub fn segments(text: &str) -> Vec<OwnedSegment> {
    text.split('~')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .enumerate()
        .map(|(i, s)| {
            OwnedSegment::from_elements(
                u32::try_from(i + 1).unwrap_or(u32::MAX),
                &s.split('*').map(str::as_bytes).collect::<Vec<_>>(),
                b'>',
                None,
            )
        })
        .collect()
}

/// An ISA header with the given fields (ISA01..ISA16).
pub fn isa(fields: [&str; 16]) -> IsaHeader {
    IsaHeader {
        fields: fields.iter().map(|f| f.to_string()).collect(),
        delimiters: Delimiters::standard(None),
        len: 106,
        issues: Vec::new(),
    }
}

/// Runs `f` with a context for a 4010 set `0001` in group 905 of interchange 000000905.
pub fn context(settings: &MappingSettings, f: impl FnOnce(&SetContext<'_>) -> Mapped) -> Mapped {
    let interchange = Interchange {
        ordinal: 1,
        offset: 0,
        header: isa([
            "00",
            "",
            "00",
            "",
            "ZZ",
            "SENDER",
            "ZZ",
            "RECEIVER",
            "260105",
            "1430",
            "U",
            "00401",
            "000000905",
            "0",
            "P",
            ">",
        ]),
    };
    let group = Group {
        ordinal: 1,
        offset: 106,
        fields: [
            "OW", "SENDER", "RECEIVER", "20260105", "1430", "905", "X", "004010",
        ]
        .map(String::from)
        .to_vec(),
    };
    let header = SetHeader {
        ordinal: 1,
        offset: 150,
        id: "940".into(),
        control: "0001".into(),
        convention: None,
    };
    f(&SetContext {
        interchange: &interchange,
        group: &group,
        header: &header,
        settings,
    })
}

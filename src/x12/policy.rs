//! Validation policy: which rules reject and which only warn, per partner.
//!
//! `standard` rejects what makes data untrustworthy (control-number or count mismatches, missing
//! trailers, missing mandatory segments or elements, bad codes in key elements, bad dates and
//! numbers) and accepts with a recorded warning what does not (ISA padding, unpadded control
//! numbers that are numerically equal, content count mismatches, trailing empty elements, length
//! overruns, misplaced segments). `strict` rejects every finding; `lenient` rejects only what cannot
//! be read at all.

use serde::{Deserialize, Serialize};

use super::finding::Severity;

/// A partner's validation policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Every deviation rejects.
    Strict,
    /// Untrustworthy data rejects; cosmetic deviations warn.
    #[default]
    Standard,
    /// Only unreadable data rejects.
    Lenient,
}

impl std::str::FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "strict" => Ok(Policy::Strict),
            "standard" => Ok(Policy::Standard),
            "lenient" => Ok(Policy::Lenient),
            other => Err(format!(
                "unknown policy {other:?} (expected strict, standard or lenient)"
            )),
        }
    }
}

/// The rules findings are filed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The ISA cannot be used, or the interchange structure is broken beyond reading.
    BrokenEnvelope,
    /// Input ended inside an interchange, group or set (trailer missing).
    MissingTrailer,
    /// A header control number differs from its trailer's.
    ControlMismatch,
    /// Control numbers equal as numbers but not as strings (`0001` vs `1`).
    ControlPadding,
    /// A trailer count (SE01, GE01, IEA01) is wrong.
    CountMismatch,
    /// The ISA is not in its fixed layout (read by the fallback), or a field is not padded.
    IsaPadding,
    /// An ISA or GS field holds an invalid value (date, time, qualifier, indicator).
    HeaderField,
    /// A control number is reused within its container.
    DuplicateControl,
    /// The group's version has no grammar at all.
    UnsupportedVersion,
    /// The set was validated against the closest grammar of its version family.
    VersionFallback,
    /// No grammar for the transaction set.
    UnknownSet,
    /// GS01 does not match the transaction set's functional identifier.
    FunctionalIdMismatch,
    /// A segment outside any transaction set, or an envelope segment in the wrong place.
    StraySegment,
    /// Bytes outside any interchange that are not padding.
    Junk,
    /// Two terminators with nothing between them.
    EmptySegment,
    /// A segment tag sent in lower case.
    LowercaseTag,
    /// A segment longer than the tokenizer accepts.
    OversizedSegment,
    /// A mandatory segment is missing.
    MandatorySegment,
    /// A segment the grammar does not expect here (unknown, unexpected, out of sequence).
    SegmentPlacement,
    /// A segment or loop is used more often than allowed.
    MaxUse,
    /// A mandatory element is missing.
    MandatoryElement,
    /// A syntax note (paired, required, exclusion, conditional) is violated.
    SyntaxNote,
    /// More elements than the segment defines.
    TooManyElements,
    /// Empty elements or components at the end of a segment.
    TrailingEmpty,
    /// An element is shorter or longer than its definition allows.
    ElementLength,
    /// A character not allowed in the element (non-digits in a number, control bytes).
    InvalidCharacter,
    /// A code outside a complete code list, in an element the mapping depends on.
    InvalidKeyCode,
    /// A code outside a complete code list, elsewhere.
    InvalidCode,
    /// An invalid date.
    InvalidDate,
    /// An invalid time.
    InvalidTime,
    /// An HL names a parent that was not seen, or reuses an id.
    HierarchyParent,
    /// HL levels do not follow the structure code.
    HierarchyLevel,
    /// A content count (CTT01) differs from what was counted.
    ContentCount,
}

impl Policy {
    /// The severity of a finding under this rule.
    pub fn severity(self, rule: Rule) -> Severity {
        use Rule::*;
        use Severity::*;
        let always = matches!(
            rule,
            BrokenEnvelope | MissingTrailer | UnsupportedVersion | UnknownSet | OversizedSegment
        );
        if always {
            return Error;
        }
        match self {
            Policy::Strict => match rule {
                // Cosmetic even for strict partners: padding outside interchanges, lower-case tags.
                Junk | LowercaseTag | VersionFallback => Warning,
                _ => Error,
            },
            Policy::Standard => match rule {
                ControlMismatch | CountMismatch | MandatorySegment | MandatoryElement
                | InvalidCharacter | InvalidKeyCode | InvalidDate | InvalidTime
                | HierarchyParent => Error,
                _ => Warning,
            },
            Policy::Lenient => match rule {
                InvalidCharacter => Error,
                _ => Warning,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_rejects_untrustworthy_and_warns_cosmetic() {
        let p = Policy::Standard;
        for r in [
            Rule::ControlMismatch,
            Rule::CountMismatch,
            Rule::MissingTrailer,
            Rule::MandatorySegment,
            Rule::InvalidDate,
        ] {
            assert_eq!(p.severity(r), Severity::Error, "{r:?}");
        }
        for r in [
            Rule::IsaPadding,
            Rule::ControlPadding,
            Rule::ContentCount,
            Rule::TrailingEmpty,
        ] {
            assert_eq!(p.severity(r), Severity::Warning, "{r:?}");
        }
    }

    #[test]
    fn strict_and_lenient_bracket_standard() {
        assert_eq!(
            Policy::Strict.severity(Rule::TrailingEmpty),
            Severity::Error
        );
        assert_eq!(
            Policy::Lenient.severity(Rule::CountMismatch),
            Severity::Warning
        );
        assert_eq!(
            Policy::Lenient.severity(Rule::MissingTrailer),
            Severity::Error
        );
    }
}

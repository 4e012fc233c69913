//! Delimiters of one interchange, as declared by its ISA header.

/// How segments end.
///
/// Most partners use one byte (`~`); some use a newline (CR, LF or CRLF all count as one), and a
/// few use a multi-byte UTF-8 character (U+2026 is seen in the wild).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terminator {
    /// A single byte other than CR or LF.
    Byte(u8),
    /// A newline: CR, LF or CRLF ends a segment.
    Newline,
    /// A multi-byte sequence (2 to 4 bytes, a UTF-8 character).
    Multi([u8; 4], u8),
}

impl Terminator {
    /// The bytes that end a segment (for `Newline`, LF).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Terminator::Byte(b) => std::slice::from_ref(b),
            Terminator::Newline => b"\n",
            Terminator::Multi(bytes, len) => &bytes[..usize::from(*len)],
        }
    }

    /// The first byte of the terminator.
    pub fn first(&self) -> u8 {
        self.as_bytes()[0]
    }

    /// Whether `byte` may begin a terminator (used to exclude it from data checks).
    pub fn contains(&self, byte: u8) -> bool {
        match self {
            Terminator::Newline => byte == b'\n' || byte == b'\r',
            other => other.as_bytes().contains(&byte),
        }
    }
}

/// The four X12 delimiters of one interchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delimiters {
    /// Element separator (ISA byte 3).
    pub element: u8,
    /// Component (sub-element) separator (ISA16).
    pub component: u8,
    /// Repetition separator (ISA11 from control version 00402 on), when in use.
    pub repetition: Option<u8>,
    /// Segment terminator.
    pub segment: Terminator,
}

impl Delimiters {
    /// The delimiters most partners use: `*`, `>`, `^` (5010) and `~`.
    pub const fn standard(repetition: Option<u8>) -> Delimiters {
        Delimiters {
            element: b'*',
            component: b'>',
            repetition,
            segment: Terminator::Byte(b'~'),
        }
    }

    /// Whether `byte` is any delimiter of this interchange.
    pub fn is_delimiter(&self, byte: u8) -> bool {
        byte == self.element
            || byte == self.component
            || self.repetition == Some(byte)
            || self.segment.contains(byte)
    }
}

/// Whether a byte may serve as a delimiter: not a letter, digit or space.
pub fn plausible_delimiter(byte: u8) -> bool {
    !(byte.is_ascii_alphanumeric() || byte == b' ')
}

/// Decides the repetition separator from ISA11 and ISA12 (x12-reference §1.3): only from control
/// version 00402 on, and only when the byte is a plausible delimiter distinct from the others.
/// Returns the separator and whether a warning is due (an alphanumeric ISA11 in a 00402+ envelope).
pub fn repetition_separator(
    isa11: u8,
    isa12: &[u8],
    element: u8,
    component: u8,
    segment: &Terminator,
) -> (Option<u8>, bool) {
    let version_ok =
        isa12.len() == 5 && isa12.iter().all(u8::is_ascii_digit) && isa12 >= &b"00402"[..];
    if !version_ok {
        return (None, false);
    }
    if !plausible_delimiter(isa11) {
        return (None, true);
    }
    if isa11 == element || isa11 == component || segment.contains(isa11) {
        return (None, true);
    }
    (Some(isa11), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repetition_only_from_00402() {
        let t = Terminator::Byte(b'~');
        assert_eq!(
            repetition_separator(b'^', b"00401", b'*', b'>', &t),
            (None, false)
        );
        assert_eq!(
            repetition_separator(b'U', b"00401", b'*', b'>', &t),
            (None, false)
        );
        assert_eq!(
            repetition_separator(b'^', b"00501", b'*', b'>', &t),
            (Some(b'^'), false)
        );
        assert_eq!(
            repetition_separator(b'U', b"00501", b'*', b'>', &t),
            (None, true)
        );
        assert_eq!(
            repetition_separator(b'*', b"00501", b'*', b'>', &t),
            (None, true)
        );
    }

    #[test]
    fn terminator_bytes() {
        assert_eq!(Terminator::Byte(b'~').as_bytes(), b"~");
        assert_eq!(
            Terminator::Multi([0xE2, 0x80, 0xA6, 0], 3).as_bytes(),
            &[0xE2, 0x80, 0xA6]
        );
        assert!(Terminator::Newline.contains(b'\r'));
    }
}

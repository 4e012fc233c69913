//! One tokenized segment: a borrowed view of its bytes and element boundaries.

use super::delimiters::Delimiters;

/// A segment as the tokenizer hands it out. It borrows the tokenizer's buffer, so it lives until
/// the next call; copy what must outlive it ([`OwnedSegment`]).
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// Byte offset of the segment's first byte in the source.
    pub offset: u64,
    /// The segment's bytes without its terminator (line breaks inside it removed).
    pub data: &'a [u8],
    /// Element boundaries within `data`; index 0 is the tag.
    pub bounds: &'a [(u32, u32)],
    /// The interchange's delimiters.
    pub delimiters: &'a Delimiters,
    /// The tag was sent in lower case (it has been upper-cased).
    pub lowercase_tag: bool,
    /// The input ended before this segment's terminator.
    pub unterminated: bool,
}

impl<'a> Segment<'a> {
    /// The segment tag (`ST`, `W05`, ...), upper case.
    pub fn tag(&self) -> &'a [u8] {
        self.raw(0)
    }

    /// Element `n` (1-based: `element(1)` is SEG01); empty when absent.
    pub fn element(&self, n: usize) -> &'a [u8] {
        if n == 0 { &[] } else { self.raw(n) }
    }

    fn raw(&self, i: usize) -> &'a [u8] {
        match self.bounds.get(i) {
            Some(&(s, e)) => &self.data[s as usize..e as usize],
            None => &[],
        }
    }

    /// Element `n` as text (lossy for bytes that are not UTF-8).
    pub fn text(&self, n: usize) -> std::borrow::Cow<'a, str> {
        String::from_utf8_lossy(self.element(n))
    }

    /// The number of elements after the tag, trailing empty ones included.
    pub fn element_count(&self) -> usize {
        self.bounds.len().saturating_sub(1)
    }

    /// The elements after the tag, in order.
    pub fn elements(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        (1..self.bounds.len()).map(move |i| self.raw(i))
    }

    /// Component `c` (1-based) of element `n`; empty when absent.
    pub fn component(&self, n: usize, c: usize) -> &'a [u8] {
        split_component(self.element(n), self.delimiters.component, c)
    }
}

/// Component `c` (1-based) of a composite value.
pub fn split_component(value: &[u8], separator: u8, c: usize) -> &[u8] {
    if c == 0 {
        return &[];
    }
    value.split(|b| *b == separator).nth(c - 1).unwrap_or(&[])
}

/// A segment copied out of the tokenizer's buffer, kept while a transaction set is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedSegment {
    /// Byte offset in the source.
    pub offset: u64,
    /// Position within its transaction set (ST = 1).
    pub position: u32,
    /// The tag and elements, tag first.
    pub elements: Vec<Vec<u8>>,
    /// The component separator of its interchange.
    pub component: u8,
    /// The repetition separator of its interchange, when in use.
    pub repetition: Option<u8>,
}

impl OwnedSegment {
    /// Copies a tokenized segment.
    pub fn from_segment(seg: &Segment<'_>, position: u32) -> OwnedSegment {
        OwnedSegment {
            offset: seg.offset,
            position,
            elements: (0..seg.bounds.len()).map(|i| seg.raw(i).to_vec()).collect(),
            component: seg.delimiters.component,
            repetition: seg.delimiters.repetition,
        }
    }

    /// The tag.
    pub fn tag(&self) -> &[u8] {
        self.elements.first().map(Vec::as_slice).unwrap_or(&[])
    }

    /// Element `n` (1-based); empty when absent.
    pub fn element(&self, n: usize) -> &[u8] {
        if n == 0 {
            return &[];
        }
        self.elements.get(n).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Element `n` as trimmed text; `None` when empty.
    pub fn get(&self, n: usize) -> Option<String> {
        let v = self.element(n);
        let s = String::from_utf8_lossy(v);
        let t = s.trim();
        (!t.is_empty()).then(|| t.to_string())
    }

    /// Component `c` of element `n` as trimmed text; `None` when empty.
    pub fn get_component(&self, n: usize, c: usize) -> Option<String> {
        let v = split_component(self.element(n), self.component, c);
        let s = String::from_utf8_lossy(v);
        let t = s.trim();
        (!t.is_empty()).then(|| t.to_string())
    }

    /// Whether the tag equals `tag`.
    pub fn is(&self, tag: &str) -> bool {
        self.tag() == tag.as_bytes()
    }
}

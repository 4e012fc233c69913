//! One tokenized segment: a borrowed view of its bytes and element boundaries.

use std::borrow::Cow;

use compact_str::CompactString;

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
///
/// The tag and elements are stored back to back in one buffer with their bounds, so copying a
/// segment is two `extend`s, and [`OwnedSegment::refill`] reuses both buffers: a translator
/// that keeps its segments from one set to the next stops allocating once it has seen its
/// largest set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnedSegment {
    /// Byte offset in the source.
    pub offset: u64,
    /// Position within its transaction set (ST = 1).
    pub position: u32,
    /// The tag and elements, back to back.
    data: Vec<u8>,
    /// Bounds of the tag (index 0) and each element within `data`.
    bounds: Vec<(u32, u32)>,
    /// The component separator of its interchange.
    pub component: u8,
    /// The repetition separator of its interchange, when in use.
    pub repetition: Option<u8>,
    /// Whether `data` is all ASCII (so every slice of it is UTF-8), as nearly every segment is.
    ascii: bool,
}

impl OwnedSegment {
    /// Copies a tokenized segment.
    pub fn from_segment(seg: &Segment<'_>, position: u32) -> OwnedSegment {
        let mut owned = OwnedSegment::default();
        owned.refill(seg, position);
        owned
    }

    /// Makes this segment a copy of `seg`, reusing its buffers.
    pub fn refill(&mut self, seg: &Segment<'_>, position: u32) {
        self.offset = seg.offset;
        self.position = position;
        self.component = seg.delimiters.component;
        self.repetition = seg.delimiters.repetition;
        self.data.clear();
        self.data.extend_from_slice(seg.data);
        self.ascii = self.data.is_ascii();
        self.bounds.clear();
        self.bounds.extend_from_slice(seg.bounds);
    }

    /// A segment from its tag and elements (tag first), for tests and generated segments.
    pub fn from_elements(
        position: u32,
        elements: &[&[u8]],
        component: u8,
        repetition: Option<u8>,
    ) -> OwnedSegment {
        let mut data = Vec::new();
        let mut bounds = Vec::with_capacity(elements.len());
        for e in elements {
            let start = u32::try_from(data.len()).unwrap_or(u32::MAX);
            data.extend_from_slice(e);
            bounds.push((start, u32::try_from(data.len()).unwrap_or(u32::MAX)));
        }
        OwnedSegment {
            offset: 0,
            position,
            ascii: data.is_ascii(),
            data,
            bounds,
            component,
            repetition,
        }
    }

    fn raw(&self, i: usize) -> &[u8] {
        match self.bounds.get(i) {
            Some(&(s, e)) => self.data.get(s as usize..e as usize).unwrap_or(&[]),
            None => &[],
        }
    }

    /// The tag.
    pub fn tag(&self) -> &[u8] {
        self.raw(0)
    }

    /// Element `n` (1-based); empty when absent.
    pub fn element(&self, n: usize) -> &[u8] {
        if n == 0 { &[] } else { self.raw(n) }
    }

    /// The number of elements after the tag, trailing empty ones included.
    pub fn element_count(&self) -> usize {
        self.bounds.len().saturating_sub(1)
    }

    /// Bytes its buffers hold on the heap (their capacity, not their length).
    pub fn heap_bytes(&self) -> usize {
        self.data.capacity() + self.bounds.capacity() * std::mem::size_of::<(u32, u32)>()
    }

    /// The elements after the tag, in order.
    pub fn elements(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (1..self.bounds.len()).map(move |i| self.raw(i))
    }

    /// Element `n` as trimmed, owned text; `None` when empty. Values of up to 24 bytes (most
    /// X12 elements) are held inline, without an allocation.
    ///
    /// Always inlined: the mappers call it for nearly every value they keep, and the ASCII path
    /// is short.
    #[inline(always)]
    pub fn get(&self, n: usize) -> Option<CompactString> {
        if self.ascii {
            // SAFETY: an element is a slice of `self.data`, which is all ASCII.
            return unsafe { self.ascii_text(self.element(n)) }.map(CompactString::from);
        }
        self.get_general(n)
    }

    /// [`Self::get`] of a segment that is not all ASCII.
    #[inline(never)]
    fn get_general(&self, n: usize) -> Option<CompactString> {
        trimmed_text(self.element(n)).map(|t| CompactString::from(t.as_ref()))
    }

    /// Element `n` as trimmed text borrowed from the segment (copied only when it is not
    /// UTF-8); `None` when empty. For values that are parsed, compared or looked up.
    #[inline(always)]
    pub fn text(&self, n: usize) -> Option<Cow<'_, str>> {
        if self.ascii {
            // SAFETY: an element is a slice of `self.data`, which is all ASCII.
            return unsafe { self.ascii_text(self.element(n)) }.map(Cow::Borrowed);
        }
        self.text_general(n)
    }

    /// [`Self::text`] of a segment that is not all ASCII.
    #[inline(never)]
    fn text_general(&self, n: usize) -> Option<Cow<'_, str>> {
        trimmed_text(self.element(n))
    }

    /// Component `c` of element `n` as trimmed text; `None` when empty.
    pub fn get_component(&self, n: usize, c: usize) -> Option<CompactString> {
        let v = split_component(self.element(n), self.component, c);
        if self.ascii {
            // SAFETY: a component is a slice of an element of `self.data`, which is all ASCII.
            return unsafe { self.ascii_text(v) }.map(CompactString::from);
        }
        trimmed_text(v).map(|t| CompactString::from(t.as_ref()))
    }

    /// [`trimmed_text`] of a slice of this segment's bytes when they are all ASCII: the same
    /// trim (what `str::trim` trims in ASCII), without checking the bytes again.
    ///
    /// # Safety
    /// `v` must be a slice of `self.data`, and `self.ascii` must hold.
    unsafe fn ascii_text<'s>(&'s self, v: &'s [u8]) -> Option<&'s str> {
        let v = trim_ascii_space(v)?;
        debug_assert!(self.ascii && v.is_ascii());
        // SAFETY: the caller passes a slice of `self.data` while `self.ascii` holds (`refill` and
        // `from_elements` set it from the bytes they store); every byte of an all-ASCII buffer
        // is a whole UTF-8 character, so any slice of it is valid UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(v) })
    }

    /// The copied segment seen as a tokenized one again, under its interchange's `delimiters`
    /// (the bytes and bounds are those copied, so whatever reads a [`Segment`] reads it alike).
    pub fn as_segment<'s>(&'s self, delimiters: &'s Delimiters) -> Segment<'s> {
        Segment {
            offset: self.offset,
            data: &self.data,
            bounds: &self.bounds,
            delimiters,
            lowercase_tag: false,
            unterminated: false,
        }
    }

    /// Whether the tag equals `tag`.
    pub fn is(&self, tag: &str) -> bool {
        self.tag() == tag.as_bytes()
    }
}

/// `v` without what `str::trim` trims among ASCII bytes (tab to carriage return, vertical tab
/// included unlike `trim_ascii`, and space); `None` when nothing is left.
fn trim_ascii_space(v: &[u8]) -> Option<&[u8]> {
    let is_space = |b: &u8| matches!(b, b'\t'..=b'\r' | b' ');
    // Most values neither start nor end with white space: nothing to look for in between.
    match (v.first(), v.last()) {
        (None, _) | (_, None) => return None,
        (Some(first), Some(last)) if !is_space(first) && !is_space(last) => return Some(v),
        _ => {}
    }
    let start = v.iter().position(|b| !is_space(b))?;
    let end = v
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |e| e + 1);
    Some(&v[start..end])
}

/// Bytes as trimmed text (lossy for bytes that are not UTF-8); `None` when nothing is left.
fn trimmed_text(v: &[u8]) -> Option<Cow<'_, str>> {
    // ASCII (nearly every element): trim what `str::trim` trims in ASCII, tab to carriage
    // return and space (vertical tab included, unlike `trim_ascii`).
    if v.is_ascii() {
        return std::str::from_utf8(trim_ascii_space(v)?)
            .ok()
            .map(Cow::Borrowed);
    }
    let v = v.trim_ascii();
    if v.is_empty() {
        return None;
    }
    let t = match std::str::from_utf8(v) {
        Ok(s) => Cow::Borrowed(s.trim()),
        Err(_) => Cow::Owned(String::from_utf8_lossy(v).trim().to_string()),
    };
    (!t.is_empty()).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_segments_read_like_the_elements_they_were_made_from() {
        let seg =
            OwnedSegment::from_elements(3, &[b"LIN", b"", b"UP", b" 0123 ", b"A>B"], b'>', None);
        assert_eq!(seg.tag(), b"LIN");
        assert_eq!(seg.element_count(), 4);
        assert_eq!(seg.element(1), b"");
        assert_eq!(seg.get(1), None);
        assert_eq!(seg.get(3).as_deref(), Some("0123"));
        assert!(matches!(seg.text(3), Some(Cow::Borrowed("0123"))));
        assert_eq!(seg.get_component(4, 2).as_deref(), Some("B"));
        assert_eq!(seg.element(9), b"");
        assert_eq!(seg.elements().count(), 4);
        assert!(seg.is("LIN"));
    }

    /// What the ASCII fast path must agree with: trim, read as UTF-8 (lossily), trim again.
    fn trimmed_text_slow(v: &[u8]) -> Option<String> {
        let t = String::from_utf8_lossy(v.trim_ascii()).trim().to_string();
        (!t.is_empty()).then_some(t)
    }

    proptest::proptest! {
        #[test]
        fn trimmed_text_fast_path_agrees(v in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::sample::select(b"\t\n\x0b\x0c\r \x1c\x1fAz0~".to_vec()),
                proptest::num::u8::ANY,
            ],
            0..12,
        )) {
            proptest::prop_assert_eq!(trimmed_text(&v).map(Cow::into_owned), trimmed_text_slow(&v));
        }

        /// ASCII segments take their own path in `get`, `text` and `get_component`; every
        /// segment reads as the general path reads its bytes.
        #[test]
        fn segment_text_agrees_with_the_general_path(elements in proptest::collection::vec(
            proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(b"\t\x0b\r >A9".to_vec()),
                    proptest::num::u8::ANY,
                ],
                0..8,
            ),
            1..5,
        )) {
            let refs: Vec<&[u8]> = std::iter::once(&b"TAG"[..])
                .chain(elements.iter().map(Vec::as_slice))
                .collect();
            let seg = OwnedSegment::from_elements(2, &refs, b'>', None);
            for (i, e) in elements.iter().enumerate() {
                let n = i + 1;
                let want = trimmed_text_slow(e);
                proptest::prop_assert_eq!(seg.get(n).map(|t| t.to_string()), want.clone());
                proptest::prop_assert_eq!(seg.text(n).map(Cow::into_owned), want);
                let component = split_component(e, b'>', 1);
                proptest::prop_assert_eq!(
                    seg.get_component(n, 1).map(|t| t.to_string()),
                    trimmed_text_slow(component)
                );
            }
        }
    }
}

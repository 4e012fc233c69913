//! Copying a set while it can still become a record, and its content digest (the part of the
//! record id that does not depend on delimiters, line breaks or padding).

use super::{EnvelopeVerdicts, mapper};
use crate::canonical::id::{ContentDigest, SeparatorMap};
use crate::x12::delimiters::Delimiters;
use crate::x12::envelope::{Group, Interchange, SetHeader};
use crate::x12::segment::{OwnedSegment, Segment};

/// A TA1 segment, copied, with its content digest.
pub(super) fn capture_ta1(seg: &Segment<'_>) -> (OwnedSegment, [u8; 32]) {
    let mut digest = ContentDigest::new();
    push_digest(&mut digest, seg, &mut SeparatorMap::new(b'*', b'>', None));
    (OwnedSegment::from_segment(seg, 0), digest.finish())
}

/// Adds a segment to a content digest: tag and elements, trailing empty elements dropped (they
/// are padding a re-serialising tool may remove), separators mapped to fixed bytes. When the
/// elements tile the segment's bytes (one separator between neighbours, as the tokenizer hands
/// them out), the bytes are mapped in one pass; otherwise element by element, to the same
/// digest.
pub(super) fn push_digest(digest: &mut ContentDigest, seg: &Segment<'_>, map: &mut SeparatorMap) {
    let d = seg.delimiters;
    map.set(d.element, d.component, d.repetition);
    push_digest_mapped(digest, seg, map);
}

/// [`push_digest`] with `map` already made for the segment's delimiters.
fn push_digest_mapped(digest: &mut ContentDigest, seg: &Segment<'_>, map: &SeparatorMap) {
    match tiled(seg) {
        Some(bytes) => digest.push_raw_mapped(bytes, map),
        None => {
            let mut count = seg.element_count();
            while count > 0 && seg.element(count).is_empty() {
                count -= 1;
            }
            let d = seg.delimiters;
            digest.push_elements_mapped(
                std::iter::once(seg.tag()).chain((1..=count).map(|n| seg.element(n))),
                d.component,
                d.repetition,
            );
        }
    }
}

/// The bytes from the tag through the last element that is not empty, when the elements tile
/// them: each next element starts right after an element separator that ends the one before.
/// One pass over the bounds answers both.
pub(super) fn tiled<'a>(seg: &Segment<'a>) -> Option<&'a [u8]> {
    let (&(first, tag_end), rest) = seg.bounds.split_first()?;
    let (mut end, mut last) = (tag_end as usize, tag_end as usize);
    for &(s, e) in rest {
        if s as usize != end + 1 || seg.data.get(end) != Some(&seg.delimiters.element) {
            return None;
        }
        end = e as usize;
        if e > s {
            last = end;
        }
    }
    seg.data.get(first as usize..last)
}

/// The open set's copy while it can still become a record: its segments (`segments[..used]`;
/// the buffers are kept and refilled, so copying stops allocating once the largest set has been
/// seen) and its content digest.
#[derive(Default)]
pub(super) struct SetCapture {
    pub(super) on: bool,
    pub(super) segments: Vec<OwnedSegment>,
    used: usize,
    /// The content digest is left to whoever maps the copy ([`SetDigester`]), so that the
    /// thread that reads the file does not also hash every set.
    defer_digest: bool,
    /// The delimiters of the copied segments' interchange.
    pub(super) delimiters: Option<Delimiters>,
    digest: SetDigester,
}

/// A content digest and its separator map, kept from one set to the next.
#[derive(Default)]
pub(super) struct SetDigester {
    digest: ContentDigest,
    /// The separator map for the current interchange's delimiters.
    separators: SeparatorMap,
}

impl SetDigester {
    /// The content digest of copied segments: the one [`SetCapture`] makes as it copies them.
    pub(super) fn of(&mut self, segments: &[OwnedSegment], delimiters: &Delimiters) -> [u8; 32] {
        self.digest.reset();
        let d = delimiters;
        self.separators.set(d.element, d.component, d.repetition);
        for seg in segments {
            push_digest_mapped(&mut self.digest, &seg.as_segment(d), &self.separators);
        }
        self.digest.finish_reset()
    }
}

impl SetCapture {
    /// A capture that copies segments only; their digest is made by [`SetDigester::of`].
    pub(super) fn deferring_digest() -> Self {
        SetCapture {
            defer_digest: true,
            ..SetCapture::default()
        }
    }

    /// A set begins: it is copied only when it can become a record (its interchange and group
    /// not rejected, a mapper for its kind).
    pub(super) fn start(
        &mut self,
        verdicts: &EnvelopeVerdicts,
        ic: &Interchange,
        group: &Group,
        set: &SetHeader,
    ) {
        self.on = !verdicts.interchange(ic.ordinal).rejected
            && !verdicts.group(group.ordinal).rejected
            && mapper(&set.id).is_ok();
        self.used = 0;
        self.digest.digest.reset();
    }

    /// Copies and digests a segment of the open set, when it is being copied.
    pub(super) fn segment(&mut self, seg: &Segment<'_>, position: u32) {
        if self.on {
            self.delimiters = Some(*seg.delimiters);
            if !self.defer_digest {
                let d = &mut self.digest;
                push_digest(&mut d.digest, seg, &mut d.separators);
            }
            match self.segments.get_mut(self.used) {
                Some(slot) => slot.refill(seg, position),
                None => self
                    .segments
                    .push(OwnedSegment::from_segment(seg, position)),
            }
            self.used += 1;
        }
    }

    /// The copied segments of the open set.
    pub(super) fn segments(&self) -> &[OwnedSegment] {
        &self.segments[..self.used.min(self.segments.len())]
    }

    /// The open set's content digest (zeros when it is not being copied).
    pub(super) fn finish_digest(&mut self) -> [u8; 32] {
        if self.on {
            self.digest.digest.finish_reset()
        } else {
            [0; 32]
        }
    }

    /// The set is settled.
    pub(super) fn stop(&mut self) {
        self.on = false;
        self.used = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A segment's bytes and element bounds as the tokenizer hands them out: the tag and
    /// elements joined by the element separator.
    fn tokenized(elements: &[Vec<u8>], delimiters: &Delimiters) -> (Vec<u8>, Vec<(u32, u32)>) {
        let mut data = Vec::new();
        let mut bounds = Vec::new();
        for (i, e) in elements.iter().enumerate() {
            if i > 0 {
                data.push(delimiters.element);
            }
            let start = data.len() as u32;
            data.extend_from_slice(e);
            bounds.push((start, data.len() as u32));
        }
        (data, bounds)
    }

    /// The one-pass digest of a segment's bytes equals the element-by-element digest.
    fn digests_agree(elements: &[Vec<u8>], delimiters: &Delimiters) {
        let (data, bounds) = tokenized(elements, delimiters);
        let seg = Segment {
            offset: 0,
            data: &data,
            bounds: &bounds,
            delimiters,
            lowercase_tag: false,
            unterminated: false,
        };
        let mut fast = ContentDigest::new();
        push_digest(&mut fast, &seg, &mut SeparatorMap::new(b'*', b':', None));
        let mut count = elements.len() - 1;
        while count > 0 && elements[count].is_empty() {
            count -= 1;
        }
        let mut slow = ContentDigest::new();
        slow.push_elements_mapped(
            elements[..=count].iter().map(Vec::as_slice),
            delimiters.component,
            delimiters.repetition,
        );
        assert_eq!(fast.finish(), slow.finish(), "{elements:?}");
    }

    proptest::proptest! {
        #[test]
        fn one_pass_digest_matches_element_digest(
            elements in proptest::collection::vec(
                proptest::collection::vec(proptest::sample::select(b"AB1 >^:|\x1d\x1f".to_vec()), 0..6),
                1..8,
            ),
            repetition in proptest::option::of(proptest::sample::select(b"^|".to_vec())),
        ) {
            let mut delimiters = Delimiters::standard(repetition);
            delimiters.element = b'*';
            delimiters.component = b'>';
            let mut elements = elements;
            elements[0] = b"REF".to_vec();
            digests_agree(&elements, &delimiters);
        }
    }

    proptest::proptest! {
        /// A set digested later from its copies (as the two-thread translation does) has the
        /// digest it gets when digested as it streams past.
        #[test]
        fn deferred_digest_matches_streaming_digest(
            segments in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::collection::vec(proptest::sample::select(b"AB1 >^:*".to_vec()), 0..5),
                    0..6,
                ),
                1..6,
            ),
            repetition in proptest::option::of(proptest::sample::select(b"^|".to_vec())),
        ) {
            let delimiters = Delimiters::standard(repetition);
            let mut streaming = SetCapture { on: true, ..SetCapture::default() };
            let mut deferred = SetCapture { on: true, ..SetCapture::deferring_digest() };
            for (i, elements) in segments.iter().enumerate() {
                let tagged: Vec<Vec<u8>> =
                    std::iter::once(b"REF".to_vec()).chain(elements.iter().cloned()).collect();
                let (data, bounds) = tokenized(&tagged, &delimiters);
                let seg = Segment {
                    offset: 0,
                    data: &data,
                    bounds: &bounds,
                    delimiters: &delimiters,
                    lowercase_tag: false,
                    unterminated: false,
                };
                streaming.segment(&seg, i as u32 + 1);
                deferred.segment(&seg, i as u32 + 1);
            }
            let later = SetDigester::default().of(deferred.segments(), &delimiters);
            proptest::prop_assert_eq!(streaming.finish_digest(), later);
        }
    }

    #[test]
    fn untiled_segment_still_digests_by_element() {
        let delimiters = Delimiters::standard(None);
        let data = b"REF**BM**X";
        // Elements that skip a byte: not tiled, so the digest goes element by element.
        let bounds = [(0u32, 3u32), (5, 7), (9, 10)];
        let seg = Segment {
            offset: 0,
            data,
            bounds: &bounds,
            delimiters: &delimiters,
            lowercase_tag: false,
            unterminated: false,
        };
        assert!(tiled(&seg).is_none());
        let mut fast = ContentDigest::new();
        push_digest(&mut fast, &seg, &mut SeparatorMap::new(b'*', b'>', None));
        let mut slow = ContentDigest::new();
        slow.push_elements_mapped([&b"REF"[..], b"BM", b"X"], b'>', None);
        assert_eq!(fast.finish(), slow.finish());
    }
}

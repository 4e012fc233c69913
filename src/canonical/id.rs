//! Record ids (contract 1.1): deterministic idempotency keys for X12 sets and flat-file records.
//!
//! Both ids are the first 32 lower-case hex characters of a SHA-256 over text parts joined by
//! `0x1F`. The X12 content digest enters that join as 64 lower-case hex characters, so every part
//! is text and a digest byte can never be mistaken for a separator.

use sha2::{Digest, Sha256};

/// Unit separator between id parts and between elements of a segment.
const UNIT: u8 = 0x1F;
/// Record separator between segments in the content digest.
const RECORD: u8 = 0x1E;
/// Stands for the component separator inside composite elements.
const COMPONENT: u8 = 0x1D;
/// Stands for the repetition separator inside repeated elements.
const REPETITION: u8 = 0x1C;

/// First 32 hex characters of SHA-256 over `parts` joined by `0x1F`.
fn id_over(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hasher.update([UNIT]);
        }
        hasher.update(part);
    }
    let hash = hasher.finalize();
    let mut hex = [0u8; 32];
    // Both lengths are fixed: 16 bytes make 32 hex digits, which are ASCII.
    if hex::encode_to_slice(&hash[..16], &mut hex).is_err() {
        return String::new();
    }
    std::str::from_utf8(&hex)
        .map(str::to_owned)
        .unwrap_or_default()
}

/// The id of the `ordinal`-th (1-based) record of a flat file.
pub fn flat_record_id(partner: &str, file_sha256_hex: &str, ordinal: u64) -> String {
    let ordinal = ordinal.to_string();
    id_over(&[
        partner.as_bytes(),
        file_sha256_hex.to_ascii_lowercase().as_bytes(),
        ordinal.as_bytes(),
    ])
}

/// The id of an X12 transaction set. `sender` and `receiver` are `ISA05:ISA06` and
/// `ISA07:ISA08`, trimmed; `content_digest` comes from [`ContentDigest::finish`].
pub fn x12_record_id(
    partner: &str,
    sender: &str,
    receiver: &str,
    isa13: &str,
    gs06: &str,
    st02: &str,
    content_digest: &[u8; 32],
) -> String {
    let mut digest_hex = [0u8; 64];
    // 32 bytes make exactly 64 hex digits.
    let digest_hex: &[u8] = match hex::encode_to_slice(content_digest, &mut digest_hex) {
        Ok(()) => &digest_hex,
        Err(_) => &[],
    };
    id_over(&[
        partner.as_bytes(),
        sender.as_bytes(),
        receiver.as_bytes(),
        isa13.as_bytes(),
        gs06.as_bytes(),
        st02.as_bytes(),
        digest_hex,
    ])
}

/// What each byte of a raw segment stands for in the content digest: the element separator
/// becomes `0x1F`, the component and repetition separators their fixed stand-ins, every other
/// byte itself.
#[derive(Debug, Clone)]
pub struct SeparatorMap {
    table: [u8; 256],
    key: (u8, u8, Option<u8>),
}

impl Default for SeparatorMap {
    /// The map for `*`, `>` and no repetition separator.
    fn default() -> Self {
        SeparatorMap::new(b'*', b'>', None)
    }
}

impl SeparatorMap {
    /// The map for an interchange's element, component and repetition separators.
    pub fn new(element: u8, component: u8, repetition: Option<u8>) -> Self {
        let mut table = [0u8; 256];
        for (i, t) in table.iter_mut().enumerate() {
            *t = i as u8;
        }
        table[usize::from(component)] = COMPONENT;
        if let Some(r) = repetition {
            table[usize::from(r)] = REPETITION;
        }
        table[usize::from(element)] = UNIT;
        SeparatorMap {
            table,
            key: (element, component, repetition),
        }
    }

    /// Makes this the map for the given separators (a no-op when it already is).
    pub fn set(&mut self, element: u8, component: u8, repetition: Option<u8>) {
        if self.key != (element, component, repetition) {
            *self = SeparatorMap::new(element, component, repetition);
        }
    }
}

/// Incremental digest of a transaction set's content (ST through SE), independent of the
/// delimiters, line breaks and padding the partner used.
///
/// Feed each segment's elements (segment id first) as the tokenizer produced them, without
/// terminators or line breaks. Composite and repeated elements must not carry the partner's
/// separators: use [`ContentDigest::push_segment_mapped`], which maps them to fixed bytes.
/// The joined bytes are collected in a small buffer and hashed in blocks (SHA-256 does not
/// depend on how its input is split, and tiny updates are slow).
#[derive(Clone, Default)]
pub struct ContentDigest {
    hasher: Sha256,
    buf: Vec<u8>,
    segments: u64,
}

/// Bytes collected before they are hashed.
const DIGEST_BUFFER: usize = 16 * 1024;

impl ContentDigest {
    /// An empty digest.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts over, keeping the buffer.
    pub fn reset(&mut self) {
        self.hasher = Sha256::new();
        self.buf.clear();
        self.segments = 0;
    }

    /// Adds one segment: elements joined by `0x1F`, segments joined by `0x1E`.
    pub fn push_segment(&mut self, elements: &[&[u8]]) {
        self.start_segment();
        for (i, element) in elements.iter().enumerate() {
            if i > 0 {
                self.buf.push(UNIT);
            }
            self.buf.extend_from_slice(element);
        }
        self.spill();
    }

    /// Adds one segment whose elements still contain the partner's component separator (and
    /// repetition separator, if any); those bytes are hashed as `0x1D` and `0x1C`.
    pub fn push_segment_mapped(
        &mut self,
        elements: &[&[u8]],
        component_separator: u8,
        repetition_separator: Option<u8>,
    ) {
        self.push_elements_mapped(
            elements.iter().copied(),
            component_separator,
            repetition_separator,
        );
    }

    /// [`Self::push_segment_mapped`] over an iterator of elements (segment id first).
    pub fn push_elements_mapped<'e>(
        &mut self,
        elements: impl IntoIterator<Item = &'e [u8]>,
        component_separator: u8,
        repetition_separator: Option<u8>,
    ) {
        self.start_segment();
        // A byte that can never be a separator stands in for an absent repetition separator.
        let repetition = repetition_separator.unwrap_or(component_separator);
        for (i, element) in elements.into_iter().enumerate() {
            if i > 0 {
                self.buf.push(UNIT);
            }
            let plain = !element
                .iter()
                .any(|&b| b == component_separator || b == repetition);
            if plain {
                self.buf.extend_from_slice(element);
            } else {
                self.buf.extend(element.iter().map(|&b| {
                    if b == component_separator {
                        COMPONENT
                    } else if Some(b) == repetition_separator {
                        REPETITION
                    } else {
                        b
                    }
                }));
            }
        }
        self.spill();
    }

    /// Adds a segment given as its raw bytes, tag first, element separators included: each byte
    /// goes through `map` ([`SeparatorMap`]). Gives the same digest as
    /// [`push_elements_mapped`](Self::push_elements_mapped) with the segment's tag and elements,
    /// in one pass over the bytes.
    pub fn push_raw_mapped(&mut self, bytes: &[u8], map: &SeparatorMap) {
        self.start_segment();
        self.buf
            .extend(bytes.iter().map(|&b| map.table[usize::from(b)]));
        self.spill();
    }

    fn start_segment(&mut self) {
        if self.segments > 0 {
            self.buf.push(RECORD);
        }
        self.segments += 1;
    }

    fn spill(&mut self) {
        if self.buf.len() >= DIGEST_BUFFER {
            self.hasher.update(&self.buf);
            self.buf.clear();
        }
    }

    /// Number of segments pushed so far.
    pub fn segments(&self) -> u64 {
        self.segments
    }

    /// The SHA-256 of everything pushed.
    pub fn finish(mut self) -> [u8; 32] {
        self.hasher.update(&self.buf);
        self.hasher.finalize().into()
    }

    /// The SHA-256 of everything pushed; the digest starts over, keeping its buffer.
    pub fn finish_reset(&mut self) -> [u8; 32] {
        self.hasher.update(&self.buf);
        let out = std::mem::take(&mut self.hasher).finalize().into();
        self.reset();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha_hex(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    #[test]
    fn flat_id_is_first_32_hex_of_joined_parts() {
        let file = "ab".repeat(32);
        let want = sha_hex(format!("acme\x1f{file}\x1f7").as_bytes())[..32].to_string();
        assert_eq!(flat_record_id("acme", &file, 7), want);
        assert_eq!(flat_record_id("acme", &file.to_uppercase(), 7), want);
        assert_ne!(flat_record_id("acme", &file, 8), want);
        assert_eq!(want.len(), 32);
        assert!(
            want.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }

    #[test]
    fn digest_joins_elements_and_segments() {
        let mut d = ContentDigest::new();
        d.push_segment(&[b"ST", b"856", b"0001"]);
        d.push_segment(&[b"SE", b"2", b"0001"]);
        assert_eq!(d.segments(), 2);
        let want = Sha256::digest(b"ST\x1f856\x1f0001\x1eSE\x1f2\x1f0001");
        assert_eq!(d.finish(), <[u8; 32]>::from(want));
    }

    #[test]
    fn digest_does_not_depend_on_buffering() {
        let long = vec![b'x'; DIGEST_BUFFER + 7];
        let mut whole = Vec::new();
        let mut d = ContentDigest::new();
        for i in 0..5u8 {
            d.push_segment_mapped(&[b"N1", &long, &[b'a', b'>', i]], b'>', Some(b'^'));
            if i > 0 {
                whole.push(RECORD);
            }
            whole.extend_from_slice(b"N1\x1f");
            whole.extend_from_slice(&long);
            whole.extend_from_slice(&[UNIT, b'a', COMPONENT, i]);
        }
        let mut again = d.clone();
        assert_eq!(d.finish(), <[u8; 32]>::from(Sha256::digest(&whole)));
        let first = again.finish_reset();
        assert_eq!(first, <[u8; 32]>::from(Sha256::digest(&whole)));
        assert_eq!(again.segments(), 0);
        again.push_segment(&[b"ST"]);
        assert_eq!(again.finish(), <[u8; 32]>::from(Sha256::digest(b"ST")));
    }

    #[test]
    fn digest_ignores_the_partners_component_separator() {
        let mut a = ContentDigest::new();
        a.push_segment_mapped(&[b"SV1", b"HC:99213"], b':', None);
        let mut b = ContentDigest::new();
        b.push_segment_mapped(&[b"SV1", b"HC>99213"], b'>', None);
        assert_eq!(a.finish(), b.finish());
    }

    #[test]
    fn x12_id_depends_on_every_part() {
        let mut d = ContentDigest::new();
        d.push_segment(&[b"ST", b"214", b"0001"]);
        let digest = d.finish();
        let base = x12_record_id("acme", "ZZ:A", "ZZ:B", "000000905", "905", "0001", &digest);
        let want_input = format!(
            "acme\x1fZZ:A\x1fZZ:B\x1f000000905\x1f905\x1f0001\x1f{}",
            hex::encode(digest)
        );
        assert_eq!(base, sha_hex(want_input.as_bytes())[..32]);
        let variants = [
            x12_record_id("acme2", "ZZ:A", "ZZ:B", "000000905", "905", "0001", &digest),
            x12_record_id("acme", "ZZ:A", "ZZ:B", "000000906", "905", "0001", &digest),
            x12_record_id("acme", "ZZ:A", "ZZ:B", "000000905", "905", "0002", &digest),
            x12_record_id("acme", "ZZ:A", "ZZ:B", "000000905", "905", "0001", &[0; 32]),
        ];
        for v in variants {
            assert_ne!(v, base);
        }
    }
}

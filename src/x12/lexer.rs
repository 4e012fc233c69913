//! The streaming X12 tokenizer: a `Read` source in, segments out, in bounded memory.
//!
//! Invariants:
//! - Memory is bounded by `Limits::max_segment` plus one read chunk, whatever the file size: the
//!   buffer holds at most one partial segment beyond what has been handed out.
//! - Delimiters come from each ISA (x12-reference §1.4); nothing here assumes `*` or `~`.
//! - Envelope segments are recognised only at segment boundaries (`ISAAC` in a name is data).
//! - Outside an interchange, BOMs, whitespace, NUL and Ctrl-Z are padding; anything else is
//!   reported once per run as skipped bytes. Inside, CR/LF and indentation around terminators are
//!   dropped, and line breaks inside a segment (hard-wrapped files) are removed.
//! - "Need more input" is a state of the loop, not an error; the only errors are I/O errors.

use std::io::{self, Read};

use memchr::memmem;

use super::delimiters::{Delimiters, Terminator, plausible_delimiter};
use super::isa::{IsaHeader, IsaParse, parse_isa};
use super::scan::block_masks;
use super::segment::Segment;

/// Bounds on what the tokenizer holds in memory.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes read from the source at a time.
    pub chunk: usize,
    /// The longest segment accepted; longer ones are skipped and reported.
    pub max_segment: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            chunk: 64 * 1024,
            max_segment: 256 * 1024,
        }
    }
}

/// What the tokenizer produces.
#[derive(Debug)]
pub enum Token<'a> {
    /// An ISA header: a new interchange with its own delimiters begins.
    Interchange {
        /// Byte offset of `ISA`.
        offset: u64,
        /// The header and the issues found in it.
        header: Box<IsaHeader>,
    },
    /// A segment of the current interchange (IEA included).
    Segment(Segment<'a>),
    /// An ISA that cannot be used; its interchange is skipped up to the next ISA.
    BrokenHeader {
        /// Byte offset of `ISA`.
        offset: u64,
        /// TA105 note code.
        ta105: &'static str,
        /// One plain sentence.
        message: String,
    },
    /// Bytes outside any interchange that are not padding (banners, junk after IEA).
    Skipped {
        /// Offset of the first skipped byte.
        offset: u64,
        /// How many bytes were skipped.
        len: u64,
    },
    /// A segment longer than `Limits::max_segment`, skipped without being buffered.
    Oversized {
        /// Offset of the segment.
        offset: u64,
        /// Its length in bytes.
        len: u64,
        /// Its first bytes (the tag, as far as it can be told).
        tag: Vec<u8>,
    },
    /// Two terminators with nothing between them.
    EmptySegment {
        /// Offset of the second terminator.
        offset: u64,
    },
}

enum Ready {
    Buffer(usize, usize),
    Scratch,
}

/// The tokenizer. Call [`Tokenizer::next_token`] until it returns `None`.
pub struct Tokenizer<R> {
    src: R,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    base: u64,
    eof: bool,
    inside: Option<Delimiters>,
    close_after: bool,
    scratch: Vec<u8>,
    bounds: Bounds,
    limits: Limits,
    junk: Option<(u64, u64)>,
    delims: Delimiters,
    seg_offset: u64,
    unterminated: bool,
    lowercase: bool,
    masks: MaskCache,
}

/// Element boundaries of the current segment. The storage only grows, and the count lives in
/// its own field: handing out the slice right after the pushes then reads values the CPU can
/// forward from its store buffer (a `Vec`'s pointer and length read together after a length
/// update stalled the hot path).
#[derive(Debug, Default)]
struct Bounds {
    store: Vec<(u32, u32)>,
    len: usize,
}

impl Bounds {
    #[inline(always)]
    fn clear(&mut self) {
        self.len = 0;
    }

    #[inline(always)]
    fn push(&mut self, b: (u32, u32)) {
        if self.len == self.store.len() {
            self.store.resize((self.len * 2).max(32), (0, 0));
        }
        self.store[self.len] = b;
        self.len += 1;
    }

    #[inline(always)]
    fn as_slice(&self) -> &[(u32, u32)] {
        &self.store[..self.len]
    }

    /// The tag's bounds (a segment always has them once split).
    #[inline(always)]
    fn first(&self) -> (u32, u32) {
        self.as_slice().first().copied().unwrap_or((0, 0))
    }
}

/// The delimiter bitmaps of the 64-byte block at `base` in the buffer, with the bits already
/// consumed cleared. Invalid once the buffer's contents move.
#[derive(Debug, Clone, Copy, Default)]
struct MaskCache {
    valid: bool,
    base: usize,
    element: u64,
    stop: u64,
    element_byte: u8,
    term_byte: u8,
}

fn is_padding(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0 | 0x1A | 0x0C | 0x0B)
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl<R: Read> Tokenizer<R> {
    /// A tokenizer over `src` with default limits.
    pub fn new(src: R) -> Self {
        Self::with_limits(src, Limits::default())
    }

    /// A tokenizer over `src` with the given limits.
    pub fn with_limits(src: R, limits: Limits) -> Self {
        let chunk = limits.chunk.max(1024);
        Tokenizer {
            src,
            buf: vec![0; chunk],
            pos: 0,
            end: 0,
            base: 0,
            eof: false,
            inside: None,
            close_after: false,
            scratch: Vec::new(),
            bounds: Bounds::default(),
            limits: Limits {
                chunk,
                max_segment: limits.max_segment.max(1024),
            },
            junk: None,
            delims: Delimiters::standard(None),
            seg_offset: 0,
            unterminated: false,
            lowercase: false,
            masks: MaskCache::default(),
        }
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// The capacity of the read buffer (for memory accounting in tests).
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity() + self.scratch.capacity()
    }

    /// Reads more input; returns false when nothing more can come (EOF, or the buffer is full).
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 {
            self.masks.valid = false;
            self.buf.copy_within(self.pos..self.end, 0);
            self.base += self.pos as u64;
            self.end -= self.pos;
            self.pos = 0;
        }
        if self.end == self.buf.len() {
            let cap = self.limits.max_segment + self.limits.chunk;
            if self.buf.len() >= cap {
                return Ok(false);
            }
            let grown = (self.buf.len() * 2).min(cap);
            self.buf.resize(grown, 0);
        }
        loop {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn add_junk(&mut self, len: usize) {
        if len == 0 {
            return;
        }
        let at = self.base + self.pos as u64;
        match &mut self.junk {
            Some((_, l)) => *l += len as u64,
            None => self.junk = Some((at, len as u64)),
        }
        self.pos += len;
    }

    /// The next token, or `None` at the end of the input.
    pub fn next_token(&mut self) -> io::Result<Option<Token<'_>>> {
        let ready = loop {
            if self.close_after {
                self.close_after = false;
                self.inside = None;
            }
            match self.inside {
                None => {
                    if let Some(token) = self.between()? {
                        return Ok(Some(token));
                    }
                    if self.pos == self.end && self.eof {
                        return Ok(self
                            .junk
                            .take()
                            .map(|(offset, len)| Token::Skipped { offset, len }));
                    }
                }
                Some(d) => match self.inside(d)? {
                    Step::Again => {}
                    Step::End => return Ok(None),
                    Step::Token(t) => return Ok(Some(t)),
                    Step::Ready(r) => break r,
                },
            }
        };
        let data = match ready {
            Ready::Buffer(s, e) => &self.buf[s..e],
            Ready::Scratch => &self.scratch[..],
        };
        let lowercase_tag = self.lowercase;
        let segment = Segment {
            offset: self.seg_offset,
            data,
            bounds: self.bounds.as_slice(),
            delimiters: &self.delims,
            lowercase_tag,
            unterminated: self.unterminated,
        };
        Ok(Some(Token::Segment(segment)))
    }
}

enum Step<'a> {
    Again,
    End,
    Token(Token<'a>),
    Ready(Ready),
}

impl<R: Read> Tokenizer<R> {
    /// Outside an interchange: skip padding and junk, parse the next ISA.
    fn between(&mut self) -> io::Result<Option<Token<'static>>> {
        loop {
            while self.pos < self.end && is_padding(self.buf[self.pos]) {
                self.pos += 1;
            }
            let avail = self.end - self.pos;
            if avail < BOM.len()
                && !self.eof
                && (avail == 0
                    || BOM.starts_with(&self.buf[self.pos..self.end])
                    || b"ISA".starts_with(&self.buf[self.pos..self.end]))
            {
                if !self.fill()? && !self.eof {
                    break;
                }
                continue;
            }
            if self.buf[self.pos..self.end].starts_with(BOM) {
                self.pos += BOM.len();
                continue;
            }
            if avail == 0 {
                return Ok(None);
            }
            break;
        }
        let avail = self.end - self.pos;
        if avail < 4 && !self.eof {
            self.fill()?;
            return Ok(None);
        }
        let rest = &self.buf[self.pos..self.end];
        if rest.starts_with(b"ISA") && rest.len() >= 4 && plausible_delimiter(rest[3]) {
            if let Some((offset, len)) = self.junk.take() {
                return Ok(Some(Token::Skipped { offset, len }));
            }
            let offset = self.base + self.pos as u64;
            match parse_isa(rest, self.eof) {
                IsaParse::Incomplete => {
                    self.fill()?;
                    Ok(None)
                }
                IsaParse::Header(header) => {
                    self.pos += header.len;
                    self.delims = header.delimiters;
                    self.inside = Some(header.delimiters);
                    Ok(Some(Token::Interchange {
                        offset,
                        header: Box::new(header),
                    }))
                }
                IsaParse::Broken {
                    ta105,
                    message,
                    consumed,
                } => {
                    // Skip the broken header, then everything up to the next ISA counts as junk of
                    // this broken interchange (it is reported by the header finding, not again).
                    self.pos += consumed.clamp(3, avail);
                    self.skip_to_next_isa()?;
                    Ok(Some(Token::BrokenHeader {
                        offset,
                        ta105,
                        message,
                    }))
                }
            }
        } else {
            // Junk: look for the next ISA after this byte.
            let search_from = self.pos + 1;
            match memmem::find(&self.buf[search_from..self.end], b"ISA") {
                Some(k) => self.add_junk(1 + k),
                None => {
                    let keep = if self.eof { 0 } else { 2 };
                    let take = (self.end - self.pos)
                        .saturating_sub(keep)
                        .max(1)
                        .min(self.end - self.pos);
                    self.add_junk(take);
                    if !self.eof {
                        self.fill()?;
                    }
                }
            }
            Ok(None)
        }
    }

    /// After a broken header: drop bytes up to the next `ISA` that could begin an interchange.
    fn skip_to_next_isa(&mut self) -> io::Result<()> {
        loop {
            let hay = &self.buf[self.pos..self.end];
            let mut found = None;
            for k in memmem::find_iter(hay, b"ISA") {
                if hay.get(k + 3).is_none_or(|b| plausible_delimiter(*b)) {
                    found = Some(k);
                    break;
                }
            }
            match found {
                Some(k) => {
                    self.pos += k;
                    return Ok(());
                }
                None => {
                    let keep = if self.eof { 0 } else { 3 };
                    self.pos = self.end.saturating_sub(keep).max(self.pos);
                    if !self.fill()? && self.eof {
                        self.pos = self.end;
                        return Ok(());
                    }
                }
            }
        }
    }
}

// The per-segment state the `Ready` branch reads.
impl<R: Read> Tokenizer<R> {
    fn inside(&mut self, d: Delimiters) -> io::Result<Step<'static>> {
        // Line breaks and indentation before a segment are not part of it.
        while self.pos < self.end && matches!(self.buf[self.pos], b'\r' | b'\n' | b' ' | b'\t') {
            self.pos += 1;
        }
        if self.end - self.pos < 4 && !self.eof {
            self.fill()?;
            if self.pos == self.end && self.eof {
                return Ok(Step::End);
            }
            return Ok(Step::Again);
        }
        if self.pos == self.end {
            return Ok(Step::End);
        }
        let rest = &self.buf[self.pos..self.end];
        if rest.starts_with(b"ISA") && rest.len() >= 4 && plausible_delimiter(rest[3]) {
            // A new interchange begins before this one ended: the envelope reports the missing IEA.
            self.inside = None;
            return Ok(Step::Again);
        }
        if let Terminator::Byte(t) = d.segment
            && let Some(step) = self.fast_segment(d.element, t)
        {
            return Ok(step);
        }
        let rest = &self.buf[self.pos..self.end];
        let found = find_terminator(rest, &d.segment, self.eof);
        let (seg_len, term_len, unterminated) = match found {
            Found::At(i, n) => (i, n, false),
            Found::NeedMore if !self.eof => {
                if self.end - self.pos >= self.limits.max_segment {
                    return self.skip_oversized(d).map(Step::Token);
                }
                if !self.fill()? && !self.eof {
                    return self.skip_oversized(d).map(Step::Token);
                }
                return Ok(Step::Again);
            }
            Found::NeedMore => (rest.len(), 0, true),
        };
        let start = self.pos;
        self.seg_offset = self.base + start as u64;
        self.pos = start + seg_len + term_len;
        self.unterminated = unterminated;
        let mut seg_end = start + seg_len;
        while seg_end > start && matches!(self.buf[seg_end - 1], b' ' | b'\t' | b'\r' | b'\n') {
            seg_end -= 1;
        }
        if seg_end == start {
            if d.segment == Terminator::Newline || unterminated {
                return Ok(Step::Again);
            }
            return Ok(Step::Token(Token::EmptySegment {
                offset: self.seg_offset,
            }));
        }
        let wrapped = d.segment != Terminator::Newline
            && memchr::memchr2(b'\r', b'\n', &self.buf[start..seg_end]).is_some();
        let ready = if wrapped {
            self.scratch.clear();
            self.scratch.extend(
                self.buf[start..seg_end]
                    .iter()
                    .copied()
                    .filter(|b| *b != b'\r' && *b != b'\n'),
            );
            self.lowercase = split_elements(&mut self.scratch, d.element, &mut self.bounds);
            Ready::Scratch
        } else {
            self.lowercase =
                split_elements(&mut self.buf[start..seg_end], d.element, &mut self.bounds);
            Ready::Buffer(start, seg_end)
        };
        if self.current_tag(&ready) == b"IEA" {
            self.close_after = true;
        }
        Ok(Step::Ready(ready))
    }

    /// The hot path for one-byte terminators: walks the delimiter bitmaps of 64-byte blocks
    /// ([`block_masks`], cached across segments) to find the element boundaries, the terminator
    /// and any line break. A line break inside a segment, or a segment that runs within 64 bytes
    /// of the buffer's end, goes to the slow path.
    fn fast_segment(&mut self, element: u8, term: u8) -> Option<Step<'static>> {
        let start = self.pos;
        // Locals, not fields, in the loop: the bit masks and the bounds count stay in registers.
        let buf = &self.buf[..self.end];
        let mut c = self.masks;
        if !(c.valid
            && c.element_byte == element
            && c.term_byte == term
            && start >= c.base
            && start < c.base + 64)
        {
            let m = block_masks(buf.get(start..)?, element, term)?;
            c = MaskCache {
                valid: true,
                base: start,
                element: m.element,
                stop: m.stop,
                element_byte: element,
                term_byte: term,
            };
        }
        // Bits below the segment's start were consumed (or were padding before it).
        let keep = !((1u64 << (start - c.base)) - 1);
        c.element &= keep;
        c.stop &= keep;
        let store = &mut self.bounds.store;
        let mut n = 0usize;
        let mut el_start = start;
        let seg_end = loop {
            let hits = c.element | c.stop;
            if hits == 0 {
                let next = c.base + 64;
                let m = block_masks(buf.get(next..)?, element, term)?;
                c.base = next;
                c.element = m.element;
                c.stop = m.stop;
                continue;
            }
            let k = hits.trailing_zeros();
            let at = c.base + k as usize;
            let bit = 1u64 << k;
            if c.stop & bit == 0 {
                c.element &= !bit;
                if n == store.len() {
                    store.resize((n * 2).max(32), (0, 0));
                }
                store[n] = ((el_start - start) as u32, (at - start) as u32);
                n += 1;
                el_start = at + 1;
            } else if buf[at] == term {
                c.stop &= !bit;
                break at;
            } else {
                return None; // a line break inside the segment: the slow path removes it
            }
        };
        self.masks = c;
        self.bounds.len = n;
        let hay = &self.buf[start..seg_end];
        let seg_len = hay.len();
        let mut trimmed = seg_len;
        while trimmed > 0 && matches!(hay[trimmed - 1], b' ' | b'\t' | b'\r') {
            trimmed -= 1;
        }
        if trimmed == 0 {
            return None; // empty segment: the slow path reports it
        }
        let el_start = (el_start - start) as u32;
        self.bounds
            .push((el_start.min(trimmed as u32), trimmed as u32));
        self.seg_offset = self.base + start as u64;
        self.pos = seg_end + 1;
        self.unterminated = false;
        let (s, e) = self.bounds.first();
        let tag = &mut self.buf[start + s as usize..start + e as usize];
        self.lowercase = tag.iter().any(u8::is_ascii_lowercase);
        if self.lowercase {
            tag.make_ascii_uppercase();
        }
        if tag == b"IEA" {
            self.close_after = true;
        }
        // Bounds are relative to the segment start; data ends at the trimmed end.
        Some(Step::Ready(Ready::Buffer(start, start + trimmed)))
    }

    fn current_tag(&self, ready: &Ready) -> &[u8] {
        let data = match ready {
            Ready::Buffer(s, e) => &self.buf[*s..*e],
            Ready::Scratch => &self.scratch[..],
        };
        let (s, e) = self.bounds.first();
        &data[s as usize..e as usize]
    }

    /// Drops a segment longer than the limit without holding it, up to its terminator.
    fn skip_oversized(&mut self, d: Delimiters) -> io::Result<Token<'static>> {
        let offset = self.base + self.pos as u64;
        let tag: Vec<u8> = self.buf[self.pos..self.end]
            .iter()
            .take_while(|b| **b != d.element)
            .take(3)
            .copied()
            .collect();
        let mut len: u64 = 0;
        loop {
            let rest = &self.buf[self.pos..self.end];
            match find_terminator(rest, &d.segment, self.eof) {
                Found::At(i, n) => {
                    len += i as u64;
                    self.pos += i + n;
                    return Ok(Token::Oversized { offset, len, tag });
                }
                Found::NeedMore => {
                    // Keep the last three bytes: a multi-byte terminator may straddle the chunk.
                    let keep = if self.eof { 0 } else { 3.min(rest.len()) };
                    let drop = rest.len() - keep;
                    len += drop as u64;
                    self.pos += drop;
                    if !self.fill()? && self.eof {
                        len += (self.end - self.pos) as u64;
                        self.pos = self.end;
                        return Ok(Token::Oversized { offset, len, tag });
                    }
                }
            }
        }
    }
}

enum Found {
    At(usize, usize),
    NeedMore,
}

fn find_terminator(hay: &[u8], t: &Terminator, eof: bool) -> Found {
    match t {
        Terminator::Byte(b) => match memchr::memchr(*b, hay) {
            Some(i) => Found::At(i, 1),
            None => Found::NeedMore,
        },
        Terminator::Newline => match memchr::memchr2(b'\n', b'\r', hay) {
            Some(i) if hay[i] == b'\r' => match hay.get(i + 1) {
                Some(b'\n') => Found::At(i, 2),
                Some(_) => Found::At(i, 1),
                None if eof => Found::At(i, 1),
                None => Found::NeedMore,
            },
            Some(i) => Found::At(i, 1),
            None => Found::NeedMore,
        },
        Terminator::Multi(bytes, n) => {
            let needle = &bytes[..usize::from(*n)];
            match memmem::find(hay, needle) {
                Some(i) => Found::At(i, needle.len()),
                None => Found::NeedMore,
            }
        }
    }
}

/// Records element boundaries and upper-cases a lower-case tag in place; says whether it was.
fn split_elements(data: &mut [u8], element: u8, bounds: &mut Bounds) -> bool {
    bounds.clear();
    let mut start = 0u32;
    for i in memchr::memchr_iter(element, data) {
        bounds.push((start, i as u32));
        start = i as u32 + 1;
    }
    bounds.push((start, data.len() as u32));
    let (s, e) = bounds.first();
    let tag = &mut data[s as usize..e as usize];
    let lower = tag.iter().any(u8::is_ascii_lowercase);
    if lower {
        tag.make_ascii_uppercase();
    }
    lower
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn collect(input: &[u8], chunk: usize) -> Vec<String> {
        let mut t = Tokenizer::with_limits(
            input,
            Limits {
                chunk,
                max_segment: 4096,
            },
        );
        let mut out = Vec::new();
        while let Some(tok) = t.next_token().expect("in-memory reads do not fail") {
            out.push(match tok {
                Token::Interchange { header, .. } => format!("ISA[{}]", header.field(13)),
                Token::Segment(s) => s.elements().fold(
                    String::from_utf8_lossy(s.tag()).into_owned(),
                    |mut acc, e| {
                        acc.push('|');
                        acc.push_str(&String::from_utf8_lossy(e));
                        acc
                    },
                ),
                Token::BrokenHeader { ta105, .. } => format!("BROKEN[{ta105}]"),
                Token::Skipped { len, .. } => format!("SKIP[{len}]"),
                Token::Oversized { len, .. } => format!("OVERSIZED[{len}]"),
                Token::EmptySegment { .. } => "EMPTY".into(),
            });
        }
        out
    }

    const ISA: &str = "ISA*00*          *00*          *ZZ*ACMEWMS        *ZZ*BIGBOXRETAIL   *260105*1430*U*00401*000000905*0*P*>~";

    fn doc(term: &str, after: &str) -> String {
        let isa = ISA.replace('~', term);
        format!(
            "{isa}{after}GS*OW*ACMEWMS*BIGBOX*20260105*1430*905*X*004010{term}{after}ST*940*0001{term}{after}W05*N*ORD1{term}{after}SE*3*0001{term}{after}GE*1*905{term}{after}IEA*1*000000905{term}{after}"
        )
    }

    #[test]
    fn same_segments_in_every_mode_and_chunk_size() {
        let expected = collect(doc("~", "").as_bytes(), 1 << 16);
        assert_eq!(expected.len(), 7);
        assert_eq!(expected[3], "W05|N|ORD1");
        for (term, after) in [
            ("~", "\n"),
            ("~", "\r\n"),
            ("\n", ""),
            ("\r\n", ""),
            ("~", "\r\n   "),
        ] {
            for chunk in [1, 7, 64, 1 << 16] {
                let got = collect(doc(term, after).as_bytes(), chunk);
                assert_eq!(got, expected, "term {term:?} after {after:?} chunk {chunk}");
            }
        }
    }

    #[test]
    fn padding_and_junk_around_interchanges() {
        let mut input = b"\xEF\xBB\xBF\n\n".to_vec();
        input.extend_from_slice(doc("~", "\n").as_bytes());
        input.extend_from_slice(b"\0\0\x1A");
        let got = collect(&input, 16);
        assert_eq!(got.len(), 7, "{got:?}");
        let mut junk = b"VAN BANNER 2026\r\n".to_vec();
        junk.extend_from_slice(doc("~", "").as_bytes());
        junk.extend_from_slice(b"garbage");
        let got = collect(&junk, 16);
        assert_eq!(got.first().map(String::as_str), Some("SKIP[17]"));
        assert_eq!(got.last().map(String::as_str), Some("SKIP[7]"));
    }

    #[test]
    fn hard_wrapped_lines_are_joined() {
        let text = doc("~", "");
        let wrapped: String = text
            .as_bytes()
            .chunks(80)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(
            collect(wrapped.as_bytes(), 32),
            collect(text.as_bytes(), 32)
        );
    }

    #[test]
    fn isa_inside_data_is_data() {
        let text = doc("~", "").replace("W05*N*ORD1", "W05*N*ISAAC*ISA");
        let got = collect(text.as_bytes(), 8);
        assert_eq!(got[3], "W05|N|ISAAC|ISA");
    }

    #[test]
    fn oversized_segment_is_skipped_in_bounded_memory() {
        let big = "X".repeat(100_000);
        let text = doc("~", "").replace("W05*N*ORD1", &format!("W05*N*{big}"));
        let mut t = Tokenizer::with_limits(
            text.as_bytes(),
            Limits {
                chunk: 4096,
                max_segment: 8192,
            },
        );
        let mut saw = false;
        while let Some(tok) = t.next_token().unwrap() {
            if let Token::Oversized { len, tag, .. } = tok {
                assert_eq!(tag, b"W05");
                assert_eq!(len, 100_006);
                saw = true;
            }
        }
        assert!(saw);
        assert!(t.buffer_capacity() <= 8192 + 4096 + 64);
    }

    #[test]
    fn lower_case_tags_are_upper_cased() {
        let text = doc("~", "").replace("W05*N", "w05*N");
        let got = collect(text.as_bytes(), 64);
        assert_eq!(got[3], "W05|N|ORD1");
    }

    #[test]
    fn two_interchanges_with_different_delimiters() {
        let a = doc("~", "\n");
        let b = doc("~", "")
            .replace('*', "|")
            .replace('~', "'")
            .replace("|>'", "|:'");
        let got = collect(format!("{a}{b}").as_bytes(), 16);
        assert_eq!(got.len(), 14, "{got:?}");
        assert_eq!(got[10], "W05|N|ORD1");
    }

    #[test]
    fn every_prefix_tokenizes_without_panicking() {
        let text = doc("~", "\r\n");
        for n in 0..text.len() {
            let _ = collect(&text.as_bytes()[..n], 3);
        }
    }
}

//! Delimiter bitmaps for the tokenizer's hot path: 64 bytes at a time, which positions hold the
//! element separator and which end a segment (the terminator or a line feed).
//!
//! Segments are short (20 to 40 bytes is typical) and dense with separators, so neither a byte
//! loop (one unpredictable branch per byte) nor a vector search restarted at every hit pays off.
//! Instead the tokenizer asks for the bitmaps of a 64-byte block once and walks the set bits,
//! which covers two or three segments per block. On x86_64 the comparison uses SSE2 (part of
//! the architecture's baseline, so always present); elsewhere a portable loop gives the same
//! answer.

/// The delimiter bitmaps of one 64-byte block: bit `i` stands for byte `i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockMasks {
    /// Bytes equal to the element separator.
    pub element: u64,
    /// Bytes equal to the segment terminator or a line feed.
    pub stop: u64,
}

/// The bitmaps of `block[..64]`; `None` when the block is shorter than 64 bytes.
#[inline]
pub fn block_masks(block: &[u8], element: u8, term: u8) -> Option<BlockMasks> {
    let block: &[u8; 64] = block.get(..64)?.try_into().ok()?;
    Some(masks(block, element, term))
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn masks(block: &[u8; 64], element: u8, term: u8) -> BlockMasks {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    let mut el = 0u64;
    let mut stop = 0u64;
    // SAFETY: SSE2 is part of the x86_64 baseline, so these intrinsics are always available; each
    // unaligned load reads 16 bytes at offset 16 * i (i < 4) of a 64-byte array, within bounds.
    unsafe {
        let ve = _mm_set1_epi8(element as i8);
        let vt = _mm_set1_epi8(term as i8);
        let vn = _mm_set1_epi8(b'\n' as i8);
        for i in 0..4 {
            let v = _mm_loadu_si128(block.as_ptr().add(16 * i).cast::<__m128i>());
            let e = _mm_movemask_epi8(_mm_cmpeq_epi8(v, ve)) as u32 as u64;
            let s = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, vt), _mm_cmpeq_epi8(v, vn)))
                as u32 as u64;
            el |= e << (16 * i);
            stop |= s << (16 * i);
        }
    }
    BlockMasks { element: el, stop }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn masks(block: &[u8; 64], element: u8, term: u8) -> BlockMasks {
    portable_masks(block, element, term)
}

/// The plain definition every implementation must agree with.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn portable_masks(block: &[u8; 64], element: u8, term: u8) -> BlockMasks {
    let mut m = BlockMasks {
        element: 0,
        stop: 0,
    };
    for (i, &b) in block.iter().enumerate() {
        m.element |= u64::from(b == element) << i;
        m.stop |= u64::from(b == term || b == b'\n') << i;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_blocks_have_no_masks() {
        assert_eq!(block_masks(&[b'*'; 63], b'*', b'~'), None);
    }

    #[test]
    fn every_position_and_byte_value() {
        for b in 0u8..=255 {
            for at in 0..64 {
                let mut block = [b'A'; 64];
                block[at] = b;
                let got = block_masks(&block, b'*', b'~').expect("64 bytes");
                assert_eq!(
                    got,
                    portable_masks(&block, b'*', b'~'),
                    "byte {b:#x} at {at}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn agrees_with_the_portable_definition(
            block in proptest::collection::vec(any::<u8>(), 64..100),
            element in any::<u8>(),
            term in any::<u8>(),
        ) {
            let fixed: &[u8; 64] = block[..64].try_into().expect("64 bytes");
            prop_assert_eq!(
                block_masks(&block, element, term),
                Some(portable_masks(fixed, element, term))
            );
        }
    }
}

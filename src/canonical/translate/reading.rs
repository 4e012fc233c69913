//! Readers translation reads a file through: one that hashes it (SHA-256, for
//! `source.file_sha256`) and one that fingerprints it, so that reads of a file that changed in
//! between are caught.

use std::io::{self, Read};

use sha2::{Digest, Sha256};

/// A reader that hashes what passes through it.
pub(crate) struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

impl<R> Hashing<R> {
    pub(crate) fn new(inner: R) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// The SHA-256 of what was read so far, lower-case hex (the reader can go on).
    pub(crate) fn hex_of_read(&self) -> String {
        hex::encode(self.hasher.clone().finalize())
    }
}

/// A reader that fingerprints what passes through it: a 64-bit hash of its bytes that does not
/// depend on how the reads split them, and their count. Two passes over the same bytes agree;
/// a file that changed between them almost surely does not (and SHA-256 is computed only once).
/// Four lanes take the 8-byte words of each 32-byte block in turn, so the multiplications of
/// one block do not wait on each other.
pub(crate) struct Fingerprint<R> {
    inner: R,
    lanes: [u64; LANES],
    carry: [u8; BLOCK],
    carry_len: usize,
    len: u64,
}

const LANES: usize = 4;
const BLOCK: usize = 8 * LANES;

impl<R> Fingerprint<R> {
    pub(crate) fn new(inner: R) -> Self {
        Fingerprint {
            inner,
            lanes: [0, 1, 2, 3],
            carry: [0; BLOCK],
            carry_len: 0,
            len: 0,
        }
    }

    /// The wrapped reader.
    /// Bytes read so far.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    pub(crate) fn get_ref(&self) -> &R {
        &self.inner
    }

    fn mix(state: u64, word: u64) -> u64 {
        (state.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95)
    }

    fn block(&mut self, block: &[u8; BLOCK]) {
        for (i, lane) in self.lanes.iter_mut().enumerate() {
            let mut word = [0u8; 8];
            word.copy_from_slice(&block[8 * i..8 * i + 8]);
            *lane = Self::mix(*lane, u64::from_le_bytes(word));
        }
    }

    fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if self.carry_len > 0 {
            let take = (BLOCK - self.carry_len).min(data.len());
            self.carry[self.carry_len..self.carry_len + take].copy_from_slice(&data[..take]);
            self.carry_len += take;
            data = &data[take..];
            if self.carry_len < BLOCK {
                return;
            }
            let carry = self.carry;
            self.block(&carry);
            self.carry_len = 0;
        }
        let mut blocks = data.chunks_exact(BLOCK);
        for b in &mut blocks {
            let mut block = [0u8; BLOCK];
            block.copy_from_slice(b);
            self.block(&block);
        }
        let rest = blocks.remainder();
        self.carry[..rest.len()].copy_from_slice(rest);
        self.carry_len = rest.len();
    }

    /// The fingerprint and the byte count.
    pub(crate) fn finish(mut self) -> (u64, u64) {
        let mut last = [0u8; BLOCK];
        last[..self.carry_len].copy_from_slice(&self.carry[..self.carry_len]);
        self.block(&last);
        let len = self.len;
        let state = self
            .lanes
            .iter()
            .fold(len, |acc, &lane| Self::mix(acc, lane));
        (Self::mix(state, len), len)
    }
}

impl<R: Read> Read for Fingerprint<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.update(&buf[..n]);
        Ok(n)
    }
}

/// Reads `input` to its end: its SHA-256 (lower-case hex), its length and its fingerprint.
pub(super) fn hash_all<R: Read>(input: R) -> io::Result<(String, u64, (u64, u64))> {
    let mut reader = Fingerprint::new(Hashing::new(input));
    let mut buf = vec![0u8; 1 << 18];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let sha256 = reader.get_ref().hex_of_read();
    let len = reader.len();
    Ok((sha256, len, reader.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_do_not_depend_on_read_sizes() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let fingerprint = |chunk: usize| {
            let mut f = Fingerprint::new(());
            for piece in data.chunks(chunk) {
                f.update(piece);
            }
            f.finish()
        };
        let whole = fingerprint(1000);
        for chunk in [1, 3, 7, 8, 9, 31, 32, 33, 64, 999] {
            assert_eq!(fingerprint(chunk), whole, "chunks of {chunk}");
        }
        let mut other = Fingerprint::new(());
        other.update(&data[1..]);
        assert_ne!(other.finish(), whole);
    }
}

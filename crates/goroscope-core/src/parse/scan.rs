//! Newline indexing for the line reader. Dump lines are short (about 50
//! bytes, one newline per ~50 bytes), so a search call per newline (even
//! memchr's AVX2 one, called directly) costs tens of instructions in setup
//! per match. Instead, 64 bytes at a time are compared with 16-byte vectors
//! (the `wide` crate: SSE2, which every x86-64 has; no unsafe code here)
//! into a 64-bit mask whose set bits are the newlines: about half the
//! instructions of the memchr iterator on dump text (callgrind, 30 MB
//! dump). A SWAR scan (eight bytes at a time in plain Rust) handles the
//! tail shorter than 64 bytes.

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

#[inline(always)]
fn splat(b: u8) -> u64 {
    LO * u64::from(b)
}

/// Exact mask: the high bit of every byte of `v` that is zero.
#[inline(always)]
fn zero_bytes(v: u64) -> u64 {
    !((((v & !HI).wrapping_add(!HI)) | v) | !HI)
}

#[inline(always)]
fn word(b: &[u8]) -> u64 {
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// Appends `base + i` for every `needle` at index `i` of `hay`.
#[inline]
pub fn index_all(hay: &[u8], needle: u8, base: usize, out: &mut Vec<u32>) {
    let pat = splat(needle);
    let mut chunks = hay.chunks_exact(8);
    let mut offset = base;
    for c in &mut chunks {
        // No has_zero pre-check here: on dump text about one word in nine
        // holds a newline, and the extra, badly predicted branch costs more
        // than the exact mask it would skip.
        let mut m = zero_bytes(word(c) ^ pat);
        while m != 0 {
            out.push((offset + m.trailing_zeros() as usize / 8) as u32);
            m &= m - 1;
        }
        offset += 8;
    }
    for (i, &c) in chunks.remainder().iter().enumerate() {
        if c == needle {
            out.push((offset + i) as u32);
        }
    }
}

/// Whether the last 24 bytes of `hay` hold `needle` (all of it when
/// shorter); three SWAR words, no call, no loop.
#[inline]
pub fn tail24_contains(hay: &[u8], needle: u8) -> bool {
    let n = hay.len();
    if n < 24 {
        return hay.contains(&needle);
    }
    let pat = splat(needle);
    let m = zero_bytes(word(&hay[n - 24..]) ^ pat)
        | zero_bytes(word(&hay[n - 16..]) ^ pat)
        | zero_bytes(word(&hay[n - 8..]) ^ pat);
    m != 0
}

/// Appends `base + i` for every newline at index `i` of `hay`.
#[inline]
pub fn index_newlines(hay: &[u8], base: usize, out: &mut Vec<u32>) {
    index_bitmask(hay, b'\n', base, out);
}

/// 64 bytes at a time: four 16-byte vector compares give a 64-bit mask of
/// the matches, whose set bits are read off with `trailing_zeros`. On dump
/// text (a newline every ~50 bytes) this costs a few instructions per line,
/// where a search call per match costs tens.
pub fn index_bitmask(hay: &[u8], needle: u8, base: usize, out: &mut Vec<u32>) {
    use wide::u8x16;
    let pat = u8x16::splat(needle);
    let mask16 = |b: &[u8]| -> u64 {
        let v = u8x16::new(b.try_into().unwrap_or([0; 16]));
        u64::from(v.simd_eq(pat).to_bitmask())
    };
    let mut chunks = hay.chunks_exact(64);
    let mut offset = base;
    for c in &mut chunks {
        let mut m = mask16(&c[..16])
            | mask16(&c[16..32]) << 16
            | mask16(&c[32..48]) << 32
            | mask16(&c[48..64]) << 48;
        while m != 0 {
            out.push((offset + m.trailing_zeros() as usize) as u32);
            m &= m - 1;
        }
        offset += 64;
    }
    index_all(chunks.remainder(), needle, offset, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn newline_index() {
        let mut got = Vec::new();
        index_newlines(b"a\nbb\n\nc", 10, &mut got);
        assert_eq!(got, vec![11, 14, 15]);
    }

    proptest! {
        #[test]
        fn agrees_with_naive_search(hay in proptest::collection::vec(any::<u8>(), 0..300), needle in any::<u8>()) {
            let tail = &hay[hay.len().saturating_sub(24)..];
            prop_assert_eq!(tail24_contains(&hay, needle), tail.contains(&needle));
            let want: Vec<u32> = hay.iter().enumerate().filter(|(_, &c)| c == needle).map(|(i, _)| i as u32 + 3).collect();
            let mut got = Vec::new();
            index_all(&hay, needle, 3, &mut got);
            prop_assert_eq!(&got, &want);
            got.clear();
            index_bitmask(&hay, needle, 3, &mut got);
            prop_assert_eq!(&got, &want);
        }
    }

    #[test]
    fn high_bytes_next_to_matches() {
        // 0x80/0x01 neighbours are where naive zero-byte tricks go wrong.
        let hay = [0x0a, 0x0b, 0x8a, 0x0a, 0x01, 0x0a, 0xff, 0x0a, 0x0a, 0x00];
        let mut got = Vec::new();
        index_all(&hay, 0x0a, 0, &mut got);
        assert_eq!(got, vec![0, 3, 5, 7, 8]);
    }
}

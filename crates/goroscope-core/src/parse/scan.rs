//! Newline indexing for the line reader: eight bytes at a time in plain safe
//! Rust (SWAR: SIMD within a register). Dump lines are short (about 50
//! bytes), so one `memchr` call per line spends more on dispatch than on
//! searching; indexing a whole buffer fill in one pass avoids that.
//! (Measured with callgrind's branch simulation: SWAR searches for the other,
//! end-anchored lookups were slower than memchr, so only this one is here.)

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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn agrees_with_naive_search(hay in proptest::collection::vec(any::<u8>(), 0..200), needle in any::<u8>()) {
            let mut got = Vec::new();
            index_all(&hay, needle, 3, &mut got);
            let want: Vec<u32> = hay.iter().enumerate().filter(|(_, &c)| c == needle).map(|(i, _)| i as u32 + 3).collect();
            prop_assert_eq!(got, want);
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

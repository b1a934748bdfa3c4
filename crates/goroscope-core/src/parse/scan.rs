//! Newline indexing for the line reader. Dump lines are short (about 50
//! bytes), so the per-call CPU dispatch of `memchr::memchr` costs more than
//! the search itself: this calls memchr's AVX2 searcher directly (detected
//! once at run time, no unsafe code; measured about 8% of the whole parse)
//! and falls back to a SWAR scan (eight bytes at a time in plain Rust)
//! elsewhere. (The same trick on the reverse searches of the frame lines
//! measured no gain, so they keep plain `memrchr`.)

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

// memchr's AVX2 searchers, built once: calling them directly skips memchr's
// per-call CPU dispatch, which costs more than the search on ~50-byte lines.
#[cfg(target_arch = "x86_64")]
type Avx2One = memchr::arch::x86_64::avx2::memchr::One;
#[cfg(target_arch = "x86_64")]
static NEWLINE: std::sync::OnceLock<Option<Avx2One>> = std::sync::OnceLock::new();

#[cfg(target_arch = "x86_64")]
#[inline]
fn avx2_searcher(
    cell: &'static std::sync::OnceLock<Option<Avx2One>>,
    b: u8,
) -> Option<&'static Avx2One> {
    cell.get_or_init(|| Avx2One::new(b)).as_ref()
}

/// Appends `base + i` for every newline at index `i` of `hay`: memchr's
/// AVX2 iterator where the CPU has it, else the SWAR scan.
#[inline]
pub fn index_newlines(hay: &[u8], base: usize, out: &mut Vec<u32>) {
    #[cfg(target_arch = "x86_64")]
    if let Some(one) = avx2_searcher(&NEWLINE, b'\n') {
        out.extend(one.iter(hay).map(|i| (base + i) as u32));
        return;
    }
    index_all(hay, b'\n', base, out);
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

//! Streaming line splitter over any [`Read`]: a fixed buffer, `memchr` for
//! newlines, no UTF-8 validation, CR stripped. Memory stays at the buffer size
//! whatever the input size, which is what lets a 1 GB dump be parsed in a few
//! megabytes.

use std::io::{self, Read};

/// Default read buffer: big enough that the read syscalls are negligible.
const BUF_SIZE: usize = 256 * 1024;
/// A line longer than this is split: no goroutine dump line comes close
/// (the longest are generic function names and label lists), and it bounds
/// memory on hostile input.
pub const MAX_LINE: usize = 4 * 1024 * 1024;

/// One line handed out by [`LineReader::next_line`].
pub struct Line<'a> {
    /// The bytes without `\n` and a trailing `\r`.
    pub text: &'a [u8],
    /// False when the input ended without a newline after this line.
    pub terminated: bool,
    /// True when the line was cut at [`MAX_LINE`].
    pub overlong: bool,
}

/// Reads lines from `R` through a reusable buffer.
///
/// Newlines are indexed once per buffer fill with `memchr_iter` (one
/// vectorised pass) instead of one `memchr` call per line: dump lines are
/// short (about 50 bytes), so per-call setup would otherwise dominate.
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Positions of the newlines in `buf[start..end]`, in order.
    newlines: Vec<u32>,
    next_nl: usize,
    eof: bool,
    consumed: u64,
    error: Option<io::Error>,
}

impl<R: Read> LineReader<R> {
    /// Wraps a reader.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            buf: vec![0; BUF_SIZE],
            start: 0,
            end: 0,
            newlines: Vec::with_capacity(BUF_SIZE / 32),
            next_nl: 0,
            eof: false,
            consumed: 0,
            error: None,
        }
    }

    /// Bytes handed out so far (for progress reporting).
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// The read error that ended the input early, if any.
    pub fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }

    /// The next line, or `None` at the end of the input (or after a read
    /// error, kept for [`Self::take_error`]).
    pub fn next_line(&mut self) -> Option<Line<'_>> {
        loop {
            if let Some(&nl) = self.newlines.get(self.next_nl) {
                self.next_nl += 1;
                let line_end = nl as usize;
                let s = self.start;
                self.start = line_end + 1;
                self.consumed += (line_end + 1 - s) as u64;
                return Some(Self::make(&self.buf[s..line_end], true, false));
            }
            let pending = self.end - self.start;
            if self.eof {
                if pending == 0 {
                    return None;
                }
                let s = self.start;
                self.consumed += pending as u64;
                self.start = self.end;
                return Some(Self::make(&self.buf[s..self.end], false, false));
            }
            if pending >= MAX_LINE {
                let s = self.start;
                self.start += MAX_LINE;
                self.consumed += MAX_LINE as u64;
                return Some(Self::make(&self.buf[s..s + MAX_LINE], true, true));
            }
            self.fill();
        }
    }

    fn make(text: &[u8], terminated: bool, overlong: bool) -> Line<'_> {
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        Line {
            text,
            terminated,
            overlong,
        }
    }

    /// Moves the partial line to the front, reads more, and indexes the
    /// newlines of what arrived. The buffer grows only for lines longer
    /// than it.
    fn fill(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        self.newlines.clear();
        self.next_nl = 0;
        if self.end == self.buf.len() {
            let new_len = (self.buf.len() * 2).min(MAX_LINE + BUF_SIZE);
            self.buf.resize(new_len, 0);
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return;
                }
                Ok(n) => {
                    let from = self.end;
                    self.end += n;
                    // The buffer never exceeds MAX_LINE + BUF_SIZE (< 4 GiB),
                    // so positions fit in u32.
                    index_newlines(&self.buf[from..self.end], from, &mut self.newlines);
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.error = Some(e);
                    self.eof = true;
                    return;
                }
            }
        }
    }
}

/// Appends `base + i` for every `\n` at index `i` of `chunk`.
///
/// Eight bytes at a time (SWAR): a word with no newline costs a handful of
/// instructions and each newline a `trailing_zeros`, which beats one
/// `memchr` call per line on ~50-byte lines.
fn index_newlines(chunk: &[u8], base: usize, out: &mut Vec<u32>) {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const NL: u64 = LO * b'\n' as u64;
    let mut words = chunk.chunks_exact(8);
    let mut offset = base;
    for w in &mut words {
        let v = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]) ^ NL;
        // Exact zero-byte mask: the high bit of each byte that was '\n'.
        let mut mask = !((((v & !HI).wrapping_add(!HI)) | v) | !HI);
        while mask != 0 {
            let byte = mask.trailing_zeros() as usize / 8;
            out.push((offset + byte) as u32);
            mask &= mask - 1;
        }
        offset += 8;
    }
    for (i, &c) in words.remainder().iter().enumerate() {
        if c == b'\n' {
            out.push((offset + i) as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<(Vec<u8>, bool)> {
        let mut r = LineReader::new(input);
        let mut out = Vec::new();
        while let Some(l) = r.next_line() {
            out.push((l.text.to_vec(), l.terminated));
        }
        out
    }

    #[test]
    fn newline_index_matches_a_plain_scan() {
        let mut data = Vec::new();
        for i in 0..1000u32 {
            data.push(if i % 7 == 0 || i % 13 == 0 {
                b'\n'
            } else {
                (i % 250) as u8 + 1
            });
        }
        data.extend_from_slice(&[b'\n', 0x8a, 0x0a, 0xff, b'\n']);
        let mut got = Vec::new();
        index_newlines(&data, 5, &mut got);
        let want: Vec<u32> = data
            .iter()
            .enumerate()
            .filter(|(_, &c)| c == b'\n')
            .map(|(i, _)| i as u32 + 5)
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn splits_lines_and_strips_cr() {
        assert_eq!(
            lines(b"a\r\nb\n\nc"),
            vec![
                (b"a".to_vec(), true),
                (b"b".to_vec(), true),
                (b"".to_vec(), true),
                (b"c".to_vec(), false)
            ]
        );
        assert!(lines(b"").is_empty());
    }

    #[test]
    fn long_lines_cross_buffer_refills() {
        let long = vec![b'x'; BUF_SIZE * 3 + 17];
        let mut input = long.clone();
        input.extend_from_slice(b"\nend\n");
        let got = lines(&input);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, long);
        assert_eq!(got[1].0, b"end");
    }

    #[test]
    fn overlong_lines_are_split_not_buffered_forever() {
        let input = vec![b'y'; MAX_LINE + 10];
        let mut r = LineReader::new(&input[..]);
        let first = r.next_line().map(|l| (l.text.len(), l.overlong));
        assert_eq!(first, Some((MAX_LINE, true)));
        let second = r.next_line().map(|l| l.text.len());
        assert_eq!(second, Some(10));
        assert!(r.next_line().is_none());
        assert_eq!(r.consumed(), input.len() as u64);
    }
}

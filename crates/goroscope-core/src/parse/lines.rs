//! Streaming line splitter over any [`Read`]: a fixed buffer, `memchr` for
//! newlines, no UTF-8 validation, CR stripped. Memory stays at the buffer size
//! whatever the input size, which is what lets a 1 GB dump be parsed in a few
//! megabytes.

use std::io::{self, Read};

/// `Interrupted` reads in a row tolerated before giving up: a reader that
/// is never anything else would hang us (also the parallel parser's range
/// reads).
pub(crate) const MAX_INTERRUPTED: u32 = 1000;

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

/// Where a line is in the reader's buffer; see [`LineReader::advance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineRef {
    start: usize,
    end: usize,
    /// False when the input ended without a newline after this line.
    pub terminated: bool,
    /// True when the line was cut at [`MAX_LINE`].
    pub overlong: bool,
}

/// Reads lines from `R` through a reusable buffer.
///
/// Newlines are indexed once per buffer fill (module `scan`), so handing
/// out a line is a vector lookup, and a line plus the one after it can be
/// read together without copying (see [`Self::peek`]).
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

impl LineReader<io::Empty> {
    /// Lines of an input already in memory (a chunk cut by the parallel
    /// parser). `chunk` must be shorter than 4 GiB; lines in it are never
    /// split, so callers keep chunks below [`MAX_LINE`].
    pub fn from_chunk(chunk: Vec<u8>) -> Self {
        let mut newlines = Vec::with_capacity(chunk.len() / 32);
        super::scan::index_newlines(&chunk, 0, &mut newlines);
        Self {
            inner: io::empty(),
            end: chunk.len(),
            buf: chunk,
            start: 0,
            newlines,
            next_nl: 0,
            eof: true,
            consumed: 0,
            error: None,
        }
    }

    /// The chunk back, for reuse.
    pub fn into_chunk(self) -> Vec<u8> {
        self.buf
    }
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
        let r = self.advance()?;
        Some(Line {
            text: self.text(r),
            terminated: r.terminated,
            overlong: r.overlong,
        })
    }

    /// Consumes the next line and returns where it is in the buffer. The
    /// reference stays valid until the next call to `advance` (which may
    /// refill and move the buffer); [`Self::peek`] never moves it, so a line
    /// and the peeked one after it can be read together.
    pub fn advance(&mut self) -> Option<LineRef> {
        loop {
            if let Some(&nl) = self.newlines.get(self.next_nl) {
                self.next_nl += 1;
                let r = Self::line_ref(&self.buf, self.start, nl as usize, true, false);
                self.consumed += (nl as usize + 1 - self.start) as u64;
                self.start = nl as usize + 1;
                return Some(r);
            }
            let pending = self.end - self.start;
            if self.eof {
                if pending == 0 {
                    return None;
                }
                let r = Self::line_ref(&self.buf, self.start, self.end, false, false);
                self.consumed += pending as u64;
                self.start = self.end;
                return Some(r);
            }
            if pending >= MAX_LINE {
                let r = Self::line_ref(&self.buf, self.start, self.start + MAX_LINE, true, true);
                self.start += MAX_LINE;
                self.consumed += MAX_LINE as u64;
                return Some(r);
            }
            self.fill();
        }
    }

    /// The next line if it is already in the buffer and newline-terminated,
    /// without consuming it.
    pub fn peek(&self) -> Option<LineRef> {
        let &nl = self.newlines.get(self.next_nl)?;
        Some(Self::line_ref(
            &self.buf,
            self.start,
            nl as usize,
            true,
            false,
        ))
    }

    /// Consumes the line [`Self::peek`] returned.
    pub fn consume_peeked(&mut self) {
        if let Some(&nl) = self.newlines.get(self.next_nl) {
            self.next_nl += 1;
            self.consumed += (nl as usize + 1 - self.start) as u64;
            self.start = nl as usize + 1;
        }
    }

    /// The bytes of a line (without `\n` and a trailing `\r`).
    pub fn text(&self, r: LineRef) -> &[u8] {
        &self.buf[r.start..r.end]
    }

    fn line_ref(buf: &[u8], start: usize, end: usize, terminated: bool, overlong: bool) -> LineRef {
        let end = if end > start && buf[end - 1] == b'\r' {
            end - 1
        } else {
            end
        };
        LineRef {
            start,
            end,
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
        // A reader may be interrupted by signals; one that is never anything
        // else would hang us, so give up after this many in a row.
        let mut interrupted = 0;
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
                    super::scan::index_newlines(
                        &self.buf[from..self.end],
                        from,
                        &mut self.newlines,
                    );
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    interrupted += 1;
                    if interrupted < MAX_INTERRUPTED {
                        continue;
                    }
                    self.error = Some(io::Error::new(
                        io::ErrorKind::Interrupted,
                        "read interrupted 1000 times in a row; giving up",
                    ));
                    self.eof = true;
                    return;
                }
                Err(e) => {
                    self.error = Some(e);
                    self.eof = true;
                    return;
                }
            }
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

    /// Regression: a reader that only ever says `Interrupted` used to spin
    /// for ever (found by the chunked-reader property test).
    #[test]
    fn endless_interruptions_end_with_an_error() {
        struct AlwaysInterrupted;
        impl Read for AlwaysInterrupted {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::ErrorKind::Interrupted.into())
            }
        }
        let mut r = LineReader::new(AlwaysInterrupted);
        assert!(r.next_line().is_none());
        assert_eq!(
            r.take_error().map(|e| e.kind()),
            Some(io::ErrorKind::Interrupted)
        );
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

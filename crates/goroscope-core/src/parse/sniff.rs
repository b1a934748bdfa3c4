//! Telling the goroutine data formats apart from their first bytes, so
//! files and standard input need no format flag.

/// What an input holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A goroutine text dump (debug=2, `runtime.Stack`, panics, SIGQUIT),
    /// possibly inside log text: the default for any text.
    Dump,
    /// pprof protobuf (debug=0), gzipped or not.
    Pprof,
    /// The legacy text profile (debug=1): `goroutine profile: total N`.
    LegacyText,
}

/// Bytes [`sniff`] looks at; fewer are fine at the end of the input.
pub const SNIFF_LEN: usize = 64;

/// Classifies an input by its first bytes.
pub fn sniff(prefix: &[u8]) -> Format {
    if prefix.starts_with(&[0x1f, 0x8b]) {
        return Format::Pprof;
    }
    // An uncompressed profile.proto starts with field 1 (sample_type, a
    // length-delimited ValueType) whose first field is a varint type:
    // 0x0a, a small length, 0x08. Text starting with a newline has a
    // printable byte after it.
    if let [0x0a, len, 0x08, ..] = prefix {
        if (2..=22).contains(len) {
            return Format::Pprof;
        }
    }
    let text = prefix.strip_prefix(b"\xef\xbb\xbf").unwrap_or(prefix);
    if text.starts_with(b"goroutine profile: total ")
        || text.starts_with(b"goroutineleak profile: total ")
    {
        return Format::LegacyText;
    }
    Format::Dump
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(sniff(b"\x1f\x8b\x08\x00"), Format::Pprof);
        assert_eq!(sniff(b"\x0a\x04\x08\x01\x10\x02"), Format::Pprof);
        assert_eq!(sniff(b"goroutine profile: total 5\n"), Format::LegacyText);
        assert_eq!(
            sniff(b"goroutineleak profile: total 2\n"),
            Format::LegacyText
        );
        assert_eq!(sniff(b"goroutine 1 [running]:\n"), Format::Dump);
        assert_eq!(sniff(b"\ngoroutine 1 [running]:\n"), Format::Dump);
        assert_eq!(sniff(b"panic: boom\n\ngoroutine 1"), Format::Dump);
        assert_eq!(sniff(b""), Format::Dump);
    }
}

//! Telling the goroutine data formats apart from their first bytes, so
//! files and standard input need no format flag.

use super::pprof::ProfileKind;

/// What an input holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A goroutine text dump (debug=2, `runtime.Stack`, panics, SIGQUIT),
    /// possibly inside log text: the default for any text.
    Dump,
    /// pprof protobuf (debug=0), gzipped or not. (Callers gunzip and
    /// sniff again to tell a gzipped text dump from a profile.)
    Pprof,
    /// The legacy text profile (debug=1): `goroutine profile: total N`.
    LegacyText,
}

/// Bytes [`sniff`] looks at; fewer are fine at the end of the input.
pub const SNIFF_LEN: usize = 64;

/// Classifies an input by its first bytes.
pub fn sniff(prefix: &[u8]) -> Format {
    if super::pprof::is_gzip(prefix) {
        return Format::Pprof;
    }
    if legacy_header(strip_bom(prefix)).is_some() {
        return Format::LegacyText;
    }
    if looks_like_text(prefix) {
        return Format::Dump;
    }
    // Binary and not gzip: an uncompressed profile.proto (its keys and
    // lengths are small bytes from the first field on), or garbage the
    // profile reader will name as such.
    Format::Pprof
}

/// Text without a leading UTF-8 byte-order mark.
pub fn strip_bom(text: &[u8]) -> &[u8] {
    text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text)
}

/// The first line of a debug=1 profile: which profile, and what follows
/// `total ` (the goroutine count).
pub fn legacy_header(line: &[u8]) -> Option<(ProfileKind, &[u8])> {
    [
        (&b"goroutine profile: total "[..], ProfileKind::Goroutine),
        (b"goroutineleak profile: total ", ProfileKind::GoroutineLeak),
    ]
    .into_iter()
    .find_map(|(prefix, kind)| line.strip_prefix(prefix).map(|rest| (kind, rest)))
}

/// Whether bytes can be the start of text: no control characters other
/// than tab, newlines, form feed and ESC (colour codes in logs). Bytes of
/// 0x80 and up pass: dumps may hold any UTF-8, or invalid bytes.
pub fn looks_like_text(prefix: &[u8]) -> bool {
    prefix
        .iter()
        .all(|&b| b >= 0x20 || matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1b))
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
        // Go writes period_type (field 11) first.
        assert_eq!(sniff(b"\x5a\x0f\x08\x01\x10\x02"), Format::Pprof);
        assert_eq!(sniff(b"\x1b[31mpanic: boom\x1b[0m\n"), Format::Dump);
        assert_eq!(
            sniff("gör\u{fffd}tine 1 [running]:\n".as_bytes()),
            Format::Dump
        );
    }
}

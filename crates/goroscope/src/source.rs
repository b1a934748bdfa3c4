//! Input sources: a file path or `-` for standard input. Both are streamed;
//! nothing is read whole into memory.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use anyhow::Context as _;

/// An opened input.
pub struct Input {
    /// How to name it in messages.
    pub name: String,
    /// Size in bytes when known (files), for the progress bar.
    pub size: Option<u64>,
    /// The bytes.
    pub bytes: Bytes,
}

/// Where the bytes are.
pub enum Bytes {
    /// A regular file: the parser's threads read their own parts of it.
    File(File),
    /// Anything read front to back (standard input, pipes, devices).
    Stream(Box<dyn Read>),
    /// Already in memory (a fetched body, a gunzipped file): handed over
    /// as is rather than copied again through a reader.
    Memory(Vec<u8>),
}

/// Opens `spec`: `-` is standard input, `http(s)://...` a live target
/// (fetched whole, at most `fetch.max_body` bytes), anything else a file
/// path (any bytes the OS allows, not only UTF-8).
pub fn open(spec: &Path, fetch: &crate::fetch::Options) -> anyhow::Result<Input> {
    if let Some(url) = spec.to_str().filter(|s| crate::fetch::is_url(s)) {
        let url = crate::fetch::endpoint(url, fetch.mode);
        let body = crate::fetch::fetch(&url, fetch)?;
        return Ok(Input {
            name: url,
            size: Some(body.len() as u64),
            bytes: Bytes::Memory(body),
        });
    }
    if spec.as_os_str() == "-" {
        return Ok(Input {
            name: "standard input".into(),
            size: None,
            bytes: Bytes::Stream(Box::new(io::stdin().lock())),
        });
    }
    let shown = spec.display().to_string();
    let file = File::open(spec).with_context(|| {
        format!("cannot open {shown}: check the path (use - to read standard input)")
    })?;
    let meta = file
        .metadata()
        .with_context(|| format!("cannot stat {shown}: check the file's permissions"))?;
    if meta.is_dir() {
        anyhow::bail!("{shown} is a directory: give the path of a goroutine dump file");
    }
    // FIFOs and character devices (`<(cmd)`, /dev/stdin) have no ranges
    // to read in parallel, and /proc files say their size is 0.
    let (size, bytes) = if meta.is_file() && meta.len() > 0 {
        (Some(meta.len()), Bytes::File(file))
    } else {
        (None, Bytes::Stream(Box::new(file)))
    };
    Ok(Input {
        name: shown,
        size,
        bytes,
    })
}

impl Input {
    /// The first `n` bytes (fewer at the end of the input), without
    /// consuming them.
    pub fn peek(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let mut prefix = Vec::with_capacity(n);
        match &mut self.bytes {
            Bytes::File(f) => {
                use std::os::unix::fs::FileExt;
                prefix.resize(n, 0);
                let mut got = 0;
                while got < n {
                    match f.read_at(&mut prefix[got..], got as u64) {
                        Ok(0) => break,
                        Ok(k) => got += k,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                prefix.truncate(got);
            }
            Bytes::Stream(r) => {
                r.by_ref().take(n as u64).read_to_end(&mut prefix)?;
                // Put the bytes back in front of the rest.
                let rest = std::mem::replace(r, Box::new(io::empty()));
                *r = Box::new(io::Cursor::new(prefix.clone()).chain(rest));
            }
            Bytes::Memory(m) => prefix.extend_from_slice(&m[..m.len().min(n)]),
        }
        Ok(prefix)
    }

    /// A reader of the bytes, front to back.
    pub fn into_reader(self) -> Box<dyn Read> {
        match self.bytes {
            Bytes::File(f) => Box::new(f),
            Bytes::Stream(r) => r,
            Bytes::Memory(m) => Box::new(io::Cursor::new(m)),
        }
    }

    /// Everything, if it is at most `limit` bytes; `None` if it is more.
    pub fn read_all(self, limit: u64) -> io::Result<Option<Vec<u8>>> {
        // A file's size sizes the buffer: grown by doubling instead, a
        // large profile would be copied several times over.
        let hint = self.size.unwrap_or(0).min(limit);
        let (data, over) = match self.bytes {
            Bytes::Memory(m) => {
                let over = m.len() as u64 > limit;
                (m, over)
            }
            Bytes::File(f) => read_capped(f, limit, hint)?,
            Bytes::Stream(r) => read_capped(r, limit, hint)?,
        };
        Ok((!over).then_some(data))
    }
}

/// Reads at most `limit + 1` bytes into a buffer of `hint` bytes to start
/// with: the data, and whether there was more than `limit` (the extra byte
/// tells "exactly the limit" from "over it").
pub fn read_capped(r: impl Read, limit: u64, hint: u64) -> io::Result<(Vec<u8>, bool)> {
    // One byte more, so that a file of exactly `hint` bytes ends without
    // a regrowth.
    let mut data = Vec::with_capacity(usize::try_from(hint.saturating_add(1)).unwrap_or(0));
    r.take(limit.saturating_add(1)).read_to_end(&mut data)?;
    let over = data.len() as u64 > limit;
    Ok((data, over))
}

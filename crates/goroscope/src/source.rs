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
}

/// Opens `spec`: `-` is standard input, anything else a file path (any
/// bytes the OS allows, not only UTF-8).
pub fn open(spec: &Path) -> anyhow::Result<Input> {
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

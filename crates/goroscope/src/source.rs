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
    pub reader: Box<dyn Read>,
}

/// Opens `spec`: `-` is standard input, anything else a file path (any
/// bytes the OS allows, not only UTF-8).
pub fn open(spec: &Path) -> anyhow::Result<Input> {
    if spec.as_os_str() == "-" {
        return Ok(Input {
            name: "standard input".into(),
            size: None,
            reader: Box::new(io::stdin().lock()),
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
    Ok(Input {
        name: shown,
        size: Some(meta.len()),
        reader: Box::new(file),
    })
}

//! Input sources: a file path or `-` for standard input. Both are streamed;
//! nothing is read whole into memory.

use std::fs::File;
use std::io::{self, Read};

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

/// Opens `spec`: `-` is standard input, anything else a file path.
pub fn open(spec: &str) -> anyhow::Result<Input> {
    if spec == "-" {
        return Ok(Input {
            name: "standard input".into(),
            size: None,
            reader: Box::new(io::stdin().lock()),
        });
    }
    let file = File::open(spec).with_context(|| {
        format!("cannot open {spec}: check the path (use - to read standard input)")
    })?;
    let meta = file
        .metadata()
        .with_context(|| format!("cannot stat {spec}"))?;
    if meta.is_dir() {
        anyhow::bail!("{spec} is a directory: give the path of a goroutine dump file");
    }
    Ok(Input {
        name: spec.to_string(),
        size: Some(meta.len()),
        reader: Box::new(file),
    })
}

//! Parsers: bytes in, [`crate::model`] out. Each parser streams, never panics
//! on any input, and reports what it could not read as diagnostics.

pub mod legacy;
pub mod lines;
pub mod parallel;
pub mod pprof;
mod scan;
pub mod sniff;
pub mod text;

pub use parallel::{ParallelDumpParser, ParallelOptions};
pub use text::{parse_dump, DumpParser};

//! goroscope-core: the pure part of goroscope.
//!
//! The pipeline is `parse` (goroutine dumps and profiles into the
//! [`model`]) -> [`vocab`] (goroscope's bounded, cross-version vocabulary:
//! state, block class, origin, depth bucket) -> [`analyze`] (census and
//! grouping) -> [`leak`] (leak scoring over a series of snapshots) ->
//! [`export`] (renderings such as OpenMetrics). Nothing here does
//! I/O beyond reading the [`std::io::Read`] it is handed, and nothing is
//! `unsafe`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod analyze;
pub mod export;
pub mod leak;
pub mod model;
pub mod parse;
pub mod trace;
pub mod vocab;

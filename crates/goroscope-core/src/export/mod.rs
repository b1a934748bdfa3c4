//! Renderings of analysis results for other systems. Pure: they build
//! strings; the binary decides where they go.

pub mod openmetrics;

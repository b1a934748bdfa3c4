//! Trace summaries: time in each goroutine state, blocking latency per
//! reason. (Filled in by the analysis layer.)

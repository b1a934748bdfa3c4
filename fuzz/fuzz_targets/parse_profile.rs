//! Fuzz target: the goroutine profile readers (pprof protobuf, gzipped or
//! not, and debug=1 text) must accept any bytes without panicking, every
//! record must point into the tables, and the census must add up to the
//! goroutines read.
#![no_main]

use goroscope_core::analyze::{Census, CensusOptions};
use goroscope_core::parse::{legacy, pprof};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The protobuf reader counts into the census as it decodes: its report
    // must be whole (every group built, frames and all) and consistent.
    let mut census = Census::new(CensusOptions::default());
    // A small cap keeps the fuzzer from chasing huge decompressions.
    if let Ok(snap) = pprof::parse_pprof(data, 1 << 20, &mut census) {
        let report = census.report(&snap.tables, snap.diagnostics);
        assert_eq!(
            report.groups.iter().map(|g| g.count).sum::<u64>(),
            report.total
        );
        assert!(report.unique_stacks <= report.total);
        let _ = goroscope_core::export::openmetrics::render(&report, 20);
    }
    let text = legacy::parse_legacy(data);
    let mut census = Census::new(CensusOptions::default());
    let mut total = 0u64;
    for r in &text.records {
        for &f in text.tables.stack(r.stack) {
            let _ = text.tables.frame(f);
        }
        census.add_record(r, &text.tables);
        total = total.saturating_add(r.count);
    }
    let report = census.report(&text.tables, text.diagnostics);
    assert_eq!(report.total, total);
    let _ = goroscope_core::export::openmetrics::render(&report, 20);
});

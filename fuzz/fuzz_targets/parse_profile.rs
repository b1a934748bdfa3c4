//! Fuzz target: the goroutine profile readers (pprof protobuf, gzipped or
//! not, and debug=1 text) must accept any bytes without panicking, every
//! record must point into the tables, and the census of the records must
//! add up to their counts.
#![no_main]

use goroscope_core::analyze::{Census, CensusOptions};
use goroscope_core::parse::{legacy, pprof};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A small cap keeps the fuzzer from chasing huge decompressions.
    let protobuf = pprof::parse_pprof(data, 1 << 20);
    let text = legacy::parse_legacy(data);
    for snap in protobuf.into_iter().chain([text]) {
        let mut census = Census::new(CensusOptions::default());
        let mut total = 0u64;
        for r in &snap.records {
            for &f in snap.tables.stack(r.stack) {
                let _ = snap.tables.frame(f);
            }
            census.add_record(r, &snap.tables);
            total = total.saturating_add(r.count);
        }
        let report = census.report(&snap.tables, snap.diagnostics);
        assert_eq!(report.total, total);
        let _ = goroscope_core::export::openmetrics::render(&report, 20);
    }
});

//! Fuzz target: the dump parser and the census must accept any bytes without
//! panicking, and every goroutine they return must point into the tables.
#![no_main]

use goroscope_core::analyze::{Census, CensusOptions};
use goroscope_core::model::Tables;
use goroscope_core::parse::DumpParser;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut tables = Tables::default();
    let mut census = Census::new(CensusOptions::default());
    let mut parser = DumpParser::new(data);
    while let Some(g) = parser.next_goroutine(&mut tables) {
        for &f in tables.stack(g.stack) {
            let _ = tables.frame(f);
        }
        census.add(&g, &tables);
    }
    let report = census.report(&tables, parser.take_diagnostics());
    assert_eq!(report.total, census.total());
    let _ = goroscope_core::export::openmetrics::render(&report, 20);
});

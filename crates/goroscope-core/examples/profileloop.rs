//! Decodes and counts a goroutine profile N times in one process and
//! prints the time of each run: for profiling the reader without process
//! start-up in the way (`perf record`).
use goroscope_core::analyze::{Census, CensusOptions};
use goroscope_core::parse::pprof;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: profileloop PROFILE [RUNS]");
    let runs: usize = args
        .next()
        .map_or(10, |n| n.parse().expect("RUNS is a number"));
    let data = std::fs::read(&path).expect("read the profile");
    let raw = pprof::gunzip(&data, pprof::DEFAULT_MAX_DECOMPRESSED).expect("gunzip");
    for _ in 0..runs {
        let t = std::time::Instant::now();
        let mut census = Census::new(CensusOptions::default());
        let snap = pprof::parse_pprof(&raw, pprof::DEFAULT_MAX_DECOMPRESSED, &mut census)
            .expect("a goroutine profile");
        let parsed = t.elapsed();
        let report = census.report_top(&snap.tables, snap.diagnostics, Some(10));
        println!(
            "parse {parsed:?} report {:?} total={} groups={}",
            t.elapsed() - parsed,
            report.total,
            report.group_count
        );
    }
}

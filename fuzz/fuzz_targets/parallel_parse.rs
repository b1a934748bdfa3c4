//! Fuzz target: the parallel dump parser must give exactly the sequential
//! parse of any bytes (goroutines with their resolved frames, diagnostics),
//! whatever the chunk size. The first input byte picks the chunk size so
//! the fuzzer explores cut positions too.
#![no_main]

use goroscope_core::model::{Goroutine, Tables};
use goroscope_core::parse::{DumpParser, ParallelDumpParser, ParallelOptions};
use libfuzzer_sys::fuzz_target;

/// A goroutine with its ids resolved, comparable across tables.
fn resolved(g: &Goroutine, t: &Tables) -> String {
    let frames: Vec<_> = t.stack(g.stack).iter().map(|&f| t.frame(f)).collect();
    let created_by = g.created_by.map(|c| (t.frame(c.frame), c.goroutine));
    let labels = g.labels.map(|l| {
        t.labels(l)
            .iter()
            .map(|&(k, v)| (t.str(k), t.str(v)))
            .collect::<Vec<_>>()
    });
    let ancestors: Vec<_> = g
        .ancestors
        .iter()
        .map(|a| {
            let frames: Vec<_> = t.stack(a.stack).iter().map(|&f| t.frame(f)).collect();
            (
                a.goroutine,
                frames,
                a.elided,
                a.created_by.map(|c| t.frame(c.frame)),
            )
        })
        .collect();
    format!(
        "{} {:?} {} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
        g.id,
        g.state,
        t.str(g.status),
        g.wait_reason.map(|r| t.str(r)),
        g.block_class,
        g.origin,
        g.wait_minutes,
        g.flags,
        labels,
        frames,
        g.elided,
        created_by,
        ancestors,
        g.thread
    )
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, input)) = data.split_first() else {
        return;
    };
    let mut t1 = Tables::default();
    let mut seq = DumpParser::new(input);
    let mut a = Vec::new();
    while let Some(g) = seq.next_goroutine(&mut t1) {
        a.push(resolved(&g, &t1));
    }
    let mut t2 = Tables::default();
    let opts = ParallelOptions {
        threads: 2,
        chunk_size: usize::from(pick) + 1,
    };
    let mut par = ParallelDumpParser::new(input, opts);
    let mut b = Vec::new();
    while let Some(g) = par.next_goroutine(&mut t2) {
        b.push(resolved(&g, &t2));
    }
    assert_eq!(a, b);
    assert_eq!(seq.take_diagnostics(), par.take_diagnostics());
    assert_eq!(seq.diagnostics_total(), par.diagnostics_total());
    assert_eq!(seq.bytes_consumed(), par.bytes_consumed());
});

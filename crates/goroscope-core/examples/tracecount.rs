//! Reads every event of a trace and prints how many there were per kind:
//! the bare reader, for bench/trace.sh (Go's side: tracecheck -read-only).
//! With its helper thread, which reads, decodes and merges ahead
//! (`Reader::with_helper`), or on one thread when TRACECOUNT_LOCAL is set.
use goroscope_core::trace::spec::{Kind, SPECS};
use goroscope_core::trace::Reader;

fn main() {
    let path = std::env::args().nth(1).expect("usage: tracecount TRACE");
    let f = std::fs::File::open(&path).expect("open the trace");
    let mut r = if std::env::var_os("TRACECOUNT_LOCAL").is_some() {
        Reader::new(f)
    } else {
        Reader::with_helper(f)
    }
    .expect("a Go execution trace");
    // Counted per wire type, turned into kinds at the end; in four sets
    // of counters, taken in turn, so that runs of one type do not wait on
    // their own last increment.
    let mut types = [[0u64; 256]; 4];
    let result = loop {
        match r.next_events() {
            Ok([]) => break Ok(()),
            Ok(events) => {
                for (i, e) in events.iter().enumerate() {
                    types[i % 4][e.typ as usize] += 1;
                }
            }
            Err(e) => break Err(e),
        }
    };
    let types: Vec<u64> = (0..256).map(|t| types.iter().map(|c| c[t]).sum()).collect();
    let mut kinds = [0u64; Kind::ALL.len()];
    for (typ, &n) in types.iter().enumerate() {
        kinds[SPECS[typ].kind.unwrap_or(Kind::Sync) as usize] += n;
    }
    let total: u64 = kinds.iter().sum();
    let by_kind: Vec<String> = Kind::ALL
        .iter()
        .filter(|&&k| kinds[k as usize] > 0)
        .map(|&k| format!("{}={}", k.as_str(), kinds[k as usize]))
        .collect();
    println!("total_events={total} {}", by_kind.join(" "));
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

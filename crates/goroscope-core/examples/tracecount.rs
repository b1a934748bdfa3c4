//! Reads every event of a trace and prints how many there were per kind:
//! the bare reader, for bench/trace.sh (Go's side: tracecheck -read-only).
use goroscope_core::trace::spec::Kind;
use goroscope_core::trace::Reader;

fn main() {
    let path = std::env::args().nth(1).expect("usage: tracecount TRACE");
    let f = std::fs::File::open(&path).expect("open the trace");
    let mut r = Reader::new(f).expect("a Go execution trace");
    let mut kinds = [0u64; Kind::ALL.len()];
    let mut total = 0u64;
    let result = loop {
        match r.next_event() {
            Ok(Some(e)) => {
                kinds[e.kind() as usize] += 1;
                total += 1;
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
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

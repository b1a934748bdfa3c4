//! Prints event counts per kind and the first transitions of a trace, in
//! the checker's JSON shape (a development aid).
use std::collections::BTreeMap;

use goroscope_core::trace::Reader;

fn main() {
    let path = std::env::args().nth(1).expect("a trace file");
    let f = std::fs::File::open(&path).expect("open");
    let mut r = Reader::new(std::io::BufReader::new(f)).expect("header");
    let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
    let mut first = Vec::new();
    let (mut t0, mut t1) = (None, 0);
    loop {
        match r.next_event() {
            Ok(Some(e)) => {
                t0.get_or_insert(e.time);
                t1 = e.time;
                *kinds.entry(e.kind().as_str()).or_default() += 1;
                if let Some((g, from, to)) = e.go_transition() {
                    if first.len() < 50 {
                        let reason = e.reason_id().and_then(|id| r.string(id)).unwrap_or("");
                        first.push(format!(
                            "g={g} t={} {}->{} {reason:?} ctx=({},{},{})",
                            e.time,
                            from.as_str(),
                            to.as_str(),
                            e.ctx.g,
                            e.ctx.p,
                            e.ctx.m
                        ));
                    }
                }
            }
            Ok(None) => break,
            Err(e) => {
                println!("error: {e}");
                break;
            }
        }
    }
    println!("{kinds:?}");
    println!("first={:?} last={t1}", t0);
    for l in first.iter().take(12) {
        println!("{l}");
    }
}

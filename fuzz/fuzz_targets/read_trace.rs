//! The execution trace reader must never panic, whatever the bytes: it
//! returns events, then an error or the end. Read on one thread or with
//! its merging helper (and the summary counted on a thread of its own),
//! the events, the error and the figures must be the same.
#![no_main]

use goroscope_core::trace::summary::Summary;
use goroscope_core::trace::{Reader, TraceError};
use libfuzzer_sys::fuzz_target;

/// Every event (as text) and how the reading ended.
fn events<R: std::io::Read>(r: Result<Reader<R>, TraceError>) -> (Vec<String>, String) {
    let mut r = match r {
        Ok(r) => r,
        Err(e) => return (Vec::new(), e.to_string()),
    };
    let mut out = Vec::new();
    loop {
        match r.next_event() {
            Ok(Some(e)) => out.push(format!("{e:?}")),
            Ok(None) => return (out, String::new()),
            Err(e) => return (out, e.to_string()),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // A valid header most of the time, so the fuzzer reaches the batches.
    let mut input = b"go 1.26 trace\0\0\0".to_vec();
    let body = match data.first() {
        Some(&b) if b & 1 == 1 => &data[1..],
        _ => {
            input.clear();
            data
        }
    };
    if data.first().is_some_and(|&b| b & 2 == 2) && !input.is_empty() {
        input[5..7].copy_from_slice(b"23");
    }
    input.extend_from_slice(body);
    let helped = || Reader::with_helper(std::io::Cursor::new(input.clone()));
    assert_eq!(events(Reader::new(&input[..])), events(helped()));
    if let (Ok(mut r), Ok(piped)) = (Reader::new(&input[..]), helped()) {
        let mut s = Summary::new(true);
        let one = s.read(&mut r).map_err(|e| e.to_string());
        let _ = s.goroutines();
        let mut p = Summary::new(true);
        let three = p.read_piped(piped).map_err(|e| e.to_string());
        assert_eq!(one, three);
        assert_eq!(s.event_kinds(), p.event_kinds());
        assert_eq!(s.transition_pairs(), p.transition_pairs());
        assert_eq!(s.waiting_reasons(), p.waiting_reasons());
    }
});

//! The execution trace reader must never panic, whatever the bytes: it
//! returns events, then an error or the end.
#![no_main]

use goroscope_core::trace::summary::Summary;
use goroscope_core::trace::Reader;
use libfuzzer_sys::fuzz_target;

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
    if let Ok(mut r) = Reader::new(&input[..]) {
        let mut s = Summary::new(true);
        let _ = s.read(&mut r);
        let _ = s.goroutines();
    }
});

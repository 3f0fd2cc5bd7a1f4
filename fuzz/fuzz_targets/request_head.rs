//! Any bytes as a request head: no panic, and an accepted head keeps the
//! codec's promises (`ringway::codec::invariants`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ringway::codec::invariants::check_request_bytes(data);
});

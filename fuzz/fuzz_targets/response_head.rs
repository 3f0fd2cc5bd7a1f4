//! Any bytes as an upstream's response head, to a HEAD request or not (the
//! first byte chooses): no panic, and an accepted head keeps its promises.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some((&first, rest)) = data.split_first() {
        ringway::codec::invariants::check_response_bytes(rest, first & 1 == 1);
    }
});

//! Any bytes as a chunked body, or a Content-Length body (the first byte
//! chooses, the next two give the length): every decode call makes progress,
//! and decoding split at any byte equals decoding whole.
#![no_main]

use ringway::codec::{invariants::assert_any_split_equals_whole, BodyFraming};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let framing = match data {
        [0, hi, lo, ..] => BodyFraming::Length(u64::from(*hi) << 8 | u64::from(*lo)),
        [_, ..] => BodyFraming::Chunked,
        [] => return,
    };
    let body = if matches!(framing, BodyFraming::Length(_)) {
        &data[3..]
    } else {
        &data[1..]
    };
    // Splitting at every byte is quadratic: keep inputs small enough to stay fast.
    if body.len() <= 4096 {
        assert_any_split_equals_whole(framing, body);
    }
});

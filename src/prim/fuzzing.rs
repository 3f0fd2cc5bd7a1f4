//! The one proptest configuration every `fuzz_*` test uses (tests only).
//!
//! CI runs each property a bounded number of times, so `cargo test
//! --all-targets` stays within seconds; `PROPTEST_CASES=N` raises the count for
//! a long run (`PROPTEST_CASES=100000 cargo test --release fuzz_`). Failures
//! are not persisted to files: a shrunk failing input is printed, and belongs
//! in a regression test beside the code it broke.

use proptest::test_runner::Config;

/// Cases per property when `PROPTEST_CASES` is unset: enough to find the
/// shallow bugs on every CI run in well under a second per property.
pub const CI_CASES: u32 = 256;

/// `cases` per property (or `PROPTEST_CASES`), no failure files.
pub fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

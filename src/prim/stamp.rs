//! `Stamp`: a moment in one word, where an `Instant` takes two. For what
//! every connection keeps for its whole life (when it was accepted): at ten
//! thousand idle connections the second word is a class of allocator size.
//!
//! Invariant: a stamp counts nanoseconds from the process's first stamp, so
//! only moments taken as `Stamp::now()` (never before that first one) are
//! stamps; 584 years fit.

use std::{
    sync::OnceLock,
    time::{Duration, Instant},
};

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp(u64);

impl Stamp {
    pub fn now() -> Stamp {
        let e = epoch();
        let since = Instant::now().saturating_duration_since(e);
        Stamp(u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
    }

    pub fn instant(self) -> Instant {
        epoch() + Duration::from_nanos(self.0)
    }

    pub fn elapsed(self) -> Duration {
        self.instant().elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_is_its_moment() {
        let before = Instant::now();
        let s = Stamp::now();
        let after = Instant::now();
        assert!(s.instant() >= before.min(epoch()) && s.instant() <= after);
        assert!(Stamp::now() >= s);
        assert_eq!(std::mem::size_of::<Stamp>(), 8);
    }
}

//! xorshift64*: a few instructions per number, one generator per owner (a
//! balancer, a worker, the resolver thread), so nothing is shared. Good for
//! load balancing, request ids, backoff and refresh jitter; not for secrets.

use std::hash::{BuildHasher, Hasher};

/// Marsaglia's xorshift64 followed by Vigna's multiplier (xorshift64*).
#[derive(Debug, Clone, Copy)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value: zero, the one fixed point, is avoided).
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    /// A seed that differs per `salt` and per process (std's `RandomState` is
    /// keyed from the OS).
    pub fn random_seed(salt: u64) -> u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(salt);
        h.finish()
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0), by multiply-shift (no modulo bias worth naming).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range_and_seeds_differ() {
        let mut r = Rng::new(0);
        for n in [1, 2, 3, 1000] {
            assert!((0..100).all(|_| r.below(n) < n));
        }
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }
}

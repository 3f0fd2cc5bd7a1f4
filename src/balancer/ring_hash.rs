//! Ketama-style consistent hashing (Envoy's `ring_hash`): each host is placed
//! on a 64-bit ring at many points (`"ip:port_i"` hashed), in proportion to its
//! weight; a request goes to the first point at or after its key's hash. When a
//! host leaves, only the keys that fell on its points move (about 1/N of them).
//! The ring is rebuilt when the candidate set changes; a pick is one binary search.
//!
//! Unlike Envoy, whose `minimum_ring_size` (1024) scales every host's share of
//! points with the number of hosts, each unit of weight gets a fixed number of
//! points: otherwise a host leaving also grows every other host's share, and
//! moves keys between hosts that stayed.

use super::{hash, Candidate, Rng};

/// Points per unit of host weight (ketama's 160): a 3-host ring has 480 points.
pub const POINTS_PER_WEIGHT: usize = 160;
/// Envoy's `maximum_ring_size`.
pub const MAX_RING_SIZE: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Ring {
    /// (point, candidate index), sorted by point.
    points: Vec<(u64, u32)>,
    /// Keyless requests pick at random, as Envoy does.
    rng: Rng,
}

impl Ring {
    pub fn new(seed: u64) -> Self {
        Ring {
            points: Vec::new(),
            rng: Rng::new(seed),
        }
    }

    pub fn rebuild(&mut self, candidates: &[Candidate], points_per_weight: usize) {
        self.points.clear();
        let total: u64 = candidates.iter().map(|c| u64::from(c.weight.max(1))).sum();
        if total == 0 {
            return;
        }
        // Scale down only if the ring would exceed Envoy's maximum.
        let per_weight = (points_per_weight as u64).min((MAX_RING_SIZE as u64 / total).max(1));
        let mut name = String::with_capacity(64);
        for (i, c) in candidates.iter().enumerate() {
            let replicas = u64::from(c.weight.max(1)) * per_weight;
            for r in 0..replicas {
                use std::fmt::Write;
                name.clear();
                let _ = write!(name, "{}_{r}", c.addr);
                self.points.push((hash::hash64(name.as_bytes()), i as u32));
            }
        }
        self.points.sort_unstable();
    }

    pub fn pick(&mut self, key: Option<u64>) -> Option<usize> {
        if self.points.is_empty() {
            return None;
        }
        let key = key.unwrap_or_else(|| self.rng.next_u64());
        let at = self.points.partition_point(|&(p, _)| p < key);
        let (_, idx) = self.points[at % self.points.len()];
        Some(idx as usize)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn hosts(n: usize) -> Vec<Candidate> {
        (0..n)
            .map(|i| Candidate {
                addr: format!("10.0.{}.{}:8080", i / 200, i % 200 + 1)
                    .parse()
                    .unwrap(),
                weight: 1,
            })
            .collect()
    }

    /// Rebuild a balancer over `from`, map 10k keys, drop host `gone`, map again;
    /// return (keys that moved, keys that were on `gone`).
    pub fn moved_when_one_leaves(
        mut rebuild: impl FnMut(&[Candidate]),
        mut pick: impl FnMut(u64) -> usize,
        from: &[Candidate],
        gone: usize,
    ) -> (usize, usize) {
        rebuild(from);
        let before: Vec<_> = (0..10_000u64)
            .map(|k| from[pick(hash::mix(k))].addr)
            .collect();
        let mut after_set = from.to_vec();
        after_set.remove(gone);
        rebuild(&after_set);
        let mut moved = 0;
        let mut on_gone = 0;
        for (k, was) in before.iter().enumerate() {
            let now = after_set[pick(hash::mix(k as u64))].addr;
            if *was == from[gone].addr {
                on_gone += 1;
            }
            if now != *was {
                moved += 1;
            }
        }
        (moved, on_gone)
    }

    #[test]
    fn a_key_stays_on_one_host() {
        let mut ring = Ring::new(1);
        ring.rebuild(&hosts(5), POINTS_PER_WEIGHT);
        let key = hash::hash64(b"user-42");
        let first = ring.pick(Some(key));
        for _ in 0..100 {
            assert_eq!(ring.pick(Some(key)), first);
        }
    }

    #[test]
    fn few_keys_move_when_a_host_leaves() {
        let ring = std::cell::RefCell::new(Ring::new(1));
        let (moved, on_gone) = moved_when_one_leaves(
            |c| ring.borrow_mut().rebuild(c, POINTS_PER_WEIGHT),
            |k| ring.borrow_mut().pick(Some(k)).unwrap(),
            &hosts(10),
            3,
        );
        // Only the departed host's keys move, and it held about 1/10 of them.
        assert_eq!(moved, on_gone);
        assert!((500..1_600).contains(&moved), "{moved}");
    }

    #[test]
    fn spreads_by_weight() {
        let mut c = hosts(3);
        c[2].weight = 2;
        let mut ring = Ring::new(1);
        ring.rebuild(&c, POINTS_PER_WEIGHT);
        let mut counts = [0u32; 3];
        for k in 0..40_000u64 {
            counts[ring.pick(Some(hash::mix(k))).unwrap()] += 1;
        }
        assert!(counts[2] > counts[0] && counts[2] > counts[1], "{counts:?}");
        assert!(counts.iter().all(|&n| n > 6_000), "{counts:?}");
        ring.rebuild(&[], POINTS_PER_WEIGHT);
        assert_eq!(ring.pick(Some(1)), None);
    }
}

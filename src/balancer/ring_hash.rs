//! Ketama-style consistent hashing (Envoy's `ring_hash`): each host is placed
//! on a 64-bit ring at many points (`"ip:port_i"` hashed), in proportion to its
//! weight; a request goes to the first point at or after its key's hash. When a
//! host leaves, only the keys that fell on its points move (about 1/N of them).
//! The ring is built once per host set, off the workers (`table.rs`); a pick is
//! one binary search, plus a step forward past each point of a host the worker
//! may not use (unhealthy, ejected).
//!
//! Unlike Envoy, whose `minimum_ring_size` (1024) scales every host's share of
//! points with the number of hosts, each unit of weight gets a fixed number of
//! points: otherwise a host leaving also grows every other host's share, and
//! moves keys between hosts that stayed.

use super::{hash, Candidate};

/// Points per unit of host weight (ketama's 160): a 3-host ring has 480 points.
pub const POINTS_PER_WEIGHT: usize = 160;
/// Envoy's `maximum_ring_size`.
pub const MAX_RING_SIZE: usize = 8 * 1024 * 1024;

/// A built ring: immutable, shared by every worker (see `table.rs`).
#[derive(Debug, Clone, Default)]
pub struct RingTable {
    /// (point, host index), sorted by point.
    points: Vec<(u64, u32)>,
}

impl RingTable {
    pub fn build(candidates: &[Candidate], points_per_weight: usize) -> Self {
        let total: u64 = candidates.iter().map(|c| u64::from(c.weight.max(1))).sum();
        if total == 0 {
            return RingTable::default();
        }
        // Scale down only if the ring would exceed Envoy's maximum.
        let per_weight = (points_per_weight as u64).min((MAX_RING_SIZE as u64 / total).max(1));
        let mut points = Vec::with_capacity((total * per_weight) as usize);
        let mut name = String::with_capacity(64);
        for (i, c) in candidates.iter().enumerate() {
            let replicas = u64::from(c.weight.max(1)) * per_weight;
            for r in 0..replicas {
                use std::fmt::Write;
                name.clear();
                let _ = write!(name, "{}_{r}", c.addr);
                points.push((hash::hash64(name.as_bytes()), i as u32));
            }
        }
        points.sort_unstable();
        RingTable { points }
    }

    /// Host indices from the first point at or after `key`, walking the ring
    /// forward. Skipping the hosts a worker may not use gives exactly the ring
    /// built without them: a point's place never depends on the other hosts.
    pub fn probe(&self, key: u64) -> impl Iterator<Item = u32> + '_ {
        let at = self.points.partition_point(|&(p, _)| p < key);
        let n = self.points.len();
        (0..n).map(move |i| self.points[(at + i) % n].1)
    }

    /// Heap bytes held (what `/proc` shows once, however many workers use it).
    pub fn heap_bytes(&self) -> usize {
        self.points.capacity() * std::mem::size_of::<(u64, u32)>()
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

    fn pick(ring: &RingTable, key: u64) -> Option<usize> {
        ring.probe(key).next().map(|i| i as usize)
    }

    #[test]
    fn a_key_stays_on_one_host() {
        let ring = RingTable::build(&hosts(5), POINTS_PER_WEIGHT);
        let key = hash::hash64(b"user-42");
        let first = pick(&ring, key);
        for _ in 0..100 {
            assert_eq!(pick(&ring, key), first);
        }
    }

    #[test]
    fn few_keys_move_when_a_host_leaves() {
        let ring = std::cell::RefCell::new(RingTable::default());
        let (moved, on_gone) = moved_when_one_leaves(
            |c| *ring.borrow_mut() = RingTable::build(c, POINTS_PER_WEIGHT),
            |k| pick(&ring.borrow(), k).unwrap(),
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
        let ring = RingTable::build(&c, POINTS_PER_WEIGHT);
        let mut counts = [0u32; 3];
        for k in 0..40_000u64 {
            counts[pick(&ring, hash::mix(k)).unwrap()] += 1;
        }
        assert!(counts[2] > counts[0] && counts[2] > counts[1], "{counts:?}");
        assert!(counts.iter().all(|&n| n > 6_000), "{counts:?}");
        assert_eq!(pick(&RingTable::build(&[], POINTS_PER_WEIGHT), 1), None);
    }

    #[test]
    fn skipping_a_host_equals_the_ring_built_without_it() {
        let all = hosts(6);
        let ring = RingTable::build(&all, POINTS_PER_WEIGHT);
        let mut without = all.clone();
        without.remove(2);
        let smaller = RingTable::build(&without, POINTS_PER_WEIGHT);
        for k in 0..5_000u64 {
            let key = hash::mix(k);
            let skipped = ring
                .probe(key)
                .find(|&i| i != 2)
                .map(|i| all[i as usize].addr);
            let rebuilt = smaller.probe(key).next().map(|i| without[i as usize].addr);
            assert_eq!(skipped, rebuilt, "key {k}");
        }
    }
}

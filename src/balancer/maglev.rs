//! Maglev consistent hashing (Envoy's `maglev`): a lookup table of a prime size,
//! filled by each host in turn along its own permutation (offset + j·skip), in
//! proportion to its weight. A pick is one table index; when a host leaves, its
//! slots are refilled and only a little more than its share of keys move.
//! Built once per host set, off the workers (`table.rs`); a worker that may not
//! use a slot's host (unhealthy, ejected) steps to the next slot.

use super::{hash, Candidate};

/// Envoy's default table size (a prime).
pub const TABLE_SIZE: usize = 65_537;

/// A built table: immutable, shared by every worker.
#[derive(Debug, Clone, Default)]
pub struct MaglevTable {
    /// Slot → host index.
    table: Vec<u32>,
}

impl MaglevTable {
    pub fn build(candidates: &[Candidate], size: usize) -> Self {
        let mut t = MaglevTable::default();
        if !candidates.is_empty() {
            t.fill(candidates, size);
        }
        t
    }

    fn fill(&mut self, candidates: &[Candidate], size: usize) {
        let m = size as u64;
        struct Entry {
            offset: u64,
            skip: u64,
            next: u64,
            weight: u64,
            target: u64,
        }
        let max_weight = candidates
            .iter()
            .map(|c| u64::from(c.weight.max(1)))
            .max()
            .unwrap_or(1);
        let mut entries: Vec<Entry> = candidates
            .iter()
            .map(|c| {
                let name = c.addr.to_string();
                Entry {
                    offset: hash::hash64_seeded(name.as_bytes(), 0) % m,
                    skip: hash::hash64_seeded(name.as_bytes(), 1) % (m - 1) + 1,
                    next: 0,
                    weight: u64::from(c.weight.max(1)),
                    target: max_weight,
                }
            })
            .collect();
        self.table.resize(size, u32::MAX);
        let mut filled = 0;
        let mut iteration = 1u64;
        while filled < size {
            for (i, e) in entries.iter_mut().enumerate() {
                if filled == size {
                    break;
                }
                // A host of the maximum weight fills a slot every round; one of a
                // third of it, every third round.
                if iteration * e.weight < e.target {
                    continue;
                }
                e.target += max_weight;
                let mut slot = (e.offset + e.skip * e.next) % m;
                while self.table[slot as usize] != u32::MAX {
                    e.next += 1;
                    slot = (e.offset + e.skip * e.next) % m;
                }
                self.table[slot as usize] = i as u32;
                e.next += 1;
                filled += 1;
            }
            iteration += 1;
        }
    }

    /// Host indices from the key's slot onward.
    pub fn probe(&self, key: u64) -> impl Iterator<Item = u32> + '_ {
        let n = self.table.len();
        let at = if n == 0 { 0 } else { (key % n as u64) as usize };
        (0..n).map(move |i| self.table[(at + i) % n])
    }

    pub fn heap_bytes(&self) -> usize {
        self.table.capacity() * std::mem::size_of::<u32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balancer::ring_hash::tests::{hosts, moved_when_one_leaves};

    fn pick(t: &MaglevTable, key: u64) -> Option<usize> {
        t.probe(key).next().map(|i| i as usize)
    }

    #[test]
    fn a_key_stays_and_few_move() {
        let t = MaglevTable::build(&hosts(5), TABLE_SIZE);
        let key = hash::hash64(b"session-abc");
        let first = pick(&t, key);
        assert!((0..100).all(|_| pick(&t, key) == first));

        let table = std::cell::RefCell::new(MaglevTable::default());
        let (moved, on_gone) = moved_when_one_leaves(
            |c| *table.borrow_mut() = MaglevTable::build(c, TABLE_SIZE),
            |k| pick(&table.borrow(), k).unwrap(),
            &hosts(10),
            4,
        );
        // Every key of the departed host moves; Maglev moves a few others too.
        assert!(moved >= on_gone);
        assert!((500..1_600).contains(&on_gone), "{on_gone}");
        assert!(
            moved < on_gone * 2,
            "{moved} moved, {on_gone} were on the host"
        );
    }

    #[test]
    fn even_and_weighted_shares() {
        let t = MaglevTable::build(&hosts(4), TABLE_SIZE);
        let mut counts = [0usize; 4];
        for &i in &t.table {
            counts[i as usize] += 1;
        }
        // Slots split evenly to within one.
        assert!(
            counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1,
            "{counts:?}"
        );

        let mut c = hosts(2);
        c[0].weight = 3;
        let t = MaglevTable::build(&c, TABLE_SIZE);
        let heavy = t.table.iter().filter(|&&i| i == 0).count();
        // 3:1 → three quarters of the slots, to within a slot per round.
        assert!(heavy.abs_diff(TABLE_SIZE * 3 / 4) <= 2, "{heavy}");
        assert_eq!(pick(&MaglevTable::build(&[], TABLE_SIZE), 1), None);
    }
}

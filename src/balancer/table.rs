//! Hash tables (`ring_hash` rings, Maglev tables) built once per host set off
//! the workers, and the per-worker picker that reads them.
//!
//! Invariant: a worker never builds a table. At the ring's 8M-point cap a build
//! takes over a second and 128 MiB; on a worker that stalled its whole event
//! loop, once per worker. Instead whoever publishes a host set (the server
//! thread for static hosts and reloads, the resolver thread for DNS) builds
//! the table for it first and publishes both (`upstream::hosts`), so each
//! cluster holds one table, shared read-only by every worker through an `Arc`.
//!
//! The table covers the host set; a worker's candidates (the hosts it may use
//! now: healthy, not ejected) are a subset it learns later and often, so they
//! do not rebuild anything. A pick walks the table from the key's entry to the
//! first host that is a candidate. For a ring that is exactly the ring built
//! over the candidates alone (a point's place never depends on other hosts);
//! for Maglev it moves a skipped slot's keys to the next slot's host. After
//! `MAX_PROBES` misses (nearly every host unusable) the key is hashed over the
//! candidates directly. Hosts outside the table (kept while pending removal)
//! take no hashed requests.

use std::{collections::HashMap, net::SocketAddr, sync::Arc};

use super::{hash, maglev, ring_hash, Candidate, Rng};
use crate::config::LbPolicy;

/// Entries a pick looks at before hashing over the candidates directly.
/// With half the hosts unusable, 64 misses in a row happen once in 2^64 picks.
pub const MAX_PROBES: usize = 64;

/// An immutable hash table over one host list.
#[derive(Debug)]
pub struct HashTable {
    /// The hosts the table's indices refer to, in host-set order.
    hosts: Vec<Candidate>,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Ring(ring_hash::RingTable),
    Maglev(maglev::MaglevTable),
}

impl HashTable {
    /// The table `policy` balances `hosts` by; `None` for policies without one.
    /// Costly for large rings: call it off the workers.
    pub fn build(policy: LbPolicy, hosts: &[Candidate]) -> Option<HashTable> {
        let kind = match policy {
            LbPolicy::RingHash => Kind::Ring(ring_hash::RingTable::build(
                hosts,
                ring_hash::POINTS_PER_WEIGHT,
            )),
            LbPolicy::Maglev => Kind::Maglev(maglev::MaglevTable::build(hosts, maglev::TABLE_SIZE)),
            LbPolicy::RoundRobin | LbPolicy::LeastRequest | LbPolicy::Random => return None,
        };
        Some(HashTable {
            hosts: hosts.to_vec(),
            kind,
        })
    }

    pub fn hosts(&self) -> &[Candidate] {
        &self.hosts
    }

    /// The first of the entries a pick for `key` tries (at most `MAX_PROBES`)
    /// that `usable` maps to a candidate. Generic, not boxed: a pick allocates nothing.
    fn first(&self, key: u64, usable: impl Fn(u32) -> Option<u32>) -> Option<u32> {
        match &self.kind {
            Kind::Ring(r) => r.probe(key).take(MAX_PROBES).find_map(usable),
            Kind::Maglev(m) => m.probe(key).take(MAX_PROBES).find_map(usable),
        }
    }

    /// Heap bytes of the table proper.
    pub fn heap_bytes(&self) -> usize {
        match &self.kind {
            Kind::Ring(r) => r.heap_bytes(),
            Kind::Maglev(m) => m.heap_bytes(),
        }
    }
}

/// Marks a table host that is not a candidate now.
const NOT_CANDIDATE: u32 = u32::MAX;

/// One worker's view of its cluster's shared table.
#[derive(Debug)]
pub struct HashPicker {
    table: Option<Arc<HashTable>>,
    /// Table host index → candidate index, or `NOT_CANDIDATE`.
    to_candidate: Vec<u32>,
    /// Keyless requests pick at random, as Envoy does.
    rng: Rng,
}

impl HashPicker {
    pub fn new(seed: u64) -> Self {
        HashPicker {
            table: None,
            to_candidate: Vec::new(),
            rng: Rng::new(seed),
        }
    }

    /// Point at `table` (the host set's, shared) for these candidates: only
    /// the index map is rebuilt here, in time linear in the hosts.
    pub fn rebuild(&mut self, candidates: &[Candidate], table: Option<&Arc<HashTable>>) {
        self.table = table.cloned();
        self.to_candidate.clear();
        let Some(table) = &self.table else { return };
        let index: HashMap<SocketAddr, u32> = candidates
            .iter()
            .enumerate()
            .map(|(i, c)| (c.addr, i as u32))
            .collect();
        self.to_candidate.extend(
            table
                .hosts
                .iter()
                .map(|h| index.get(&h.addr).copied().unwrap_or(NOT_CANDIDATE)),
        );
    }

    /// The candidate (among `len`, `len > 0`) for `key`.
    pub fn pick(&mut self, len: usize, key: Option<u64>) -> usize {
        let key = key.unwrap_or_else(|| self.rng.next_u64());
        if let Some(table) = &self.table {
            let to_candidate = &self.to_candidate;
            let hit = table.first(key, |i| {
                Some(to_candidate[i as usize]).filter(|&c| c != NOT_CANDIDATE)
            });
            if let Some(c) = hit {
                return c as usize;
            }
        }
        // No table yet, or none of its first entries usable.
        (hash::mix(key) % len as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balancer::test_candidates;

    #[test]
    fn picks_only_candidates_and_keeps_a_key_when_others_leave() {
        let all = test_candidates(&[1, 1, 1, 1]);
        let table = Arc::new(HashTable::build(LbPolicy::RingHash, &all).unwrap());
        let mut p = HashPicker::new(1);
        p.rebuild(&all, Some(&table));
        let picks: Vec<usize> = (0..2_000u64)
            .map(|k| p.pick(4, Some(hash::mix(k))))
            .collect();
        // Host 1 unusable: its keys go elsewhere, every other key stays.
        let fewer = [all[0], all[2], all[3]];
        p.rebuild(&fewer, Some(&table));
        for (k, &before) in picks.iter().enumerate() {
            let now = fewer[p.pick(3, Some(hash::mix(k as u64)))].addr;
            if before != 1 {
                assert_eq!(now, all[before].addr, "key {k} moved");
            }
            assert_ne!(now, all[1].addr);
        }
    }

    #[test]
    fn without_a_usable_entry_it_hashes_over_the_candidates() {
        let table = Arc::new(HashTable::build(LbPolicy::Maglev, &test_candidates(&[1])).unwrap());
        let other = [Candidate {
            addr: "127.0.0.9:80".parse().unwrap(),
            weight: 1,
        }];
        let mut p = HashPicker::new(1);
        p.rebuild(&other, Some(&table));
        assert_eq!(p.pick(1, Some(7)), 0);
        p.rebuild(&other, None);
        assert_eq!(p.pick(1, None), 0);
        assert!(HashTable::build(LbPolicy::RoundRobin, &other).is_none());
    }
}

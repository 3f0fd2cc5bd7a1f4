//! Load balancing: per worker, per cluster, allocation-free per pick.
//!
//! A `Balancer` is built over the hosts a request may go to (healthy and not
//! ejected, or all of them in panic mode) whenever that set changes. A pick
//! returns an index into the candidate list it was built over. Rings and
//! Maglev tables are never built here: they come built with the host set,
//! one per cluster, shared by every worker (`table.rs`).

pub mod hash;
pub mod least_request;
pub mod maglev;
pub mod random;
pub mod ring_hash;
pub mod round_robin;
pub mod table;

use std::{net::SocketAddr, sync::Arc};

pub use round_robin::RoundRobin;
pub use table::HashTable;

use crate::config::LbPolicy;
/// One generator per balancer: no shared state.
pub use crate::prim::Rng;

/// One host a balancer may pick, as given to `Balancer::rebuild`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub addr: SocketAddr,
    pub weight: u32,
}

/// Candidates 127.0.0.2:80, 127.0.0.3:80, … with the given weights (tests).
#[cfg(test)]
pub(crate) fn test_candidates(weights: &[u32]) -> Vec<Candidate> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &weight)| Candidate {
            addr: format!("127.0.0.{}:80", i + 2).parse().unwrap(),
            weight,
        })
        .collect()
}

/// The per-worker state of one cluster's load-balancing policy.
#[derive(Debug)]
pub enum Balancer {
    RoundRobin(RoundRobin),
    /// Round robin when weights differ: nginx's smooth weighted round robin.
    Weighted(round_robin::SmoothWeighted),
    LeastRequest(least_request::LeastRequest),
    Random(random::WeightedRandom),
    /// `ring_hash` and `maglev`: a view of the cluster's shared table.
    Hashed(table::HashPicker),
}

impl Balancer {
    /// An empty balancer for `policy`; `worker` staggers cursors and seeds the rng.
    pub fn new(policy: LbPolicy, worker: usize, seed: u64) -> Self {
        match policy {
            LbPolicy::RoundRobin => Balancer::RoundRobin(RoundRobin::starting_at(worker)),
            LbPolicy::LeastRequest => {
                Balancer::LeastRequest(least_request::LeastRequest::new(seed))
            }
            LbPolicy::Random => Balancer::Random(random::WeightedRandom::new(seed)),
            LbPolicy::RingHash | LbPolicy::Maglev => Balancer::Hashed(table::HashPicker::new(seed)),
        }
    }

    /// Rebuild for a new candidate list (the host set or its health changed).
    /// `table`: the host set's hash table, for the hashing policies.
    pub fn rebuild(&mut self, candidates: &[Candidate], table: Option<&Arc<HashTable>>) {
        let equal = candidates.windows(2).all(|w| w[0].weight == w[1].weight);
        match self {
            Balancer::RoundRobin(rr) if !equal => {
                let offset = rr.offset();
                let mut w = round_robin::SmoothWeighted::default();
                w.rebuild(candidates, offset);
                *self = Balancer::Weighted(w);
            }
            Balancer::RoundRobin(_) => {}
            Balancer::Weighted(w) if equal => {
                *self = Balancer::RoundRobin(RoundRobin::starting_at(w.offset()));
            }
            Balancer::Weighted(w) => {
                let offset = w.offset();
                w.rebuild(candidates, offset);
            }
            Balancer::LeastRequest(lr) => lr.rebuild(candidates),
            Balancer::Random(r) => r.rebuild(candidates),
            Balancer::Hashed(picker) => picker.rebuild(candidates, table),
        }
    }

    /// The index of the chosen candidate among `len` (the list last given to
    /// `rebuild`), or `None` when there are none. `key` is the request's hash
    /// (hashing policies; without one they pick at random), `active(i)` the
    /// requests in flight to candidate `i` on this worker (least_request).
    pub fn pick(
        &mut self,
        len: usize,
        key: Option<u64>,
        active: impl Fn(usize) -> u32,
    ) -> Option<usize> {
        if len == 0 {
            return None;
        }
        match self {
            Balancer::RoundRobin(rr) => rr.pick(len),
            Balancer::Weighted(w) => w.pick(),
            Balancer::LeastRequest(lr) => lr.pick(active),
            Balancer::Random(r) => r.pick(),
            Balancer::Hashed(picker) => Some(picker.pick(len, key)),
        }
    }
}

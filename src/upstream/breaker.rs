//! Circuit breakers across workers without a shared counter on the request path.
//!
//! Each worker enforces its fair share of a cluster's thresholds
//! (`ceil(total / workers)`) on its own counts. SO_REUSEPORT spreads connections
//! unevenly, so a busy worker may need more than its share while another idles.
//! Rather than failing then, it looks at the board: every worker publishes its
//! in-flight counts here, each in its own cache line, written only by that worker
//! (plain stores, no read-modify-write). Only a worker already over its share
//! reads the other lines, and it is admitted while the cluster-wide sum is under
//! the configured total — Envoy's global limit, approximately (workers deciding
//! at the same instant may overshoot by at most one each).

use std::sync::{
    atomic::{AtomicU32, Ordering},
    OnceLock,
};

/// One worker's published counts for one cluster.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct BreakerSlot {
    pub requests: AtomicU32,
    /// Open upstream connections: idle pooled plus in use.
    pub connections: AtomicU32,
    pub pending: AtomicU32,
    pub retries: AtomicU32,
    /// 1 while this worker queues requests for want of connections (it
    /// queued one since its last pool sweep): other workers then give back
    /// the connections they hold idle and do not use.
    pub starved: AtomicU32,
}

/// Which count a check is about.
#[derive(Debug, Clone, Copy)]
pub enum Resource {
    Requests,
    Connections,
    Pending,
    Retries,
}

impl BreakerSlot {
    fn get(&self, r: Resource) -> &AtomicU32 {
        match r {
            Resource::Requests => &self.requests,
            Resource::Connections => &self.connections,
            Resource::Pending => &self.pending,
            Resource::Retries => &self.retries,
        }
    }
}

/// Every worker's slot for one cluster, sized on first use.
#[derive(Debug, Default)]
pub struct BreakerBoard {
    slots: OnceLock<Box<[BreakerSlot]>>,
}

impl BreakerBoard {
    /// The slots for `workers` workers (the first caller sizes the board).
    fn slots(&self, workers: usize) -> &[BreakerSlot] {
        self.slots.get_or_init(|| {
            (0..workers.max(1))
                .map(|_| BreakerSlot::default())
                .collect()
        })
    }

    /// Publish this worker's count (owner only).
    pub fn publish(&self, worker: usize, workers: usize, r: Resource, value: u32) {
        if let Some(slot) = self.slots(workers).get(worker) {
            slot.get(r).store(value, Ordering::Relaxed);
        }
    }

    /// Say whether this worker is queueing requests for connections (owner
    /// only). Clearing a flag on a board nobody has used yet does not size it:
    /// the pool sweep clears it every second, and the board's one allocation
    /// belongs to the first request that needs it.
    pub fn set_starved(&self, worker: usize, workers: usize, starved: bool) {
        let slots = match self.slots.get() {
            Some(slots) => &slots[..],
            None if !starved => return,
            None => self.slots(workers),
        };
        if let Some(slot) = slots.get(worker) {
            slot.starved.store(u32::from(starved), Ordering::Relaxed);
        }
    }

    /// Is a worker other than `worker` queueing requests for connections?
    /// (Never on a board nobody has used yet.)
    pub fn others_starved(&self, worker: usize) -> bool {
        self.slots.get().is_some_and(|slots| {
            slots
                .iter()
                .enumerate()
                .any(|(i, s)| i != worker && s.starved.load(Ordering::Relaxed) != 0)
        })
    }

    /// Is the cluster-wide count of `r` under `total`? Read only by a worker
    /// already over its share.
    pub fn has_headroom(&self, workers: usize, r: Resource, total: u32) -> bool {
        let sum: u64 = self
            .slots(workers)
            .iter()
            .map(|s| u64::from(s.get(r).load(Ordering::Relaxed)))
            .sum();
        sum < u64::from(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_only_unused_headroom() {
        let board = BreakerBoard::default();
        // Two workers, total 10: worker 0 holds 7, worker 1 holds 2.
        board.publish(0, 2, Resource::Requests, 7);
        board.publish(1, 2, Resource::Requests, 2);
        assert!(board.has_headroom(2, Resource::Requests, 10));
        board.publish(1, 2, Resource::Requests, 3);
        assert!(!board.has_headroom(2, Resource::Requests, 10));
        // Each resource is counted on its own.
        assert!(board.has_headroom(2, Resource::Retries, 1));
    }

    #[test]
    fn a_starved_worker_is_seen_by_the_others_only() {
        let board = BreakerBoard::default();
        // Nothing to clear on an unused board, and it stays unsized.
        board.set_starved(0, 3, false);
        assert!(board.slots.get().is_none() && !board.others_starved(0));
        board.set_starved(1, 3, true);
        assert!(board.others_starved(0) && board.others_starved(2));
        assert!(!board.others_starved(1));
        board.set_starved(1, 3, false);
        assert!(!board.others_starved(0));
    }
}

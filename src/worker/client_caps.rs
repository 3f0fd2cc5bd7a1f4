//! Per-client caps on requests in flight upstream (a listener's
//! `max_upstream_requests_per_client`).
//!
//! Reading bodies before choosing an upstream (`request_buffer`) keeps a slow
//! client from holding an upstream while it trickles; this cap keeps one client
//! address from holding many upstream requests at once (a swarm of slow
//! readers, or of requests to a slow route), whatever its connection count.
//! nginx's `limit_conn $binary_remote_addr` is the model; like the listener's
//! `max_connections`, each worker enforces its share of the cap, rounded up,
//! since `SO_REUSEPORT` spreads a client's connections over the workers.
//!
//! Invariants: an entry exists only while its count is above zero, and every
//! `ClientSlot` taken is given back exactly once, when it drops (the request
//! ends, however it ends). The map keeps its capacity, so after warm-up
//! entering and leaving allocate nothing; listeners without a cap never touch it.

use std::{cell::RefCell, collections::HashMap, net::IpAddr};

/// This worker's upstream requests in flight, per client address.
#[derive(Default)]
pub struct ClientCaps {
    in_flight: RefCell<HashMap<IpAddr, u32>>,
}

/// One upstream request of `ip`'s, counted until it drops.
pub struct ClientSlot<'a> {
    caps: &'a ClientCaps,
    ip: IpAddr,
}

impl ClientCaps {
    /// Count a request of `ip`'s if it has fewer than `share` in flight here.
    pub fn enter(&self, ip: IpAddr, share: u32) -> Option<ClientSlot<'_>> {
        let mut map = self.in_flight.borrow_mut();
        let count = map.entry(ip).or_insert(0);
        if *count >= share {
            if *count == 0 {
                map.remove(&ip);
            }
            return None;
        }
        *count += 1;
        Some(ClientSlot { caps: self, ip })
    }

    /// Requests `ip` has in flight on this worker.
    pub fn in_flight(&self, ip: IpAddr) -> u32 {
        self.in_flight.borrow().get(&ip).copied().unwrap_or(0)
    }
}

impl Drop for ClientSlot<'_> {
    fn drop(&mut self) {
        let mut map = self.caps.in_flight.borrow_mut();
        if let Some(count) = map.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                map.remove(&self.ip);
            }
        } else {
            debug_assert!(false, "a client slot was given back twice");
        }
    }
}

/// A listener's cap, as this worker's share of it (rounded up, at least 1).
pub fn share(cap: u32, workers: usize) -> u32 {
    cap.div_ceil(workers.max(1) as u32).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn a_client_gets_its_share_and_no_more_others_are_unaffected() {
        let caps = ClientCaps::default();
        let a1 = caps.enter(ip(1), 2).expect("first");
        let a2 = caps.enter(ip(1), 2).expect("second");
        assert!(caps.enter(ip(1), 2).is_none(), "third is over the share");
        let b = caps.enter(ip(2), 2).expect("another client is not limited");
        assert_eq!(caps.in_flight(ip(1)), 2);
        drop(a1);
        let a3 = caps.enter(ip(1), 2).expect("a slot came back");
        drop((a2, a3, b));
        assert_eq!(caps.in_flight(ip(1)), 0);
        assert!(caps.in_flight.borrow().is_empty(), "no entry at zero");
    }

    #[test]
    fn shares_round_up() {
        assert_eq!(share(10, 2), 5);
        assert_eq!(share(3, 2), 2);
        assert_eq!(share(1, 4), 1);
    }
}

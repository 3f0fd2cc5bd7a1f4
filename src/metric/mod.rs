//! Metric cells: the counters, gauges and histograms every count in ringway
//! is made of. A leaf: it imports nothing of the crate, so the layers that own
//! counts (`stats` for the data path, `upstream::health` for the checker's)
//! can all use it.
//!
//! Every cell has ONE writer (a worker, or the checker thread), which writes
//! with a plain load and store (`store(load() + 1)`), never an atomic
//! read-modify-write: on x86 both are ordinary `mov`s. Readers (the admin
//! thread) load with `Relaxed`; a sum over cells is a moment's snapshot.

pub mod histogram;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

pub use histogram::{Histogram, HistogramSnapshot};

/// A monotonic count, written by one worker only.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    #[inline]
    pub fn add(&self, n: u64) {
        // Single writer: no read-modify-write needed, and none is paid for.
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// A level (connections open, requests in flight), written by one worker only.
/// A worker's own level never goes below zero: it decrements only what it
/// incremented.
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    #[inline]
    pub fn inc(&self) {
        self.0.store(self.0.load(Relaxed) + 1, Relaxed);
    }
    #[inline]
    pub fn dec(&self) {
        let v = self.0.load(Relaxed);
        debug_assert!(v > 0, "gauge below zero");
        self.0.store(v.saturating_sub(1), Relaxed);
    }
    #[inline]
    pub fn set(&self, v: u64) {
        self.0.store(v, Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

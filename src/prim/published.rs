//! `Published<T>`: an immutable snapshot that one writer replaces and many
//! readers on other cores follow, without a lock. Host sets, health verdicts
//! and config generations are all published this way.
//!
//! The writer stores the new `Arc<T>` in an `ArcSwap`, *then* raises `version`
//! with `Release`. A reader loads `version` with `Acquire`, compares it with the
//! version it cached and only on a difference loads the snapshot. The
//! Release/Acquire pair is what makes that safe: a reader that sees the new
//! version also sees everything written before it, the new snapshot included,
//! so it never caches a new version with an old snapshot. (A reader may see
//! the new snapshot with the old version, and then simply loads it again next
//! time.) The fast path is one load of a read-mostly cache line.
//!
//! `bump` raises the version for a change made beside the snapshot (an outlier
//! ejection writes its own slot, then bumps), with the same ordering.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use arc_swap::ArcSwap;

/// The first version of every cell: readers that cache 0 take the first snapshot.
pub const FIRST_VERSION: u64 = 1;

#[derive(Debug)]
pub struct Published<T> {
    current: ArcSwap<T>,
    version: AtomicU64,
}

impl<T> Published<T> {
    pub fn new(initial: T) -> Self {
        Published::with_version(initial, FIRST_VERSION)
    }

    /// A cell whose first snapshot is numbered `version`.
    pub fn with_version(initial: T, version: u64) -> Self {
        Published {
            current: ArcSwap::from_pointee(initial),
            version: AtomicU64::new(version),
        }
    }

    /// Replace the snapshot (writer side), numbering it one more than before.
    pub fn publish(&self, next: T) {
        self.current.store(Arc::new(next));
        self.bump();
    }

    /// Replace the snapshot with one that carries its own number (`version`
    /// must grow; one writer at a time).
    pub fn publish_as(&self, next: T, version: u64) {
        debug_assert!(version > self.version.load(Ordering::Relaxed));
        self.current.store(Arc::new(next));
        self.version.store(version, Ordering::Release);
    }

    /// Announce a change made beside the snapshot.
    pub fn bump(&self) {
        self.version.fetch_add(1, Ordering::Release);
    }

    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    pub fn load(&self) -> Arc<T> {
        self.current.load_full()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_move_with_every_publication() {
        let cell = Published::new(1);
        assert_eq!((cell.version(), *cell.load()), (FIRST_VERSION, 1));
        cell.publish(2);
        assert_eq!((cell.version(), *cell.load()), (FIRST_VERSION + 1, 2));
        cell.bump();
        assert_eq!(cell.version(), FIRST_VERSION + 2);
        cell.publish_as(3, 10);
        assert_eq!((cell.version(), *cell.load()), (10, 3));
    }
}

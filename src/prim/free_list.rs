//! `FreeList`: values kept for reuse, as many as the load needs and no more.
//!
//! A worker lends request-time state (read buffers, scratch vectors, request
//! taps, future slots) from free lists so a steady load allocates nothing. A
//! fixed cap on such a list is wrong both ways: below the number of requests
//! in flight (1,000 connections on two workers keep 500 each in flight) every
//! request past the cap allocates and frees again; far above it, a burst's
//! memory stays behind for good.
//!
//! So a list keeps what it is given, up to a hard ceiling, and its owner calls
//! `trim` on a slow clock (the worker's pool sweep, once a second): values the
//! list held through a whole interval without lending them were not needed in
//! that interval, and are freed. A steady load keeps exactly its working set;
//! a burst's surplus is gone one to two intervals after the burst ends.
//!
//! Invariant: `low` is the fewest values the list held at any moment since
//! the last trim (or since it was made), so the oldest `low` values, at the
//! bottom of the stack, sat idle all that time.

pub struct FreeList<T> {
    items: Vec<T>,
    low: usize,
    ceiling: usize,
}

impl<T> FreeList<T> {
    /// An empty list that never keeps more than `ceiling` values.
    pub const fn new(ceiling: usize) -> FreeList<T> {
        FreeList {
            items: Vec::new(),
            low: 0,
            ceiling,
        }
    }

    /// The most recently returned value (the warmest in cache), if any.
    #[inline]
    pub fn take(&mut self) -> Option<T> {
        let item = self.items.pop();
        self.low = self.low.min(self.items.len());
        item
    }

    /// Keep `item` for reuse; beyond the ceiling it is handed back to be
    /// dropped by the caller.
    #[inline]
    pub fn give(&mut self, item: T) -> Option<T> {
        if self.items.len() >= self.ceiling {
            return Some(item);
        }
        self.items.push(item);
        None
    }

    /// Free the values that sat idle since the last trim, and start a new
    /// interval. Returns how many were freed.
    pub fn trim(&mut self) -> usize {
        self.trim_with(drop)
    }

    /// `trim`, handing each freed value to `free` (for values that are not
    /// freed by dropping them).
    pub fn trim_with(&mut self, mut free: impl FnMut(T)) -> usize {
        let idle = self.low.min(self.items.len());
        self.items.drain(..idle).for_each(&mut free);
        self.low = self.items.len();
        idle
    }

    /// Every value, for an owner that frees them itself when it goes.
    pub fn drain(&mut self) -> std::vec::Drain<'_, T> {
        self.low = 0;
        self.items.drain(..)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_working_set_is_kept_through_trims() {
        let mut list = FreeList::new(1024);
        // 500 values in flight at once, returned, then the same again each
        // interval: after the first interval nothing is freed or made.
        for _ in 0..5 {
            let mut lent = Vec::new();
            for i in 0..500u32 {
                lent.push(list.take().unwrap_or(i));
            }
            for v in lent {
                assert!(list.give(v).is_none());
            }
            list.trim();
        }
        assert_eq!(list.len(), 500);
        let mut lent = Vec::new();
        while let Some(v) = list.take() {
            lent.push(v);
        }
        assert_eq!(lent.len(), 500, "the working set is still pooled");
    }

    #[test]
    fn a_burst_surplus_goes_within_two_trims() {
        let mut list = FreeList::new(1024);
        for i in 0..800u32 {
            list.give(i);
        }
        // The load then needs only 10 at a time.
        let use_ten = |list: &mut FreeList<u32>| {
            let lent: Vec<_> = (0..10).filter_map(|_| list.take()).collect();
            for v in lent {
                list.give(v);
            }
        };
        use_ten(&mut list);
        // The first interval started with the list empty: nothing idle yet.
        assert_eq!(list.trim(), 0);
        use_ten(&mut list);
        assert_eq!(list.trim(), 790);
        assert_eq!(list.len(), 10);
        use_ten(&mut list);
        assert_eq!(list.trim(), 0, "the working set stays");
    }

    #[test]
    fn the_ceiling_bounds_what_is_kept() {
        let mut list = FreeList::new(2);
        assert!(list.give(1).is_none());
        assert!(list.give(2).is_none());
        assert_eq!(list.give(3), Some(3));
        assert_eq!(list.len(), 2);
    }

    #[test]
    fn an_unused_list_empties() {
        let mut list = FreeList::new(8);
        for i in 0..8 {
            list.give(i);
        }
        list.trim();
        let mut freed = Vec::new();
        list.trim_with(|v| freed.push(v));
        assert_eq!(freed, (0..8).collect::<Vec<_>>(), "oldest first");
        assert!(list.is_empty());
    }
}

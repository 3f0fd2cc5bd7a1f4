//! Heap slots for per-request futures, recycled per worker.
//!
//! A connection's task is sized for its largest state, and a request in flight
//! (head, routing, retries, body relay, nested timeouts) needs several KiB. Kept
//! inline, every idle keep-alive connection would carry that much. Instead the
//! request-handling future lives in a slot taken from this per-worker free list
//! for the length of one request and returned after it: an idle connection holds
//! only its small waiting state, and steady-state requests allocate nothing
//! (the slots are reused; only those the load stopped needing are freed, at
//! the worker's pool sweep). HTTP/2 streams are spawned as tasks: their task
//! holds only a handle on such a slot, so spawning copies a few hundred bytes
//! rather than the stream's whole state (monoio moves a spawned future twice on
//! its way into the task).

use std::{
    alloc::{self, Layout},
    cell::RefCell,
    future::Future,
    pin::Pin,
    ptr::NonNull,
    task::{Context, Poll},
};

use crate::prim::FreeList;

/// The most free slots kept per layout, and the bytes they may hold between
/// them: the ceiling of a `prim::FreeList`, which keeps what the load has in
/// flight and frees the rest at each `trim` (a burst of concurrent requests
/// leaves at most this much behind per future type and worker, for a second
/// or two).
const MAX_FREE: usize = 4096;
const MAX_FREE_BYTES: usize = 32 << 20;

/// Free slots, one list per layout: a worker recycles a few future types (an
/// HTTP/1.1 request's, an HTTP/2 stream's), so a short list of lists, searched
/// in order, serves them all without one type's slots standing in another's way.
#[derive(Default)]
pub struct FutureArena {
    free: RefCell<Vec<(Layout, FreeList<NonNull<u8>>)>>,
}

impl FutureArena {
    /// Move `fut` into a recycled slot.
    pub fn recycle<F: Future>(&self, fut: F) -> Recycled<'_, F> {
        let layout = Layout::new::<F>();
        let reused = {
            let mut free = self.free.borrow_mut();
            free.iter_mut()
                .find(|(l, _)| *l == layout)
                .and_then(|(_, slots)| slots.take())
        };
        let ptr = match reused {
            Some(p) => p.cast::<F>(),
            None if layout.size() == 0 => NonNull::dangling(),
            None => {
                // SAFETY: the layout has a non-zero size (checked above).
                let raw = unsafe { alloc::alloc(layout) };
                match NonNull::new(raw) {
                    Some(p) => p.cast::<F>(),
                    None => alloc::handle_alloc_error(layout),
                }
            }
        };
        // SAFETY: `ptr` is valid for writes of `F` and properly aligned: it was
        // allocated (now or earlier) with exactly `Layout::new::<F>()`, and no
        // value lives in it (a slot is free only after `drop_in_place`).
        unsafe { ptr.as_ptr().write(fut) };
        Recycled { ptr, arena: self }
    }

    fn give_back(&self, layout: Layout, ptr: NonNull<u8>) {
        if layout.size() == 0 {
            return;
        }
        let mut free = self.free.borrow_mut();
        let slots = match free.iter().position(|(l, _)| *l == layout) {
            Some(i) => &mut free[i].1,
            None => {
                let ceiling = MAX_FREE.min(MAX_FREE_BYTES / layout.size());
                free.push((layout, FreeList::new(ceiling)));
                &mut free.last_mut().expect("just pushed").1
            }
        };
        if let Some(surplus) = slots.give(ptr) {
            // SAFETY: allocated with this very layout in `recycle`, and free.
            unsafe { alloc::dealloc(surplus.as_ptr(), layout) };
        }
    }

    /// Free the slots the load has not needed since the last trim.
    pub fn trim(&self) {
        for (layout, slots) in self.free.borrow_mut().iter_mut() {
            let layout = *layout;
            // SAFETY: each free slot was allocated with its list's layout and
            // holds no value.
            slots.trim_with(|ptr| unsafe { alloc::dealloc(ptr.as_ptr(), layout) });
        }
    }
}

impl Drop for FutureArena {
    fn drop(&mut self) {
        for (layout, slots) in self.free.get_mut().iter_mut() {
            for ptr in slots.drain() {
                // SAFETY: each free slot was allocated with its recorded layout
                // and holds no value.
                unsafe { alloc::dealloc(ptr.as_ptr(), *layout) };
            }
        }
    }
}

/// A future living in a recycled slot; pinned there until dropped.
pub struct Recycled<'a, F: Future> {
    ptr: NonNull<F>,
    arena: &'a FutureArena,
}

impl<F: Future> Future for Recycled<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: the slot holds a live `F` until `Drop`, and it never moves:
        // only `Drop` takes it out, in place.
        let fut = unsafe { Pin::new_unchecked(&mut *self.ptr.as_ptr()) };
        fut.poll(cx)
    }
}

impl<F: Future> Drop for Recycled<'_, F> {
    fn drop(&mut self) {
        // SAFETY: the slot holds a live `F` (written in `recycle`, dropped only
        // here, once); afterwards it is returned as free memory.
        unsafe { std::ptr::drop_in_place(self.ptr.as_ptr()) };
        self.arena.give_back(Layout::new::<F>(), self.ptr.cast());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{cell::Cell, rc::Rc};

    struct CountsDrops(Rc<Cell<u32>>);
    impl Drop for CountsDrops {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }

    #[test]
    fn slots_are_reused_and_values_dropped() {
        let arena = FutureArena::default();
        let drops = Rc::new(Cell::new(0));
        let first_ptr;
        {
            let d = CountsDrops(drops.clone());
            let f = arena.recycle(async move {
                let _keep = d;
                7
            });
            first_ptr = f.ptr.as_ptr() as usize;
            // Dropped without being polled: the captured value is still dropped.
        }
        assert_eq!(drops.get(), 1);
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .build()
            .unwrap();
        let d = CountsDrops(drops.clone());
        let f = arena.recycle(async move {
            let _keep = d;
            7
        });
        assert_eq!(f.ptr.as_ptr() as usize, first_ptr, "the slot is reused");
        assert_eq!(rt.block_on(f), 7);
        assert_eq!(drops.get(), 2);
    }

    #[test]
    fn two_future_types_interleaved_each_reuse_their_own_slot() {
        let arena = FutureArena::default();
        let small = |n: u8| async move { n };
        let large = |n: u8| {
            let pad = [n; 512];
            async move { pad[0] }
        };
        let (s, l) = {
            let a = arena.recycle(small(1));
            let b = arena.recycle(large(2));
            (a.ptr.as_ptr() as usize, b.ptr.as_ptr() as usize)
        };
        for n in 0..4 {
            // Returned in either order, each type finds its own slot again.
            let b = arena.recycle(large(n));
            let a = arena.recycle(small(n));
            assert_eq!(a.ptr.as_ptr() as usize, s);
            assert_eq!(b.ptr.as_ptr() as usize, l);
        }
    }
}

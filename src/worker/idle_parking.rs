//! `IdleParking`: where a listener's idle keep-alive connections park between
//! requests, woken by the listener's drain (shutdown, or a reload that removed
//! the listener) or by their idle deadline.
//!
//! Deadlines are checked by the worker's 100 ms tick rather than by a timer per
//! connection: a parked connection then costs a slot in this list and a small
//! future, not a timer entry, and idle timeouts fire within one tick of their
//! deadline. Single-threaded: `Rc` and `Cell`, no atomics.

use std::{
    cell::{Cell, RefCell},
    future::Future,
    pin::Pin,
    rc::Rc,
    task::{Context, Poll, Waker},
    time::Instant,
};

struct Slot {
    waker: Option<Waker>,
    deadline: Instant,
    expired: bool,
}

#[derive(Default)]
struct State {
    draining: Cell<bool>,
    /// Parked connections; `None` slots are free.
    slots: RefCell<Vec<Option<Slot>>>,
    free: RefCell<Vec<usize>>,
}

#[derive(Clone, Default)]
pub struct IdleParking {
    state: Rc<State>,
}

/// Why a parked connection woke without data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unparked {
    Draining,
    IdleTimeout,
}

impl IdleParking {
    pub fn is_draining(&self) -> bool {
        self.state.draining.get()
    }

    /// Start draining: wake every parked connection.
    pub fn start(&self) {
        self.state.draining.set(true);
        for slot in self.state.slots.borrow_mut().iter_mut().flatten() {
            if let Some(w) = slot.waker.take() {
                w.wake();
            }
        }
    }

    /// Wake the connections whose deadline has passed (the worker's tick).
    pub fn expire(&self, now: Instant) {
        for slot in self.state.slots.borrow_mut().iter_mut().flatten() {
            if !slot.expired && slot.deadline <= now {
                slot.expired = true;
                if let Some(w) = slot.waker.take() {
                    w.wake();
                }
            }
        }
    }

    /// Resolves when draining starts or `deadline` has passed.
    pub fn park(&self, deadline: Instant) -> Park {
        Park {
            state: self.state.clone(),
            deadline,
            slot: None,
        }
    }
}

pub struct Park {
    state: Rc<State>,
    deadline: Instant,
    slot: Option<usize>,
}

impl Future for Park {
    type Output = Unparked;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Unparked> {
        if self.state.draining.get() {
            return Poll::Ready(Unparked::Draining);
        }
        let waker = Some(cx.waker().clone());
        match self.slot {
            Some(i) => {
                let mut slots = self.state.slots.borrow_mut();
                let slot = slots[i]
                    .as_mut()
                    .expect("a parked slot stays until dropped");
                if slot.expired {
                    return Poll::Ready(Unparked::IdleTimeout);
                }
                slot.waker = waker;
            }
            None => {
                let slot = Slot {
                    waker,
                    deadline: self.deadline,
                    expired: false,
                };
                let mut slots = self.state.slots.borrow_mut();
                let i = match self.state.free.borrow_mut().pop() {
                    Some(i) => {
                        slots[i] = Some(slot);
                        i
                    }
                    None => {
                        slots.push(Some(slot));
                        slots.len() - 1
                    }
                };
                drop(slots);
                self.slot = Some(i);
            }
        }
        Poll::Pending
    }
}

impl Drop for Park {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            self.state.slots.borrow_mut()[i] = None;
            self.state.free.borrow_mut().push(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{sync::Arc, task::Wake, time::Duration};

    struct Flag(std::sync::atomic::AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn poll(p: &mut Park, flag: &Arc<Flag>) -> Poll<Unparked> {
        let waker = Waker::from(flag.clone());
        Pin::new(p).poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn deadline_and_drain_wake_parked_connections() {
        let parking = IdleParking::default();
        let now = Instant::now();
        let flag = Arc::new(Flag(Default::default()));
        let mut soon = parking.park(now + Duration::from_secs(1));
        let mut late = parking.park(now + Duration::from_secs(60));
        assert_eq!(poll(&mut soon, &flag), Poll::Pending);
        assert_eq!(poll(&mut late, &flag), Poll::Pending);
        parking.expire(now + Duration::from_secs(2));
        assert!(flag.0.load(std::sync::atomic::Ordering::SeqCst), "woken");
        assert_eq!(poll(&mut soon, &flag), Poll::Ready(Unparked::IdleTimeout));
        assert_eq!(poll(&mut late, &flag), Poll::Pending);
        parking.start();
        assert_eq!(poll(&mut late, &flag), Poll::Ready(Unparked::Draining));
        // Slots are freed and reused.
        drop((soon, late));
        assert_eq!(parking.state.free.borrow().len(), 2);
    }
}

//! `WaitList`: tasks of one worker waiting for something another task of the
//! same worker will announce. Not `Sync`: nothing crosses cores. Two ways to
//! wait:
//! - For a state change every waiter must see (a connection opened, a PONG):
//!   `register` on each poll that finds nothing yet, and `wake_all` wakes
//!   every task registered since the last wake; each looks again.
//! - For a resource one waiter can take (a connection freed): take a
//!   `Ticket`, wait for its `turn`; `wake_one` wakes the longest waiting, so
//!   a freed connection costs one wake, not one per waiter. A waiter that
//!   gives up `cancel`s its ticket; one that was woken and gives up without
//!   taking its turn passes the wake on (`Ticket` says which), so no wake is
//!   lost to a waiter that is gone.
//!
//! The list keeps its capacity, so a steady load of waiters allocates nothing.

use std::{
    cell::{Cell, RefCell},
    collections::VecDeque,
    future::poll_fn,
    task::{Context, Poll, Waker},
};

/// Registrations of `register` (woken only by `wake_all`) carry no ticket.
const UNTICKETED: u64 = 0;

#[derive(Default)]
pub struct WaitList {
    waiters: RefCell<VecDeque<(u64, Waker)>>,
    /// The last ticket handed out.
    issued: Cell<u64>,
}

/// One waiter's place in the `wake_one` order.
pub struct Ticket {
    id: u64,
    /// Its turn came and it was taken (`turn` returned).
    taken: Cell<bool>,
}

impl WaitList {
    /// Wake the task of `cx` at the next `wake_all`.
    pub fn register(&self, cx: &Context<'_>) {
        let mut waiters = self.waiters.borrow_mut();
        let seen = waiters
            .back()
            .is_some_and(|(id, w)| *id == UNTICKETED && w.will_wake(cx.waker()));
        if !seen {
            waiters.push_back((UNTICKETED, cx.waker().clone()));
        }
    }

    /// Wake every waiter, ticketed or not. Waking only schedules a task, so
    /// none runs (or registers) while the list is held.
    pub fn wake_all(&self) {
        let mut waiters = self.waiters.borrow_mut();
        for (_, w) in waiters.drain(..) {
            w.wake();
        }
    }

    pub fn ticket(&self) -> Ticket {
        let id = self.issued.get() + 1;
        self.issued.set(id);
        Ticket {
            id,
            taken: Cell::new(false),
        }
    }

    /// Until `wake_one` (or `wake_all`) picks `ticket`: its place is kept
    /// across polls, in the order tickets first waited.
    pub async fn turn(&self, ticket: &Ticket) {
        let mut queued = false;
        poll_fn(|cx| {
            let mut waiters = self.waiters.borrow_mut();
            match waiters.iter_mut().find(|(id, _)| *id == ticket.id) {
                Some((_, waker)) => {
                    waker.clone_from(cx.waker());
                    Poll::Pending
                }
                None if queued => {
                    ticket.taken.set(true);
                    Poll::Ready(())
                }
                None => {
                    queued = true;
                    waiters.push_back((ticket.id, cx.waker().clone()));
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Wake the ticketed waiter that has waited longest (untagged waiters
    /// before it are woken too: they wait for any change).
    pub fn wake_one(&self) {
        let mut waiters = self.waiters.borrow_mut();
        while let Some((id, w)) = waiters.pop_front() {
            w.wake();
            if id != UNTICKETED {
                return;
            }
        }
    }

    /// The holder of `ticket` stops waiting: its place goes, and a wake it
    /// was given but did not take goes to the next waiter.
    pub fn cancel(&self, ticket: &Ticket) {
        if ticket.taken.get() {
            return;
        }
        let mut waiters = self.waiters.borrow_mut();
        match waiters.iter().position(|(id, _)| *id == ticket.id) {
            Some(i) => {
                waiters.remove(i);
            }
            None => {
                drop(waiters);
                // Woken (its entry was popped) but gone before its turn:
                // pass the wake on. If it never waited, this wakes one more
                // waiter than needed, who looks and waits again.
                self.wake_one();
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.waiters.borrow().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{
        future::Future,
        pin::Pin,
        sync::{
            atomic::{AtomicUsize, Ordering},
            Arc,
        },
        task::Wake,
    };

    /// A waker that counts its wakes.
    struct Counting(AtomicUsize);

    impl Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting() -> (Arc<Counting>, Waker) {
        let c = Arc::new(Counting(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    fn poll(f: &mut Pin<Box<impl Future<Output = ()>>>, waker: &Waker) -> bool {
        f.as_mut().poll(&mut Context::from_waker(waker)).is_ready()
    }

    #[test]
    fn wake_all_releases_every_registered_task_once() {
        let list = WaitList::default();
        let (count, waker) = counting();
        let cx = Context::from_waker(&waker);
        list.register(&cx);
        list.register(&cx);
        assert_eq!(
            list.waiters.borrow().len(),
            1,
            "the same task registers once"
        );
        list.wake_all();
        assert!(list.is_empty());
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn wake_one_takes_tickets_in_order() {
        let list = WaitList::default();
        let tickets: Vec<_> = (0..3).map(|_| list.ticket()).collect();
        let wakers: Vec<_> = (0..3).map(|_| counting()).collect();
        let mut turns: Vec<_> = tickets.iter().map(|t| Box::pin(list.turn(t))).collect();
        for (turn, (_, w)) in turns.iter_mut().zip(&wakers) {
            assert!(!poll(turn, w));
        }
        // A poll before its turn keeps the place.
        assert!(!poll(&mut turns[0], &wakers[0].1));
        list.wake_one();
        assert_eq!(wakers[0].0 .0.load(Ordering::SeqCst), 1);
        assert_eq!(wakers[1].0 .0.load(Ordering::SeqCst), 0);
        assert!(poll(&mut turns[0], &wakers[0].1));
        assert!(!poll(&mut turns[1], &wakers[1].1));
        list.wake_one();
        assert!(poll(&mut turns[1], &wakers[1].1));
        assert_eq!(wakers[2].0 .0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_waiter_that_leaves_loses_no_wake() {
        let list = WaitList::default();
        let (a, b) = (list.ticket(), list.ticket());
        let (wa, wb) = (counting(), counting());
        let mut turn_a = Box::pin(list.turn(&a));
        let mut turn_b = Box::pin(list.turn(&b));
        assert!(!poll(&mut turn_a, &wa.1) && !poll(&mut turn_b, &wb.1));
        // `a` is woken, then gives up before taking its turn: `b` gets the wake.
        list.wake_one();
        drop(turn_a);
        list.cancel(&a);
        assert_eq!(wb.0 .0.load(Ordering::SeqCst), 1);
        assert!(poll(&mut turn_b, &wb.1));
        // A waiter that leaves while still queued just leaves.
        let c = list.ticket();
        let wc = counting();
        let mut turn_c = Box::pin(list.turn(&c));
        assert!(!poll(&mut turn_c, &wc.1));
        drop(turn_c);
        list.cancel(&c);
        assert!(list.is_empty());
    }
}

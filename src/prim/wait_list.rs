//! `WaitList`: tasks of one worker waiting for something another task of the
//! same worker will announce (a connection opened, a connection freed). Not
//! `Sync`: nothing crosses cores. A waiter registers on each poll that finds
//! nothing yet, and `wake_all` wakes every one registered since the last
//! wake; each looks again and registers again if it still has to wait. A
//! waiter that gives up (a timeout dropped it) leaves a stale waker behind
//! until the next wake, which wakes nothing. The list keeps its capacity, so
//! a steady load of waiters allocates nothing.

use std::{
    cell::RefCell,
    future::poll_fn,
    task::{Context, Poll, Waker},
};

#[derive(Default)]
pub struct WaitList {
    wakers: RefCell<Vec<Waker>>,
}

impl WaitList {
    /// Wake the task of `cx` at the next `wake_all`.
    pub fn register(&self, cx: &Context<'_>) {
        let mut wakers = self.wakers.borrow_mut();
        if !wakers.last().is_some_and(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
    }

    /// Until the next `wake_all` after this call.
    pub async fn next_wake(&self) {
        let mut registered = false;
        poll_fn(|cx| {
            if registered {
                return Poll::Ready(());
            }
            registered = true;
            self.register(cx);
            Poll::Pending
        })
        .await
    }

    /// Wake every waiter registered since the last wake. Waking only
    /// schedules a task, so none runs (or registers) while the list is held.
    pub fn wake_all(&self) {
        let mut wakers = self.wakers.borrow_mut();
        for w in wakers.drain(..) {
            w.wake();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.wakers.borrow().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{
        future::Future,
        pin::pin,
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

    #[test]
    fn a_wake_releases_every_waiter_registered_before_it() {
        let list = WaitList::default();
        let counts: Vec<_> = (0..3)
            .map(|_| Arc::new(Counting(AtomicUsize::new(0))))
            .collect();
        let wakers: Vec<Waker> = counts.iter().map(|c| Waker::from(c.clone())).collect();
        let mut waits: Vec<_> = (0..3).map(|_| Box::pin(list.next_wake())).collect();
        for (wait, waker) in waits.iter_mut().zip(&wakers) {
            let mut cx = Context::from_waker(waker);
            assert!(wait.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(list.wakers.borrow().len(), 3);
        list.wake_all();
        assert!(list.is_empty());
        for (c, (wait, waker)) in counts.iter().zip(waits.iter_mut().zip(&wakers)) {
            assert_eq!(c.0.load(Ordering::SeqCst), 1);
            let mut cx = Context::from_waker(waker);
            assert!(wait.as_mut().poll(&mut cx).is_ready());
        }
        // A waiter that starts after the wake waits for the next one.
        let late = pin!(list.next_wake());
        let mut cx = Context::from_waker(&wakers[0]);
        assert!(late.poll(&mut cx).is_pending());
    }

    #[test]
    fn the_same_task_registers_once_per_wake() {
        let list = WaitList::default();
        let waker = Waker::from(Arc::new(Counting(AtomicUsize::new(0))));
        let cx = Context::from_waker(&waker);
        list.register(&cx);
        list.register(&cx);
        assert_eq!(list.wakers.borrow().len(), 1);
    }
}

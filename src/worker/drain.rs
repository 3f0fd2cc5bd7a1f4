//! A worker-local drain signal: idle keep-alive connections wait on it beside
//! their readability, so a graceful shutdown closes them at once instead of
//! waiting out their idle timeout. Single-threaded: `Rc` and `Cell`, no atomics.

use std::{
    cell::{Cell, RefCell},
    future::Future,
    pin::Pin,
    rc::Rc,
    task::{Context, Poll, Waker},
};

#[derive(Default)]
struct State {
    draining: Cell<bool>,
    /// Wakers of waiting connections; `None` slots are free.
    waiters: RefCell<Vec<Option<Waker>>>,
    free: RefCell<Vec<usize>>,
}

#[derive(Clone, Default)]
pub struct Drain {
    state: Rc<State>,
}

impl Drain {
    pub fn is_draining(&self) -> bool {
        self.state.draining.get()
    }

    /// Start draining: wake every waiting connection.
    pub fn start(&self) {
        self.state.draining.set(true);
        for w in self.state.waiters.borrow_mut().iter_mut() {
            if let Some(w) = w.take() {
                w.wake();
            }
        }
    }

    /// Resolves once draining has started.
    pub fn wait(&self) -> DrainWait {
        DrainWait {
            state: self.state.clone(),
            slot: None,
        }
    }
}

pub struct DrainWait {
    state: Rc<State>,
    slot: Option<usize>,
}

impl Future for DrainWait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.state.draining.get() {
            return Poll::Ready(());
        }
        let waker = Some(cx.waker().clone());
        let slot = match self.slot {
            Some(slot) => {
                self.state.waiters.borrow_mut()[slot] = waker;
                slot
            }
            None => {
                let mut waiters = self.state.waiters.borrow_mut();
                match self.state.free.borrow_mut().pop() {
                    Some(slot) => {
                        waiters[slot] = waker;
                        slot
                    }
                    None => {
                        waiters.push(waker);
                        waiters.len() - 1
                    }
                }
            }
        };
        self.slot = Some(slot);
        Poll::Pending
    }
}

impl Drop for DrainWait {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            self.state.waiters.borrow_mut()[slot] = None;
            self.state.free.borrow_mut().push(slot);
        }
    }
}

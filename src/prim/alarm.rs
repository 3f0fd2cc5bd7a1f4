//! `Bounded`: a future cut off at a deadline, on a timing wheel each worker
//! thread keeps for itself. Every read and write of a connection is bounded
//! (idle, header, route and write timeouts), and nearly every one finishes
//! long before its bound: so arming and disarming an alarm must cost next to
//! nothing, where firing one may cost more.
//!
//! - Arming links an entry into one of `SLOTS` lists by its deadline's tick
//!   (`GRAIN` each); disarming unlinks it: a few words written either way, no
//!   clock read for a deadline given as an `Instant`, no allocation once the
//!   entry table has grown to the load. (monoio's timer, which this replaces
//!   on the data path, costs about four times as much per operation: its
//!   hierarchical wheel, and a clock read and conversion for every entry.)
//! - One keeper task per thread turns the wheel: while any alarm is armed it
//!   wakes every `GRAIN` (one monoio timer, whatever the number of alarms),
//!   fires the entries whose tick has come and wakes their tasks; with none
//!   armed it waits, holding no timer, until one is.
//! - An alarm fires within about one `GRAIN` after its deadline, never before
//!   it: a deadline is rounded up to the next tick, and a tick is only
//!   processed once the clock has passed it.
//!
//! Per thread, not per runtime: the wheel is a thread-local, so the I/O
//! helpers that bound operations need no handle passed down to them. A
//! runtime that ends drops its tasks, their alarms, and its keeper (which
//! then lets the next runtime on the thread start its own). Single-threaded:
//! a `RefCell`, no atomics.

use std::{
    cell::RefCell,
    future::{poll_fn, Future},
    pin::Pin,
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

/// The wheel's resolution: how late an alarm may fire.
pub const GRAIN: Duration = Duration::from_millis(10);
const GRAIN_NS: u64 = GRAIN.as_nanos() as u64;
/// Lists on the wheel (a power of two): deadlines up to `SLOTS` ticks ahead
/// (about 10 s) are visited once, at their tick; later ones once per turn
/// until theirs.
const SLOTS: usize = 1024;
/// No entry: an empty list's head, a list's ends, a future with no alarm.
const NIL: u32 = u32::MAX;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// In the free list (`next` links it).
    Free,
    /// In its tick's list, waiting.
    Armed,
    /// Its tick came; out of every list until its future lets it go.
    Fired,
}

struct Entry {
    tick: u64,
    waker: Option<Waker>,
    prev: u32,
    next: u32,
    state: State,
}

struct Wheel {
    /// What ticks count from (the thread's first alarm).
    epoch: Option<Instant>,
    /// Every tick up to this one has been processed.
    done: u64,
    /// The first entry of each slot's list (`SLOTS` of them once in use).
    heads: Vec<u32>,
    entries: Vec<Entry>,
    /// The first free entry (a list through `next`).
    free: u32,
    armed: usize,
    /// The keeper runs on this thread's runtime.
    keeper: bool,
    /// The keeper, waiting for an alarm to be armed.
    idle_keeper: Option<Waker>,
}

thread_local! {
    static WHEEL: RefCell<Wheel> = const { RefCell::new(Wheel::new()) };
}

impl Wheel {
    const fn new() -> Wheel {
        Wheel {
            epoch: None,
            done: 0,
            heads: Vec::new(),
            entries: Vec::new(),
            free: NIL,
            armed: 0,
            keeper: false,
            idle_keeper: None,
        }
    }

    fn epoch(&mut self) -> Instant {
        *self.epoch.get_or_insert_with(Instant::now)
    }

    /// The first tick at or after `t`: an alarm for `t` fires at it.
    fn tick_at(&mut self, t: Instant) -> u64 {
        nanos(t.saturating_duration_since(self.epoch())).div_ceil(GRAIN_NS)
    }

    /// The last tick the clock has passed.
    fn tick_now(&mut self) -> u64 {
        nanos(self.epoch().elapsed()) / GRAIN_NS
    }

    fn slot(tick: u64) -> usize {
        (tick % SLOTS as u64) as usize
    }

    /// Arm an entry for `tick`, to wake `waker`. `None`: the tick has been
    /// processed already (the deadline has passed).
    fn arm(&mut self, tick: u64, waker: &Waker) -> Option<u32> {
        if tick <= self.done {
            return None;
        }
        if self.heads.is_empty() {
            self.heads = vec![NIL; SLOTS];
        }
        let i = match self.free {
            NIL => {
                self.entries.push(Entry {
                    tick: 0,
                    waker: None,
                    prev: NIL,
                    next: NIL,
                    state: State::Free,
                });
                (self.entries.len() - 1) as u32
            }
            i => {
                self.free = self.entries[i as usize].next;
                i
            }
        };
        let head = &mut self.heads[Self::slot(tick)];
        let next = std::mem::replace(head, i);
        if next != NIL {
            self.entries[next as usize].prev = i;
        }
        let e = &mut self.entries[i as usize];
        *e = Entry {
            tick,
            waker: Some(waker.clone()),
            prev: NIL,
            next,
            state: State::Armed,
        };
        self.armed += 1;
        if self.armed == 1 {
            if let Some(k) = self.idle_keeper.take() {
                k.wake();
            }
        }
        Some(i)
    }

    /// Take an armed entry out of its list.
    fn unlink(&mut self, i: u32) {
        let (prev, next, tick) = {
            let e = &self.entries[i as usize];
            (e.prev, e.next, e.tick)
        };
        match prev {
            NIL => self.heads[Self::slot(tick)] = next,
            p => self.entries[p as usize].next = next,
        }
        if next != NIL {
            self.entries[next as usize].prev = prev;
        }
        self.armed -= 1;
    }

    /// Let entry `i` go, armed or fired.
    fn release(&mut self, i: u32) {
        if self.entries[i as usize].state == State::Armed {
            self.unlink(i);
        }
        let free = self.free;
        let e = &mut self.entries[i as usize];
        e.state = State::Free;
        e.waker = None;
        e.next = free;
        self.free = i;
    }

    /// Fire every armed entry whose tick is at most `now`, and wake its task
    /// (waking only schedules a task: none runs while the wheel is held).
    fn advance(&mut self, now: u64) {
        if now <= self.done || self.heads.is_empty() {
            self.done = self.done.max(now);
            return;
        }
        // Each slot once at most, however late the keeper is.
        let first = self.done + 1;
        let last = now.min(self.done + SLOTS as u64);
        for tick in first..=last {
            let mut i = self.heads[Self::slot(tick)];
            while i != NIL {
                let next = self.entries[i as usize].next;
                if self.entries[i as usize].tick <= now {
                    self.unlink(i);
                    let e = &mut self.entries[i as usize];
                    e.state = State::Fired;
                    if let Some(w) = e.waker.take() {
                        w.wake();
                    }
                }
                i = next;
            }
        }
        self.done = now;
    }
}

/// `d` in nanoseconds, saturating (in u64 arithmetic: `as_nanos` is u128).
fn nanos(d: Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(d.subsec_nanos()))
}

/// What a `Bounded` future waits for before it gives up.
#[derive(Debug, Clone, Copy)]
enum Bound {
    /// This moment (no clock read).
    At(Instant),
    /// This long from its first wait (a clock read then, none if it never waits).
    After(Duration),
}

/// `fut`, or `None` once `deadline` has passed. See the module.
pub fn at<F: Future>(deadline: Instant, fut: F) -> Bounded<F> {
    Bounded::new(Bound::At(deadline), fut)
}

/// `fut`, or `None` once it has waited `wait` from its first wait: a future
/// ready at its first poll arms nothing and reads no clock.
pub fn after<F: Future>(wait: Duration, fut: F) -> Bounded<F> {
    Bounded::new(Bound::After(wait), fut)
}

/// A future and its alarm; `None` if the alarm fired first. The inner future
/// is polled first, so one that is ready as its alarm fires still wins.
pub struct Bounded<F> {
    fut: F,
    bound: Bound,
    /// The armed or fired entry, or `NIL` before the first wait.
    alarm: u32,
}

impl<F> Bounded<F> {
    fn new(bound: Bound, fut: F) -> Bounded<F> {
        Bounded {
            fut,
            bound,
            alarm: NIL,
        }
    }
}

impl<F: Future> Future for Bounded<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        // SAFETY: `fut` is structurally pinned: it is never moved out of
        // `self` (no method gives it out, and `Drop` only reads `alarm`).
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above; `this.fut` stays where it is until dropped.
        if let Poll::Ready(out) = unsafe { Pin::new_unchecked(&mut this.fut) }.poll(cx) {
            return Poll::Ready(Some(out));
        }
        let fired = WHEEL.with_borrow_mut(|wheel| {
            if this.alarm == NIL {
                let deadline = match this.bound {
                    Bound::At(t) => t,
                    Bound::After(w) => Instant::now() + w,
                };
                let tick = wheel.tick_at(deadline);
                match wheel.arm(tick, cx.waker()) {
                    Some(i) => this.alarm = i,
                    None => return true,
                }
                if !wheel.keeper {
                    wheel.keeper = true;
                    monoio::spawn(keep());
                }
                return false;
            }
            let e = &mut wheel.entries[this.alarm as usize];
            if e.state == State::Fired {
                return true;
            }
            match &mut e.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                w => *w = Some(cx.waker().clone()),
            }
            false
        });
        if fired {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}

impl<F> Drop for Bounded<F> {
    fn drop(&mut self) {
        if self.alarm != NIL {
            // The wheel may be gone already if this runs as the thread exits.
            let _ = WHEEL.try_with(|w| w.borrow_mut().release(self.alarm));
        }
    }
}

/// The thread's keeper: turns the wheel while alarms are armed.
async fn keep() {
    /// The keeper's end, if its runtime drops it: the next alarm armed on
    /// this thread starts a keeper again.
    struct Gone;
    impl Drop for Gone {
        fn drop(&mut self) {
            let _ = WHEEL.try_with(|w| {
                let mut w = w.borrow_mut();
                w.keeper = false;
                w.idle_keeper = None;
            });
        }
    }
    let _gone = Gone;
    loop {
        poll_fn(|cx| {
            WHEEL.with_borrow_mut(|w| {
                if w.armed > 0 {
                    Poll::Ready(())
                } else {
                    w.idle_keeper = Some(cx.waker().clone());
                    Poll::Pending
                }
            })
        })
        .await;
        let next = WHEEL.with_borrow_mut(|w| {
            // After an idle spell: what was armed for a moment passed already
            // fires now.
            let now = w.tick_now();
            w.advance(now);
            w.epoch() + Duration::from_nanos(GRAIN_NS.saturating_mul(w.done + 1))
        });
        monoio::time::sleep_until(next.into()).await;
        WHEEL.with_borrow_mut(|w| {
            let now = w.tick_now();
            w.advance(now);
        });
    }
}

/// This thread is about to run a new runtime: forget the wheel of an earlier
/// one. monoio leaves a finished runtime's pending tasks undropped, so its
/// keeper and armed alarms would otherwise linger here, and waking their
/// tasks from the new runtime is refused. (Forgotten, not dropped: their
/// wakers belong to that runtime.) Nothing to forget on a fresh thread.
pub fn new_runtime() {
    let _ = WHEEL.try_with(|w| std::mem::forget(w.replace(Wheel::new())));
}

/// Alarms armed on this thread (for tests and the worker's gauges).
pub fn armed() -> usize {
    WHEEL.with_borrow(|w| w.armed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{
        sync::{
            atomic::{AtomicUsize, Ordering},
            Arc,
        },
        task::Wake,
    };

    fn runtime() -> monoio::Runtime<monoio::time::TimeDriver<monoio::LegacyDriver>> {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap()
    }

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A wheel of its own, not the thread's (tests run in parallel threads,
    /// but a test's wheel should not depend on what ran before on its thread).
    fn wheel() -> Wheel {
        Wheel {
            epoch: Some(Instant::now()),
            done: 0,
            heads: Vec::new(),
            entries: Vec::new(),
            free: NIL,
            armed: 0,
            keeper: true,
            idle_keeper: None,
        }
    }

    #[test]
    fn entries_fire_at_their_tick_and_not_before() {
        let mut w = wheel();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let a = w.arm(3, &waker).unwrap();
        let b = w.arm(3 + SLOTS as u64, &waker).unwrap(); // same slot, a turn later
        let c = w.arm(5, &waker).unwrap();
        assert_eq!(w.armed, 3);
        w.advance(2);
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        w.advance(4);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(w.entries[a as usize].state, State::Fired);
        assert_eq!(w.entries[b as usize].state, State::Armed, "a turn later");
        // Disarmed before its tick: never fires.
        w.release(c);
        w.advance(10);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        w.advance(3 + SLOTS as u64);
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        assert_eq!(w.armed, 0);
        // A tick already processed cannot be armed.
        assert!(w.arm(w.done, &waker).is_none());
    }

    #[test]
    fn released_entries_are_reused_and_lists_stay_linked() {
        let mut w = wheel();
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        let ids: Vec<u32> = (0..8).map(|_| w.arm(7, &waker).unwrap()).collect();
        // Out of the middle, the head and the tail of one list.
        for &i in &[ids[3], ids[7], ids[0]] {
            w.release(i);
        }
        assert_eq!(w.armed, 5);
        let mut seen = 0;
        let mut i = w.heads[Wheel::slot(7)];
        while i != NIL {
            seen += 1;
            i = w.entries[i as usize].next;
        }
        assert_eq!(seen, 5);
        let again = w.arm(9, &waker).unwrap();
        assert!(ids.contains(&again), "a freed entry is reused");
        assert_eq!(w.entries.len(), 8, "no entry table growth");
    }

    #[test]
    fn a_late_keeper_processes_each_slot_once_and_fires_everything_due() {
        let mut w = wheel();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        for t in [1, 500, 1023, 1024, 1025, 5000] {
            w.arm(t, &waker).unwrap();
        }
        w.advance(3000);
        assert_eq!(count.0.load(Ordering::SeqCst), 5);
        assert_eq!(w.armed, 1);
        w.advance(5000);
        assert_eq!(count.0.load(Ordering::SeqCst), 6);
    }

    #[test]
    fn a_ready_future_is_done_at_once_and_a_waiting_one_gets_its_bound() {
        runtime().block_on(async {
            let wait = Duration::from_millis(30);
            assert_eq!(after(wait, async { 7 }).await, Some(7));
            assert_eq!(armed(), 0, "a future ready at once arms nothing");

            let started = Instant::now();
            assert_eq!(after(wait, std::future::pending::<()>()).await, None);
            assert!(started.elapsed() >= wait, "cut at its bound, not before");

            let deadline = Instant::now() + wait;
            assert_eq!(at(deadline, std::future::pending::<()>()).await, None);
            assert!(
                Instant::now() >= deadline,
                "cut at its deadline, not before"
            );

            let soon = monoio::time::sleep(Duration::from_millis(5));
            assert_eq!(after(Duration::from_secs(5), soon).await, Some(()));
            assert_eq!(armed(), 0, "a finished future disarms");
            // A deadline already past: the future gets its first poll, then is cut.
            let past = Instant::now() - Duration::from_millis(1);
            assert_eq!(at(past, async { 1 }).await, Some(1));
            assert_eq!(at(past, std::future::pending::<()>()).await, None);
        });
    }

    #[test]
    fn a_new_runtime_on_the_thread_starts_its_own_keeper() {
        for _ in 0..2 {
            new_runtime();
            runtime().block_on(async {
                let wait = Duration::from_millis(15);
                assert_eq!(after(wait, std::future::pending::<()>()).await, None);
            });
        }
    }
}

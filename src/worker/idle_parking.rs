//! `IdleParking`: where a listener's idle keep-alive connections park between
//! requests, woken by the listener's drain (shutdown, or a reload that removed
//! the listener) or by their idle deadline.
//!
//! Deadlines are checked by the worker's 100 ms tick rather than by a timer per
//! connection: a parked connection then costs a slot in this list and a small
//! future, not a timer entry, and idle timeouts fire within one tick of their
//! deadline. Single-threaded: `Rc` and `Cell`, no atomics.
//!
//! Memory: a slot is three words, and slots come in fixed pages that are never
//! moved, so growing to the next ten thousand parked connections neither
//! copies the slots nor leaves the old copy's pages behind.
//!
//! Cooling: a connection may park *hot* (`park_hot`), holding its read buffer
//! in a read of the next request (one io_uring op per request fewer than a
//! readiness wait). A hot slot that has waited through one whole tick wakes at
//! the next with `Unparked::Cooled` (so after 100–200 ms of idleness): the
//! connection then gives its buffer back and parks on, cold, in the same slot.
//! Reported once: the slot is cold from then on. The phase rides in the top
//! bits of the slot's deadline word, so a slot stays three words.

use std::{
    cell::{Cell, RefCell},
    future::Future,
    pin::Pin,
    rc::Rc,
    task::{Context, Poll, Waker},
    time::Instant,
};

/// Slots per page.
const PAGE: usize = 512;
/// A slot's `deadline` when no connection holds it…
const VACANT: u64 = u64::MAX;
/// …and once its deadline has passed (the tick has woken it).
const EXPIRED: u64 = 0;
/// Otherwise the word is a cooling phase (its top two bits) and a deadline
/// (the rest; never all ones, which only `VACANT` is).
const PHASE_SHIFT: u32 = 62;
const DEADLINE_BITS: u64 = (1 << PHASE_SHIFT) - 1;
/// Phases: parked cold (holding no buffer; never cools)…
const COLD: u64 = 0;
/// …hot, no tick seen yet…
const HOT: u64 = 1;
/// …hot through one tick (the next one cools it)…
const WARM: u64 = 2;
/// …cooled by a tick and not yet told (the next poll says `Cooled`).
const COOLED: u64 = 3;

fn phase(word: u64) -> u64 {
    word >> PHASE_SHIFT
}

fn with_phase(word: u64, phase: u64) -> u64 {
    (word & DEADLINE_BITS) | (phase << PHASE_SHIFT)
}

struct Slot {
    waker: Option<Waker>,
    /// Nanoseconds after the parking's epoch, at least 1, under the cooling
    /// phase (`phase`); or `VACANT`, `EXPIRED`.
    deadline: u64,
}

impl Slot {
    const fn vacant() -> Slot {
        Slot {
            waker: None,
            deadline: VACANT,
        }
    }
}

struct State {
    draining: Cell<bool>,
    /// What slot deadlines count from.
    epoch: Instant,
    /// Parked connections, `PAGE` slots a page; slot `i` is
    /// `pages[i / PAGE][i % PAGE]`.
    pages: RefCell<Vec<Box<[Slot]>>>,
    /// Slots handed out so far (held or in `free`).
    used: Cell<u32>,
    free: RefCell<Vec<u32>>,
}

impl Default for State {
    fn default() -> Self {
        State {
            draining: Cell::new(false),
            epoch: Instant::now(),
            pages: RefCell::new(Vec::new()),
            used: Cell::new(0),
            free: RefCell::new(Vec::new()),
        }
    }
}

impl State {
    /// `t` as a slot deadline (a moment before the epoch has passed already).
    fn at(&self, t: Instant) -> u64 {
        let ns = t.saturating_duration_since(self.epoch).as_nanos();
        // At most 146 years on: room for the phase bits above.
        u64::try_from(ns)
            .unwrap_or(DEADLINE_BITS - 1)
            .clamp(1, DEADLINE_BITS - 1)
    }

    fn slot_mut(pages: &mut [Box<[Slot]>], i: u32) -> &mut Slot {
        let i = i as usize;
        &mut pages[i / PAGE][i % PAGE]
    }
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
    /// A hot parking (`IdleParking::park_hot`) waited through a whole tick:
    /// time to give the buffer back. The parking goes on, cold.
    Cooled,
}

impl IdleParking {
    pub fn is_draining(&self) -> bool {
        self.state.draining.get()
    }

    /// Start draining: wake every parked connection.
    pub fn start(&self) {
        self.state.draining.set(true);
        for page in self.state.pages.borrow_mut().iter_mut() {
            for slot in page.iter_mut() {
                if let Some(w) = slot.waker.take() {
                    w.wake();
                }
            }
        }
    }

    /// Wake the connections whose deadline has passed, and the hot ones that
    /// have waited through a whole tick since they parked (the worker's tick).
    /// A deadline wins over cooling: a connection due to close is not first
    /// told to cool.
    pub fn expire(&self, now: Instant) {
        let now = self.state.at(now);
        for page in self.state.pages.borrow_mut().iter_mut() {
            for slot in page.iter_mut() {
                // `VACANT` is never due; `EXPIRED` was woken already.
                let word = slot.deadline;
                if word == VACANT || word == EXPIRED {
                    continue;
                }
                let wake = if word & DEADLINE_BITS <= now {
                    slot.deadline = EXPIRED;
                    true
                } else {
                    match phase(word) {
                        HOT => {
                            slot.deadline = with_phase(word, WARM);
                            false
                        }
                        WARM => {
                            slot.deadline = with_phase(word, COOLED);
                            true
                        }
                        _ => false,
                    }
                };
                if wake {
                    if let Some(w) = slot.waker.take() {
                        w.wake();
                    }
                }
            }
        }
    }

    /// Resolves when draining starts or `deadline` has passed. The slot is
    /// taken now, so the future itself is two words (it sits in every idle
    /// connection's task).
    pub fn park(&self, deadline: Instant) -> Park {
        self.park_in(deadline, COLD)
    }

    /// `park`, for a connection that waits holding its read buffer: it also
    /// resolves, with `Unparked::Cooled`, at the second tick after now.
    pub fn park_hot(&self, deadline: Instant) -> Park {
        self.park_in(deadline, HOT)
    }

    fn park_in(&self, deadline: Instant, phase: u64) -> Park {
        let state = &self.state;
        let deadline = with_phase(state.at(deadline), phase);
        let mut pages = state.pages.borrow_mut();
        let i = match state.free.borrow_mut().pop() {
            Some(i) => i,
            None => {
                let i = state.used.get();
                if i as usize == pages.len() * PAGE {
                    pages.push((0..PAGE).map(|_| Slot::vacant()).collect());
                }
                state.used.set(i + 1);
                i
            }
        };
        *State::slot_mut(&mut pages, i) = Slot {
            waker: None,
            deadline,
        };
        drop(pages);
        Park {
            state: state.clone(),
            slot: i,
        }
    }
}

pub struct Park {
    state: Rc<State>,
    slot: u32,
}

impl Future for Park {
    type Output = Unparked;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Unparked> {
        if self.state.draining.get() {
            return Poll::Ready(Unparked::Draining);
        }
        let mut pages = self.state.pages.borrow_mut();
        let slot = State::slot_mut(&mut pages, self.slot);
        debug_assert_ne!(slot.deadline, VACANT, "a parked slot stays until dropped");
        if slot.deadline == EXPIRED {
            return Poll::Ready(Unparked::IdleTimeout);
        }
        if phase(slot.deadline) == COOLED {
            slot.deadline = with_phase(slot.deadline, COLD);
            return Poll::Ready(Unparked::Cooled);
        }
        match &mut slot.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            w => *w = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Park {
    /// Race a readiness wait against this parking: the wait's result, or why
    /// the parking woke first.
    pub fn or_readable<R>(self, readable: R) -> ReadableOrUnparked<R> {
        ReadableOrUnparked {
            readable,
            park: self,
        }
    }
}

/// A readiness wait raced against a `Park`. One future the size of the two
/// (`select!` adds state of its own): it is what every idle keep-alive
/// connection's task holds while it waits. Readiness is polled first, so a
/// request that arrived as the parking woke is still served.
pub struct ReadableOrUnparked<R> {
    readable: R,
    park: Park,
}

impl<R: Future<Output = std::io::Result<()>>> Future for ReadableOrUnparked<R> {
    type Output = Result<std::io::Result<()>, Unparked>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `readable` is structurally pinned: it is never moved out of
        // `self` (no method gives it out, there is no `Drop` impl, and `Unpin`
        // is only as derived). `park` is `Unpin` and used by `&mut` alone.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above; `this.readable` stays where it is until dropped.
        let readable = unsafe { Pin::new_unchecked(&mut this.readable) };
        if let Poll::Ready(r) = readable.poll(cx) {
            return Poll::Ready(Ok(r));
        }
        Pin::new(&mut this.park).poll(cx).map(Err)
    }
}

impl Drop for Park {
    fn drop(&mut self) {
        *State::slot_mut(&mut self.state.pages.borrow_mut(), self.slot) = Slot::vacant();
        self.state.free.borrow_mut().push(self.slot);
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

    #[test]
    fn slots_span_pages_and_keep_their_deadlines() {
        let parking = IdleParking::default();
        let now = Instant::now();
        let flag = Arc::new(Flag(Default::default()));
        // A full page of late deadlines, then one soon on the next page.
        let mut parked: Vec<Park> = (0..PAGE)
            .map(|_| parking.park(now + Duration::from_secs(60)))
            .collect();
        let mut soon = parking.park(now + Duration::from_secs(1));
        assert_eq!(parking.state.pages.borrow().len(), 2);
        for p in parked.iter_mut() {
            assert_eq!(poll(p, &flag), Poll::Pending);
        }
        assert_eq!(poll(&mut soon, &flag), Poll::Pending);
        parking.expire(now + Duration::from_secs(2));
        assert_eq!(poll(&mut soon, &flag), Poll::Ready(Unparked::IdleTimeout));
        assert!(parked.iter_mut().all(|p| poll(p, &flag) == Poll::Pending));
        // A freed slot is taken again before a new one.
        drop(parked.pop());
        let again = parking.park(now + Duration::from_secs(60));
        assert_eq!(again.slot as usize, PAGE - 1);
        assert_eq!(parking.state.used.get() as usize, PAGE + 1);
    }

    #[test]
    fn a_hot_slot_cools_at_its_second_tick_once_and_parks_on_cold() {
        let parking = IdleParking::default();
        let now = Instant::now();
        let tick = |n: u64| now + Duration::from_millis(100 * n);
        let flag = Arc::new(Flag(Default::default()));
        let mut hot = parking.park_hot(now + Duration::from_secs(60));
        let mut cold = parking.park(now + Duration::from_secs(60));
        assert_eq!(poll(&mut hot, &flag), Poll::Pending);
        assert_eq!(poll(&mut cold, &flag), Poll::Pending);
        // The first tick may come at once: it only marks the slot.
        parking.expire(tick(1));
        assert!(
            !flag.0.load(std::sync::atomic::Ordering::SeqCst),
            "not woken"
        );
        assert_eq!(poll(&mut hot, &flag), Poll::Pending);
        // The second comes a whole tick after the slot parked: it cools.
        parking.expire(tick(2));
        assert!(flag.0.load(std::sync::atomic::Ordering::SeqCst), "woken");
        assert_eq!(poll(&mut hot, &flag), Poll::Ready(Unparked::Cooled));
        // Told once; from then on the slot is cold, with its deadline.
        assert_eq!(poll(&mut hot, &flag), Poll::Pending);
        parking.expire(tick(3));
        parking.expire(tick(4));
        assert_eq!(poll(&mut hot, &flag), Poll::Pending);
        assert_eq!(poll(&mut cold, &flag), Poll::Pending, "cold never cools");
        parking.expire(now + Duration::from_secs(61));
        assert_eq!(poll(&mut hot, &flag), Poll::Ready(Unparked::IdleTimeout));
        assert_eq!(poll(&mut cold, &flag), Poll::Ready(Unparked::IdleTimeout));
    }

    #[test]
    fn a_deadline_or_the_drain_wins_over_cooling() {
        let parking = IdleParking::default();
        let now = Instant::now();
        let flag = Arc::new(Flag(Default::default()));
        // Due at the same tick that would cool it: it times out.
        let mut due = parking.park_hot(now + Duration::from_millis(150));
        parking.expire(now + Duration::from_millis(100));
        parking.expire(now + Duration::from_millis(200));
        assert_eq!(poll(&mut due, &flag), Poll::Ready(Unparked::IdleTimeout));
        // Cooled but not yet told, then past its deadline: it times out.
        let mut late = parking.park_hot(now + Duration::from_millis(450));
        parking.expire(now + Duration::from_millis(300));
        parking.expire(now + Duration::from_millis(400));
        parking.expire(now + Duration::from_millis(500));
        assert_eq!(poll(&mut late, &flag), Poll::Ready(Unparked::IdleTimeout));
        // Cooled and draining: the drain is the answer.
        let mut drained = parking.park_hot(now + Duration::from_secs(60));
        parking.expire(now + Duration::from_millis(600));
        parking.expire(now + Duration::from_millis(700));
        parking.start();
        assert_eq!(poll(&mut drained, &flag), Poll::Ready(Unparked::Draining));
    }

    #[test]
    fn a_slot_stays_three_words_and_a_reused_slot_starts_cold() {
        assert_eq!(
            std::mem::size_of::<Slot>(),
            3 * std::mem::size_of::<usize>()
        );
        let parking = IdleParking::default();
        let now = Instant::now();
        let flag = Arc::new(Flag(Default::default()));
        drop(parking.park_hot(now + Duration::from_secs(60)));
        let mut cold = parking.park(now + Duration::from_secs(60));
        assert_eq!(cold.slot, 0, "the hot slot, reused");
        for n in 1..5 {
            parking.expire(now + Duration::from_millis(100 * n));
        }
        assert_eq!(poll(&mut cold, &flag), Poll::Pending);
    }
}

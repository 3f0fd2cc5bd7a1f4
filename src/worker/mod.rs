//! Workers: one thread per core, pinned, each with its own monoio runtime, its
//! own SO_REUSEPORT listening sockets, router, balancers and pools. The only
//! things a worker shares are read-only: the published config generation, host
//! sets, and the process-wide shutdown flag it polls on a timer tick (never per
//! request).
//!
//! Reload: on its tick a worker compares the generation version with its own;
//! on a change it builds a new `WorkerGeneration` (routers, cluster table),
//! reusing the `WorkerCluster` of every cluster the reload carried over, takes
//! the sockets of new listeners and stops accepting on removed ones. Sessions
//! take an `Rc` of the current `WorkerGeneration` per request, so a request
//! finishes on the generation it started with.

pub mod accept;
mod attempt;
pub mod client_caps;
pub mod downstream;
mod exchange;
pub mod h1;
pub mod h2;
mod handshake;
pub mod idle_parking;
pub mod io;
pub mod local_reply;
mod mutate;
pub mod pace;
pub mod recycle;
mod redirect;
pub mod relay;
mod retry;
pub mod tap;

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use bytes::BytesMut;
use monoio::{io::CancelHandle, net::TcpListener};

use crate::{
    codec::{
        headers::HeaderIndex,
        limits::{BODY_CHUNK, READ_CHUNK},
    },
    config::{IoDriverChoice, ListenerCodec, ListenerConfig},
    generation::{Generation, Generations},
    net::{
        gather::{new_iovecs, IoVecs},
        meter::Metered,
        IoDriver,
    },
    prim::{FreeList, Rng},
    router::Router,
    stats::{names::ListenerCounter, ServerStats},
    upstream::WorkerCluster,
};
use idle_parking::IdleParking;
use tap::WorkerTap;

/// How often a worker looks at the shutdown flag, expires idle connections and
/// sweeps idle pools.
const TICK: Duration = Duration::from_millis(100);
/// Idle pools are swept every this many ticks (once a second): closing idle
/// upstream connections is not urgent, and a sweep walks every pool.
const TICKS_PER_POOL_SWEEP: u64 = 10;
/// The most read buffers (and scratch sets) a worker keeps for reuse: what
/// the load keeps in flight stays pooled up to this (each pool sweep frees
/// what sat unused since the last, `prim::FreeList`), beyond it they are freed.
/// A ceiling, not a working size: 64 MiB of 16 KiB buffers, for a second or two.
const MAX_POOLED_BUFFERS: usize = 4096;
/// The same for body-sized buffers: 80 MiB of them.
const MAX_POOLED_BODY_BUFFERS: usize = 1024;
/// A body-sized buffer: a body chunk and a read more, so that a request body
/// buffered to `request_buffer`'s default (64 KiB) fits behind its head
/// without the buffer growing.
const BODY_BUFFER: usize = BODY_CHUNK + READ_CHUNK;
/// Room in a client's or upstream's output vector for a body re-framed (as
/// chunks) one body buffer at a time; a vector grown past it is freed rather
/// than pooled.
pub const OUT_ROOM: usize = BODY_BUFFER + 4096;

/// The vectors a connection uses while a request is in flight; pooled per
/// worker so an idle connection holds none of them, not even their headers
/// (boxed: a connection between requests keeps two empty `Held`s, a word each).
pub struct Scratch {
    pub h1: Box<H1Scratch>,
    /// Its `up_buf` has no capacity while pooled (read buffers have a pool of
    /// their own).
    pub exchange: Box<ExchangeBuffers>,
}

/// Request-time state a connection holds only while a request is in flight:
/// from the worker's pool (`Worker::take_scratch`), `None` between requests.
pub struct Held<T>(Option<Box<T>>);

impl<T> Default for Held<T> {
    fn default() -> Self {
        Held(None)
    }
}

impl<T: Default> Held<T> {
    /// The state. The connection takes it before its request's first use; if
    /// it has not, a fresh one (an allocation, never a panic).
    #[inline]
    pub fn get(&mut self) -> &mut T {
        self.0.get_or_insert_with(Box::default)
    }
}

/// An HTTP/1.1 client side's: its read buffer, what it writes, its request
/// head's index, and when the request's head began to be read.
pub struct H1Scratch {
    /// What has been read from the client and not consumed. Pooled apart
    /// (`Worker::take_buffer`): no capacity while the scratch is pooled.
    pub buf: BytesMut,
    pub out: Vec<u8>,
    pub headers: Vec<HeaderIndex>,
    pub tokens: Vec<(u32, u32)>,
    /// For `request_timeout` and `max_stream_duration` (set per request).
    pub started: Instant,
    /// When the last request on the connection ended, until the idle wait
    /// after it takes it (that wait counts from then: no clock read of its own).
    pub ended: Option<Instant>,
    /// Cancels a hot connection's read of its next request when it cools
    /// (`h1`): made when it first waits hot, dropped when it cools, so steady
    /// keep-alive requests allocate none. Never in the pool.
    pub canceller: Option<monoio::io::Canceller>,
}

impl Default for H1Scratch {
    fn default() -> Self {
        H1Scratch {
            buf: BytesMut::new(),
            out: Vec::new(),
            headers: Vec::new(),
            tokens: Vec::new(),
            started: Instant::now(),
            ended: None,
            canceller: None,
        }
    }
}

/// Where a route's header mutations are applied: used only by routes that
/// have some, and pooled with the rest so an idle connection holds none.
#[derive(Default)]
pub struct EditScratch {
    /// `%START_TIME%`, rendered once per request when a value uses it.
    pub start_time: Vec<u8>,
    /// The upstream host's name, for `auto_host_rewrite`.
    pub host: Vec<u8>,
    /// A `regex_rewrite`'s new path.
    pub path: Vec<u8>,
    /// The response head with its mutations, as `encode_response` reads it.
    pub head: Vec<u8>,
    pub headers: Vec<HeaderIndex>,
    pub tokens: Vec<(u32, u32)>,
}

/// What one request's exchange works in: its scratch vectors, the upstream
/// read buffer, and the router's scratch.
#[derive(Default)]
pub struct ExchangeBuffers {
    /// The encoded upstream request head (and a held body), kept until a
    /// response arrives so the request can be sent again.
    pub req_head: Vec<u8>,
    /// The head as numbered for one attempt (`x-ringway-attempt-count`).
    pub out: Vec<u8>,
    pub up_buf: BytesMut,
    pub up_headers: Vec<HeaderIndex>,
    pub up_tokens: Vec<(u32, u32)>,
    pub edit: EditScratch,
    /// The router's (lower-cased host).
    pub route_scratch: Vec<u8>,
}

/// A listener as one worker serves it in one config generation.
pub struct ListenerCtx {
    /// The listener's stats slot.
    pub index: usize,
    /// Its sockets' id (`ListenerSockets::id`): the same across reloads that
    /// keep the listener.
    pub id: u64,
    /// The generation this context (and its router's cluster indices) belongs to.
    pub version: u64,
    /// This worker's own copy: connections clone it (`Rc`, no atomic), where a
    /// shared `Arc` would bounce one cache line between cores per connection.
    pub config: Rc<ListenerConfig>,
    pub router: Router,
    /// Where this listener's idle connections park. Its drain is started when
    /// a reload removes the listener, or at shutdown: idle connections close,
    /// busy ones close after their request.
    pub drain: IdleParking,
}

/// What every worker thread is given at spawn.
pub struct Shared {
    /// The current config generation (swapped by reloads).
    pub generations: Arc<Generations>,
    pub shutdown: Arc<AtomicBool>,
    pub stats: Arc<ServerStats>,
    /// Draining and the health override (a listener's health-check path reads it).
    pub lifecycle: Arc<crate::prim::Lifecycle>,
}

/// One config generation as this worker serves it. Immutable once built;
/// sessions hold an `Rc` of it for the length of a request.
pub struct WorkerGeneration {
    pub version: u64,
    /// By config index (what routes name).
    pub clusters: Vec<Rc<WorkerCluster>>,
    /// By config index: the cluster's stats slot.
    pub cluster_slots: Vec<usize>,
    pub listeners: Vec<Rc<ListenerCtx>>,
    /// What it was built from (cluster identities for the next reload).
    source: Option<Arc<Generation>>,
}

impl WorkerGeneration {
    /// This generation's context for the listener whose sockets are `id`.
    pub fn listener(&self, id: u64) -> Option<&Rc<ListenerCtx>> {
        self.listeners.iter().find(|l| l.id == id)
    }

    fn slotted_clusters(&self) -> impl Iterator<Item = (usize, &WorkerCluster)> {
        self.cluster_slots
            .iter()
            .copied()
            .zip(self.clusters.iter().map(|c| &**c))
    }
}

/// One worker's state, owned by its thread.
pub struct Worker {
    pub id: usize,
    generation: RefCell<Rc<WorkerGeneration>>,
    /// Downstream connections open on this worker.
    pub active: Cell<usize>,
    /// Counters, per-host tables and access log sinks of this worker.
    pub tap: Rc<WorkerTap>,
    rng: Cell<Rng>,
    seed: u64,
    workers: usize,
    buffers: RefCell<FreeList<BytesMut>>,
    /// Body-sized read buffers (`BODY_BUFFER`), for relaying large bodies:
    /// swapped in for a read buffer once it is empty, never grown in place
    /// (a `reserve` is a reallocation that copies the old buffer whole).
    body_buffers: RefCell<FreeList<BytesMut>>,
    scratches: RefCell<FreeList<Scratch>>,
    /// iovec pairs for gathered writes of a head and a body (`net::gather`).
    iovecs: RefCell<FreeList<IoVecs>>,
    /// Slots for in-flight requests' futures (see `recycle`).
    pub futures: recycle::FutureArena,
    /// TLS handshakes in progress on this worker (see `handshake`).
    pub handshakes: Cell<u32>,
    /// Upstream requests in flight per client address (see `client_caps`).
    pub clients: client_caps::ClientCaps,
    /// The pipe large bodies are spliced through (see `relay`).
    pub pipes: crate::net::splice::PipeSlot,
}

impl Worker {
    fn new(id: usize, shared: &Shared) -> Self {
        let seed = random_seed(id);
        Worker {
            id,
            generation: RefCell::new(Rc::new(WorkerGeneration {
                version: 0,
                clusters: Vec::new(),
                cluster_slots: Vec::new(),
                listeners: Vec::new(),
                source: None,
            })),
            seed,
            workers: shared.stats.workers.len(),
            active: Cell::new(0),
            tap: Rc::new(WorkerTap::new(
                id,
                shared.stats.clone(),
                shared.lifecycle.clone(),
            )),
            rng: Cell::new(Rng::new(seed)),
            buffers: RefCell::new(FreeList::new(MAX_POOLED_BUFFERS)),
            body_buffers: RefCell::new(FreeList::new(MAX_POOLED_BODY_BUFFERS)),
            scratches: RefCell::new(FreeList::new(MAX_POOLED_BUFFERS)),
            iovecs: RefCell::new(FreeList::new(MAX_POOLED_BUFFERS)),
            futures: recycle::FutureArena::default(),
            handshakes: Cell::new(0),
            clients: client_caps::ClientCaps::default(),
            pipes: Default::default(),
        }
    }

    pub fn take_scratch(&self) -> Scratch {
        self.scratches
            .borrow_mut()
            .take()
            .unwrap_or_else(|| Scratch {
                h1: Box::new(H1Scratch {
                    out: Vec::with_capacity(READ_CHUNK),
                    ..H1Scratch::default()
                }),
                exchange: Box::default(),
            })
    }

    pub fn give_scratch(&self, mut s: Scratch) {
        self.give_buffer(std::mem::take(&mut s.h1.buf));
        self.give_buffer(std::mem::take(&mut s.exchange.up_buf));
        // A vector grown by one large message is freed rather than kept.
        let grown = s.h1.out.capacity() > OUT_ROOM
            || s.exchange.out.capacity() > OUT_ROOM
            || s.exchange.req_head.capacity() > BODY_CHUNK;
        if grown {
            return;
        }
        s.h1.out.clear();
        s.exchange.out.clear();
        s.exchange.req_head.clear();
        let surplus = self.scratches.borrow_mut().give(s);
        drop(surplus);
    }

    /// The generation new requests use. An `Rc` clone: no allocation.
    pub fn generation(&self) -> Rc<WorkerGeneration> {
        self.generation.borrow().clone()
    }

    /// Build this worker's view of `gen`, reusing the clusters it carried over
    /// and each listener's drain signal.
    fn build_generation(&self, gen: &Arc<Generation>, drains: &[Accepting]) -> WorkerGeneration {
        let old = self.generation();
        let clusters = gen
            .clusters
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let kept = old.source.as_ref().and_then(|src| {
                    src.clusters
                        .iter()
                        .position(|o| o.same(c))
                        .map(|j| old.clusters[j].clone())
                });
                kept.unwrap_or_else(|| {
                    Rc::new(WorkerCluster::new(
                        c.config.clone(),
                        c.hosts.clone(),
                        c.health.clone(),
                        self.tap
                            .stats
                            .clusters
                            .handle(c.slot)
                            .expect("stats slot allocated before its generation is published"),
                        self.id,
                        self.workers,
                        self.seed.rotate_left(i as u32 + 1) ^ gen.version,
                    ))
                })
            })
            .collect();
        let listeners = gen
            .listeners
            .iter()
            .map(|l| {
                let drain = drains
                    .iter()
                    .find(|a| a.id == l.sockets.id)
                    .map_or_else(IdleParking::default, |a| a.drain.clone());
                Rc::new(ListenerCtx {
                    index: l.slot,
                    id: l.sockets.id,
                    version: gen.version,
                    router: Router::new(&l.config),
                    config: Rc::new(ListenerConfig::clone(&l.config)),
                    drain,
                })
            })
            .collect();
        WorkerGeneration {
            version: gen.version,
            clusters,
            cluster_slots: gen.clusters.iter().map(|c| c.slot).collect(),
            listeners,
            source: Some(gen.clone()),
        }
    }

    pub fn take_buffer(&self) -> BytesMut {
        self.buffers
            .borrow_mut()
            .take()
            .unwrap_or_else(|| BytesMut::with_capacity(READ_CHUNK))
    }

    pub fn give_buffer(&self, mut buf: BytesMut) {
        // Consumed bytes still count against `capacity()` until the buffer is
        // rewound; a unique, empty buffer rewinds in place, without allocating.
        // (A read to its very end leaves `capacity()` at 0: that is a buffer
        // to keep. One with no allocation, or shared, is not.)
        // (`try_reclaim` rewinds only if it must to make the room asked for: a
        // body buffer is asked for all of its room first.)
        buf.clear();
        if !buf.try_reclaim(BODY_BUFFER) && !buf.try_reclaim(READ_CHUNK) {
            return;
        }
        // Only plain, reasonably sized buffers are kept; a grown one is freed.
        let surplus = match buf.capacity() {
            BODY_BUFFER => self.body_buffers.borrow_mut().give(buf),
            c if c > BODY_CHUNK => Some(buf),
            _ => self.buffers.borrow_mut().give(buf),
        };
        drop(surplus);
    }

    /// Make `buf` a body-sized (`BODY_BUFFER`) buffer from the pool, with its
    /// bytes copied over at the same offsets, unless it is one already. For a
    /// large body: growing a buffer in place reallocates it (a copy of all of
    /// it and an allocation, every time).
    pub fn widen_buffer(&self, buf: &mut BytesMut) {
        if buf.capacity() >= BODY_BUFFER {
            return;
        }
        let mut body = self
            .body_buffers
            .borrow_mut()
            .take()
            .unwrap_or_else(|| BytesMut::with_capacity(BODY_BUFFER));
        body.extend_from_slice(buf);
        self.give_buffer(std::mem::replace(buf, body));
    }

    pub fn take_iovecs(&self) -> IoVecs {
        self.iovecs.borrow_mut().take().unwrap_or_else(new_iovecs)
    }

    pub fn give_iovecs(&self, iov: IoVecs) {
        drop(self.iovecs.borrow_mut().give(iov));
    }

    /// Free the pooled request-time state the load has not needed since the
    /// last sweep (`prim::FreeList::trim`).
    fn trim_pools(&self) {
        self.buffers.borrow_mut().trim();
        self.body_buffers.borrow_mut().trim();
        self.scratches.borrow_mut().trim();
        self.iovecs.borrow_mut().trim();
        self.futures.trim();
        self.tap.trim_pools();
    }

    /// This worker's share of a listener's `max_upstream_requests_per_client`.
    pub fn client_share(&self, cap: u32) -> u32 {
        client_caps::share(cap, self.workers)
    }

    /// Per worker, good enough for request ids and backoff jitter.
    pub fn next_random(&self) -> u64 {
        let mut rng = self.rng.get();
        let x = rng.next_u64();
        self.rng.set(rng);
        x
    }

    /// A random (version 4) UUID in its 36-character text form.
    pub fn next_request_id(&self) -> [u8; 36] {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_random().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_random().to_le_bytes());
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        uuid_text(&bytes)
    }
}

/// A UUID's 36-character text form.
fn uuid_text(bytes: &[u8; 16]) -> [u8; 36] {
    // Each byte's place in the text is a constant, so the loop unrolls
    // with no bounds checks (a running offset and a dash test per byte
    // cost 370 instructions per request).
    const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = *b"00000000-0000-0000-0000-000000000000";
    for (b, at) in bytes.iter().zip(AT) {
        out[at] = HEX[(b >> 4) as usize];
        out[at + 1] = HEX[(b & 0xf) as usize];
    }
    out
}

/// A seed that differs per worker and per process.
fn random_seed(id: usize) -> u64 {
    Rng::random_seed(id as u64)
}

/// Choose the driver: `auto` probes io_uring and falls back to epoll.
pub fn resolve_driver(choice: IoDriverChoice) -> IoDriver {
    match choice {
        IoDriverChoice::Uring => IoDriver::Uring,
        IoDriverChoice::Epoll => IoDriver::Epoll,
        IoDriverChoice::Auto => {
            if monoio::utils::detect_uring() {
                IoDriver::Uring
            } else {
                IoDriver::Epoll
            }
        }
    }
}

/// Submission-queue entries per worker ring (monoio's default; the completion
/// queue is twice this). Enough for every op a busy worker has in flight between
/// two parks; a full queue is flushed early, never refused.
const RING_ENTRIES: u32 = 1024;

/// One way of setting up a worker's io_uring ring: the flags it asks for.
struct RingSetup {
    /// For logs: which setup a worker runs on.
    name: &'static str,
    configure: fn(&mut io_uring::Builder),
}

/// Ring setups, most preferred first. A kernel that does not know a setup flag
/// refuses the ring with EINVAL, and the next one is tried; if none is accepted
/// the worker falls back to epoll (unless io_uring was asked for explicitly).
///
/// SINGLE_ISSUER | DEFER_TASKRUN (kernel 6.1+) is the one that matters: by
/// default a completion (a recv whose data arrived, a send that drained) is run
/// as task_work signalled to the worker from whichever CPU did the network work,
/// through an inter-processor interrupt while the worker is busy in user space.
/// Profiles under load showed those IPIs and the lock they contend on (8 % and
/// 5 % of samples). With DEFER_TASKRUN the kernel queues them on the ring and
/// runs them only when the worker enters `io_uring_enter` with GETEVENTS, i.e.
/// when it waits for completions anyway: batched, on its own CPU, no IPI.
///
/// That is safe with monoio 0.2.4 only because of how its driver enters the
/// kernel (read in its `driver/uring/mod.rs`, `time/driver/mod.rs` and
/// `runtime.rs`, with the features Cargo.toml enables: no `sync`, no `poll-io`):
/// - Every wait carries GETEVENTS. `park()` is `submit_and_wait(1)`;
///   `park_timeout(d)`, which the timer driver uses whenever a timer is armed
///   (ringway's 100 ms tick always is; an expired timer parks with `d = 0`), is
///   `submit_with_args(1, timespec)` with EXT_ARG (5.11+, so always present where
///   DEFER_TASKRUN is), or a Timeout SQE plus `submit_and_wait(1)` before that.
///   io-uring 0.6.4 sets GETEVENTS whenever it waits for at least one event.
///   The kernel runs the deferred work at the start of that wait, so nothing
///   pending at park time waits for the timeout.
/// - The one enter without GETEVENTS is `Driver::submit()`, which `block_on`
///   calls only when tasks are still runnable after a round of them. It reaps
///   completions that finished inline during the submit; deferred ones stay
///   queued until the run queue is empty and the loop parks (the point where an
///   epoll loop would poll too): delayed while there is other work, never lost.
/// - Without `sync` there is no eventfd, no unpark handle and no foreign-waker
///   queue: `inner_park` always waits (its submit-only branch needs a foreign
///   waker), and no other thread has any way to reach the ring.
/// - SINGLE_ISSUER holds: the ring is created in `run`, on the worker's own
///   thread (`server` spawns the thread, pins it, then calls `run`); the driver
///   is an `Rc<UnsafeCell<..>>` and every op holds an `Rc` of it, so every
///   `io_uring_enter` — submits, parks, the cancels of dropped ops, the final
///   submit when the runtime drops — happens on that thread. `detect_uring()`
///   probes with a separate throwaway ring.
///
/// COOP_TASKRUN alone (5.19+) is the fallback for 5.19–6.0 kernels: task_work
/// still runs on the worker, but without an IPI, at its next kernel entry (it
/// enters to wait in every park). It adds nothing next to DEFER_TASKRUN, whose
/// work is never signalled. TASKRUN_FLAG is not set: it only serves code that
/// checks IORING_SQ_TASKRUN before peeking at the completion queue, and neither
/// monoio 0.2.4 nor io-uring 0.6.4 does.
const RING_SETUPS: &[RingSetup] = &[
    RingSetup {
        name: "single_issuer+defer_taskrun",
        configure: |b| {
            b.setup_single_issuer().setup_defer_taskrun();
        },
    },
    RingSetup {
        name: "coop_taskrun",
        configure: |b| {
            b.setup_coop_taskrun();
        },
    },
    RingSetup {
        name: "no flags",
        configure: |_| {},
    },
];

type UringRuntime = monoio::Runtime<monoio::time::TimeDriver<monoio::IoUringDriver>>;

/// Every worker meets the same kernel, so a refused setup is logged once per
/// process, not once per worker.
static RING_FALLBACK_LOGGED: std::sync::Once = std::sync::Once::new();

/// Build an io_uring runtime (timer enabled) with the first of `setups` the
/// kernel accepts. An error other than EINVAL (io_uring disabled or filtered,
/// memlock limit) would refuse every setup alike, so it is returned at once.
fn build_uring(setups: &[RingSetup]) -> std::io::Result<(UringRuntime, &'static str)> {
    let mut refused: Option<(&'static str, std::io::Error)> = None;
    for setup in setups {
        let mut urb = io_uring::IoUring::builder();
        (setup.configure)(&mut urb);
        match monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .uring_builder(urb)
            .with_entries(RING_ENTRIES)
            .enable_timer()
            .build()
        {
            Ok(rt) => {
                if let Some((first, e)) = &refused {
                    RING_FALLBACK_LOGGED.call_once(|| {
                        tracing::warn!(refused = first, error = %e, using = setup.name,
                            "kernel refused io_uring setup flags, using fewer");
                    });
                }
                return Ok((rt, setup.name));
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                refused.get_or_insert((setup.name, e));
            }
            Err(e) => return Err(e),
        }
    }
    Err(refused.map_or_else(
        || std::io::Error::other("no io_uring ring setup to try"),
        |(_, e)| e,
    ))
}

/// Run one worker on the current thread until it has drained. Returns the
/// driver it actually used (io_uring may fail at setup and fall back).
pub fn run(
    id: usize,
    driver: IoDriver,
    forced: bool,
    shared: Arc<Shared>,
) -> std::io::Result<IoDriver> {
    if driver == IoDriver::Uring {
        match build_uring(RING_SETUPS) {
            Ok((mut rt, ring)) => {
                tracing::info!(worker = id, driver = "io_uring", ring, "worker started");
                shared.stats.workers[id].set_driver(IoDriver::Uring);
                crate::prim::alarm::new_runtime();
                rt.block_on(worker_main(id, shared))?;
                return Ok(IoDriver::Uring);
            }
            Err(e) if forced => return Err(e),
            Err(e) => {
                tracing::warn!(worker = id, error = %e, "io_uring unavailable, falling back to epoll");
            }
        }
    }
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()?;
    tracing::info!(worker = id, driver = "epoll", "worker started");
    shared.stats.workers[id].set_driver(IoDriver::Epoll);
    crate::prim::alarm::new_runtime();
    rt.block_on(worker_main(id, shared))?;
    Ok(IoDriver::Epoll)
}

/// A listener this worker accepts on.
struct Accepting {
    /// `ListenerSockets::id`.
    id: u64,
    canceller: monoio::io::Canceller,
    handle: monoio::task::JoinHandle<()>,
    /// Its idle connections; drained when a reload removes the listener (or
    /// at shutdown).
    drain: IdleParking,
}

/// Switch this worker to `gen`: new routers and cluster table, accept loops on
/// new listeners, none on removed ones (whose connections then drain).
async fn apply_generation(
    worker: &Rc<Worker>,
    gen: Arc<Generation>,
    accepting: &mut Vec<Accepting>,
) {
    for l in &gen.listeners {
        worker.tap.configure_listener(l.slot, &l.config);
    }
    let next = Rc::new(worker.build_generation(&gen, accepting));
    worker.tap.configure_clusters(
        gen.clusters
            .iter()
            .zip(&next.clusters)
            .map(|(c, wc)| (c.slot, c.config.name.as_str(), wc)),
    );
    *worker.generation.borrow_mut() = next.clone();

    // Listeners that left: stop accepting, close idle connections, let
    // requests in flight finish (their sessions then close).
    let mut i = 0;
    while i < accepting.len() {
        if next.listener(accepting[i].id).is_some() {
            i += 1;
            continue;
        }
        let gone = accepting.swap_remove(i);
        gone.canceller.cancel();
        gone.handle.await;
        gone.drain.start();
    }
    // Listeners that are new to this worker: take its socket and accept.
    for (l, ctx) in gen.listeners.iter().zip(&next.listeners) {
        if accepting.iter().any(|a| a.id == ctx.id) {
            continue;
        }
        let Some(socket) = l.sockets.take(worker.id) else {
            continue;
        };
        match TcpListener::from_std(socket) {
            Ok(listener) => {
                let canceller = monoio::io::Canceller::new();
                let handle = monoio::spawn(accept_loop(
                    worker.clone(),
                    ctx.id,
                    listener,
                    canceller.handle(),
                ));
                accepting.push(Accepting {
                    id: ctx.id,
                    canceller,
                    handle,
                    drain: ctx.drain.clone(),
                });
            }
            Err(e) => {
                tracing::error!(worker = worker.id, listener = %l.config.name, error = %e, "cannot accept on listener")
            }
        }
    }
}

async fn worker_main(id: usize, shared: Arc<Shared>) -> std::io::Result<()> {
    let worker = Rc::new(Worker::new(id, &shared));
    let mut accepting: Vec<Accepting> = Vec::new();
    apply_generation(&worker, shared.generations.load(), &mut accepting).await;

    // The tick: watch for shutdown and new generations, sweep idle upstream connections.
    let mut ticks = 0u64;
    while !shared.shutdown.load(Ordering::Relaxed) {
        monoio::time::sleep(TICK).await;
        ticks += 1;
        if shared.generations.version() != worker.generation.borrow().version {
            apply_generation(&worker, shared.generations.load(), &mut accepting).await;
        }
        let now = Instant::now();
        for a in &accepting {
            a.drain.expire(now);
        }
        let gen = worker.generation();
        for c in &gen.clusters {
            c.tick(now);
        }
        worker.tap.tick(gen.slotted_clusters());
        if ticks % TICKS_PER_POOL_SWEEP == 0 {
            for c in &gen.clusters {
                c.sweep(TICK * TICKS_PER_POOL_SWEEP as u32);
            }
            worker.trim_pools();
        }
    }

    // Drain: stop accepting, close idle connections, let in-flight requests finish.
    let mut stopping = Vec::with_capacity(accepting.len());
    for a in accepting.drain(..) {
        a.canceller.cancel();
        stopping.push(a.handle);
    }
    for handle in stopping {
        handle.await;
    }
    // Every listener of the current generation (including any that never got a
    // socket on this worker); listeners removed earlier were drained then.
    for l in &worker.generation().listeners {
        l.drain.start();
    }
    let deadline = Instant::now() + shared.generations.load().config.drain_timeout;
    while worker.active.get() > 0 && Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(10)).await;
    }
    if worker.active.get() > 0 {
        tracing::warn!(
            worker = id,
            open = worker.active.get(),
            "drain timeout: closing connections"
        );
    }
    worker.tap.flush_logs();
    Ok(())
}

/// The listener's `max_connections` (Envoy's runtime `connection_limit`) is
/// shared out evenly: with `SO_REUSEPORT` the kernel spreads connections over
/// the workers, so each enforces its share of the limit, rounded up, against
/// the connections it has open on this listener.
fn over_connection_limit(worker: &Worker, ctx: &ListenerCtx) -> bool {
    let Some(limit) = ctx.config.max_connections else {
        return false;
    };
    let share = limit.div_ceil(worker.workers as u64);
    worker.tap.listener_connections(ctx.index) >= share
}

/// The top-level `max_connections` (Envoy's runtime
/// `overload.global_downstream_max_connections`), shared out the same way over
/// all of a worker's client connections; a listener may be exempt.
fn over_global_limit(worker: &Worker, ctx: &ListenerCtx) -> bool {
    if ctx.config.ignore_global_connection_limit {
        return false;
    }
    let gen = worker.generation();
    let Some(limit) = gen.source.as_ref().and_then(|g| g.config.max_connections) else {
        return false;
    };
    // Exempt listeners' connections do not count either (as in Envoy).
    let exempt: u64 = gen
        .listeners
        .iter()
        .filter(|l| l.config.ignore_global_connection_limit)
        .map(|l| worker.tap.listener_connections(l.index))
        .sum();
    // `active` does not count the connection just accepted yet.
    (worker.active.get() as u64).saturating_sub(exempt) >= limit.div_ceil(worker.workers as u64)
}

async fn accept_loop(worker: Rc<Worker>, id: u64, listener: TcpListener, cancel: CancelHandle) {
    let name = worker
        .generation()
        .listener(id)
        .map(|l| l.config.name.clone())
        .unwrap_or_default();
    let mut failures = accept::AcceptFailures::new(format!("worker {} listener {name}", worker.id));
    loop {
        match listener.cancelable_accept(cancel.clone()).await {
            Ok((stream, peer)) => {
                failures.succeeded();
                // The listener as the current generation configures it.
                let Some(ctx) = worker.generation().listener(id).cloned() else {
                    continue; // removed by a reload; this loop is being cancelled
                };
                if over_connection_limit(&worker, &ctx) {
                    worker
                        .tap
                        .listener_counter(ctx.index, ListenerCounter::DownstreamCxOverflow);
                    continue; // closed as it drops
                }
                if over_global_limit(&worker, &ctx) {
                    worker
                        .tap
                        .listener_counter(ctx.index, ListenerCounter::DownstreamGlobalCxOverflow);
                    continue;
                }
                // TCP_NODELAY is inherited from the listening socket (see net/bind.rs).
                // Every byte read or written from here on counts (`net::meter`).
                let stream = Metered::new(stream, worker.tap.listener_meter(ctx.index));
                match ctx.config.tls.clone() {
                    Some(tls) => {
                        monoio::spawn(handshake::serve(worker.clone(), ctx, tls, stream, peer));
                    }
                    None => match ctx.config.codec {
                        ListenerCodec::Auto => {
                            monoio::spawn(h2::serve_auto(worker.clone(), ctx, stream, peer));
                        }
                        ListenerCodec::Http1 => {
                            monoio::spawn(h1::serve(worker.clone(), ctx, stream, peer));
                        }
                        ListenerCodec::Http2 => {
                            monoio::spawn(h2::serve_plain(worker.clone(), ctx, stream, peer));
                        }
                    },
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ECANCELED) => return,
            Err(e) => {
                // Out of fds or memory: pause rather than spin (accept.rs).
                // A cancel during the pause ends the loop at the next accept.
                let pause = failures.failed(&e);
                monoio::time::sleep(pause).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_text_layout() {
        let bytes: [u8; 16] = core::array::from_fn(|i| (i as u8) * 0x11);
        assert_eq!(&uuid_text(&bytes), b"00112233-4455-6677-8899-aabbccddeeff");
    }
    use monoio::io::{AsyncReadRentExt, AsyncWriteRentExt};
    use std::io::{Read, Write};

    /// Not a timing threshold: only stops a stranded completion from hanging
    /// the test run.
    const HANG_GUARD: Duration = Duration::from_secs(30);
    /// Round trips through a peer thread: each read is posted before the peer
    /// answers, so its completion arrives asynchronously (deferred task_work
    /// under DEFER_TASKRUN) rather than inline at submit.
    const ROUND_TRIPS: usize = 200;

    #[test]
    fn a_refused_ring_setup_falls_back_to_the_next() {
        if !monoio::utils::detect_uring() {
            return; // io_uring disabled or filtered here: nothing to set up
        }
        // DEFER_TASKRUN without SINGLE_ISSUER is EINVAL on every kernel.
        let setups = [
            RingSetup {
                name: "invalid",
                configure: |b| {
                    b.setup_defer_taskrun();
                },
            },
            RingSetup {
                name: "plain",
                configure: |_| {},
            },
        ];
        let (_rt, ring) = build_uring(&setups).expect("plain ring");
        assert_eq!(ring, "plain");
        let only_invalid = &setups[..1];
        let e = build_uring(only_invalid).err().expect("refused");
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    }

    /// The preferred ring (DEFER_TASKRUN on this kernel) still delivers every
    /// completion: after a timer-only park, while a long timer is armed (the
    /// tick's situation: parks go through `park_timeout`), across tasks.
    #[test]
    fn the_preferred_ring_sees_every_completion() {
        if !monoio::utils::detect_uring() {
            return;
        }
        let (mut rt, ring) = build_uring(RING_SETUPS).expect("io_uring runtime");
        eprintln!("ring setup: {ring}");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut b = [0u8; 4];
            for _ in 0..ROUND_TRIPS {
                s.read_exact(&mut b).unwrap();
                s.write_all(&b).unwrap();
            }
        });
        rt.block_on(async move {
            // A park with nothing in flight but a timer.
            monoio::time::sleep(Duration::from_millis(1)).await;
            let echo = monoio::spawn(async move {
                let mut s = monoio::net::TcpStream::connect(addr).await.unwrap();
                let mut buf = vec![0u8; 4];
                for i in 0..ROUND_TRIPS {
                    let (r, b) = s.write_all((i as u32).to_le_bytes().to_vec()).await;
                    r.unwrap();
                    drop(b);
                    let (r, b) = s.read_exact(buf).await;
                    r.unwrap();
                    assert_eq!(b[..], (i as u32).to_le_bytes());
                    buf = b;
                }
            });
            monoio::time::timeout(HANG_GUARD, echo)
                .await
                .expect("every completion reaped");
        });
        peer.join().unwrap();
    }
}

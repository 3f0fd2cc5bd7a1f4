//! The io_uring byte-relay floor: what a proxy on monoio costs with no HTTP
//! work at all. `bench/run.sh` runs it beside HAProxy `mode tcp` (the epoll
//! floor) so ringway's CPU per request can be read against the least any
//! monoio proxy could spend on this kernel path.
//!
//! Each worker is a pinned thread with its own io_uring runtime, set up as
//! ringway's (SINGLE_ISSUER + DEFER_TASKRUN, timer on), its own
//! `SO_REUSEPORT` listener, and one task per direction of each connection,
//! each with one 16 KiB buffer it reuses. No parsing, no pooling: a client
//! connection gets its own upstream connection, opened when it is accepted.
//!
//! Usage: `relay_floor LISTEN UPSTREAM WORKERS`, e.g.
//! `relay_floor 127.0.0.16:8000 127.0.0.2:18080 2`. It runs until killed.

use std::net::SocketAddr;

use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, Splitable};
use monoio::net::{TcpListener, TcpStream};

const BUFFER: usize = 16 * 1024;

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: relay_floor LISTEN UPSTREAM WORKERS";
    let listen: SocketAddr = args.next().expect(usage).parse().expect(usage);
    let upstream: SocketAddr = args.next().expect(usage).parse().expect(usage);
    let workers: usize = args.next().expect(usage).parse().expect(usage);
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let threads: Vec<_> = (0..workers)
        .map(|i| {
            let core = cores.get(i % cores.len().max(1)).copied();
            std::thread::spawn(move || {
                if let Some(core) = core {
                    core_affinity::set_for_current(core);
                }
                worker(listen, upstream);
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

fn worker(listen: SocketAddr, upstream: SocketAddr) {
    let mut ring = io_uring::IoUring::builder();
    ring.setup_single_issuer().setup_defer_taskrun();
    let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .uring_builder(ring)
        .with_entries(1024)
        .enable_timer()
        .build()
        .expect("io_uring runtime (SINGLE_ISSUER + DEFER_TASKRUN)");
    rt.block_on(async move {
        let listener = reuseport_listener(listen).expect("listen");
        loop {
            let Ok((client, _)) = listener.accept().await else {
                continue;
            };
            monoio::spawn(relay(client, upstream));
        }
    });
}

fn reuseport_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    TcpListener::from_std(socket.into())
}

async fn relay(client: TcpStream, upstream: SocketAddr) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let upload = monoio::spawn(copy(client_read, server_write));
    copy(server_read, client_write).await;
    upload.await;
}

/// Copy until end of stream or an error, then shut the writing side down.
async fn copy(mut from: impl AsyncReadRent, mut to: impl AsyncWriteRent) {
    let mut buf = Vec::with_capacity(BUFFER);
    loop {
        let (read, b) = from.read(buf).await;
        buf = match read {
            Ok(0) | Err(_) => break,
            Ok(_) => b,
        };
        let (written, b) = to.write_all(buf).await;
        if written.is_err() {
            break;
        }
        buf = b;
        buf.clear();
    }
    let _ = to.shutdown().await;
}

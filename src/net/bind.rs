//! Listening sockets, made with socket2 so every option is explicit: one socket
//! per worker per listener, all bound to the same address with SO_REUSEPORT so
//! the kernel spreads new connections across cores.
//!
//! Binding happens off the workers (at start and on reload, by the control
//! plane); a worker only takes its socket and accepts on it.

use std::{io, net::SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};

/// Pending connections the kernel queues per socket (capped by net.core.somaxconn).
pub const BACKLOG: i32 = 4096;

pub fn bind_reuseport(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nodelay(true)?; // inherited by accepted sockets on Linux
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Bind `count` sockets for one listener. The first resolves port 0 to a real
/// port; the rest bind to that same port.
pub fn bind_all(
    addr: SocketAddr,
    count: usize,
) -> io::Result<(SocketAddr, Vec<std::net::TcpListener>)> {
    let first = bind_reuseport(addr)?;
    let actual = first.local_addr()?;
    let mut all = Vec::with_capacity(count);
    all.push(first);
    for _ in 1..count {
        all.push(bind_reuseport(actual)?);
    }
    Ok((actual, all))
}

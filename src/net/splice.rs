//! Zero-copy relaying: splice(2) moves a body from one socket into a pipe and
//! from the pipe into another socket, so its bytes never cross user space (on
//! this kernel TCP splice-read takes page references and splice-to-socket
//! sends them with MSG_SPLICE_PAGES).
//!
//! The calls are made directly from the worker thread, nonblocking; an EAGAIN
//! is waited on with the socket's readiness (one POLL_ADD on io_uring, epoll
//! on the legacy driver). Not io_uring's IORING_OP_SPLICE: the kernel forces
//! it to an io-wq thread (a hand-off per op), and one from an empty socket
//! would block that thread.
//!
//! Invariants: a worker has at most one idle `Pipe`, and only an empty one is
//! kept for reuse (`PipeSlot::put_back`); a pipe whose relay failed or was
//! dropped mid-way is closed with its bytes. When the kernel refuses pipes or
//! splice outright (EINVAL, ENOSYS, EPERM: seccomp, odd sockets), the slot is
//! `Unavailable` for the rest of the worker's life, logged once, and callers
//! keep copying: splice being unavailable never fails a request.

use std::{
    cell::Cell,
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
};

/// What a worker's pipe is grown to: room for a 1 MiB body in one pass. A
/// pipe's pages are only references to socket pages while it holds them, so
/// the size bounds pinned memory, not copies.
pub const PIPE_SIZE: usize = 1024 * 1024;

/// A pipe between two sockets, and how many bytes it holds.
pub struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    size: usize,
    held: usize,
}

impl Pipe {
    fn open() -> io::Result<Pipe> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded: both descriptors are open and ours alone.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // Grow it; refused (`pipe-max-size`, the user's pipe quota): keep the default.
        // SAFETY: fcntl on a descriptor we own; no pointers.
        let grown = unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_SIZE as i32) };
        let size = if grown > 0 {
            grown as usize
        } else {
            // SAFETY: as above.
            let size = unsafe { libc::fcntl(write.as_raw_fd(), libc::F_GETPIPE_SZ) };
            if size <= 0 {
                return Err(io::Error::last_os_error());
            }
            size as usize
        };
        Ok(Pipe {
            read,
            write,
            size,
            held: 0,
        })
    }

    /// Bytes in the pipe, spliced in and not yet out.
    pub fn held(&self) -> usize {
        self.held
    }

    /// How much more a splice into it may ask for.
    pub fn room(&self) -> usize {
        self.size - self.held
    }

    /// Move at most `max` bytes from the socket `from` into the pipe without
    /// waiting. `Ok(0)`: the socket's peer has closed.
    pub fn fill(&mut self, from: RawFd, max: usize) -> io::Result<usize> {
        let n = splice(from, self.write.as_raw_fd(), max.min(self.room()))?;
        self.held += n;
        Ok(n)
    }

    /// Move at most `max` of the bytes held to the socket `to` without waiting.
    pub fn drain(&mut self, to: RawFd, max: usize) -> io::Result<usize> {
        let n = splice(self.read.as_raw_fd(), to, max.min(self.held))?;
        debug_assert!(n <= self.held);
        self.held -= n;
        Ok(n)
    }
}

impl Pipe {
    /// Read what the pipe holds into `buf` (a relay that can no longer
    /// splice out copies it instead); the pipe is empty after.
    pub fn read_back(&mut self, buf: &mut bytes::BytesMut) -> io::Result<()> {
        buf.reserve(self.held);
        while self.held > 0 {
            let spare = buf.spare_capacity_mut();
            let want = spare.len().min(self.held);
            // SAFETY: reads at most `want` bytes into `buf`'s spare capacity,
            // which has that much room.
            let n = unsafe { libc::read(self.read.as_raw_fd(), spare.as_mut_ptr().cast(), want) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            // SAFETY: the kernel wrote `n` bytes there.
            unsafe { buf.set_len(buf.len() + n as usize) };
            self.held -= n as usize;
        }
        Ok(())
    }
}

fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    // SAFETY: both descriptors are open for the call (borrowed from their
    // owners); null offsets: neither end is seekable.
    let n = unsafe {
        libc::splice(
            from,
            std::ptr::null_mut(),
            to,
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Whether an error says splice cannot work here at all (rather than this
/// once): the worker stops trying.
pub fn unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL | libc::ENOSYS | libc::EPERM | libc::EOPNOTSUPP)
    )
}

/// A socket made nonblocking for a splice relay, and put back as it was when
/// this is dropped (however the relay ends). Under io_uring monoio's sockets
/// are blocking, and splice(2) takes a socket's blocking mode from its file
/// (SPLICE_F_NONBLOCK covers only the pipe end); under epoll they already are
/// nonblocking and nothing changes. No monoio op other than a poll is in flight
/// on the socket meanwhile (the relay owns it), so io_uring never sees the flag.
pub struct NonBlocking {
    fd: RawFd,
    /// The flags to restore, if they were changed.
    restore: Option<libc::c_int>,
}

impl NonBlocking {
    pub fn set(fd: RawFd) -> io::Result<NonBlocking> {
        // SAFETY: fcntl on a descriptor the caller holds open; no pointers.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        if flags & libc::O_NONBLOCK != 0 {
            return Ok(NonBlocking { fd, restore: None });
        }
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(NonBlocking {
            fd,
            restore: Some(flags),
        })
    }
}

impl Drop for NonBlocking {
    fn drop(&mut self) {
        if let Some(flags) = self.restore {
            // SAFETY: the socket outlives this guard (the relay borrows it).
            unsafe { libc::fcntl(self.fd, libc::F_SETFL, flags) };
        }
    }
}

/// One worker's pipe: made on first use, lent to one relay at a time.
#[derive(Default)]
pub struct PipeSlot {
    idle: Cell<Option<Pipe>>,
    unavailable: Cell<bool>,
}

impl PipeSlot {
    /// The worker's idle pipe (a new one if none is), or `None` if splice is
    /// unavailable here or no pipe can be had now (the caller copies).
    pub fn take(&self) -> Option<Pipe> {
        if self.unavailable.get() {
            return None;
        }
        if let Some(pipe) = self.idle.take() {
            return Some(pipe);
        }
        match Pipe::open() {
            Ok(pipe) => Some(pipe),
            Err(e) => {
                // EMFILE and the like pass; a refusal is for good.
                self.refused(&e);
                None
            }
        }
    }

    /// A relay is done with `pipe`: kept for the next if it is empty, closed
    /// otherwise (what it holds belongs to no one now).
    pub fn put_back(&self, pipe: Pipe) {
        if pipe.held == 0 {
            self.idle.set(Some(pipe));
        }
    }

    /// A pipe or splice call failed with `e`: if it says splice cannot work
    /// here, stop using it (logged once). True if so.
    pub fn refused(&self, e: &io::Error) -> bool {
        if !unsupported(e) {
            return false;
        }
        if !self.unavailable.replace(true) {
            tracing::warn!(error = %e, "splice(2) unavailable: bodies are copied on this worker");
            self.idle.set(None);
        }
        true
    }

    pub fn is_unavailable(&self) -> bool {
        self.unavailable.get()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    #[test]
    fn a_pipe_carries_bytes_between_sockets_unchanged() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut a = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        let l2 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(l2.local_addr().unwrap()).unwrap();
        let (mut d, _) = l2.accept().unwrap();
        let body: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let sent = body.clone();
        let writer = std::thread::spawn(move || a.write_all(&sent).unwrap());
        let _b = NonBlocking::set(b.as_raw_fd()).unwrap();
        let _c = NonBlocking::set(c.as_raw_fd()).unwrap();
        d.set_nonblocking(true).unwrap();
        let slot = PipeSlot::default();
        let mut pipe = slot.take().unwrap();
        let (mut moved, mut got, mut buf) = (0, Vec::new(), vec![0; 65536]);
        let would_block = |r: io::Result<usize>| match r {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => panic!("{e}"),
        };
        while got.len() < body.len() {
            moved += would_block(pipe.fill(b.as_raw_fd(), body.len() - moved));
            would_block(pipe.drain(c.as_raw_fd(), usize::MAX));
            let n = would_block(d.read(&mut buf));
            got.extend_from_slice(&buf[..n]);
        }
        writer.join().unwrap();
        assert_eq!(got, body);
        assert_eq!(pipe.held(), 0);
        slot.put_back(pipe);
        assert!(slot.idle.take().is_some(), "an empty pipe is kept");
    }

    #[test]
    fn a_refusal_turns_splice_off_for_good_and_a_passing_error_does_not() {
        let slot = PipeSlot::default();
        assert!(!slot.refused(&io::Error::from_raw_os_error(libc::EMFILE)));
        let pipe = slot.take().expect("a pipe");
        slot.put_back(pipe);
        assert!(slot.refused(&io::Error::from_raw_os_error(libc::EINVAL)));
        assert!(slot.is_unavailable());
        assert!(slot.take().is_none(), "copied from now on");
        assert!(slot.idle.take().is_none(), "the idle pipe was closed");
    }

    #[test]
    fn only_an_empty_pipe_is_kept_and_held_bytes_can_be_read_back() {
        let slot = PipeSlot::default();
        let holding = || {
            let mut pipe = slot.take().unwrap();
            // SAFETY: writes 3 bytes from a live buffer into our pipe.
            let n = unsafe { libc::write(pipe.write.as_raw_fd(), b"abc".as_ptr().cast(), 3) };
            assert_eq!(n, 3);
            pipe.held = 3;
            pipe
        };
        slot.put_back(holding());
        assert!(slot.idle.take().is_none(), "a pipe holding bytes is closed");
        let mut pipe = holding();
        let mut back = bytes::BytesMut::new();
        pipe.read_back(&mut back).unwrap();
        assert_eq!((&back[..], pipe.held()), (&b"abc"[..], 0));
        slot.put_back(pipe);
        assert!(slot.idle.take().is_some(), "an emptied pipe is kept");
    }
}

//! `HeadAndBody`: a message head and the body bytes that arrived behind it,
//! handed to one gathered write (`writev`) instead of being copied into one
//! buffer first. For a response whose body came in the head's read, that
//! copy was up to a whole read buffer per response.
//!
//! The iovec pair lives on the heap (`IoVecs`), lent by the caller and given
//! back with the buffers: monoio moves an operation's buffer into the
//! operation after the kernel was handed the iovecs' address, so they cannot
//! live inline. The head's and the body's bytes are on the heap already.

use bytes::BytesMut;
use monoio::buf::IoVecBuf;

/// Two iovecs, boxed so their address stays put while the value moves.
pub type IoVecs = Box<[libc::iovec; 2]>;

/// A fresh pair of iovecs (callers keep them for reuse).
pub fn new_iovecs() -> IoVecs {
    let empty = libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    };
    Box::new([empty, empty])
}

/// A head and a body to send in this order, in one write.
pub struct HeadAndBody {
    head: Vec<u8>,
    body: BytesMut,
    iov: IoVecs,
}

impl HeadAndBody {
    pub fn new(head: Vec<u8>, body: BytesMut, mut iov: IoVecs) -> HeadAndBody {
        iov[0] = libc::iovec {
            iov_base: head.as_ptr() as *mut libc::c_void,
            iov_len: head.len(),
        };
        iov[1] = libc::iovec {
            iov_base: body.as_ptr() as *mut libc::c_void,
            iov_len: body.len(),
        };
        HeadAndBody { head, body, iov }
    }

    /// Bytes in all.
    pub fn len(&self) -> usize {
        self.head.len() + self.body.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The head's length.
    pub fn head_len(&self) -> usize {
        self.head.len()
    }

    pub fn into_parts(self) -> (Vec<u8>, BytesMut, IoVecs) {
        (self.head, self.body, self.iov)
    }
}

// SAFETY: `iov` points at the bytes of `head` and `body`, which are on the
// heap and neither grown nor dropped while this value lives (it gives them
// out only by `into_parts`, which consumes it); the two iovecs are in their
// own allocation, so moving the value moves none of what they point at.
unsafe impl IoVecBuf for HeadAndBody {
    fn read_iovec_ptr(&self) -> *const libc::iovec {
        self.iov.as_ptr()
    }

    fn read_iovec_len(&self) -> usize {
        self.iov.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_iovecs_cover_the_head_then_the_body() {
        let pair = HeadAndBody::new(
            b"HTTP/1.1 200 OK\r\n\r\n".to_vec(),
            BytesMut::from(&b"body"[..]),
            new_iovecs(),
        );
        assert_eq!(pair.len(), 23);
        assert_eq!(pair.head_len(), 19);
        let iov = pair.read_iovec_ptr();
        let mut seen = Vec::new();
        for i in 0..pair.read_iovec_len() {
            // SAFETY: `iov` has `read_iovec_len` entries, each pointing into
            // the pair's own live buffers.
            let bytes = unsafe {
                let v = *iov.add(i);
                std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len)
            };
            seen.extend_from_slice(bytes);
        }
        assert_eq!(seen, b"HTTP/1.1 200 OK\r\n\r\nbody");
        let (head, body, _) = pair.into_parts();
        assert_eq!((head.len(), body.len()), (19, 4));
    }
}

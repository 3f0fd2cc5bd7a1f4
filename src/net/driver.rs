//! Which io driver a worker ended up on. A leaf type: the worker chooses it,
//! stats record it per worker, the admin prints it.

/// The driver a worker's runtime runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoDriver {
    Uring,
    Epoll,
}

impl std::fmt::Display for IoDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IoDriver::Uring => "io_uring",
            IoDriver::Epoll => "epoll",
        })
    }
}

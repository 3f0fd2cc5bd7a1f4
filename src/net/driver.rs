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

/// Run a test on both io drivers (io_uring where the kernel has it), each on
/// a runtime of its own with timers.
#[cfg(test)]
pub fn on_both_drivers<F: std::future::Future<Output = ()>>(test: impl Fn() -> F) {
    let mut legacy = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .unwrap();
    legacy.block_on(test());
    if let Ok(mut uring) = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .enable_timer()
        .build()
    {
        uring.block_on(test());
    }
}

//! Sockets below the workers: binding listeners (`bind`), the io driver a
//! worker runs on (`driver`), a head and body sent in one write (`gather`),
//! the byte-counting socket (`meter`), a socket
//! through tokio's poll traits for `h2` (`poll_io`), TLS, the connection
//! transports and zero-copy relaying through a pipe (`splice`). Imports
//! nothing of the crate, so every layer
//! above (workers, the control plane, stats) may use it.

pub mod bind;
pub mod driver;

pub use driver::IoDriver;
pub mod gather;
pub mod meter;
pub mod poll_io;
pub mod splice;
pub mod tls;
pub mod tls_poll;
pub mod transport;

//! Client-side helpers the HTTP/2 tests share: a monoio runtime of the test's
//! own, bounded by `DEADLINE`; an `h2`-crate connection over prior knowledge;
//! and curl (installed by `.ci/run`) for a real client's view.

use std::{future::Future, net::SocketAddr, process::Command};

use bytes::Bytes;
use h2::client::SendRequest;
use monoio_compat::StreamWrapper;

use super::DEADLINE;

/// Run `f` on a monoio runtime of the test's own (epoll: the test's side
/// does not need io_uring), bounded by `DEADLINE`.
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .expect("test runtime");
    rt.block_on(async move {
        monoio::time::timeout(DEADLINE, f)
            .await
            .expect("HTTP/2 exchange within the deadline")
    })
}

/// The task driving an `h2` client connection.
pub type Conn = monoio::task::JoinHandle<Result<(), h2::Error>>;

/// An HTTP/2 connection with prior knowledge, and the task that drives it.
pub async fn connect(addr: SocketAddr) -> (SendRequest<Bytes>, Conn) {
    let tcp = monoio::net::TcpStream::connect(addr)
        .await
        .expect("connect");
    let (client, conn) = h2::client::handshake(StreamWrapper::new(tcp))
        .await
        .expect("HTTP/2 handshake");
    (client, monoio::spawn(conn))
}

/// `curl -sS --max-time 20 ARGS…`: its stdout; a failure fails the test.
pub fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl (installed by .ci/run)");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

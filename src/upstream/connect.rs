//! Opening upstream connections: bounded by the cluster's connect timeout,
//! with TCP_NODELAY set so small heads are not held back by Nagle.

use std::{net::SocketAddr, time::Duration};

use monoio::net::TcpStream;

use super::UpstreamError;

pub async fn connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, UpstreamError> {
    // On timeout the connect op is dropped: io_uring cancellation is best effort,
    // so a connect that completed at that very moment is closed with the future.
    match monoio::time::timeout(timeout, TcpStream::connect_addr(addr)).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Ok(Err(e)) => Err(UpstreamError::ConnectFailed(e.kind())),
        Err(_) => Err(UpstreamError::ConnectTimeout),
    }
}

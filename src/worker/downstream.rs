//! What the request exchange needs of the client side, whatever protocol
//! brought the request.
//!
//! The exchange (`exchange.rs`) routes, admits, forwards, retries, relays and
//! counts; it never touches the client's connection itself. Everything that
//! depends on the client's protocol — how the request body is read, how a
//! response head and body are framed for this client, how a local reply is
//! written, and what becomes of the connection afterwards — goes through
//! `Downstream`. HTTP/1.1 implements it in `h1.rs`; an HTTP/2 stream implements
//! the same trait, so routing, retries, breakers, outlier detection, stats and
//! access logs are shared by construction.
//!
//! A request head is a `codec::request::RequestHead`: offsets into a buffer of
//! header lines plus the header index. HTTP/1.1 points it into its read buffer;
//! another protocol writes its decoded headers into a buffer in the same layout.

use std::net::SocketAddr;

use bytes::BytesMut;

use super::{local_reply::LocalReply, relay::RelayError, tap::SessionTap};
use crate::codec::{
    body::{BodyDecoder, BodyEncoder},
    encode::Scheme,
    headers::HeaderIndex,
    request::RequestHead,
    response::ResponseHead,
};
use crate::upstream::{connect::UpstreamConn, h2::DetachedBody};

/// What the connection does once an exchange is over.
pub enum Step {
    KeepAlive,
    Close,
    /// Close after discarding what the client is still sending, so our error
    /// response is not destroyed by a reset.
    LingerClose,
    /// A 101 was relayed: tunnel bytes both ways until either side closes.
    Tunnel(UpstreamConn),
}

/// The client went away (or stopped reading) while we wrote to it.
#[derive(Debug)]
pub struct ClientGone;

/// Why a request body did not reach the upstream.
pub enum RequestBodyError {
    /// Writing to the upstream failed.
    Upstream,
    /// The client's side failed (framing, stall, close) and has been answered
    /// or closed already: the connection does this next.
    Client(Step),
}

/// A message head with the buffer its offsets point into.
#[derive(Clone, Copy)]
pub struct HeadView<'a, H> {
    pub head: &'a H,
    pub buf: &'a [u8],
    pub headers: &'a [HeaderIndex],
    /// Spans of the `Connection` header's tokens.
    pub tokens: &'a [(u32, u32)],
}

pub type RequestView<'a> = HeadView<'a, RequestHead>;
pub type ResponseView<'a> = HeadView<'a, ResponseHead>;

/// The client side of one request.
#[allow(async_fn_in_trait)] // single-threaded runtime: no `Send` bound wanted
pub trait Downstream {
    fn peer(&self) -> SocketAddr;

    /// How the request arrived (`x-forwarded-proto`).
    fn scheme(&self) -> Scheme;

    /// Whether the connection can become a byte tunnel after a 101.
    fn can_tunnel(&self) -> bool;

    /// The request's head. Its offsets are valid until `consume_head`; the
    /// head's own fields (method, framing, …) stay valid for the whole exchange.
    fn head(&self) -> &RequestHead;

    /// The head with the bytes it points into, and this request's stats tap.
    fn request(&mut self) -> (RequestView<'_>, &mut SessionTap);

    fn tap(&mut self) -> &mut SessionTap;

    /// The head has been encoded for the upstream; its bytes may go.
    fn consume_head(&mut self);

    /// Move the request body into `into` if it is framed by a length of at
    /// most `max` and has already arrived whole; true when `into` now holds
    /// the whole body (or there is none), so the request can be sent again.
    fn take_whole_body(&mut self, into: &mut Vec<u8>, max: u64) -> bool;

    /// Send `head` and then stream the request body (which `take_whole_body`
    /// did not take) to `upstream`. The head goes with the body's first bytes,
    /// so a body that breaks its framing at once sends the upstream nothing.
    async fn send_request_body(
        &mut self,
        upstream: &mut UpstreamConn,
        head: &[u8],
    ) -> Result<u64, RequestBodyError>;

    /// Hand the rest of a streamed request body over, to be sent to the
    /// upstream on its own while the response flows (full duplex), if this
    /// client side can (an HTTP/2 stream can; an HTTP/1.1 connection cannot:
    /// its body and its next request share one byte stream).
    fn detach_body(&mut self) -> Option<DetachedBody> {
        None
    }

    /// Tell the client to send its body (`Expect: 100-continue`).
    async fn send_continue(&mut self) -> Result<(), ClientGone>;

    /// Pass on an informational (1xx, not 100 or 101) response.
    async fn send_informational(&mut self, resp: ResponseView<'_>) -> Result<(), ClientGone>;

    /// Write the final response head (after which the body follows, framed by
    /// the returned encoder). `service_time_ms`: how long the upstream took.
    /// A 101 makes the connection a tunnel once written.
    async fn send_response_head(
        &mut self,
        resp: ResponseView<'_>,
        service_time_ms: u64,
    ) -> Result<BodyEncoder, ClientGone>;

    /// Whether a response head and the body bytes behind it go to this client
    /// in one gathered write, uncopied (a plain HTTP/1.1 socket): only then
    /// does a large response's head get read into a body-sized buffer, where
    /// a copy behind the head would have cost a whole buffer's worth.
    fn gathers_responses(&self) -> bool {
        false
    }

    /// Relay the response body from `upstream` (bytes already read first, in
    /// `up_buf`). `read_timeout` bounds each wait for the upstream; `head_at`:
    /// when the response head arrived (the first write starts from there).
    async fn relay_response_body(
        &mut self,
        upstream: &mut UpstreamConn,
        up_buf: &mut BytesMut,
        decoder: BodyDecoder,
        encoder: BodyEncoder,
        read_timeout: Option<std::time::Duration>,
        head_at: std::time::Instant,
    ) -> Result<u64, RelayError>;

    /// Whether the connection carries on after the response just written.
    fn keeps_alive(&self) -> bool;

    /// Answer with a reply of ringway's own (counted here); what the
    /// connection does next.
    async fn local_reply(&mut self, reply: LocalReply<'_>) -> Step;

    /// When the request began (its head's first read; the stream's arrival).
    fn started(&self) -> std::time::Instant;

    /// `max_stream_duration` passed and the exchange was dropped mid-way
    /// (with its upstream connection and whatever its operations held): 408
    /// if no response has started, else the response is cut short.
    async fn duration_reached(&mut self) -> Step;
}

//! The exchange's header-mutation hooks: the context a route's values are
//! rendered from, and the response head edited before it is written.
//!
//! Costs nothing for a route without mutations (an `is_empty` check). With
//! them: the request head is written once as before, with the values rendered
//! straight into it; the response head is copied once into `EditScratch` with
//! the mutations applied (`codec::encode::edit_response`). Neither allocates
//! once the pooled scratch vectors have grown.

use std::net::SocketAddr;

use super::tap::SessionTap;
use crate::{
    access_log::write_iso8601,
    codec::{
        edit::{EditContext, HeaderOps},
        encode::{edit_response, EditedHead},
        headers::HeaderIndex,
        response::ResponseHead,
        Version,
    },
};

/// `%START_TIME%` into `out` when some value of `ops` uses it.
pub fn render_start_time<'b>(ops: &HeaderOps, tap: &SessionTap, out: &'b mut Vec<u8>) -> &'b [u8] {
    out.clear();
    if ops.uses_start_time() {
        write_iso8601(out, tap.start_millis());
    }
    out
}

/// What a response's values are rendered from.
pub fn response_context<'a>(
    client: SocketAddr,
    upstream: Option<SocketAddr>,
    version: Version,
    start_time: &'a [u8],
) -> EditContext<'a> {
    EditContext {
        client,
        upstream,
        start_time,
        version,
        request: None,
    }
}

/// The upstream's response head as the route's mutations leave it: a head
/// and an index into the edit scratch.
pub struct Edited<'s> {
    pub head: ResponseHead,
    pub buf: &'s [u8],
    pub headers: &'s [HeaderIndex],
    pub tokens: &'s [(u32, u32)],
}

/// Apply `ops` to the response as it arrived, into `into`.
pub fn edit_response_head<'s>(
    upstream: ResponseParts<'_>,
    ops: &HeaderOps,
    cx: &EditContext<'_>,
    into: EditedHead<'s>,
) -> Edited<'s> {
    let EditedHead {
        buf,
        headers,
        tokens,
    } = into;
    let head = edit_response(
        upstream.buf,
        upstream.head,
        upstream.headers,
        upstream.tokens,
        ops,
        cx,
        EditedHead {
            buf: &mut *buf,
            headers: &mut *headers,
            tokens: &mut *tokens,
        },
    );
    Edited {
        head,
        buf,
        headers,
        tokens,
    }
}

/// A response head as it arrived.
pub struct ResponseParts<'a> {
    pub head: &'a ResponseHead,
    pub buf: &'a [u8],
    pub headers: &'a [HeaderIndex],
    pub tokens: &'a [(u32, u32)],
}

/// The lines a route's response mutations add to its own answer (a redirect
/// or direct response): nothing arrived from an upstream, but ringway's
/// `content-type` counts as present when there is a body.
pub fn reply_headers(ops: &HeaderOps, cx: &EditContext<'_>, has_body: bool, out: &mut Vec<u8>) {
    if ops.is_empty() {
        return;
    }
    let arrived = |name: &str| has_body && name == "content-type";
    ops.write_added(cx, &arrived, out);
}

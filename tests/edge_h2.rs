//! The edge settings over HTTP/2 from clients (the `h2` crate as the client):
//! `max_requests_per_connection` ends the connection with GOAWAY after N
//! streams, `max_stream_duration` answers a stream 408, and the forwarding
//! policy applies to each stream's request as to an HTTP/1.1 one.

#[macro_use]
mod support;

use bytes::Bytes;
use h2::client::SendRequest;
use support::{
    h2_client::{block_on, connect},
    *,
};

driver_tests!(
    max_requests_per_connection_sends_goaway_after_n,
    max_stream_duration_answers_a_stream_408,
);

fn get(path: &str, extra: Option<(&str, &str)>) -> http::Request<()> {
    let mut req = http::Request::get(format!("http://app.test{path}"));
    if let Some((k, v)) = extra {
        req = req.header(k, v);
    }
    req.body(()).unwrap()
}

/// Status and body of one stream.
async fn call(client: &mut SendRequest<Bytes>, req: http::Request<()>) -> Option<(u16, Vec<u8>)> {
    let mut ready = client.clone().ready().await.ok()?;
    let (resp, _) = ready.send_request(req, true).ok()?;
    let resp = resp.await.ok()?;
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.ok()?;
        let _ = body.flow_control().release_capacity(chunk.len());
        out.extend_from_slice(&chunk);
    }
    Some((status, out))
}

fn max_requests_per_connection_sends_goaway_after_n(d: Driver) {
    let up = Upstream::echo("up");
    let listener =
        "    max_requests_per_connection: 2\n    forwarding: { xff_num_trusted_hops: 1 }\n";
    let rw = Ringway::start(
        d,
        &config(listener, &catch_all("c", ""), &cluster("c", &[up.addr])),
    );
    let addr = rw.addr();
    block_on(async move {
        let (mut client, conn) = connect(addr).await;
        let xfp = Some(("x-forwarded-proto", "https"));
        assert_eq!(
            call(&mut client, get("/1", xfp)).await.map(|r| r.0),
            Some(200)
        );
        assert_eq!(
            call(&mut client, get("/2", None)).await.map(|r| r.0),
            Some(200)
        );
        // The GOAWAY after the second stream: the third is not served here,
        // and the connection ends.
        assert_eq!(call(&mut client, get("/3", None)).await, None);
        let _ = conn.await;
    });
    let got = up.wait_requests(2);
    assert_eq!(up.request_count(), 2);
    // From a trusted hop: the client's scheme; none sent: the connection's.
    assert_eq!(got[0].header_all("x-forwarded-proto"), ["https"]);
    assert_eq!(got[1].header_all("x-forwarded-proto"), ["http"]);
    assert_eq!(got[0].header_all("x-forwarded-for"), ["127.0.0.1"]);
}

fn max_stream_duration_answers_a_stream_408(d: Driver) {
    let up = Upstream::start("up", |r| match r.target.as_str() {
        "/hang" => Reply::Hang,
        _ => Reply::Bytes(echo_response("up", r)),
    });
    let rw = Ringway::start(
        d,
        &config(
            "    max_stream_duration: 200ms\n",
            &catch_all("c", ""),
            &cluster("c", &[up.addr]),
        ),
    );
    let addr = rw.addr();
    block_on(async move {
        let (mut client, _conn) = connect(addr).await;
        let (status, body) = call(&mut client, get("/hang", None)).await.unwrap();
        assert_eq!(status, 408);
        assert_eq!(body, b"downstream duration timeout\n");
        // The connection serves on.
        let (status, _) = call(&mut client, get("/quick", None)).await.unwrap();
        assert_eq!(status, 200);
    });
}

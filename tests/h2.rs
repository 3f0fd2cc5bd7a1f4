//! HTTP/2 from clients through the real binary to HTTP/1.1 upstreams: curl
//! with prior knowledge (several requests on one connection, a POST), the
//! `h2` crate as a client (many concurrent streams on one connection, a
//! stream reset mid-body, trailers), HTTP/1.1 still served on the same `auto`
//! listener, a `codec: http1` listener that does not speak HTTP/2, the access
//! log's protocol, GOAWAY on drain with the stream in flight finished, and a
//! rapid-reset flood answered by GOAWAY ENHANCE_YOUR_CALM.

#[macro_use]
mod support;

use std::process::Command;

use bytes::Bytes;
use h2::Reason;
use support::{
    h2_client::{block_on, connect, curl},
    *,
};

driver_tests!(
    curl_and_h2load_with_prior_knowledge,
    many_concurrent_streams_share_one_connection,
    a_stream_reset_mid_body_leaves_the_connection_serving,
    bodies_without_a_length_are_chunked_and_trailers_pass,
    http1_still_works_on_an_auto_listener,
    an_http1_listener_does_not_speak_http2,
    the_access_log_says_http2,
    drain_sends_goaway_and_the_stream_in_flight_finishes,
    rapid_reset_is_answered_by_goaway,
    h2_over_tls_by_alpn_with_large_bodies_both_ways,
);

fn h2_get(path: &str) -> http::Request<()> {
    http::Request::get(format!("http://app.test{path}"))
        .body(())
        .unwrap()
}

/// The whole body of a response.
async fn body_of(resp: http::Response<h2::RecvStream>) -> (http::response::Parts, Vec<u8>) {
    let (parts, mut body) = resp.into_parts();
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("body data");
        let _ = body.flow_control().release_capacity(chunk.len());
        out.extend_from_slice(&chunk);
    }
    (parts, out)
}

/// curl 7.88 cannot reuse a prior-knowledge connection (its second request
/// fails with "Error in the HTTP2 framing layer" against nghttpd too), so curl
/// sends one request per connection and h2load sends several on one.
fn curl_and_h2load_with_prior_knowledge(d: Driver) {
    let up = Upstream::echo("u1");
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let base = format!("http://{}", rw.addr());
    let get = curl(&["--http2-prior-knowledge", "-D", "-", &format!("{base}/one")]);
    assert!(get.starts_with("HTTP/2 200"), "{get}");
    let post = curl(&[
        "--http2-prior-knowledge",
        "--data-binary",
        "hello over h2",
        "-D",
        "-",
        &format!("{base}/post"),
    ]);
    assert!(post.starts_with("HTTP/2 200"), "{post}");
    assert!(post.contains("x-upstream: u1"), "{post}");
    assert!(post.ends_with("hello over h2"), "{post}");
    let seen = up.wait_requests(2);
    assert_eq!(seen[0].target, "/one");
    assert_eq!(seen[0].version, 1, "HTTP/1.1 upstream");
    assert_eq!(seen[0].header("host"), Some(rw.addr().to_string().as_str()));
    assert_eq!(seen[1].method, "POST");
    assert_eq!(seen[1].body, b"hello over h2");
    assert_eq!(seen[1].header("content-length"), Some("13"));
    assert_eq!(seen[1].header("x-forwarded-proto"), Some("http"));

    // Ten requests, one connection, one stream at a time, then four at once.
    for streams in ["1", "4"] {
        let out = Command::new("h2load")
            .args(["-n", "10", "-c", "1", "-m", streams])
            .arg(format!("{base}/load"))
            .output()
            .expect("h2load (nghttp2-client, installed by .ci/run)");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("requests: 10 total, 10 started, 10 done, 10 succeeded"),
            "{text}"
        );
        assert!(text.contains("status codes: 10 2xx"), "{text}");
    }
    up.wait_requests(22);
}

fn many_concurrent_streams_share_one_connection(d: Driver) {
    const STREAMS: usize = 100;
    let up = Upstream::echo("u1");
    let yaml = simple_config(&[up.addr])
        .replace("listeners:", "admin:\n  address: 127.0.0.1:0\nlisteners:");
    let rw = Ringway::start(d, &yaml);
    let addr = rw.addr();
    block_on(async move {
        let (client, _conn) = connect(addr).await;
        let mut calls = Vec::new();
        for i in 0..STREAMS {
            let mut client = client.clone().ready().await.expect("ready");
            let call = monoio::spawn(async move {
                let body = format!("body {i}");
                let req = http::Request::post(format!("http://app.test/s/{i}"))
                    .header("content-length", body.len())
                    .header("cookie", "a=1")
                    .header("cookie", format!("b={i}"))
                    .body(())
                    .unwrap();
                let (resp, mut send) = client.send_request(req, false).expect("send");
                send.send_data(Bytes::from(body.clone()), true).unwrap();
                let (parts, got) = body_of(resp.await.expect("response")).await;
                assert_eq!(parts.status, 200);
                assert_eq!(parts.headers["x-seen-target"], format!("/s/{i}"));
                assert!(parts.headers.get("connection").is_none());
                assert!(parts
                    .headers
                    .get("x-ringway-upstream-service-time")
                    .is_some());
                assert_eq!(got, body.as_bytes());
            });
            calls.push(call);
        }
        for c in calls {
            c.await;
        }
    });
    let seen = up.wait_requests(STREAMS);
    let r = seen.iter().find(|r| r.target == "/s/7").unwrap();
    assert_eq!(r.header("cookie"), Some("a=1; b=7"), "crumbs joined");
    let stats = admin::stats(rw.admin());
    assert_eq!(admin::stat(&stats, "http.ingress.downstream_cx_total"), 1);
    assert_eq!(
        admin::stat(&stats, "http.ingress.downstream_rq_total"),
        STREAMS as u64
    );
}

fn a_stream_reset_mid_body_leaves_the_connection_serving(d: Driver) {
    let up = Upstream::echo("u1");
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let addr = rw.addr();
    let up_accepted = || up.accepted();
    block_on(async move {
        let (mut client, _conn) = connect(addr).await;
        let req = http::Request::post("http://app.test/upload")
            .header("content-length", "1000000")
            .body(())
            .unwrap();
        let (resp, mut send) = client.send_request(req, false).unwrap();
        // More than the listener buffers (64 KiB): the body streams upstream.
        send.reserve_capacity(200 * 1024);
        let mut sent = 0;
        while sent < 200 * 1024 {
            let n = std::future::poll_fn(|cx| send.poll_capacity(cx))
                .await
                .unwrap()
                .unwrap();
            send.send_data(Bytes::from(vec![b'x'; n]), false).unwrap();
            sent += n;
        }
        // Once the upstream has the request, the client gives up on it.
        while up_accepted() == 0 {
            monoio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        send.send_reset(Reason::CANCEL);
        assert!(resp.await.is_err(), "the reset stream has no response");
        let (mut client, _) = (client.ready().await.expect("still open"), ());
        let (resp, _) = client.send_request(h2_get("/after"), true).unwrap();
        let (parts, _) = body_of(resp.await.expect("response after the reset")).await;
        assert_eq!(parts.status, 200);
    });
    let seen = up.wait_requests(1);
    assert_eq!(
        seen[0].target, "/after",
        "the cut-off upload never completed"
    );
}

fn bodies_without_a_length_are_chunked_and_trailers_pass(d: Driver) {
    let up = Upstream::start("u1", |_| {
        Reply::Bytes(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: grpc-status\r\n\r\n\
              5\r\nhello\r\n0\r\ngrpc-status: 0\r\n\r\n"
                .to_vec(),
        )
    });
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let addr = rw.addr();
    block_on(async move {
        let (mut client, _conn) = connect(addr).await;
        let req = http::Request::post("http://app.test/stream")
            .header("te", "trailers")
            .body(())
            .unwrap();
        let (resp, mut send) = client.send_request(req, false).unwrap();
        send.send_data(Bytes::from_static(b"part one, "), false)
            .unwrap();
        send.send_data(Bytes::from_static(b"part two"), false)
            .unwrap();
        let mut trailers = http::HeaderMap::new();
        trailers.insert("x-checksum", "abc".parse().unwrap());
        send.send_trailers(trailers).unwrap();
        let (parts, mut body) = resp.await.expect("response").into_parts();
        assert_eq!(parts.status, 200);
        let mut got = Vec::new();
        while let Some(c) = body.data().await {
            got.extend_from_slice(&c.unwrap());
        }
        assert_eq!(got, b"hello");
        let t = body.trailers().await.unwrap().expect("trailers");
        assert_eq!(t["grpc-status"], "0");
    });
    let seen = up.wait_requests(1);
    assert!(seen[0].chunked, "no length: chunked upstream");
    assert_eq!(seen[0].body, b"part one, part two");
    assert_eq!(seen[0].header("te"), Some("trailers"));
    assert_eq!(
        seen[0].trailers,
        [("x-checksum".to_string(), "abc".to_string())]
    );
}

fn http1_still_works_on_an_auto_listener(d: Driver) {
    let up = Upstream::echo("u1");
    let rw = Ringway::start(d, &simple_config(&[up.addr]));
    let mut c = Client::connect(rw.addr());
    for path in ["/a", "/b"] {
        let r = c.get("app.test", path);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-seen-target"), Some(path));
    }
    // And HTTP/2 on the same listener, meanwhile.
    let addr = rw.addr();
    block_on(async move {
        let (mut client, _conn) = connect(addr).await;
        let (resp, _) = client.send_request(h2_get("/h2"), true).unwrap();
        assert_eq!(resp.await.unwrap().status(), 200);
    });
    let r = c.get("app.test", "/c");
    assert_eq!(r.status, 200);
}

fn an_http1_listener_does_not_speak_http2(d: Driver) {
    let up = Upstream::echo("u1");
    let rw = Ringway::start(
        d,
        &config(
            "    codec: http1\n",
            &catch_all("c", ""),
            &cluster("c", &[up.addr]),
        ),
    );
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--http2-prior-knowledge"])
        .arg(format!("http://{}/x", rw.addr()))
        .output()
        .unwrap();
    assert!(!out.status.success(), "no HTTP/2 on an http1 listener");
    assert_eq!(up.request_count(), 0);
    let r = get(rw.addr(), "app.test", "/ok");
    assert_eq!(r.status, 200);
}

fn the_access_log_says_http2(d: Driver) {
    let up = Upstream::echo("u1");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let extra = format!(
        "    access_log:\n      path: {}\n      format: \"%REQ(:METHOD)% %PROTOCOL% %RESPONSE_CODE% %REQ(:AUTHORITY)%\\n\"\n",
        log.display()
    );
    let mut rw = Ringway::start(
        d,
        &config(&extra, &catch_all("c", ""), &cluster("c", &[up.addr])),
    );
    curl(&[
        "--http2-prior-knowledge",
        &format!("http://{}/log", rw.addr()),
    ]);
    let r = get(rw.addr(), "app.test", "/h1");
    assert_eq!(r.status, 200);
    rw.sigterm();
    rw.wait_exit();
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            format!("GET HTTP/2 200 {}", rw.addr()).as_str(),
            "GET HTTP/1.1 200 app.test"
        ],
        "{text}"
    );
}

fn drain_sends_goaway_and_the_stream_in_flight_finishes(d: Driver) {
    let gate = Gate::new();
    let g = gate.clone();
    let up = Upstream::start("u1", move |r| {
        if r.target == "/slow" {
            Reply::After(g.clone(), Box::new(Reply::Bytes(ok_response("late"))))
        } else {
            Reply::Bytes(ok_response("quick"))
        }
    });
    let mut rw = Ringway::start(d, &simple_config(&[up.addr]));
    let addr = rw.addr();
    let pid = rw.pid();
    let upstream = &up;
    block_on(async move {
        let (mut client, conn) = connect(addr).await;
        let (resp, _) = client.send_request(h2_get("/slow"), true).unwrap();
        while upstream.request_count() == 0 {
            monoio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        // SAFETY: signalling the child this test started, by its PID.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        // GOAWAY: the client may open no new stream.
        loop {
            let refused = match client.clone().ready().await {
                Err(_) => true,
                Ok(mut c) => match c.send_request(h2_get("/new"), true) {
                    Err(_) => true,
                    Ok((r, _)) => r.await.is_err(),
                },
            };
            if refused {
                break;
            }
            monoio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        gate.open();
        let (parts, body) = body_of(resp.await.expect("the stream in flight finishes")).await;
        assert_eq!(parts.status, 200);
        assert_eq!(body, b"late");
        let _ = conn.await;
    });
    assert!(rw.wait_exit().success());
    let slow = up.requests().iter().filter(|r| r.target == "/slow").count();
    assert_eq!(slow, 1);
}

fn rapid_reset_is_answered_by_goaway(d: Driver) {
    let up = Upstream::echo("u1");
    let yaml = format!(
        "admin: {{ address: 127.0.0.1:0 }}\n{}",
        simple_config(&[up.addr])
    );
    let rw = Ringway::start(d, &yaml);
    let addr = rw.addr();
    block_on(async move {
        let (client, conn) = connect(addr).await;
        // Streams opened and cancelled at once, as in CVE-2023-44487.
        let mut opened = 0;
        for _ in 0..200 {
            let Ok(mut c) = client.clone().ready().await else {
                break;
            };
            let Ok((_resp, mut send)) = c.send_request(h2_get("/flood"), false) else {
                break;
            };
            send.send_reset(Reason::CANCEL);
            opened += 1;
        }
        let e = conn.await.expect_err("the connection ends with an error");
        assert_eq!(
            e.reason(),
            Some(Reason::ENHANCE_YOUR_CALM),
            "{e} after {opened} streams"
        );
        assert!(e.is_go_away() && e.is_remote(), "{e}");
    });
    // The flood cost only its own connection.
    let addr = rw.addr();
    block_on(async move {
        let (mut client, _conn) = connect(addr).await;
        let (resp, _) = client.send_request(h2_get("/fine"), true).unwrap();
        assert_eq!(resp.await.unwrap().status(), 200);
    });
    // Counted: both connections, and the GOAWAY for the flood.
    let stats = admin::stats(rw.admin());
    assert_eq!(admin::stat(&stats, "http.ingress.http2.connections"), 2);
    assert_eq!(
        admin::stat(&stats, "http.ingress.http2.rx_messaging_error"),
        1
    );
    assert!(admin::stat(&stats, "http.ingress.http2.goaway_sent") >= 1);
}

fn h2_over_tls_by_alpn_with_large_bodies_both_ways(d: Driver) {
    let dir = tempfile::tempdir().unwrap();
    let ca = support::tls::TestCa::new("h2 test CA");
    let leaf = ca.issue(dir.path(), "a", &["a.test"]);
    let ca_path = ca.write(dir.path());
    let up = Upstream::echo("u1");
    let tls = format!(
        "    tls:\n      certificates:\n        - {{ cert_chain: \"{}\", private_key: \"{}\" }}\n",
        leaf.cert_path, leaf.key_path
    );
    let rw = Ringway::start(
        d,
        &config(&tls, &catch_all("c", ""), &cluster("c", &[up.addr])),
    );
    let port = rw.addr().port();
    let resolve = format!("a.test:{port}:127.0.0.1");
    let url = |path: &str| format!("https://a.test:{port}{path}");
    let tls_args = ["--cacert", ca_path.as_str(), "--resolve", resolve.as_str()];

    // curl offers h2 by ALPN and gets it.
    let mut args = vec!["--http2", "-D", "-", "--data-binary", "tls body"];
    args.extend(tls_args);
    let u = url("/tls");
    args.push(&u);
    let out = curl(&args);
    assert!(out.starts_with("HTTP/2 200"), "{out}");
    assert!(out.ends_with("tls body"), "{out}");

    // 3 MiB up and back: more than the stream (256 KiB) and connection
    // (1 MiB) windows, so both directions wait on flow control.
    let big: Vec<u8> = (0..3 * 1024 * 1024u64).map(pattern_byte).collect();
    let src = dir.path().join("big.bin");
    let dst = dir.path().join("back.bin");
    std::fs::write(&src, &big).unwrap();
    let data = format!("@{}", src.display());
    let dst_s = dst.display().to_string();
    let u = url("/big");
    let mut args = vec![
        "--http2",
        "--data-binary",
        &data,
        "-o",
        &dst_s,
        "-w",
        "%{http_version} %{response_code}",
    ];
    args.extend(tls_args);
    args.push(&u);
    assert_eq!(curl(&args), "2 200");
    assert!(
        std::fs::read(&dst).unwrap() == big,
        "the body came back whole"
    );

    // HTTP/1.1 on the same listener, by ALPN.
    let u = url("/h1");
    let mut args = vec![
        "--http1.1",
        "-o",
        "/dev/null",
        "-w",
        "%{http_version} %{response_code}",
    ];
    args.extend(tls_args);
    args.push(&u);
    assert_eq!(curl(&args), "1.1 200");

    // Several streams on one TLS connection, four at a time.
    let out = Command::new("h2load")
        .args(["-n", "20", "-c", "1", "-m", "4"])
        .arg(format!("https://127.0.0.1:{port}/load"))
        .output()
        .expect("h2load");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("20 succeeded"), "{text}");
    assert!(text.contains("Application protocol: h2"), "{text}");

    let seen = up.wait_requests(23);
    assert_eq!(seen[0].header("x-forwarded-proto"), Some("https"));
    assert_eq!(seen[1].body.len(), big.len());
}

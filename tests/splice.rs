//! Large response bodies spliced (socket → the worker's pipe → socket)
//! through the real binary, on both drivers: pseudo-random multi-MiB bodies
//! arrive byte-exact, several on one keep-alive connection whose upstream
//! connection is reused, and uploads (copied) with their echo (spliced); bodiless responses never take the pipe; an upstream or a client
//! that goes away mid-body is handled as the copy path handles it; the byte
//! counters match what crossed each socket; no descriptor leaks.
//!
//! That a body was spliced is seen from outside: the worker's pipe (two
//! `pipe:` descriptors in `/proc/PID/fd`) exists only once a body has gone
//! through it.

#[macro_use]
mod support;

use std::{
    collections::HashMap,
    io::{Read, Write},
    net::TcpStream,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

use support::{
    admin::{clusters, stat, stats},
    *,
};

driver_tests!(
    large_bodies_arrive_byte_exact_on_one_keep_alive_connection,
    large_uploads_arrive_byte_exact,
    bodiless_and_small_responses_are_not_spliced,
    an_upstream_closing_mid_body_is_handled_as_when_copied,
    a_client_closing_mid_body_leaves_no_upstream_connection_to_reuse,
    many_spliced_responses_leak_no_descriptor,
    stray_bytes_past_a_spliced_body_end_the_upstream_connection,
);

/// A body this long is spliced (well over `relay::SPLICE_MIN`), and more than
/// the pipe holds, so it passes through it several times.
const BIG: usize = 3 * 1024 * 1024 + 12_345;

/// `len` pseudo-random bytes (xorshift64 from `seed`).
fn random_body(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// FNV-1a: what the tests compare bodies by (a mismatch prints two numbers,
/// not two MiB).
fn hash(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &c| {
        (h ^ c as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn response_with(status: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// The `pipe:` descriptors ringway holds.
fn pipes(rw: &Ringway) -> usize {
    descriptors(rw)
        .iter()
        .filter(|l| l.starts_with("pipe:"))
        .count()
}

fn descriptors(rw: &Ringway) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{}/fd", rw.pid()))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|l| l.display().to_string())
        .collect()
}

fn yaml(up: &Upstream) -> String {
    format!(
        "stats: {{ naming: envoy }}\nadmin: {{ address: 127.0.0.1:0 }}\n{}",
        simple_config(&[up.addr])
    )
}

/// One upstream serving `/big/N` (body N of `BIG` bytes), `/small` and the
/// bodiless answers; what it sent, per path, in `sent`.
fn body_upstream() -> Upstream {
    Upstream::start("up", |r| {
        let path = r.target.as_str();
        Reply::Bytes(match path {
            "/small" => response_with("200 OK", b"small and copied"),
            "/304" => b"HTTP/1.1 304 Not Modified\r\ncontent-length: 5000000\r\n\r\n".to_vec(),
            "/204" => b"HTTP/1.1 204 No Content\r\n\r\n".to_vec(),
            // A second response nobody asked for, in the same write.
            "/stray" => {
                let mut r = response_with("200 OK", &random_body(9, BIG));
                r.extend_from_slice(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nforged");
                r
            }
            _ => {
                let seed: u64 = path.trim_start_matches("/big/").parse().unwrap_or(7);
                let body = random_body(seed, BIG);
                if r.method == "HEAD" {
                    format!("HTTP/1.1 200 OK\r\ncontent-length: {BIG}\r\n\r\n").into_bytes()
                } else {
                    response_with("200 OK", &body)
                }
            }
        })
    })
}

fn large_bodies_arrive_byte_exact_on_one_keep_alive_connection(d: Driver) {
    let up = body_upstream();
    let rw = Ringway::start(d, &yaml(&up));
    assert_eq!(pipes(&rw), pipes(&rw), "stable");
    let before = pipes(&rw);
    let mut c = Client::connect(rw.addr());
    let (mut to_client, mut from_upstream) = (0, 0);
    for seed in 1..=4u64 {
        let r = c.get("h", &format!("/big/{seed}"));
        assert_eq!(r.status, 200);
        assert_eq!(r.body.len(), BIG, "response {seed}");
        assert_eq!(
            hash(&r.body),
            hash(&random_body(seed, BIG)),
            "response {seed}"
        );
        to_client += r.head.len() + r.body.len();
        from_upstream += response_with("200 OK", &r.body).len();
        // The next response on the connection is intact too (a small one, copied).
        let r = c.get("h", "/small");
        assert_eq!(r.body_str(), "small and copied");
        to_client += r.head.len() + r.body.len();
        from_upstream += response_with("200 OK", b"small and copied").len();
    }
    assert_eq!(
        up.accepted(),
        1,
        "the upstream connection was reused after each spliced body"
    );
    assert_eq!(pipes(&rw), before + 2, "one pipe, kept for reuse");
    // Spliced bytes count on both sockets exactly as copied ones.
    let admin = rw.admin();
    wait_until("byte counters", || {
        let s = stats(admin);
        stat(&s, "http.ingress.downstream_cx_tx_bytes_total") == to_client as u64
            && stat(&s, "cluster.c.upstream_cx_rx_bytes_total") == from_upstream as u64
    });
}

fn large_uploads_arrive_byte_exact(d: Driver) {
    let up = Upstream::echo("up");
    let rw = Ringway::start(d, &yaml(&up));
    let before = pipes(&rw);
    let mut c = Client::connect(rw.addr());
    let mut sent_up = 0;
    for seed in 1..=3u64 {
        let body = random_body(seed + 100, BIG);
        let head = format!("POST /up/{seed} HTTP/1.1\r\nHost: h\r\nContent-Length: {BIG}\r\n\r\n");
        // Written from another thread: the echo comes back while it is sent.
        let mut w = c.stream.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            w.write_all(head.as_bytes()).unwrap();
            w.write_all(&body).unwrap();
        });
        let r = c.read_response();
        writer.join().unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(
            hash(&r.body),
            hash(&random_body(seed + 100, BIG)),
            "echo {seed}"
        );
        sent_up += BIG;
    }
    let got: usize = up.requests().iter().map(|r| r.body.len()).sum();
    assert_eq!(got, sent_up);
    assert!(up
        .requests()
        .iter()
        .enumerate()
        .all(|(i, r)| hash(&r.body) == hash(&random_body(i as u64 + 101, BIG))));
    assert_eq!(up.accepted(), 1);
    assert_eq!(pipes(&rw), before + 2);
    let s = stats(rw.admin());
    assert!(stat(&s, "cluster.c.upstream_cx_tx_bytes_total") >= sent_up as u64);
    assert!(stat(&s, "http.ingress.downstream_cx_rx_bytes_total") >= sent_up as u64);
}

fn bodiless_and_small_responses_are_not_spliced(d: Driver) {
    let up = body_upstream();
    let rw = Ringway::start(d, &yaml(&up));
    let before = pipes(&rw);
    let mut c = Client::connect(rw.addr());
    c.send(b"HEAD /big/1 HTTP/1.1\r\nHost: h\r\n\r\n");
    let r = c.try_read_response(true).unwrap();
    assert_eq!((r.status, r.body.len()), (200, 0));
    assert_eq!(r.header("content-length"), Some(BIG.to_string().as_str()));
    assert_eq!(c.get("h", "/304").status, 304);
    assert_eq!(c.get("h", "/204").status, 204);
    assert_eq!(c.get("h", "/small").body_str(), "small and copied");
    assert_eq!(
        pipes(&rw),
        before,
        "no pipe for bodiless or small responses"
    );
    // …while a large body does take one (the observation works).
    assert_eq!(hash(&c.get("h", "/big/9").body), hash(&random_body(9, BIG)));
    assert_eq!(pipes(&rw), before + 2);
    assert_eq!(up.accepted(), 1);
}

/// An upstream answering `/cut/LEN` with a head announcing `BIG` bytes, then
/// only `LEN` of them before it closes.
fn cutting_upstream() -> Upstream {
    Upstream::start("up", |r| {
        let len: usize = r.target.trim_start_matches("/cut/").parse().unwrap();
        let mut out = format!("HTTP/1.1 200 OK\r\ncontent-length: {BIG}\r\n\r\n").into_bytes();
        out.extend_from_slice(&random_body(3, len));
        Reply::BytesThenClose(out)
    })
}

/// The counters (not the byte counts, gauges or timings) `/stats` shows after
/// one request for `path` cut short by the upstream, and whether the client
/// saw its response truncated.
fn after_cut(d: Driver, path: &str) -> (HashMap<String, String>, bool, usize) {
    let up = cutting_upstream();
    let rw = Ringway::start(d, &yaml(&up));
    let before = pipes(&rw);
    let mut c = Client::connect(rw.addr());
    c.send(format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes());
    // Truncated: the connection closed before the body's end (not reused).
    let truncated = matches!(c.try_read_response(false), Err(ReadFail::Truncated(_)));
    // The exchange is over once its client connection has closed.
    let admin = rw.admin();
    let s = wait_for("client connection closed", || {
        let s = stats(admin);
        (stat(&s, "http.ingress.downstream_cx_active") == 0).then_some(s)
    });
    // Per host (`/clusters`, host address left out: each run has its own).
    let hosts = clusters(admin).into_iter().filter_map(|(k, v)| {
        let (_, fact) = k.rsplit_once("::")?;
        (fact.starts_with("rq_") || fact.starts_with("cx_")).then(|| (format!("host::{fact}"), v))
    });
    let counters = s
        .into_iter()
        .chain(hosts)
        .filter(|(k, v)| {
            // Timings differ; listener stats are named by their (ephemeral) port.
            !k.contains("bytes")
                && !k.ends_with("_time")
                && !k.starts_with("server.")
                && !k.starts_with("listener.")
                && v.parse::<u64>().is_ok()
        })
        .collect();
    (counters, truncated, pipes(&rw) - before)
}

fn an_upstream_closing_mid_body_is_handled_as_when_copied(d: Driver) {
    let (copied, copied_cut, _) = after_cut(d, "/cut/10");
    let (spliced, spliced_cut, left) = after_cut(d, "/cut/1000000");
    assert!(
        copied_cut && spliced_cut,
        "the client sees the body cut short"
    );
    assert_eq!(left, 0, "the pipe went with the failed relay");
    let differ: Vec<_> = copied
        .iter()
        .filter(|(k, v)| spliced.get(*k) != Some(v))
        .map(|(k, v)| format!("{k}: copied {v}, spliced {:?}", spliced.get(k)))
        .collect();
    assert!(differ.is_empty(), "counted differently: {differ:#?}");
    let mut nonzero: Vec<_> = copied.iter().filter(|(_, v)| *v != "0").collect();
    nonzero.sort();
    eprintln!("counted alike: {nonzero:#?}");
}

fn a_client_closing_mid_body_leaves_no_upstream_connection_to_reuse(d: Driver) {
    let cut = Arc::new(AtomicBool::new(false));
    let seen = cut.clone();
    let up = Upstream::start("up", move |r| {
        if r.target == "/small" {
            return Reply::Bytes(response_with("200 OK", b"small and copied"));
        }
        let seen = seen.clone();
        Reply::Custom(Box::new(move |s| {
            // Far more than the sockets between here and the client hold.
            let body = random_body(5, 64 * 1024 * 1024);
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
            let done = s
                .write_all(head.as_bytes())
                .and_then(|_| s.write_all(&body));
            seen.store(done.is_err(), Ordering::SeqCst);
            false
        }))
    });
    let rw = Ringway::start(d, &yaml(&up));
    let before = pipes(&rw);
    let mut c = TcpStream::connect(rw.addr()).unwrap();
    c.write_all(b"GET /big HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let mut got = vec![0; 512 * 1024];
    c.read_exact(&mut got).unwrap();
    drop(c); // unread bytes: a reset
    wait_until("ringway closing the upstream connection mid-body", || {
        cut.load(Ordering::SeqCst)
    });
    let r = Client::connect(rw.addr()).get("h", "/small");
    assert_eq!(r.body_str(), "small and copied");
    assert_eq!(
        up.accepted(),
        2,
        "a fresh upstream connection for the next request"
    );
    wait_until("the failed relay's pipe closed", || pipes(&rw) == before);
}

fn many_spliced_responses_leak_no_descriptor(d: Driver) {
    let up = Upstream::start("up", |r| {
        let path = r.target.as_str();
        match path.strip_prefix("/cut") {
            Some(_) => {
                let mut out =
                    format!("HTTP/1.1 200 OK\r\ncontent-length: {BIG}\r\n\r\n").into_bytes();
                out.extend_from_slice(&random_body(3, 400_000));
                Reply::BytesThenClose(out)
            }
            None => Reply::Bytes(response_with("200 OK", &random_body(1, 300_000))),
        }
    });
    let rw = Ringway::start(d, &yaml(&up));
    let pipes_at_start = pipes(&rw);
    let want = hash(&random_body(1, 300_000));
    let warm = Client::connect(rw.addr()).get("h", "/warm");
    assert_eq!(hash(&warm.body), want);
    let admin = rw.admin();
    let settled = || {
        wait_until("client connections closed", || {
            stat(&stats(admin), "http.ingress.downstream_cx_active") == 0
        })
    };
    settled();
    let (before, pipes_before) = (descriptors(&rw).len(), pipes(&rw));
    assert_eq!(
        pipes_before,
        pipes_at_start + 2,
        "the warm-up made the pipe"
    );
    for i in 0..40 {
        if i % 8 == 7 {
            let mut c = Client::connect(rw.addr());
            c.send(b"GET /cut HTTP/1.1\r\nHost: h\r\n\r\n");
            assert!(matches!(
                c.try_read_response(false),
                Err(ReadFail::Truncated(_))
            ));
        } else {
            let r = Client::connect(rw.addr()).get("h", &format!("/{i}"));
            assert_eq!(hash(&r.body), want, "response {i}");
        }
    }
    // The last request leaves one pooled upstream connection, as the warm-up did.
    assert_eq!(
        hash(&Client::connect(rw.addr()).get("h", "/last").body),
        want
    );
    settled();
    // At most as many as before (the admin connection `settled` used may
    // still have been open then), and the same one pipe.
    wait_until("descriptors back to their count", || {
        descriptors(&rw).len() <= before
    });
    assert_eq!(pipes(&rw), pipes_before);
}

/// An upstream that sends more than its response (here a second, forged one
/// in the same write): the bytes past the spliced body are not taken for the
/// next request's response; the connection is closed, not pooled, as the copy
/// path does when such bytes arrive with the body.
fn stray_bytes_past_a_spliced_body_end_the_upstream_connection(d: Driver) {
    let up = body_upstream();
    let rw = Ringway::start(d, &yaml(&up));
    let mut c = Client::connect(rw.addr());
    let r = c.get("h", "/stray");
    assert_eq!(r.status, 200);
    assert_eq!(hash(&r.body), hash(&random_body(9, BIG)));
    let r = c.get("h", "/small");
    assert_eq!(r.body_str(), "small and copied");
    assert_eq!(
        up.accepted(),
        2,
        "the first upstream connection was not reused"
    );
}

//! Access-log operators through the real binary that the admin tests do not
//! cover: `%RESP(H)%` for any response header (as sent to the client), with
//! alternatives and a length cap, and `-` for a header that is not there or a
//! reply of ringway's own; JSON lines (typed values, escaping, the response
//! code details of a proxied 200, a 404 without a route and a 503 connect
//! failure, start times in several formats); Envoy's stdout logger with a
//! filter; filters choosing lines; HTTP/2 requests' pseudo-headers.

#[macro_use]
mod support;

use std::{
    process::Command,
    time::{SystemTime, UNIX_EPOCH},
};

use serde_json::Value;
use support::*;

driver_tests!(
    resp_operator_logs_response_headers,
    json_lines_carry_typed_fields_and_details,
    envoy_stdout_logger_writes_filtered_json_lines,
    filters_choose_the_lines,
    http2_requests_log_their_pseudo_headers,
    stdout_lines_from_two_workers_stay_whole,
    upstream_local_address_is_the_pooled_connections,
);

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Seconds since the epoch of a UTC `YYYY-MM-DDTHH:MM:SS[.frac]` (Hinnant's
/// days-from-civil).
fn iso_secs(text: &str) -> f64 {
    let t = text.trim_end_matches('Z');
    let (date, time) = t.split_once('T').expect("date T time");
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let parts: Vec<f64> = time.split(':').map(|x| x.parse().unwrap()).collect();
    (days * 86_400) as f64 + parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]
}

/// Every line of `path` as JSON, once there are `n`.
fn json_lines(path: &std::path::Path, n: usize) -> Vec<Value> {
    let text = wait_for("access log lines", || {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        (text.lines().count() >= n).then_some(text)
    });
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

const JSON_FORMAT: &str = "      json_format:
        code: \"%RESPONSE_CODE%\"
        details: \"%RESPONSE_CODE_DETAILS%\"
        flags: \"%RESPONSE_FLAGS%\"
        request: { method: \"%REQ(:METHOD)%\", path: \"%REQ(:PATH)%\", scheme: \"%REQ(:SCHEME)%\", ua: \"%REQ(USER-AGENT)%\", none: \"%REQ(X-NONE)%\", short: \"%REQ(X-NONE?:PATH):3%\" }
        bytes: { sent: \"%BYTES_SENT%\", received: \"%BYTES_RECEIVED%\" }
        durations: { total: \"%DURATION%\", request: \"%REQUEST_DURATION%\", response: \"%RESPONSE_DURATION%\" }
        transport: \"%UPSTREAM_TRANSPORT_FAILURE_REASON%\"
        cluster: \"%UPSTREAM_CLUSTER%\"
        route: \"%ROUTE_NAME%\"
        local: \"%DOWNSTREAM_LOCAL_ADDRESS%\"
        peer: \"%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%\"
        conn: \"%CONNECTION_ID%\"
        host: \"%HOSTNAME%\"
        start: \"%START_TIME%\"
        epoch: \"%START_TIME(%s.%3f)%\"
        stamp: \"%START_TIME(%Y-%m-%dT%H:%M:%S.%6fZ)%\"
        text: \"%PROTOCOL% at %START_TIME(%s)%\"
";

fn resp_operator_logs_response_headers(d: Driver) {
    let up = Upstream::start("up", |_| {
        Reply::Bytes(
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/x-test\r\nx-long: abcdefgh\r\n\r\nok"
                .to_vec(),
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let listener = format!(
        "    access_log:\n      path: \"{}\"\n      format: \"%REQ(:PATH)% [%RESP(CONTENT-TYPE)%] [%RESP(X-MISSING)%] [%RESP(X-NOPE?X-LONG):3%] [%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%]\\n\"\n",
        log.display()
    );
    let vhosts = "      - domains: [\"only.test\"]\n        routes:\n\
        \x20         - match: { prefix: / }\n            cluster: c\n";
    let rw = Ringway::start(d, &config(&listener, vhosts, &cluster("c", &[up.addr])));
    let mut c = Client::connect(rw.addr());
    assert_eq!(c.get("only.test", "/up").status, 200);
    assert_eq!(c.get("elsewhere.test", "/own").status, 404);
    let text = wait_for("two access log lines", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        (text.lines().count() >= 2).then_some(text)
    });
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("/up [text/x-test] [-] [abc] ["),
        "{lines:?}"
    );
    assert!(
        !lines[0].ends_with("[-]"),
        "the service time is logged: {lines:?}"
    );
    assert_eq!(
        lines[1], "/own [-] [-] [-] [-]",
        "ringway's own reply has no upstream headers"
    );
}

/// `%UPSTREAM_LOCAL_ADDRESS%` is ringway's end of the upstream connection: a
/// loopback address with a real port, not the upstream's, and the same for two
/// requests on one pooled connection.
fn upstream_local_address_is_the_pooled_connections(d: Driver) {
    let up = Upstream::echo("up");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let listener = format!(
        "    access_log:\n      path: \"{}\"\n      format: \"%UPSTREAM_LOCAL_ADDRESS% %UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT% %UPSTREAM_LOCAL_PORT% %UPSTREAM_REMOTE_ADDRESS%\\n\"\n",
        log.display()
    );
    let rw = Ringway::start(
        d,
        &config(&listener, &catch_all("c", ""), &cluster("c", &[up.addr])),
    );
    let mut c = Client::connect(rw.addr());
    assert_eq!(c.get("a.test", "/1").status, 200);
    assert_eq!(c.get("a.test", "/2").status, 200);
    assert_eq!(up.accepted(), 1, "one pooled upstream connection");
    let text = wait_for("two access log lines", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        (text.lines().count() >= 2).then_some(text)
    });
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], lines[1], "one connection, one address");
    let fields: Vec<&str> = lines[0].split(' ').collect();
    let local: std::net::SocketAddr = fields[0].parse().expect(lines[0]);
    assert!(local.ip().is_loopback() && local.port() != 0, "{lines:?}");
    assert_eq!(fields[1], local.ip().to_string());
    assert_eq!(fields[2], local.port().to_string());
    assert_eq!(fields[3], up.addr.to_string());
    assert_ne!(local, up.addr);
}

fn json_lines_carry_typed_fields_and_details(d: Driver) {
    let up = Upstream::echo("up");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let listener = format!(
        "    access_log:\n      path: \"{}\"\n{JSON_FORMAT}",
        log.display()
    );
    let vhosts = "      - domains: [\"ok.test\"]\n        routes:\n\
        \x20         - match: { prefix: / }\n            name: to-c\n            cluster: c\n\
        \x20     - domains: [\"down.test\"]\n        routes:\n\
        \x20         - match: { prefix: / }\n            cluster: dead\n";
    let clusters = format!(
        "{}{}",
        cluster("c", &[up.addr]),
        cluster("dead", &[refused_addr()])
    );
    let rw = Ringway::start(d, &config(&listener, vhosts, &clusters));
    let before = now_secs();
    let mut c = Client::connect(rw.addr());
    let r = c.roundtrip(b"POST /ok?q=1 HTTP/1.1\r\nHost: ok.test\r\nUser-Agent: a\"b\\c \xff\r\ncontent-length: 5\r\n\r\nhello");
    assert_eq!(r.status, 200);
    assert_eq!(c.get("elsewhere.test", "/nope").status, 404);
    assert_eq!(c.get("down.test", "/down").status, 503);
    let lines = json_lines(&log, 3);
    let after = now_secs();
    let (ok, nope, down) = (&lines[0], &lines[1], &lines[2]);

    assert_eq!(ok["code"], 200);
    assert_eq!(ok["details"], "via_upstream");
    assert_eq!(ok["flags"], "-");
    assert_eq!(ok["request"]["method"], "POST");
    assert_eq!(ok["request"]["path"], "/ok?q=1");
    assert_eq!(ok["request"]["scheme"], "http");
    assert_eq!(
        ok["request"]["ua"], "a\"b\\c \u{ff}",
        "each non-UTF-8 byte is escaped as \\u00XX"
    );
    assert_eq!(ok["request"]["none"], Value::Null);
    assert_eq!(ok["request"]["short"], "/ok");
    assert_eq!(ok["bytes"]["received"], 5);
    assert!(ok["bytes"]["sent"].as_u64().unwrap() > 0, "{ok}");
    for key in ["total", "request", "response"] {
        assert!(ok["durations"][key].is_u64(), "{key}: {ok}");
    }
    assert_eq!(ok["transport"], Value::Null);
    assert_eq!(ok["cluster"], "c");
    assert_eq!(ok["route"], "to-c");
    assert_eq!(ok["local"], rw.addr().to_string());
    assert_eq!(ok["peer"], "127.0.0.1");
    assert!(ok["conn"].as_u64().unwrap() >= 1);
    assert!(ok["host"].as_str().is_some_and(|h| !h.is_empty()), "{ok}");
    assert_eq!(ok["conn"], nope["conn"], "one connection");

    assert_eq!(nope["code"], 404);
    assert_eq!(nope["details"], "route_not_found");
    assert_eq!(nope["flags"], "NR");
    assert_eq!(nope["cluster"], Value::Null);
    assert_eq!(nope["route"], Value::Null);
    assert_eq!(nope["durations"]["response"], Value::Null);

    assert_eq!(down["code"], 503);
    assert_eq!(
        down["details"],
        "upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_111}"
    );
    assert_eq!(down["flags"], "UF");
    assert_eq!(down["transport"], "delayed_connect_error:_111");
    assert_eq!(down["cluster"], "dead");
    assert_eq!(down["route"], Value::Null, "that route has no name");

    // Start times: every format says the same instant, inside the test's window.
    for line in &lines {
        let iso = iso_secs(line["start"].as_str().unwrap());
        let stamp = iso_secs(line["stamp"].as_str().unwrap());
        let epoch: f64 = line["epoch"].as_str().unwrap().parse().unwrap();
        assert!(
            before - 0.001 <= epoch && epoch <= after,
            "{before} {epoch} {after}"
        );
        assert!(
            (iso - epoch).abs() < 0.0015 && (stamp - epoch).abs() < 0.0015,
            "{line}"
        );
        let secs = line["text"]
            .as_str()
            .unwrap()
            .strip_prefix("HTTP/1.1 at ")
            .unwrap();
        assert_eq!(secs.parse::<f64>().unwrap(), epoch.floor(), "{line}");
    }
}

fn envoy_stdout_logger_writes_filtered_json_lines(d: Driver) {
    let up = Upstream::start("up", |r| {
        if r.target == "/missing" {
            Reply::Bytes(text_response("404 Not Found", "no"))
        } else {
            Reply::Bytes(ok_response("yes"))
        }
    });
    let yaml = format!(
        "static_resources:
  listeners:
  - name: ingress
    address: {{ socket_address: {{ address: 127.0.0.1, port_value: 0 }} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          \"@type\": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          access_log:
          - name: envoy.access_loggers.stdout
            typed_config:
              \"@type\": type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog
              log_format:
                json_format: {{ tag: access, code: \"%RESPONSE_CODE%\", path: \"%REQ(:PATH)%\", details: \"%RESPONSE_CODE_DETAILS%\" }}
            filter:
              status_code_filter: {{ comparison: {{ op: GE, value: {{ default_value: 400, runtime_key: access_log.error }} }} }}
          route_config:
            virtual_hosts:
            - name: all
              domains: [\"*\"]
              routes:
              - match: {{ prefix: / }}
                route: {{ cluster: c }}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {{ \"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }}
  clusters:
  - name: c
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: c
      endpoints:
      - lb_endpoints:
        - endpoint: {{ address: {{ socket_address: {{ address: {}, port_value: {} }} }} }}
",
        up.addr.ip(),
        up.addr.port()
    );
    let mut rw = Ringway::launch(d, &yaml).args(&["--workers", "2"]).start();
    let mut c = Client::connect(rw.addr());
    for path in ["/fine", "/missing", "/also-fine", "/missing"] {
        c.get("app.test", path);
    }
    rw.sigterm();
    rw.wait_exit();
    let lines: Vec<Value> = rw
        .all_stdout()
        .iter()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(lines.len(), 2, "only the 404s pass the filter: {lines:?}");
    for line in &lines {
        assert_eq!(line["tag"], "access");
        assert_eq!(line["code"], 404);
        assert_eq!(line["path"], "/missing");
        assert_eq!(line["details"], "via_upstream");
    }
}

fn filters_choose_the_lines(d: Driver) {
    let up = Upstream::echo("up");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let listener = format!(
        "    health_check: {{ path: /healthz }}\n    access_log:\n      path: \"{}\"\n      format: \"%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS%\\n\"\n      filter:\n        and:\n          - not_health_check: true\n          - or:\n              - status_code: {{ op: eq, value: 201 }}\n              - response_flags: [NR]\n              - duration: {{ op: ge, value: 1h }}\n",
        log.display()
    );
    let vhosts = "      - domains: [\"ok.test\"]\n        routes:\n\
        \x20         - match: { path: /made }\n            direct_response: { status: 201 }\n\
        \x20         - match: { prefix: / }\n            cluster: c\n";
    let mut rw = Ringway::start(d, &config(&listener, vhosts, &cluster("c", &[up.addr])));
    let mut c = Client::connect(rw.addr());
    assert_eq!(c.get("ok.test", "/healthz").status, 200);
    assert_eq!(c.get("ok.test", "/plain").status, 200);
    assert_eq!(c.get("ok.test", "/made").status, 201);
    assert_eq!(c.get("other.test", "/lost").status, 404);
    rw.sigterm();
    rw.wait_exit();
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text, "/made 201 -\n/lost 404 NR\n");
}

fn http2_requests_log_their_pseudo_headers(d: Driver) {
    let up = Upstream::echo("up");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let listener = format!(
        "    access_log:\n      path: \"{}\"\n      json_format: {{ proto: \"%PROTOCOL%\", method: \"%REQ(:METHOD)%\", path: \"%REQ(:PATH)%\", authority: \"%REQ(:AUTHORITY)%\", scheme: \"%REQ(:SCHEME)%\", alt: \"%REQ(X-NONE?:AUTHORITY):4%\", code: \"%RESPONSE_CODE%\", details: \"%RESPONSE_CODE_DETAILS%\", conn: \"%CONNECTION_ID%\" }}\n",
        log.display()
    );
    let mut rw = Ringway::start(
        d,
        &config(&listener, &catch_all("c", ""), &cluster("c", &[up.addr])),
    );
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "20",
            "--http2-prior-knowledge",
            "-X",
            "PUT",
            "-d",
            "x",
        ])
        .arg(format!("http://{}/h2/path?x=1", rw.addr()))
        .output()
        .expect("curl (installed by .ci/run)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    rw.sigterm();
    rw.wait_exit();
    let lines = json_lines(&log, 1);
    let line = &lines[0];
    assert_eq!(line["proto"], "HTTP/2");
    assert_eq!(line["method"], "PUT");
    assert_eq!(line["path"], "/h2/path?x=1");
    assert_eq!(line["authority"], rw.addr().to_string());
    assert_eq!(line["scheme"], "http");
    assert_eq!(line["alt"], rw.addr().to_string()[..4]);
    assert_eq!(line["code"], 200);
    assert_eq!(line["details"], "via_upstream");
    assert!(line["conn"].as_u64().unwrap() >= 1);
}

fn stdout_lines_from_two_workers_stay_whole(d: Driver) {
    let up = Upstream::echo("up");
    let listener = "    access_log:\n      path: /dev/stdout\n      json_format: { n: \"%REQ(X-N)%\", conn: \"%CONNECTION_ID%\", pad: \"%REQ(X-PAD)%\" }\n";
    let yaml = config(listener, &catch_all("c", ""), &cluster("c", &[up.addr]))
        .replace("workers: 1\n", "workers: 2\n");
    let mut rw = Ringway::start(d, &yaml);
    // Lines of about 1.5 KiB: several per PIPE_BUF write, so a torn write would show.
    let pad = "p".repeat(1500);
    let (conns, each) = (8, 20);
    for c in 0..conns {
        let mut client = Client::connect(rw.addr());
        for i in 0..each {
            let req =
                format!("GET / HTTP/1.1\r\nHost: a.test\r\nX-N: {c}-{i}\r\nX-Pad: {pad}\r\n\r\n");
            assert_eq!(client.roundtrip(req.as_bytes()).status, 200);
        }
    }
    rw.sigterm();
    rw.wait_exit();
    let mut seen: Vec<String> = rw
        .all_stdout()
        .iter()
        .filter(|l| !l.starts_with("ringway"))
        .map(|l| {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("torn line {l:.80}…: {e}"));
            assert_eq!(v["pad"].as_str().map(str::len), Some(1500));
            v["n"].as_str().unwrap().to_string()
        })
        .collect();
    seen.sort();
    let mut want: Vec<String> = (0..conns)
        .flat_map(|c| (0..each).map(move |i| format!("{c}-{i}")))
        .collect();
    want.sort();
    assert_eq!(seen, want, "every request logged once, whole");
}

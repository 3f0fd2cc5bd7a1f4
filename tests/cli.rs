//! The `ringway` command as a new user meets it: what the CLI accepts and
//! refuses, what config errors and logs look like, and the demo surviving a
//! closed stdout. The real binary; every wait is on a condition with a deadline.

mod support;

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use support::{simple_config, wait_for, wait_until, Driver, Ringway, Upstream};

const BIN: &str = env!("CARGO_BIN_EXE_ringway");

/// `ringway ARGS…` run to completion, with `env` set.
fn ringway(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run ringway")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `yaml` written to a file in `dir`.
fn write(dir: &Path, yaml: &str) -> PathBuf {
    let path = dir.join("ringway.yaml");
    fs::write(&path, yaml).unwrap();
    path
}

fn valid_config() -> String {
    simple_config(&["127.0.0.2:9".parse().unwrap()])
}

#[test]
fn check_takes_the_file_with_or_without_c() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &valid_config());
    let path = path.to_str().unwrap();
    for args in [["check", "-c", path], ["check", path, "--log-format=text"]] {
        let out = ringway(&args, &[]);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains(": ok ("));
    }
    let out = ringway(&["convert", path], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Both at once is ambiguous.
    let out = ringway(&["check", "-c", path, path], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn every_subcommand_explains_c() {
    for sub in ["run", "check", "convert"] {
        let out = ringway(&[sub, "--help"], &[]);
        let help = String::from_utf8_lossy(&out.stdout);
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with("-c, --config"))
            .unwrap_or_else(|| panic!("{sub}: no -c in\n{help}"));
        assert!(line.contains("Config file"), "{sub}: {line}");
    }
}

#[test]
fn workers_zero_is_refused_on_the_command_line_as_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &valid_config());
    let out = ringway(&["-c", path.to_str().unwrap(), "--workers", "0"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--workers"), "{}", stderr(&out));

    let path = write(
        dir.path(),
        &valid_config().replace("workers: 1", "workers: 0"),
    );
    let out = ringway(&["check", path.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("workers (line 1)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn config_errors_read_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "workers: 1",
            "workers: two",
            "workers (line 1): expected `auto` or a number from 1 to 1024, got `two`",
        ),
        (
            "workers: 1",
            "workers: -1",
            "workers (line 1): expected `auto` or a number from 1 to 1024",
        ),
        (
            "    address: 127.0.0.1:0\n",
            "    address: 127.0.0.1:0\n    idle_timeout: 5x\n",
            "listeners[0].idle_timeout (line 6): unknown unit `x` in `5x`",
        ),
    ];
    for (from, to, expected) in cases {
        let path = write(dir.path(), &valid_config().replacen(from, to, 1));
        let out = ringway(&["check", path.to_str().unwrap()], &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(expected), "{to:?}: {err}");
        assert!(!err.contains("Named("), "a Rust Debug value: {err}");
        // The YAML path is named once.
        let field = expected.split(' ').next().unwrap();
        assert_eq!(err.matches(field).count(), 1, "{err}");
    }
}

#[test]
fn an_invalid_ringway_log_is_an_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &valid_config());
    let out = ringway(&["-c", path.to_str().unwrap()], &[("RINGWAY_LOG", "warnn")]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("RINGWAY_LOG=warnn"), "{err}");
    assert!(err.contains("trace, debug, info, warn, error"), "{err}");
}

#[test]
fn logs_carry_the_version_and_no_colours_off_a_terminal() {
    let up = Upstream::echo("a");
    // Stderr is a file and NO_COLOR is unset: still no ANSI escapes.
    let rw = Ringway::launch(Driver::Epoll, &simple_config(&[up.addr]))
        .env_remove("NO_COLOR")
        .start();
    let version = format!("ringway {} starting", env!("CARGO_PKG_VERSION"));
    wait_until("the started line", || rw.stderr().contains("started"));
    let log = rw.stop();
    assert!(log.contains(&version), "{log}");
    assert!(!log.contains('\x1b'), "ANSI escapes in a file: {log:?}");
}

#[test]
fn json_logs_by_flag_or_environment() {
    let up = Upstream::echo("a");
    for launch in [
        Ringway::launch(Driver::Epoll, &simple_config(&[up.addr])).args(&["--log-format", "json"]),
        Ringway::launch(Driver::Epoll, &simple_config(&[up.addr]))
            .env("RINGWAY_LOG_FORMAT", "json"),
    ] {
        let rw = launch.start();
        wait_until("the started line", || rw.stderr().contains("started"));
        let log = rw.stop();
        let lines: Vec<serde_json::Value> = log
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert!(
            lines.iter().any(|l| l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("ringway ") && m.ends_with(" starting"))),
            "{log}"
        );
        assert!(lines.iter().all(|l| l["level"].is_string()), "{log}");
    }
}

/// A child killed (by PID) and reaped when dropped, so a failing test leaves
/// nothing running.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `ringway demo | head`: stdout closes while the demo still writes to it. The
/// demo keeps serving, and when stopped exits 0 and removes its temp dir.
#[test]
fn the_demo_survives_a_closed_stdout_and_removes_its_temp_dir() {
    // The demo's ports are fixed (:8000, :8001, 127.0.0.2-5:8080); another
    // demo on this machine makes a start fail with "in use": try again until
    // they are free.
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("demo-stderr.log");
    let (mut child, temp) = wait_for("a demo that could bind its ports", || {
        let mut child = Reaped(
            Command::new(BIN)
                .args(["demo", "--io-driver", "epoll", "--workers", "1"])
                .env("NO_COLOR", "1")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(fs::File::create(&log_path).unwrap())
                .spawn()
                .expect("spawn ringway demo"),
        );
        // Closed before the demo writes its first line.
        drop(child.0.stdout.take());
        let temp = std::env::temp_dir().join(format!("ringway-demo-{}", child.0.id()));
        let outcome = wait_for("the demo to start or exit", || {
            if fs::read_to_string(&log_path)
                .unwrap_or_default()
                .contains("started")
            {
                return Some(None);
            }
            child.0.try_wait().unwrap().map(Some)
        });
        match outcome {
            None => Some((child, temp)),
            Some(status) => {
                let log = fs::read_to_string(&log_path).unwrap_or_default();
                assert!(
                    log.contains("in use"),
                    "the demo exited ({status}) for another reason: {log}"
                );
                None
            }
        }
    });
    assert!(temp.is_dir(), "no demo dir at {}", temp.display());
    // SAFETY: kill(2) on our own child, which has not been reaped.
    unsafe { libc::kill(child.0.id() as libc::pid_t, libc::SIGTERM) };
    let status = wait_for("the demo to exit", || child.0.try_wait().unwrap());
    let log = fs::read_to_string(&log_path).unwrap_or_default();
    assert!(status.success(), "{status}: {log}");
    assert!(!temp.exists(), "the demo left {} behind", temp.display());
}

/// A non-loopback admin: a warning from `check`, and in the log at start.
#[test]
fn a_non_loopback_admin_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    // TEST-NET-1: not an address of this machine, so the start fails at the
    // admin's bind, after the warning, and nothing listens beyond loopback.
    let yaml = format!("admin:\n  address: 192.0.2.1:0\n{}", valid_config());
    let path = write(dir.path(), &yaml);
    let path = path.to_str().unwrap();
    let out = ringway(&["check", path], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "warning: admin.address (line 2): 192.0.2.1:0 is reachable from other machines"
        ),
        "{err}"
    );
    let out = ringway(&["-c", path, "--io-driver", "epoll"], &[("NO_COLOR", "1")]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("WARN") && err.contains("admin.address (line 2)"),
        "{err}"
    );

    let out = ringway(
        &[
            "check",
            &write(dir.path(), &valid_config()).to_string_lossy(),
        ],
        &[],
    );
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}

/// `ringway check` on `yaml`: the exit code and stderr.
fn check_text(yaml: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), yaml);
    let out = ringway(&["check", path.to_str().unwrap()], &[]);
    (out.status.code(), stderr(&out))
}

#[test]
fn a_deeply_nested_file_is_refused_before_it_is_parsed() {
    const DEPTH: usize = 30_000;
    for yaml in [
        format!("listeners: {}{}\n", "[".repeat(DEPTH), "]".repeat(DEPTH)),
        format!("listeners:\n{}x\n", "- ".repeat(DEPTH)),
        // Block style costs the square of its depth in bytes: 1,000 is plenty.
        (0..1_000)
            .map(|i| format!("{}k:\n", " ".repeat(i)))
            .collect::<String>(),
    ] {
        let (code, err) = check_text(&yaml);
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains("nested deeper than 64 levels"), "{err}");
    }
}

#[test]
fn check_refuses_what_run_would_fail_on() {
    let dir = tempfile::tempdir().unwrap();
    let base = valid_config();
    let cases = [
        (
            "admin:\n  address: 127.0.0.1:18001\n".to_string()
                + &base.replace("127.0.0.1:0", "0.0.0.0:18001"),
            "admin.address (line 2): 127.0.0.1:18001 is also the address of listeners[0]",
        ),
        (
            base.replace(
                "    address: 127.0.0.1:0\n",
                &format!(
                    "    address: 127.0.0.1:0\n    access_log: {{ path: {} }}\n",
                    dir.path().display()
                ),
            ),
            "listeners[0].access_log.path (line 6): ",
        ),
        (
            base.replace(
                "listeners:\n",
                "listeners:\n  - name: ingress\n    address: 127.0.0.1:1\n    virtual_hosts:\n      - domains: [\"*\"]\n        routes: []\n",
            ),
            "listeners[1].name (line 9): duplicate listener name `ingress` (also listeners[0])",
        ),
    ];
    for (yaml, expected) in &cases {
        let (code, err) = check_text(yaml);
        assert_eq!(code, Some(1), "{yaml}\n{err}");
        assert!(err.contains(expected), "{yaml}\nwant {expected}\ngot {err}");
    }
    // Port 0 is a fresh port each time: admin and listener may both say it.
    let (code, err) = check_text(&format!("admin:\n  address: 127.0.0.1:0\n{base}"));
    assert_eq!(code, Some(0), "{err}");
}

/// Envoy's sandbox: two unnamed listeners with one `stat_prefix`.
#[test]
fn envoy_listeners_sharing_a_stat_prefix_get_distinct_names() {
    let listener = |port: u16| {
        format!(
            "  - address: {{ socket_address: {{ address: 127.0.0.1, port_value: {port} }} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          \"@type\": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress_http
          route_config:
            virtual_hosts:
            - name: all
              domains: [\"*\"]
              routes:
              - match: {{ prefix: / }}
                route: {{ cluster: c }}
          http_filters:
          - name: envoy.filters.http.router
"
        )
    };
    let yaml = format!(
        "static_resources:\n  listeners:\n{}{}  clusters:\n  - name: c\n    load_assignment:\n      cluster_name: c\n      endpoints:\n      - lb_endpoints:\n        - endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.2, port_value: 9 }} }} }}\n",
        listener(18080),
        listener(18443)
    );
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), &yaml);
    let out = ringway(&["convert", path.to_str().unwrap()], &[]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let native = String::from_utf8_lossy(&out.stdout);
    assert!(native.contains("name: ingress_http\n"), "{native}");
    assert!(native.contains("name: ingress_http_1\n"), "{native}");
    assert!(
        err.contains("`ingress_http` already names a listener; this one is named `ingress_http_1`"),
        "{err}"
    );
}

/// A second ringway (or any server) on a listener's address: refused at start,
/// naming the listener and address, rather than sharing the port through
/// SO_REUSEPORT; the first keeps serving.
#[test]
fn a_listener_address_another_process_serves_is_refused() {
    let up = Upstream::echo("a");
    let first = Ringway::start(Driver::Epoll, &simple_config(&[up.addr]));
    let taken = first.addr();
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    for addr in [taken, other.local_addr().unwrap()] {
        let yaml = simple_config(&[up.addr]).replace("127.0.0.1:0", &addr.to_string());
        let path = write(dir.path(), &yaml);
        let out = ringway(&["-c", path.to_str().unwrap(), "--io-driver", "epoll"], &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!(
                "cannot listen on {addr} (listener ingress): another process is already listening there"
            )),
            "{err}"
        );
    }
    let r = support::Client::connect(taken).get("x", "/");
    assert_eq!(r.status, 200);

    // A reload adding a listener there is rejected the same way.
    let other_addr = other.local_addr().unwrap();
    first.write_config(&simple_config(&[up.addr]).replace(
        "listeners:\n",
        &format!(
            "listeners:\n  - name: extra\n    address: {other_addr}\n    virtual_hosts:\n      - domains: [\"*\"]\n        routes: []\n"
        ),
    ));
    assert_eq!(first.sighup(), support::Reload::Rejected);
    assert!(first.stderr().contains(&format!(
        "cannot listen on {other_addr} (listener extra): another process"
    )));
}

/// Shell completions come from the parser's own definition: bash's script is
/// valid bash and offers every subcommand; zsh and fish get theirs; an unknown
/// shell is refused.
#[test]
fn completions_are_generated_for_each_shell() {
    let out = ringway(&["completions", "bash"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let script = String::from_utf8(out.stdout).unwrap();
    for sub in ["run", "demo", "check", "convert", "completions", "man"] {
        assert!(script.contains(sub), "bash completion offers {sub}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ringway.bash");
    fs::write(&path, &script).unwrap();
    let syntax = Command::new("bash").arg("-n").arg(&path).output().unwrap();
    assert!(
        syntax.status.success(),
        "{}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    for (shell, marker) in [("zsh", "#compdef ringway"), ("fish", "complete -c ringway")] {
        let out = ringway(&["completions", shell], &[]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(marker),
            "{shell}"
        );
    }
    let out = ringway(&["completions", "tcsh"], &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("invalid value 'tcsh'"),
        "{}",
        stderr(&out)
    );
}

/// The man page is roff for section 1, naming the subcommands and options.
#[test]
fn the_man_page_documents_the_command_line() {
    let out = ringway(&["man"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(
        page.contains(".TH ringway 1"),
        "{}",
        &page[..page.len().min(300)]
    );
    for needle in [
        "ringway\\-run",
        "ringway\\-check",
        "\\-\\-io\\-driver",
        "\\-\\-workers",
    ] {
        assert!(page.contains(needle), "the man page mentions {needle}");
    }
}

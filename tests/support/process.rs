//! The real `ringway` binary as a child process, and the native config
//! snippets most tests start it with. A test can rewrite the config file and
//! reload it (`write_config`, `sighup`); listener lookups follow the addresses
//! a reload announces.

use std::{
    collections::HashMap,
    fs,
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{
        mpsc::{self, TryRecvError},
        Mutex,
    },
    thread,
    time::Instant,
};

use super::{wait_for, wait_until, Driver, DEADLINE};

/// How to start ringway: `Ringway::launch(driver, yaml)…start()`.
pub struct Launch {
    driver: Driver,
    yaml: String,
    listeners: usize,
    args: Vec<String>,
    env: Vec<(String, String)>,
    env_removed: Vec<String>,
    open_files: Option<u64>,
    dir: Option<tempfile::TempDir>,
}

impl Launch {
    /// Wait for `count` listener lines before `start` returns (default 1).
    pub fn listeners(mut self, count: usize) -> Launch {
        self.listeners = count;
        self
    }

    /// Extra command-line arguments after `-c FILE --io-driver D`.
    pub fn args(mut self, args: &[&str]) -> Launch {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Launch {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Start without `key` in the environment (also one this harness sets,
    /// such as `NO_COLOR`).
    pub fn env_remove(mut self, key: &str) -> Launch {
        self.env_removed.push(key.to_string());
        self
    }

    /// Start with `RLIMIT_NOFILE` (soft and hard, so ringway cannot raise it)
    /// set to `limit`.
    pub fn open_files(mut self, limit: u64) -> Launch {
        self.open_files = Some(limit);
        self
    }

    /// Write the config into `dir` (which may already hold files the config
    /// names: hosts files, access logs) instead of a fresh temp dir. The dir
    /// lives as long as the process.
    pub fn in_dir(mut self, dir: tempfile::TempDir) -> Launch {
        self.dir = Some(dir);
        self
    }

    /// Spawn ringway and wait (with the deadline) until it has announced its
    /// listeners on stdout.
    pub fn start(self) -> Ringway {
        let dir = match self.dir {
            Some(dir) => dir,
            None => tempfile::tempdir().expect("temp dir"),
        };
        let config = dir.path().join("ringway.yaml");
        fs::write(&config, &self.yaml).expect("write config");
        let stderr_path = dir.path().join("ringway-stderr.log");
        let stderr = fs::File::create(&stderr_path).expect("create stderr log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_ringway"));
        command
            .arg("-c")
            .arg(&config)
            .arg("--io-driver")
            .arg(self.driver.flag())
            .args(&self.args)
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        for key in &self.env_removed {
            command.env_remove(key);
        }
        if let Some(limit) = self.open_files {
            use std::os::unix::process::CommandExt;
            let lim = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            // SAFETY: runs in the forked child before exec; setrlimit is
            // async-signal-safe and only reads `lim`, a copy owned by the closure.
            unsafe {
                command.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn ringway");

        // Stdout is read on a thread so every wait on it can have a deadline.
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut rw = Ringway {
            child,
            first: "0.0.0.0:0".parse().unwrap(),
            stdout: Mutex::new(Stdout {
                lines: rx,
                seen: Vec::new(),
            }),
            stderr_path,
            exited: None,
            dir,
        };
        // Distinct listener names announced so far.
        let mut announced = HashMap::new();
        let deadline = Instant::now() + DEADLINE;
        while announced.len() < self.listeners {
            let left = deadline.saturating_duration_since(Instant::now());
            let next = rw.stdout.get_mut().unwrap().lines.recv_timeout(left);
            match next {
                Ok(line) => {
                    if let Some((name, addr)) = parse_listener_line(&line) {
                        if announced.is_empty() {
                            rw.first = addr;
                        }
                        announced.insert(name, addr);
                    }
                    rw.stdout.get_mut().unwrap().seen.push(line);
                }
                Err(_) => panic!(
                    "ringway did not announce {} listener(s); stderr:\n{}",
                    self.listeners,
                    rw.stderr()
                ),
            }
        }
        rw
    }
}

/// Ringway's stdout: lines not read yet, and lines read so far (so waiting
/// for one line never loses another).
struct Stdout {
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Stdout {
    /// Move every line already written (without waiting) into `seen`.
    fn catch_up(&mut self) {
        loop {
            match self.lines.try_recv() {
                Ok(line) => self.seen.push(line),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
            }
        }
    }
}

/// What ringway made of a reload request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// Logged `reload accepted`: the new config is on its way to the workers.
    Accepted,
    /// Logged `reload rejected`: the old config keeps serving.
    Rejected,
}

/// A running `ringway` child process. Dropping it kills the process by PID and
/// reaps it, so nothing is left running even when the test panics; a panicking
/// test also prints ringway's stderr.
pub struct Ringway {
    child: Child,
    first: SocketAddr,
    stdout: Mutex<Stdout>,
    stderr_path: PathBuf,
    exited: Option<ExitStatus>,
    // Keeps the config file and the log alive for the life of the process.
    dir: tempfile::TempDir,
}

impl Ringway {
    /// Start ringway with `yaml` and wait until its one listener is accepting.
    pub fn start(driver: Driver, yaml: &str) -> Ringway {
        Ringway::launch(driver, yaml).start()
    }

    /// Start ringway and wait until `count` listeners have been announced.
    pub fn start_listeners(driver: Driver, yaml: &str, count: usize) -> Ringway {
        Ringway::launch(driver, yaml).listeners(count).start()
    }

    /// Ringway with `yaml`, to be started with more options.
    pub fn launch(driver: Driver, yaml: &str) -> Launch {
        Launch {
            driver,
            yaml: yaml.to_string(),
            listeners: 1,
            args: Vec::new(),
            env: Vec::new(),
            env_removed: Vec::new(),
            open_files: None,
            dir: None,
        }
    }

    /// The address of the first listener announced.
    pub fn addr(&self) -> SocketAddr {
        self.first
    }

    /// The address announced last for listener `name` (a reload that moves a
    /// listener announces it again).
    pub fn listener(&self, name: &str) -> SocketAddr {
        self.try_listener(name)
            .unwrap_or_else(|| panic!("no listener {name} announced"))
    }

    /// `listener`, or `None` if `name` has not been announced (yet): reads only
    /// what ringway has written so far, without waiting.
    pub fn try_listener(&self, name: &str) -> Option<SocketAddr> {
        let mut out = self.stdout.lock().unwrap();
        out.catch_up();
        out.seen
            .iter()
            .rev()
            .filter_map(|l| parse_listener_line(l))
            .find_map(|(n, addr)| (n == name).then_some(addr))
    }

    /// The admin address from `ringway: admin on ADDR`, waiting for the line.
    pub fn admin(&self) -> SocketAddr {
        let addr = self.stdout_line("ringway: admin on ");
        addr.trim().parse().expect("admin address")
    }

    /// The rest of the first stdout line starting with `prefix`, waiting (with
    /// the deadline) for it.
    pub fn stdout_line(&self, prefix: &str) -> String {
        let mut out = self.stdout.lock().unwrap();
        if let Some(rest) = out.seen.iter().find_map(|l| l.strip_prefix(prefix)) {
            return rest.to_string();
        }
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match out.lines.recv_timeout(left) {
                Ok(line) => {
                    let rest = line.strip_prefix(prefix).map(str::to_string);
                    out.seen.push(line);
                    if let Some(rest) = rest {
                        return rest;
                    }
                }
                Err(e) => panic!(
                    "no `{prefix}…` line on stdout ({e:?}); stderr:\n{}",
                    self.stderr()
                ),
            }
        }
    }

    /// Every stdout line, once the process has exited (waits, with the
    /// deadline, for the reader to reach the end of the pipe).
    #[allow(dead_code)] // not every test binary reads stdout to the end
    pub fn all_stdout(&self) -> Vec<String> {
        let mut out = self.stdout.lock().unwrap();
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match out.lines.recv_timeout(left) {
                Ok(line) => out.seen.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => return out.seen.clone(),
                Err(e) => panic!("stdout did not end ({e:?}); has ringway exited?"),
            }
        }
    }

    /// The temp dir holding the config (and whatever the test put there).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child's PID; it has not been reaped yet
        // (`exited` is None whenever a test can still signal it).
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill({sig}) failed");
    }

    pub fn sigterm(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Replace the config file ringway was started with, atomically (write a
    /// sibling, then rename), so a reload never reads half a file.
    pub fn write_config(&self, yaml: &str) {
        let tmp = self.dir().join("ringway.yaml.new");
        fs::write(&tmp, yaml).expect("write config");
        fs::rename(&tmp, self.dir().join("ringway.yaml")).expect("rename config");
    }

    /// How many reloads ringway has logged as accepted and as rejected.
    pub fn reloads(&self) -> (usize, usize) {
        let log = self.stderr();
        (
            log.matches("reload accepted").count(),
            log.matches("reload rejected").count(),
        )
    }

    /// Send SIGHUP and wait (with the deadline) until ringway logs the reload
    /// as accepted or rejected.
    pub fn sighup(&self) -> Reload {
        let (accepted, rejected) = self.reloads();
        self.signal(libc::SIGHUP);
        wait_for("the reload to be logged", || {
            let (a, r) = self.reloads();
            if a > accepted {
                Some(Reload::Accepted)
            } else if r > rejected {
                Some(Reload::Rejected)
            } else {
                None
            }
        })
    }

    /// The exit status, if the process has exited.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().expect("try_wait");
        }
        self.exited
    }

    /// Wait (with the deadline) for the process to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let mut status = None;
        wait_until("ringway to exit", || {
            status = self.try_exit();
            status.is_some()
        });
        status.unwrap()
    }

    /// Kill the process (by PID), reap it, and return all it wrote to stderr.
    pub fn stop(mut self) -> String {
        self.kill();
        self.stderr()
    }

    fn kill(&mut self) {
        if self.try_exit().is_none() {
            // SAFETY: kill(2) on our own child, which has not been reaped.
            unsafe {
                libc::kill(self.child.id() as libc::pid_t, libc::SIGKILL);
            }
            self.exited = self.child.wait().ok();
        }
    }

    /// A field of /proc/PID/status in KiB (`VmRSS`, `VmHWM`).
    pub fn proc_status_kib(&self, field: &str) -> u64 {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status");
        let line = status
            .lines()
            .find(|l| l.starts_with(&format!("{field}:")))
            .unwrap_or_else(|| panic!("no {field} in /proc status"));
        line.split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .expect("numeric field")
    }
}

impl Drop for Ringway {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            eprintln!("---- ringway stderr ----\n{}", self.stderr());
        }
    }
}

fn parse_listener_line(line: &str) -> Option<(String, SocketAddr)> {
    let rest = line.strip_prefix("ringway: listener ")?;
    let (name, addr) = rest.split_once(" on ")?;
    Some((name.to_string(), addr.trim().parse().ok()?))
}

/// The native config for one listener on 127.0.0.1:0 with `workers: 1`.
/// `listener_extra` are extra listener keys (indented YAML lines, e.g.
/// `"    request_headers_timeout: 300ms\n"`); `vhosts` and `clusters` are the
/// YAML of those lists' items.
pub fn config(listener_extra: &str, vhosts: &str, clusters: &str) -> String {
    format!(
        "workers: 1\n\
         drain_timeout: 15s\n\
         listeners:\n  \
           - name: ingress\n    \
             address: 127.0.0.1:0\n\
         {listener_extra}    \
             virtual_hosts:\n\
         {vhosts}\
         clusters:\n\
         {clusters}"
    )
}

/// One `*` virtual host routing everything to `cluster`, with optional route keys.
pub fn catch_all(cluster: &str, route_extra: &str) -> String {
    format!(
        "      - name: all\n        domains: [\"*\"]\n        routes:\n          \
         - match: {{ prefix: / }}\n            cluster: {cluster}\n{route_extra}"
    )
}

/// A static round-robin cluster over `hosts`.
pub fn cluster(name: &str, hosts: &[SocketAddr]) -> String {
    let hosts: Vec<String> = hosts.iter().map(|h| format!("\"{h}\"")).collect();
    format!(
        "  - name: {name}\n    type: static\n    lb_policy: round_robin\n    \
         connect_timeout: 2s\n    hosts: [{}]\n",
        hosts.join(", ")
    )
}

/// The simplest setup: everything to one cluster `c` over `hosts`.
pub fn simple_config(hosts: &[SocketAddr]) -> String {
    config("", &catch_all("c", ""), &cluster("c", hosts))
}

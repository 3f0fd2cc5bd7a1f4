#!/usr/bin/env python3
"""Does ringway give memory back after a burst? (issue 15, item 7)

Starts one ringway binary (one worker) in front of a small upstream written
here, then runs three bursts, each followed by a quiet spell:

  heads    N connections that each send a partial request head and wait;
  bodies   N/4 POSTs that each send 48 KiB of a 1 MiB body and wait;
  traffic  64 keep-alive connections x 40 requests for a 64 KiB response.

It prints the proxy's RSS (VmRSS, KiB) at start, at each burst's peak, and one
and five seconds after the burst's connections closed, then the retained growth
(last quiet reading minus the start). Everything is loopback, bounded in count
and time, and the processes it starts are stopped by PID on the way out.

usage: burst_rss.py RINGWAY_BINARY [--conns N] [--label TEXT]
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

PROXY = "127.0.0.1"
UPSTREAM = "127.0.0.41"
BODY_64K = b"x" * 65536
DEADLINE = 120.0


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def upstream_server():
    """A thread-per-connection upstream: reads a head (and a content-length
    body), answers 64 KiB for /big and 2 bytes otherwise, keeps alive."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((UPSTREAM, 0))
    srv.listen(4096)

    def serve(c):
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        length = int(v.strip())
                while len(buf) < length:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                buf = buf[length:]
                body = BODY_64K if b" /big " in head.split(b"\r\n")[0] else b"ok"
                c.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body) + body)
        except OSError:
            return
        finally:
            c.close()

    def accept_loop():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(c,), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    return srv


def wait_port(port, proc):
    end = time.monotonic() + 30
    while time.monotonic() < end:
        if proc.poll() is not None:
            sys.exit("ringway exited at start")
        try:
            socket.create_connection((PROXY, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit("ringway did not listen")


def open_all(port, n, payload):
    socks = []
    for _ in range(n):
        s = socket.create_connection((PROXY, port), timeout=10)
        s.sendall(payload)
        socks.append(s)
    return socks


def traffic(port):
    def one():
        s = socket.create_connection((PROXY, port), timeout=10)
        for _ in range(40):
            s.sendall(b"GET /big HTTP/1.1\r\nhost: a\r\n\r\n")
            got = b""
            while b"\r\n\r\n" not in got or len(got.partition(b"\r\n\r\n")[2]) < 65536:
                d = s.recv(262144)
                if not d:
                    raise ConnectionError("closed")
                got += d
        s.close()

    threads = [threading.Thread(target=one) for _ in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    binary = args[0]
    conns = int(args[args.index("--conns") + 1]) if "--conns" in args else 4000
    label = args[args.index("--label") + 1] if "--label" in args else os.path.basename(binary)
    srv = upstream_server()
    up_port = srv.getsockname()[1]
    with socket.socket() as probe:
        probe.bind((PROXY, 0))
        port = probe.getsockname()[1]
    tmp = tempfile.mkdtemp(prefix="burst-rss-")
    cfg = os.path.join(tmp, "ringway.yaml")
    with open(cfg, "w") as f:
        f.write(
            f"""workers: 1
drain_timeout: 1s
listeners:
  - name: burst
    address: {PROXY}:{port}
    virtual_hosts:
      - domains: ["*"]
        routes:
          - match: {{ prefix: / }}
            cluster: up
clusters:
  - name: up
    hosts: ["{UPSTREAM}:{up_port}"]
    circuit_breakers:
      max_connections: {conns * 2}
      max_pending_requests: {conns * 2}
      max_requests: {conns * 2}
"""
        )
    proc = subprocess.Popen([binary, "-c", cfg], stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "err"), "w"))
    rows = []
    try:
        wait_port(port, proc)
        rows.append(("start", rss_kib(proc.pid)))
        head = b"GET / HTTP/1.1\r\nhost: a\r\nx-pad: " + b"p" * 2000
        post = b"POST /up HTTP/1.1\r\nhost: a\r\ncontent-length: 1048576\r\n\r\n" + b"b" * 49152
        for name, run in (
            ("heads", lambda: open_all(port, conns, head)),
            ("bodies", lambda: open_all(port, conns // 4, post)),
            ("traffic", lambda: traffic(port) or []),
        ):
            socks = run()
            time.sleep(1.0)  # let the proxy read what was sent: a measurement, not a test
            rows.append((f"{name} peak", rss_kib(proc.pid)))
            for s in socks:
                s.close()
            time.sleep(1.0)
            rows.append((f"{name} +1s", rss_kib(proc.pid)))
            time.sleep(4.0)
            rows.append((f"{name} +5s", rss_kib(proc.pid)))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        srv.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"# {label}: proxy RSS, KiB ({conns} partial heads, {conns // 4} held bodies, 64x40 64 KiB responses)")
    for name, kib in rows:
        print(f"{name:14} {kib:8}")
    print(f"{'retained':14} {rows[-1][1] - rows[0][1]:8}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Hold N idle keep-alive HTTP/1.1 connections open against one address.

Each connection sends one GET, reads the complete response (Content-Length
framing), then stays open and idle. Once all are open the script prints
`HOLDING n` on stdout and flushes, then keeps them open until stdin closes or
--hold seconds pass, whichever comes first. Everything is bounded in time.
Traffic goes only to the loopback address given (127.0.0.0/8 enforced).

usage: idle_hold.py HOST PORT PATH N [--hold SECONDS] [--deadline SECONDS]
"""
import ipaddress
import resource
import select
import socket
import sys
import time


def read_response(s, deadline):
    data = b""
    while b"\r\n\r\n" not in data:
        if time.monotonic() > deadline:
            raise TimeoutError("head")
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed before head")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    status = int(head.split(b" ", 2)[1])
    while len(body) < length:
        if time.monotonic() > deadline:
            raise TimeoutError("body")
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed mid-body")
        body += chunk
    return status


def main():
    args = sys.argv[1:]
    hold = 20.0
    total_deadline = 60.0
    if "--hold" in args:
        i = args.index("--hold")
        hold = float(args[i + 1])
        del args[i : i + 2]
    if "--deadline" in args:
        i = args.index("--deadline")
        total_deadline = float(args[i + 1])
        del args[i : i + 2]
    host, port, path, n = args[0], int(args[1]), args[2], int(args[3])
    if not ipaddress.ip_address(host).is_loopback:
        sys.exit("idle_hold: refusing a non-loopback address")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    req = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    socks, failed = [], 0
    start = time.monotonic()
    deadline = start + total_deadline
    for _ in range(n):
        if time.monotonic() > deadline:
            break
        try:
            s = socket.create_connection((host, port), timeout=5)
            s.sendall(req)
            status = read_response(s, min(deadline, time.monotonic() + 5))
            if status != 200:
                failed += 1
            socks.append(s)
        except OSError as e:  # includes timeouts
            failed += 1
            if failed > 50:
                print(f"idle_hold: giving up after {failed} failures: {e}", file=sys.stderr)
                break
    print(f"HOLDING {len(socks)} failed={failed} open_s={time.monotonic() - start:.1f}", flush=True)
    # Idle until the caller closes stdin or the hold time ends.
    end = time.monotonic() + hold
    while time.monotonic() < end:
        r, _, _ = select.select([sys.stdin], [], [], max(0.0, min(1.0, end - time.monotonic())))
        if r and not sys.stdin.readline():
            break
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Turn bench/run.sh's raw TSV files into bench/RESULTS.md (Markdown on stdout).

Medians over rounds per (scenario, target); ratios to nginx and to HAProxy (HTTP)
are ratios of those medians, within this one run.
"""
import argparse
import os
import statistics
from collections import defaultdict

COLS = ["scen", "workers", "conns", "target", "round", "rps", "p50", "p99", "p999",
        "errors", "non2xx", "pcpu", "tcpu", "rss"]
ORDER = ["direct", "haproxy-tcp", "relay-floor", "ringway-uring", "ringway-epoll", "ringway-base-uring",
         "ringway-base-epoll", "nginx", "haproxy"]
LABEL = {
    "direct": "direct (no proxy)",
    "haproxy-tcp": "HAProxy mode tcp (floor)",
    "relay-floor": "monoio io_uring relay (floor)",
    "ringway-uring": "**ringway io_uring**",
    "ringway-epoll": "**ringway epoll**",
    "nginx": "nginx",
    "haproxy": "HAProxy http",
    "ringway-base-uring": "ringway io_uring (baseline)",
    "ringway-base-epoll": "ringway epoll (baseline)",
}

# Issue 12's targets for the io_uring driver, 1 KiB over 64 connections.
TARGET_RPS_VS_NGINX = 1.15    # at 1 and at 2 workers: the TCP-relay floor here
TARGET_RPS_VS_EPOLL = 1.10    # io_uring has to earn its place over ringway's epoll mode
TARGET_CPU_VS_NGINX = 0.80    # proxy CPU-µs per request, 2 workers
TARGET_P99_VS_NGINX = 1.00
# Issue 11's target for HTTPS: req/s at least nginx's, keep-alive and a new connection
# per request alike.
TARGET_TLS_RPS_VS_NGINX = 1.00
# Issue 13's target for HTTP/2 from clients (h2c and h2 over TLS, h2load -c16 -m32):
# req/s at least nginx's, proxy CPU per request at most nginx's.
TARGET_H2_RPS_VS_NGINX = 1.00
TARGET_H2_CPU_VS_NGINX = 1.00
H2_KINDS = ("h2c", "h2")
# HTTP/1.1 clients, HTTP/2 to the upstream (issue 13's comparison with Envoy's pool).
H2UP_KIND = "h2up"
ENVOY_H2_POOL_DOC = ("https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/"
                     "upstream/connection_pooling")


def num(x):
    try:
        return float(x)
    except ValueError:
        return None


def med(values):
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def fmt(v, digits=2):
    if v is None:
        return "–"
    if digits == 0:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}×"


def main():
    ap = argparse.ArgumentParser()
    for a in ["meta", "results", "idle", "oha", "tls", "upconns", "commands", "wrk_commands", "configs",
              "scenarios"]:
        ap.add_argument("--" + a.replace("_", "-"), dest=a)
    args = ap.parse_args()

    meta = {}
    for line in open(args.meta):
        k, _, v = line.rstrip("\n").partition("=")
        meta[k] = v
    quick = meta.get("quick") == "1"
    if meta.get("baseline"):
        label = meta["baseline"].split(" (")[0]
        LABEL["ringway-base-uring"] = f"ringway io_uring ({label})"
        LABEL["ringway-base-epoll"] = f"ringway epoll ({label})"

    rows = defaultdict(list)
    scen_info = {}
    for line in open(args.results):
        f = line.rstrip("\n").split("\t")
        if len(f) != len(COLS):
            continue
        r = dict(zip(COLS, f))
        rows[(r["scen"], r["target"])].append(r)
        scen_info[r["scen"]] = (r["workers"], r["conns"])
    descr = {}
    tls_kind = {}
    for spec in (args.scenarios or "").splitlines():
        parts = spec.split("|")
        if len(parts) == 7:
            parts.append("0")
        if len(parts) == 8:
            parts.append("")
        if len(parts) == 9:
            name, w, c, path, post, close, rate, tls, streams = parts
            tls_kind[name] = tls
            if tls == H2UP_KIND:
                descr[name] = (f"HTTP/1.1 clients, GET {path}, {c} connections, {w} worker(s), "
                               "**HTTP/2 to the upstream** (h2c with prior knowledge; nginx "
                               "`listen … http2` serving the same files)")
                continue
            if tls in H2_KINDS:
                how = ("h2c with prior knowledge" if tls == "h2c"
                       else "h2 by ALPN over TLS (ECDSA P-256)")
                descr[name] = (f"**HTTP/2**, {how}, GET {path}, {c} connections × {streams} "
                               f"concurrent streams (`h2load -t1 -c{c} -m{streams}`), {w} worker(s), "
                               "HTTP/1.1 keep-alive upstream")
                continue
            what = f"POST {int(post) // 1024} KiB to /upload" if post != "0" else f"GET {path}"
            if tls == "full":
                what = (f"HTTPS {what}, **a full TLS handshake per request**: {c} parallel "
                        "`openssl s_time -new` loops (HTTP/1.0, read to close; no latency figures)")
                descr[name] = f"{what}, {w} worker(s)"
                continue
            if tls != "0":
                what = "HTTPS " + what
            if close == "1":
                what += ", `Connection: close` on every request"
                if tls != "0":
                    what += " (wrk reconnects and **resumes** its TLS session)"
            descr[name] = f"{what}, {c} connection(s), {w} worker(s)"
            if rate != "0":
                descr[name] += (f", **fixed rate: {int(rate):,} req/s offered** (h2load --h1 --rps, "
                                "latency from its per-request log; req/s is the rate achieved)")

    agg = {}
    for key, rs in rows.items():
        a = {}
        for c in ["rps", "p50", "p99", "p999", "pcpu", "tcpu", "rss"]:
            a[c] = med([num(r[c]) for r in rs])
        a["errors"] = sum(int(num(r["errors"]) or 0) for r in rs)
        a["non2xx"] = sum(int(num(r["non2xx"]) or 0) for r in rs)
        a["n"] = len(rs)
        agg[key] = a

    # Established upstream connections counted mid-run (h2up scenarios only).
    upconns = defaultdict(list)
    if args.upconns and os.path.exists(args.upconns):
        for line in open(args.upconns):
            f = line.rstrip("\n").split("\t")
            if len(f) == 4 and num(f[3]) is not None:
                upconns[(f[0], f[1])].append(int(num(f[3])))
    upconn_scens = {k[0] for k in upconns} | {h for h, k in tls_kind.items() if k == H2UP_KIND}

    def conns_cell(vals):
        if not vals:
            return "–"
        m = med(vals)
        m = f"{m:g}"
        return m if min(vals) == max(vals) else f"{m} ({min(vals)}–{max(vals)})"

    out = []
    w = out.append
    w("# ringway benchmark results\n")
    w(f"Generated by `{meta.get('invocation', 'bench/run.sh')}` on {meta.get('date')}. "
      f"Wall time {meta.get('wall_seconds', '?')} s.\n")
    w("| machine | |\n|---|---|")
    w(f"| CPU | {meta.get('cpu')} |")
    w(f"| kernel | {meta.get('kernel')} (io_uring_disabled={meta.get('uring_disabled')}) |")
    w(f"| rustc | {meta.get('rustc')} |")
    w(f"| ringway | {meta.get('ringway')}, release build, `--io-driver uring` and `--io-driver epoll` |")
    if meta.get("baseline"):
        w(f"| baseline | {meta.get('baseline')}, same two drivers, same rounds |")
    w(f"| peers | nginx {meta.get('nginx')}, HAProxy {meta.get('haproxy')} (Debian packages) |")
    w(f"| load | wrk {meta.get('wrk')} (`-t1`), h2load {meta.get('h2load', '?')} (fixed rate; HTTP/2), "
      f"openssl {meta.get('openssl', '?')} `s_time -new` (full TLS handshakes), oha: {meta.get('oha')} |")
    w(f"| open files (hard) | {meta.get('nofile')} |")
    w(f"| load average | {meta.get('loadavg_start')} at start, {meta.get('loadavg_end')} at end |")
    w(f"| method | {meta.get('rounds')} interleaved round(s) of {meta.get('duration')} s per target; medians |")
    w("")
    w("**Read this first.** The machine has 2 cores and is shared with other engineers "
      "compiling while this ran (see the load average above): absolute figures are noisy "
      "and drift 5–12 % run to run. Compare targets *within this run* (the ratio columns), "
      "not against other runs. Load generator, upstream and proxy all share the same 2 cores, "
      "so a proxy that burns less CPU also leaves more for wrk and the upstream. "
      "Loopback network work is charged to whichever process happens to run, so the proxy's "
      "own CPU-µs/request is blurred; the total (proxy + upstream nginx + wrk) is shown beside it. "
      "CPU times come from /proc utime+stime at 10 ms resolution.\n")
    w("Columns: req/s and ratio to nginx / HAProxy (http); wrk latency p50/p99/p99.9 in ms "
      "(wrk's p99 is unreliable for large bodies); errors = socket errors+timeouts summed over "
      "rounds; non-2xx = HTTP status ≥ 400 summed over rounds; proxy CPU-µs per request and its "
      "ratio to nginx / HAProxy (lower is better); total CPU-µs per request (proxy+upstream+wrk); "
      "peak RSS of the proxy's processes during the run (VmHWM, reset before each run).\n")

    # Headline check against issue 12's targets.
    def chk(x, y, ok):
        if x is None or y is None or y == 0:
            return "–"
        r = x / y
        verdict = "met" if ok(r) else "missed"
        return f"{r:.2f}× {verdict}{'?' if quick else ''}"

    heads = [h for h in ["1k-c64-w2", "1k-c64-w1"] if (h, "nginx") in agg]
    if heads:
        w("## Headline: 1 KiB, 64 connections — against issue 12's targets\n")
        if quick:
            w("**Smoke check only** (`--quick`: one round of 2 s). One short round on a shared "
              "2-core machine cannot decide a target; a `?` marks each verdict as indicative. "
              "Run the full `bench/run.sh` to decide.\n")
        w(f"| scenario | ringway driver | req/s vs nginx (≥ {TARGET_RPS_VS_NGINX:.2f}×) "
          f"| req/s vs own epoll (≥ {TARGET_RPS_VS_EPOLL:.2f}×) "
          f"| proxy CPU/req vs nginx (≤ {TARGET_CPU_VS_NGINX:.2f}×, 2 workers) "
          f"| p99 vs nginx (≤ {TARGET_P99_VS_NGINX:.2f}×) | req/s vs TCP floor |")
        w("|---|---|---|---|---|---|---|")
        for h in heads:
            n = agg[(h, "nginx")]
            t = agg.get((h, "haproxy-tcp"), {})
            for drv, epoll in [("ringway-uring", "ringway-epoll"),
                               ("ringway-base-uring", "ringway-base-epoll")]:
                a = agg.get((h, drv))
                if not a:
                    continue
                e = agg.get((h, epoll), {})
                cpu = (chk(a["pcpu"], n["pcpu"], lambda r: r <= TARGET_CPU_VS_NGINX)
                       if h.endswith("-w2") else ratio(a["pcpu"], n["pcpu"]))
                w(f"| {h} | {LABEL[drv]} "
                  f"| {chk(a['rps'], n['rps'], lambda r: r >= TARGET_RPS_VS_NGINX)} "
                  f"| {chk(a['rps'], e.get('rps'), lambda r: r >= TARGET_RPS_VS_EPOLL)} "
                  f"| {cpu} "
                  f"| {chk(a['p99'], n['p99'], lambda r: r <= TARGET_P99_VS_NGINX)} "
                  f"| {ratio(a['rps'], t.get('rps'))} |")
        w("")

    # HTTPS against issue 11's target.
    tls_heads = [h for h, k in tls_kind.items()
                 if k not in ("0", H2UP_KIND) + H2_KINDS and (h, "nginx") in agg]
    if tls_heads:
        w("## HTTPS — against issue 11's target (req/s ≥ 1.00× nginx)\n")
        if quick:
            w("**Smoke check only** (`--quick`). A `?` marks each verdict as indicative.\n")
        w("Same certificate (ECDSA P-256, made by openssl in the run) on every proxy; "
          "TLS defaults of each otherwise (see the configs below). "
          "haproxy-tcp terminates TLS and relays bytes: the floor.\n")
        w("| scenario | ringway driver | req/s | req/s vs nginx (≥ 1.00×) | req/s vs HAProxy "
          "| proxy CPU-µs/req | CPU/req vs nginx | CPU/req vs HAProxy | req/s vs TLS+TCP floor |")
        w("|---|---|---:|---|---:|---:|---:|---:|---:|")
        for h in tls_heads:
            n = agg[(h, "nginx")]
            hp = agg.get((h, "haproxy"), {})
            t = agg.get((h, "haproxy-tcp"), {})
            for drv in ["ringway-uring", "ringway-epoll", "ringway-base-uring", "ringway-base-epoll"]:
                a = agg.get((h, drv))
                if not a:
                    continue
                w(f"| {h} | {LABEL[drv]} | {fmt(a['rps'], 0)} "
                  f"| {chk(a['rps'], n['rps'], lambda r: r >= TARGET_TLS_RPS_VS_NGINX)} "
                  f"| {ratio(a['rps'], hp.get('rps'))} | {fmt(a['pcpu'])} "
                  f"| {ratio(a['pcpu'], n['pcpu'])} | {ratio(a['pcpu'], hp.get('pcpu'))} "
                  f"| {ratio(a['rps'], t.get('rps'))} |")
        w("")
    # HTTP/2 against issue 13's target.
    h2_heads = [h for h, k in tls_kind.items() if k in H2_KINDS and (h, "nginx") in agg]
    if h2_heads:
        w(f"## HTTP/2 — against issue 13's target (req/s ≥ {TARGET_H2_RPS_VS_NGINX:.2f}× nginx, "
          f"proxy CPU/req ≤ {TARGET_H2_CPU_VS_NGINX:.2f}× nginx)\n")
        if quick:
            w("**Smoke check only** (`--quick`). A `?` marks each verdict as indicative.\n")
        w("h2load at saturation, 16 connections × 32 concurrent streams, 1 KiB; HTTP/1.1 "
          "keep-alive to the upstream from every proxy. nginx: `listen … http2` (`ssl http2` "
          "over TLS); HAProxy: `bind … proto h2` (h2c), `ssl crt … alpn h2` (TLS); ringway: "
          "a `codec: auto` listener (prior knowledge) and a TLS listener offering h2 first. "
          "Latency is h2load's per-request log (nearest rank); errors are h2load's failed "
          "requests summed over rounds.\n")
        w("| scenario | ringway driver | req/s | req/s vs nginx | req/s vs HAProxy "
          "| proxy CPU-µs/req | CPU/req vs nginx | CPU/req vs HAProxy | p50 ms | p99 ms | p99 vs nginx | errors | non-2xx |")
        w("|---|---|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|")
        for h in h2_heads:
            n = agg[(h, "nginx")]
            hp = agg.get((h, "haproxy"), {})
            for drv in ["ringway-uring", "ringway-epoll", "ringway-base-uring", "ringway-base-epoll"]:
                a = agg.get((h, drv))
                if not a:
                    continue
                w(f"| {h} | {LABEL[drv]} | {fmt(a['rps'], 0)} "
                  f"| {chk(a['rps'], n['rps'], lambda r: r >= TARGET_H2_RPS_VS_NGINX)} "
                  f"| {ratio(a['rps'], hp.get('rps'))} | {fmt(a['pcpu'])} "
                  f"| {chk(a['pcpu'], n['pcpu'], lambda r: r <= TARGET_H2_CPU_VS_NGINX)} "
                  f"| {ratio(a['pcpu'], hp.get('pcpu'))} | {fmt(a['p50'], 3)} | {fmt(a['p99'], 3)} "
                  f"| {ratio(a['p99'], n['p99'])} | {a['errors']} | {a['non2xx']} |")
        w("")

    tls = [l.rstrip("\n").split("\t") for l in open(args.tls)] if args.tls and os.path.exists(args.tls) else []
    tls = [r for r in tls if len(r) == 6]
    if tls:
        w("### Full and resumed handshakes (ringway's `ssl.handshake`, `ssl.session_reused`)\n")
        w("Summed over rounds, from ringway's admin `/stats` before and after each run. "
          "`openssl s_time -new` never offers a session, so every handshake there is full; "
          "wrk offers its previous session on every reconnect, and nginx and HAProxy see the "
          "same client. A keep-alive run handshakes once per connection.\n")
        w("| scenario | target | requests | handshakes | resumed | resumed % | handshakes per request |")
        w("|---|---|---:|---:|---:|---:|---:|")
        sums = defaultdict(lambda: [0, 0, 0])
        for scen, target, _rnd, hs, reused, reqs in tls:
            x = sums[(scen, target)]
            x[0] += int(num(reqs) or 0); x[1] += int(hs); x[2] += int(reused)
        for (scen, target), (reqs, hs, reused) in sums.items():
            w(f"| {scen} | {LABEL.get(target, target)} | {reqs:,} | {hs:,} | {reused:,} "
              f"| {100 * reused / hs if hs else 0:.1f} | {hs / reqs if reqs else 0:.3f} |")
        w("")

    # This build against the baseline binary, per scenario and driver.
    if any(k[1] == "ringway-base-uring" for k in agg):
        w(f"## This build against {LABEL['ringway-base-uring'].split('(')[1].rstrip(')')}\n")
        w("Ratios of medians within this run (this build ÷ baseline): req/s higher is better, "
          "CPU per request and p99 lower is better.\n")
        w("| scenario | driver | req/s | proxy CPU-µs/req | p50 | p99 |")
        w("|---|---|---:|---:|---:|---:|")
        for sc in sorted({k[0] for k in agg}):
            for drv, base in [("ringway-uring", "ringway-base-uring"),
                              ("ringway-epoll", "ringway-base-epoll")]:
                a, b = agg.get((sc, drv)), agg.get((sc, base))
                if not a or not b:
                    continue
                w(f"| {sc} | {drv.split('-')[1]} | {ratio(a['rps'], b['rps'])} "
                  f"| {ratio(a['pcpu'], b['pcpu'])} | {ratio(a['p50'], b['p50'])} "
                  f"| {ratio(a['p99'], b['p99'])} |")
        w("")

    scen_order = []
    for spec in (args.scenarios or "").splitlines():
        name = spec.split("|")[0]
        if any(k[0] == name for k in agg):
            scen_order.append(name)
    for s in sorted({k[0] for k in agg}):
        if s not in scen_order:
            scen_order.append(s)

    for s in scen_order:
        # The h2up scenarios get one more column: upstream connections held mid-run.
        up = s in upconn_scens
        w(f"## {s}: {descr.get(s, '')}\n")
        w("| target | req/s | ×nginx | ×HAProxy | p50 | p99 | p99.9 | errors | non-2xx "
          "| proxy CPU-µs/req | ×nginx | ×HAProxy | total CPU-µs/req | peak RSS MiB |"
          + (" upstream connections mid-run |" if up else ""))
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if up else ""))
        n = agg.get((s, "nginx"), {})
        hp = agg.get((s, "haproxy"), {})
        for t in ORDER:
            a = agg.get((s, t))
            if not a:
                continue
            rss = a["rss"] / 1024 if a["rss"] is not None else None
            w(f"| {LABEL[t]} | {fmt(a['rps'], 0)} | {ratio(a['rps'], n.get('rps'))} "
              f"| {ratio(a['rps'], hp.get('rps'))} | {fmt(a['p50'], 3)} | {fmt(a['p99'], 3)} "
              f"| {fmt(a['p999'], 3)} | {a['errors']} | {a['non2xx']} | {fmt(a['pcpu'])} "
              f"| {ratio(a['pcpu'], n.get('pcpu'))} | {ratio(a['pcpu'], hp.get('pcpu'))} "
              f"| {fmt(a['tcpu'])} | {fmt(rss, 1)} |"
              + (f" {conns_cell(upconns.get((s, t)))} |" if up else ""))
        if up:
            workers = scen_info.get(s, ("?",))[0]
            w("| Envoy (documented, not run) |" + " – |" * 13
              + f" {workers} (one per upstream host per worker) |")
            w("")
            w("Upstream connections: the established TCP connections from the proxy's "
              "processes to the HTTP/2 upstream (`ss -Htnp state established dst …`, matched by "
              "PID), counted once half-way through each run; the median over rounds, with the "
              "range when rounds differ. Connections opened in an earlier round and still held "
              "count too. Envoy is not installed here: its row is its documented behaviour "
              f"([connection pooling]({ENVOY_H2_POOL_DOC})): each worker has its own pool per "
              "upstream host, and an HTTP/2 pool multiplexes every request on one connection, "
              "opening another only when a connection reaches `max_concurrent_streams` "
              "(nginx's 128 here; the load has 64 requests in flight in all) or "
              "`max_requests_per_connection`. nginx is not a target: it proxies to HTTP/2 "
              "only through `grpc_pass`. There is no direct row: wrk speaks only HTTP/1.1 "
              "and the upstream port only HTTP/2.")
        w("")

    oha = [l.rstrip("\n").split("\t") for l in open(args.oha)] if args.oha and os.path.exists(args.oha) else []
    oha = [r for r in oha if len(r) == 7]
    if oha:
        w("## oha latency (one run per target, headline scenarios)\n")
        w("| scenario | target | req/s | p50 ms | p99 ms | p99.9 ms |")
        w("|---|---|---:|---:|---:|---:|")
        for r in oha:
            w(f"| {r[0]} | {LABEL.get(r[2], r[2])} | {r[3]} | {r[4]} | {r[5]} | {r[6]} |")
        w("")
    else:
        w("oha was not installed for this run (`bench/run.sh --install-oha` builds it); "
          "latency percentiles are wrk's (h2load's in the fixed-rate and HTTP/2 scenarios).\n")

    idle = [l.rstrip("\n").split("\t") for l in open(args.idle)] if args.idle and os.path.exists(args.idle) else []
    idle = [r for r in idle if len(r) == 6]
    if idle:
        held = idle[0][2]
        w(f"## Idle keep-alive connections: added RSS per connection\n")
        w("Each connection sends one `GET /1k`, reads the response and stays open, idle "
          "(`bench/idle_hold.py`). RSS of the proxy's processes before opening them and with "
          "all of them open. HAProxy `mode tcp` is left out: it would hold one upstream "
          "connection per client and exceed the 20,000 open-file limit. nginx allocates and touches its per-connection "
          "structures for all `worker_connections` (19,000 here) at start, so its *added* RSS "
          "understates its cost; the last column divides the whole RSS by the connections held.\n")
        w("| proxy | workers | connections held | RSS before KiB | RSS with them KiB | added KiB per connection | ×nginx | total RSS ÷ connections KiB |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|")
        nginx_pc = next((num(r[5]) for r in idle if r[0] == "nginx"), None)
        for r in idle:
            w(f"| {LABEL.get(r[0], r[0])} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]} "
              f"| {ratio(num(r[5]), nginx_pc)} | {fmt(num(r[4]) / max(1, int(r[2])))} |")
        w("")

    w("## Exact commands\n")
    w("Proxies (configs below; `$WORK` is the run's temp dir):\n")
    w("```")
    conf_dir = args.configs.rstrip("/")
    for line in open(args.commands):
        w(line.rstrip("\n").replace(conf_dir, "$WORK"))
    w("```\n")
    w("Load (one line per scenario and target; `bench/wrk_report.lua` prints the "
      "machine-readable summary and turns requests into POSTs when `BENCH_POST_BYTES` is set):\n")
    w("```")
    seen = set()
    for line in open(args.wrk_commands):
        line = line.rstrip("\n").replace(conf_dir, "$WORK")
        if line not in seen:
            seen.add(line)
            w(line)
    w("```\n")
    w("<details><summary>Configs as written by bench/run.sh (last worker count)</summary>\n")
    for rel in ["up/nginx.conf", "ringway-uring/ringway.yaml", "nginx/nginx.conf",
                "haproxy/haproxy.cfg", "haproxy/haproxy-tcp.cfg"]:
        p = os.path.join(conf_dir, rel)
        if os.path.exists(p):
            w(f"`{rel}`\n")
            w("```")
            w(open(p).read().replace(conf_dir, "$WORK").rstrip())
            w("```\n")
    w("</details>\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()

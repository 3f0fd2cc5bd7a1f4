#!/usr/bin/env bash
# Profile ringway under load: start the bench upstream (nginx, 1 worker, static files
# on 127.0.0.2:18081) and ringway (release build) on 127.0.0.21:8000, drive it with wrk (h2load for HTTP/2),
# and sample ringway with `perf record -e cpu-clock` (software event: this machine has
# no hardware counters). Renders a flame graph (inferno) and top-functions reports
# into perf/out/. See perf/README.md. Every process started here is stopped by PID.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: perf/record.sh [--size 1k|64k|1m] [--conns N] [--workers N] [--driver uring|epoll]
                      [--duration S] [--freq HZ] [--call-graph dwarf|fp] [--no-build]
                      [--no-counts] [--no-flame] [--tls] [--h2c | --h2] [--streams N]
                      [--close]
defaults: 1 KiB responses, 64 connections, 2 workers, io_uring, 10 s, 499 Hz, dwarf
The recorded run itself is also counted (perf stat around it): syscalls, io_uring
enters and SQEs per request are printed for exactly the requests that were sampled.
Then a second 4 s run counts more syscalls, page faults, context switches and
(through a temporary uprobe on libc) malloc/free calls per request (--no-counts skips it).
--no-flame skips the flame graph (and installing inferno for it): text reports only.
--tls drives ringway's HTTPS listener instead (127.0.0.21:8443, an ECDSA P-256
certificate made with openssl, ringway's TLS defaults; keep-alive, so one handshake
per connection): the profile is the steady-state record path. Tag tls-1k-c64-w2-uring.
--close sends every HTTP/1.1 request with `Connection: close` (a new client connection
per request: bench/run.sh's close-1k-c64-w2). Tag close-….
--h2c drives HTTP/2 with prior knowledge on the plaintext listener, --h2 HTTP/2 by ALPN
on the TLS listener (implies --tls); both with h2load -t1 -cCONNS -mSTREAMS (defaults
16 connections x 32 streams, bench/run.sh's h2 scenarios). Tags h2c-… and h2-tls-….
ringway is $CARGO_TARGET_DIR/release/ringway (default target/).
EOF
}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZE=1k CONNS=64 WORKERS=2 DRIVER=uring DURATION=10 FREQ=499 CALLGRAPH=dwarf BUILD=1 COUNTS=1 FLAME=1 TLS=0 H2=0 STREAMS=32 CONNS_SET=0 CLOSE=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --size) SIZE=$2; shift ;;
    --conns) CONNS=$2; CONNS_SET=1; shift ;;
    --workers) WORKERS=$2; shift ;;
    --driver) DRIVER=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --freq) FREQ=$2; shift ;;
    --call-graph) CALLGRAPH=$2; shift ;;
    --no-build) BUILD=0 ;;
    --no-counts) COUNTS=0 ;;
    --no-flame) FLAME=0 ;;
    --tls) TLS=1 ;;
    --h2c) H2=1 ;;
    --h2) H2=1; TLS=1 ;;
    --streams) STREAMS=$2; shift ;;
    --close) CLOSE=1 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
  shift
done
OUTDIR=$REPO/perf/out
if [[ $H2 == 1 && $CONNS_SET == 0 ]]; then CONNS=16; fi
case $H2$TLS in
  00) TAG=$SIZE-c$CONNS-w$WORKERS-$DRIVER ;;
  01) TAG=tls-$SIZE-c$CONNS-w$WORKERS-$DRIVER ;;
  10) TAG=h2c-$SIZE-c$CONNS-m$STREAMS-w$WORKERS-$DRIVER ;;
  11) TAG=h2-tls-$SIZE-c$CONNS-m$STREAMS-w$WORKERS-$DRIVER ;;
esac
if [[ $CLOSE == 1 ]]; then TAG=close-$TAG; fi
mkdir -p "$OUTDIR"
WORK=$(mktemp -d /tmp/ringway-perf.XXXXXX)
chmod 755 "$WORK"   # nginx workers run as www-data

KEEP=0
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../bench/lib.sh"
trap 'cleanup; exit 130' INT TERM
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

# ---------------------------------------------------------------- tools
pkgs=()
command -v perf >/dev/null || pkgs+=(linux-perf)
command -v nginx >/dev/null || pkgs+=(nginx)
command -v wrk >/dev/null || pkgs+=(wrk)
command -v h2load >/dev/null || pkgs+=(nghttp2-client)
if [[ ${#pkgs[@]} -gt 0 ]]; then
  log "installing from Debian: ${pkgs[*]}"
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${pkgs[@]}" >&2
fi
export PATH="$HOME/.cargo/bin:$PATH"
if [[ $FLAME == 1 ]] && ! command -v inferno-flamegraph >/dev/null; then
  log "cargo install inferno (flame graphs)"
  nice -n 10 cargo install --locked inferno >&2 || log "inferno install failed: no SVG, text reports only"
fi
if [[ $BUILD == 1 ]]; then
  log "building ringway (release, with debug line tables per Cargo.toml)"
  (cd "$REPO" && nice -n 10 cargo build --release >&2)
fi
# cargo builds into $CARGO_TARGET_DIR when it is set; profile what it built.
RINGWAY=${CARGO_TARGET_DIR:-$REPO/target}/release/ringway
[[ -x $RINGWAY ]] || { log "$RINGWAY missing"; exit 1; }

# Can perf sample here at all? (containers may forbid perf_event_open)
if ! perf record -e cpu-clock -o "$WORK/probe.data" -- true >/dev/null 2>&1; then
  log "perf cannot sample on this machine (perf_event_open refused;"
  log "kernel.perf_event_paranoid=$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null))."
  log "Fallback: valgrind --tool=callgrind on a short run (instruction counts, not time):"
  log "  valgrind --tool=callgrind --callgrind-out-file=perf/out/callgrind.out $RINGWAY -c CONFIG --workers 1 --io-driver epoll"
  exit 1
fi

# ---------------------------------------------------------------- upstream + ringway
UP=127.0.0.2:18081 RW=127.0.0.21:8000
mkdir -p "$WORK/www" "$WORK/tmp"
head -c 1024 /dev/zero | tr '\0' a > "$WORK/www/1k"
head -c 65536 /dev/zero | tr '\0' b > "$WORK/www/64k"
head -c 1048576 /dev/zero | tr '\0' c > "$WORK/www/1m"
upstream_nginx_conf "$WORK" "$UP" 19000 120s > "$WORK/up.conf"
# With --tls the load goes to a TLS listener on port 8443 (ringway's TLS defaults).
URL_BASE="http://$RW" LOAD_PORT=${RW#*:}
if [[ $TLS == 1 ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
    -subj /CN=perf.test -addext "subjectAltName=DNS:perf.test,IP:${RW%:*}" \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2> "$WORK/openssl.err" \
    || { log "openssl req failed"; cat "$WORK/openssl.err" >&2; exit 1; }
  URL_BASE="https://${RW%:*}:8443" LOAD_PORT=8443
fi
# The config bench/run.sh runs (bench/lib.sh), with the TLS listener on 8443.
{
  ringway_listener perf "$RW"
  if [[ $TLS == 1 ]]; then ringway_listener perf_tls "${RW%:*}:8443" "$WORK"; fi
} | ringway_config "$WORKERS" "$UP" > "$WORK/ringway.yaml"


nginx -p "$WORK" -c "$WORK/up.conf" -e "$WORK/up.err" &
UP_PID=$!; PIDS+=("$UP_PID")
wait_port "${UP%:*}" "${UP#*:}" "$UP_PID" || { log "upstream did not start"; cat "$WORK/up.err" >&2; exit 1; }
"$RINGWAY" -c "$WORK/ringway.yaml" --io-driver "$DRIVER" --workers "$WORKERS" > "$WORK/rw.out" 2> "$WORK/rw.err" &
RW_PID=$!; PIDS+=("$RW_PID")
wait_port "${RW%:*}" "$LOAD_PORT" "$RW_PID" || { log "ringway did not start"; cat "$WORK/rw.err" >&2; exit 1; }
log "upstream PID $UP_PID, ringway PID $RW_PID ($DRIVER, $WORKERS workers)"

# The load: wrk for HTTP/1.1, h2load for HTTP/2 (h2c prior knowledge or h2 by ALPN).
load_cmd() { # SECONDS: LOAD becomes the command that drives ringway for that long
  if [[ $H2 == 1 ]]; then
    LOAD=(h2load -t1 -c"$CONNS" -m"$STREAMS" -D "$1" "$URL_BASE/$SIZE")
  else
    LOAD=(wrk -t1 -c"$CONNS" -d"${1}s" --latency "$URL_BASE/$SIZE")
    if [[ $CLOSE == 1 ]]; then LOAD+=(-H "Connection: close"); fi
  fi
}
LOADER="wrk -t1 -c$CONNS"
[[ $H2 == 1 ]] && LOADER="h2load -t1 -c$CONNS -m$STREAMS"
completed() { # REPORT: requests the client completed (wrk "N requests in", h2load "N done")
  awk '/requests in/ {print $1} /^requests:/ {print $6}' "$1"
}

# Warm up (pools, buffers), then record while the load runs for DURATION seconds.
load_cmd 1
timeout 10 "${LOAD[@]}" > /dev/null 2>&1 || true
cg=(-g)
[[ $CALLGRAPH == dwarf ]] && cg=(--call-graph dwarf,16384)
DATA=$OUTDIR/perf-$TAG.data
# Counted during the recorded run (tracepoints that exist on this kernel; each is
# checked first so an older kernel just loses a line): syscalls, io_uring enters,
# SQEs submitted, polls armed (a recv/send that found the socket not ready),
# task_work runs (deferred with DEFER_TASKRUN: io_uring_local_work_run).
REC_EVS=raw_syscalls:sys_enter,context-switches
for ev in syscalls:sys_enter_io_uring_enter syscalls:sys_enter_epoll_wait io_uring:io_uring_submit_req \
    io_uring:io_uring_poll_arm io_uring:io_uring_local_work_run io_uring:io_uring_task_work_run \
    io_uring:io_uring_cqring_wait io_uring:io_uring_queue_async_work; do
  perf list "$ev" 2>/dev/null | grep -q "${ev#*:}" && REC_EVS+=,$ev
done
log "perf record -e cpu-clock -F $FREQ ${cg[*]} -p $RW_PID for ${DURATION}s under $LOADER (perf stat around it)"
# perf stat -p counts only ringway (all its threads) while its command runs; that
# command is perf record -p, which samples only ringway while the load runs: both
# windows are exactly the load's run, so counts divide by its completed requests.
load_cmd "$DURATION"
timeout $((DURATION + 40)) perf stat -x, -e "$REC_EVS" -p "$RW_PID" -o "$WORK/rec-stat.csv" -- \
  perf record -e cpu-clock -F "$FREQ" "${cg[@]}" -p "$RW_PID" -o "$DATA" -- \
  "${LOAD[@]}" \
  > "$OUTDIR/load-$TAG.txt" 2> "$WORK/perf-record.log" || { log "perf record failed:"; cat "$WORK/perf-record.log" >&2; exit 1; }
grep -E "Requests/sec|Latency |^finished in|^requests:" "$OUTDIR/load-$TAG.txt" >&2 || true
REC_REQS=$(completed "$OUTDIR/load-$TAG.txt")
{
  echo "# per request during the recorded run: ringway $TAG, ${REC_REQS:-?} requests in ${DURATION} s"
  echo "# (perf stat -p RINGWAY_PID around perf record; sampling at $FREQ Hz adds a little)"
  awk -F, -v n="${REC_REQS:-0}" '!/^#/ && NF > 2 && $1 ~ /^[0-9]/ {
    name = $3
    label = name
    if (name == "raw_syscalls:sys_enter") label = name "  (all syscalls)"
    if (name == "io_uring:io_uring_submit_req") label = name "  (SQEs)"
    printf "%-52s %12d  %8.3f per request\n", label, $1, (n > 0 ? $1 / n : 0) }' "$WORK/rec-stat.csv"
} | tee "$OUTDIR/recorded-counts-$TAG.txt"

# ---------------------------------------------------------------- reports
log "rendering reports into $OUTDIR"
# Flat profile: where the samples land (self time), by symbol, across all threads.
perf report -i "$DATA" --no-children --sort symbol --stdio --percent-limit 0.5 -g none \
  > "$OUTDIR/top-self-$TAG.txt" 2> /dev/null || true
# Inclusive profile: which functions the time is spent *under* (children included).
perf report -i "$DATA" --children --sort symbol --stdio --percent-limit 2 -g none \
  > "$OUTDIR/top-children-$TAG.txt" 2> /dev/null || true
# By shared object: ringway itself vs kernel vs libc.
perf report -i "$DATA" --no-children --sort dso --stdio -g none \
  > "$OUTDIR/top-dso-$TAG.txt" 2> /dev/null || true
if [[ $FLAME == 1 ]] && command -v inferno-collapse-perf >/dev/null; then
  perf script -i "$DATA" --no-inline 2> /dev/null | inferno-collapse-perf > "$OUTDIR/folded-$TAG.txt"
  inferno-flamegraph --title "ringway $TAG (cpu-clock, $FREQ Hz)" < "$OUTDIR/folded-$TAG.txt" \
    > "$OUTDIR/flame-$TAG.svg"
  log "flame graph: perf/out/flame-$TAG.svg"
fi
{
  echo "# top functions by self time (perf/out/top-self-$TAG.txt), first 40"
  grep -E '^ +[0-9]' "$OUTDIR/top-self-$TAG.txt" | head -40 || true
  echo
  echo "# by object (perf/out/top-dso-$TAG.txt)"
  grep -E '^ +[0-9]' "$OUTDIR/top-dso-$TAG.txt" | head -8 || true
} 2>/dev/null | tee "$OUTDIR/summary-$TAG.txt" || true   # head closing the pipe is fine

# ---------------------------------------------------------------- per-request counts
# perf stat over exactly one load run (the command only sets the duration when -p is
# given), divided by the requests the client completed: deterministic-ish figures that do not
# depend on the machine's noise.
if [[ $COUNTS == 1 ]]; then
  # Allocations: ringway's own jemalloc (src/cli/allocator.rs) when it is linked
  # in, else libc's malloc; uprobes on each entry point.
  PROBES=()
  if nm "$RINGWAY" 2>/dev/null | grep ' T _rjem_malloc$' > /dev/null; then
    ALLOC_BIN=$RINGWAY ALLOC_FNS="_rjem_malloc _rjem_mallocx _rjem_calloc _rjem_realloc _rjem_rallocx _rjem_sdallocx"
  else
    ALLOC_BIN=$(ldd "$RINGWAY" | awk '/libc.so.6/ {print $3}') ALLOC_FNS="malloc free realloc"
  fi
  for fn in $ALLOC_FNS; do
    if perf probe -q -x "$ALLOC_BIN" "rw$fn=$fn" >/dev/null 2>&1; then
      PROBES+=("$(perf probe -l 2>/dev/null | awk -v f="rw$fn" '$1 ~ ":" f "$" {print $1; exit}')")
    fi
  done
  cleanup_probes() { local p; for p in "${PROBES[@]}"; do perf probe -q -d "$p" >/dev/null 2>&1 || true; done; }
  trap 'cleanup_probes; cleanup' EXIT
  evs=raw_syscalls:sys_enter,syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_epoll_wait
  evs+=,syscalls:sys_enter_recvfrom,syscalls:sys_enter_read,syscalls:sys_enter_write
  evs+=,syscalls:sys_enter_readv,syscalls:sys_enter_writev,syscalls:sys_enter_sendto
  evs+=,syscalls:sys_enter_sendmsg,syscalls:sys_enter_recvmsg,syscalls:sys_enter_epoll_ctl
  evs+=,syscalls:sys_enter_madvise,syscalls:sys_enter_brk,page-faults,context-switches
  evs+=,io_uring:io_uring_submit_req,io_uring:io_uring_poll_arm,io_uring:io_uring_queue_async_work
  for p in "${PROBES[@]}"; do evs+=,$p; done
  load_cmd 4
  timeout 40 perf stat -x, -e "$evs" -p "$RW_PID" -o "$WORK/stat.csv" -- \
    "${LOAD[@]}" > "$WORK/load-stat.txt" 2>&1 || true
  cleanup_probes
  reqs=$(completed "$WORK/load-stat.txt")
  {
    echo "# per-request counts, ringway $TAG, over one 4 s $LOADER run of ${reqs:-?} requests"
    echo "# (perf stat -p RINGWAY_PID; allocator calls via uprobes on $ALLOC_BIN)"
    awk -F, -v n="${reqs:-0}" '!/^#/ && NF > 2 && $1 ~ /^[0-9]/ {
      printf "%-40s %12d  %8.3f per request\n", $3, $1, (n > 0 ? $1 / n : 0) }' "$WORK/stat.csv"
  } | tee "$OUTDIR/counts-$TAG.txt"
  # Which operations the SQEs are: one more 2 s run, each submission traced.
  if [[ $DRIVER == uring ]]; then
    load_cmd 2
    timeout 30 perf record -q -e io_uring:io_uring_submit_req -p "$RW_PID" -o "$WORK/sqe.data" -- \
      "${LOAD[@]}" > "$WORK/load-sqe.txt" 2>&1 || true
    reqs=$(completed "$WORK/load-sqe.txt")
    {
      echo "# SQEs by opcode, ringway $TAG, over one 2 s $LOADER run of ${reqs:-?} requests"
      perf script -i "$WORK/sqe.data" -F trace 2>/dev/null \
        | grep -o 'opcode [A-Z_]*' | sort | uniq -c | sort -rn \
        | awk -v n="${reqs:-0}" '{ printf "%-40s %12d  %8.3f per request\n", $3, $1, (n > 0 ? $1 / n : 0) }'
    } | tee "$OUTDIR/sqes-$TAG.txt"
  fi
fi

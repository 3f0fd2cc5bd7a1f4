#!/usr/bin/env bash
# Instructions per proxied request, by callgrind: ringway (release build, 1 worker)
# under `valgrind --tool=callgrind` in front of the bench upstream (nginx, static
# files), driven by exactly N keep-alive requests (h2load --h1). Instruction counts
# do not depend on what else the machine runs, so two builds can be compared on a
# busy machine where wall-clock benchmarks cannot. See perf/README.md.
# Every process started here is stopped by PID.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: perf/callgrind.sh [--driver epoll|uring] [--requests N] [--conns N] [--size 1k|64k]
                         [--warmup N] [--runs N] [--tag TAG] [--no-build] [--h2c [--streams N]] [--h2-upstream]
defaults: epoll, 20000 requests of 1 KiB over 16 connections, 2000 warm-up requests,
5 measured runs in one ringway process: each run's figure, the minimum (the headline:
work that depends on timing, such as the 100 ms tick, jemalloc's purge thread and
extra wake-ups, only adds) and the median run's profile
Collection is off while ringway starts and warms up (pools, buffers, the upstream
connections), then zeroed, then on for exactly each measured h2load run, and dumped:
the total is ringway's whole process (all threads) during that run, divided by N.
Writes perf/out/callgrind-TAG.out (callgrind_annotate it), perf/out/callgrind-TAG.txt
(the summary: totals and top functions). TAG defaults to DRIVER-SIZE-cCONNS.
--h2c: HTTP/2 with prior knowledge instead (h2load -mSTREAMS, default 32 streams per
connection), on the same listener (codec auto); TAG then starts with h2c-.
--h2-upstream: the upstream is HTTP/2 (h2c, prior knowledge: nginx `listen ... http2`,
ringway's cluster `protocol: http2`), the clients HTTP/1.1; TAG then starts with h2up-.
ringway is $CARGO_TARGET_DIR/release/ringway (default target/).
EOF
}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DRIVER=epoll REQUESTS=20000 CONNS=16 SIZE=1k WARMUP=2000 RUNS=5 BUILD=1 TAG= H2C=0 STREAMS=32 H2UP=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --driver) DRIVER=$2; shift ;;
    --requests) REQUESTS=$2; shift ;;
    --conns) CONNS=$2; shift ;;
    --size) SIZE=$2; shift ;;
    --warmup) WARMUP=$2; shift ;;
    --runs) RUNS=$2; shift ;;
    --tag) TAG=$2; shift ;;
    --no-build) BUILD=0 ;;
    --h2c) H2C=1 ;;
    --h2-upstream) H2UP=1 ;;
    --streams) STREAMS=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
  shift
done
if [[ $H2C == 1 ]]; then TAG=${TAG:-h2c-$DRIVER-$SIZE-c$CONNS-m$STREAMS}; else TAG=${TAG:-$DRIVER-$SIZE-c$CONNS}; fi
[[ $H2UP == 1 ]] && TAG=h2up-$TAG
# The load: HTTP/1.1 keep-alive (h2load --h1), or HTTP/2 with prior knowledge.
LOAD_OPTS=(--h1) LOAD_DESC="h2load --h1"
if [[ $H2C == 1 ]]; then LOAD_OPTS=(-m"$STREAMS") LOAD_DESC="h2load -m$STREAMS, h2c"; fi
OUTDIR=$REPO/perf/out
mkdir -p "$OUTDIR"
WORK=$(mktemp -d /tmp/ringway-callgrind.XXXXXX)
chmod 755 "$WORK"   # nginx workers run as www-data

KEEP=0
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"
trap 'cleanup; exit 130' INT TERM
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

for tool in valgrind callgrind_control callgrind_annotate nginx h2load; do
  command -v "$tool" >/dev/null || { log "$tool missing (Debian: valgrind, nginx, nghttp2-client)"; exit 1; }
done
if [[ $BUILD == 1 ]]; then
  log "building ringway (release profile, debug line tables per Cargo.toml)"
  (cd "$REPO" && nice -n 10 cargo build --profile release >&2)
fi
RINGWAY=${CARGO_TARGET_DIR:-$REPO/target}/release/ringway
[[ -x $RINGWAY ]] || { log "$RINGWAY missing"; exit 1; }

# Addresses of its own, so it can run beside perf/record.sh and bench/run.sh.
UP=127.0.0.2:18091 RW=127.0.0.41:8000
mkdir -p "$WORK/www" "$WORK/tmp"
head -c 1024 /dev/zero | tr '\0' a > "$WORK/www/1k"
head -c 65536 /dev/zero | tr '\0' b > "$WORK/www/64k"
UP_H2=127.0.0.3:18093
if [[ $H2UP == 1 ]]; then
  upstream_nginx_conf "$WORK" "$UP" 1024 600s "$UP_H2" > "$WORK/up.conf"
  ringway_listener perf "$RW" "" upstream_h2 | ringway_config 1 "$UP" "" "$UP_H2" > "$WORK/ringway.yaml"
else
  upstream_nginx_conf "$WORK" "$UP" 1024 600s > "$WORK/up.conf"
  ringway_listener perf "$RW" | ringway_config 1 "$UP" > "$WORK/ringway.yaml"
fi


nginx -p "$WORK" -c "$WORK/up.conf" -e "$WORK/up.err" &
UP_PID=$!; PIDS+=("$UP_PID")
wait_port "${UP%:*}" "${UP#*:}" "$UP_PID" 100 || { log "upstream did not start"; cat "$WORK/up.err" >&2; exit 1; }

# --instr-atstart=no: start-up runs uninstrumented (fast, and not counted).
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/cg.out" \
  "$RINGWAY" -c "$WORK/ringway.yaml" --io-driver "$DRIVER" --workers 1 \
  > "$WORK/rw.out" 2> "$WORK/rw.err" &
RW_PID=$!; PIDS+=("$RW_PID")
wait_port "${RW%:*}" "${RW#*:}" "$RW_PID" 600 || { log "ringway did not start"; cat "$WORK/rw.err" >&2; exit 1; }
# The driver actually running (an io_uring refusal falls back to epoll, logged).
grep -iE 'driver|fall' "$WORK/rw.err" | sed 's/^/  ringway: /' >&2 || true
log "upstream PID $UP_PID, ringway PID $RW_PID under callgrind ($DRIVER, 1 worker)"

URL="http://$RW/$SIZE"
run_load() { # N OUTFILE
  timeout 900 h2load "${LOAD_OPTS[@]}" -t1 -c"$CONNS" -n"$1" "$URL" > "$2" 2>&1 || true
  local ok
  ok=$(awk '/^requests:/ {print $8}' "$2")
  if [[ ${ok:-0} != "$1" ]]; then
    log "h2load: $1 requests asked, ${ok:-0} succeeded"; cat "$2" >&2; return 1
  fi
}
# Warm up uninstrumented, then instrumented (so the measured run pays no first-use
# cost of its own), then zero the counters and measure exactly REQUESTS requests.
run_load "$WARMUP" "$WORK/warm1.txt"
callgrind_control -i on "$RW_PID" > /dev/null
run_load "$WARMUP" "$WORK/warm2.txt"
# Each measured run: zero, load, dump (dumps are numbered cg.out.1, .2, ...).
# The event loop's share varies a little with timing (how many connections one
# wait returns, reads that find nothing yet), so several runs give a spread.
TOTALS=()
for r in $(seq "$RUNS"); do
  callgrind_control -z "$RW_PID" > /dev/null
  log "run $r/$RUNS: measuring $REQUESTS requests over $CONNS connections"
  run_load "$REQUESTS" "$OUTDIR/h2load-callgrind-$TAG.txt"
  callgrind_control -d "$RW_PID" > /dev/null
  # The dump is written by the process asynchronously: wait for it.
  DUMP=$WORK/cg.out.$r
  for _ in $(seq 300); do
    grep -q '^totals:' "$DUMP" 2>/dev/null && break
    sleep 0.1
  done
  grep -q '^totals:' "$DUMP" 2>/dev/null || { log "no callgrind dump $DUMP"; ls "$WORK" >&2; exit 1; }
  TOTALS+=("$(awk '/^totals:/ {print $2}' "$DUMP")")
done
# The median run's dump is the one annotated.
MEDIAN=$(for r in $(seq "$RUNS"); do echo "${TOTALS[$((r - 1))]} $r"; done | sort -n | awk -v m=$(((RUNS + 1) / 2)) 'NR == m {print $2}')
DUMP=$WORK/cg.out.$MEDIAN
cp "$DUMP" "$OUTDIR/callgrind-$TAG.out"

# callgrind_annotate prints one row per file:function; sum (self) or take the largest
# (inclusive: the rows may call one another) per function, per request.
AGG='/^-+$/ { sep++; next }
sep >= 3 && $1 ~ /^[0-9,]+$/ {
  c = $1; gsub(",", "", c)
  f = $0; sub(/^ *[0-9,]+ *\( *[0-9.]+%\) */, "", f)
  if (f ~ /PROGRAM TOTALS/) next
  sub(/ \[[^]]*\]$/, "", f)
  i = index(f, ":"); if (i > 0) f = substr(f, i + 1)
  if (max) { if (c + 0 > v[f] + 0) v[f] = c + 0 } else v[f] += c
}
END { for (f in v) printf "%10.1f  %s\n", v[f] / n, f }'
TOTAL=$(awk '/^totals:/ {print $2}' "$DUMP")
{
  echo "# ringway $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD -- src || echo '+dirty'), $DRIVER, 1 worker: $REQUESTS GET /$SIZE, $CONNS keep-alive connections ($LOAD_DESC)"
  echo "# instructions (Ir) of the whole ringway process during the measured run"
  printf 'per request, each run:'
  for t in "${TOTALS[@]}"; do printf ' %.0f' "$(echo "$t / $REQUESTS" | bc -l)"; done
  MIN=$(printf '%s\n' "${TOTALS[@]}" | sort -n | head -1)
  printf '\nminimum %.0f per request; median run (profiled below): total %d, %.0f per request\n' \
    "$(echo "$MIN / $REQUESTS" | bc -l)" "$TOTAL" "$(echo "$TOTAL / $REQUESTS" | bc -l)"
  echo
  echo "# top functions by self cost, instructions per request (callgrind_annotate, the rows"
  echo "# of one function summed: inlined code is split by the source file it came from)"
  callgrind_annotate --auto=no --inclusive=no --threshold=100 "$DUMP" 2>/dev/null \
    | awk -v n="$REQUESTS" "$AGG" | sort -rn | head -40 || true
  echo
  echo "# top functions by inclusive cost, per request (one row per function: the largest)"
  callgrind_annotate --auto=no --inclusive=yes --threshold=100 "$DUMP" 2>/dev/null \
    | awk -v n="$REQUESTS" -v max=1 "$AGG" | sort -rn | head -40 || true
} | tee "$OUTDIR/callgrind-$TAG.txt"
log "perf/out/callgrind-$TAG.txt, perf/out/callgrind-$TAG.out"

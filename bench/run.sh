#!/usr/bin/env bash
# ringway side-by-side benchmark: ringway (io_uring and epoll), nginx, HAProxy (HTTP)
# and HAProxy `mode tcp` (the floor) in front of one nginx upstream, plus a "direct"
# row, all on loopback, interleaved over rounds, medians reported.
# See bench/README.md. Every process started here is recorded by PID and stopped by
# the EXIT trap; every load run is bounded by `timeout`.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/run.sh [--quick] [--rounds N] [--duration SECONDS] [--only REGEX]
                    [--no-idle] [--idle-conns N] [--no-build] [--install-oha]
                    [--baseline BIN] [--baseline-label TEXT] [--rate N]
                    [--out FILE] [--keep]
  --quick        smoke mode, about a minute: 1 KiB/64 connections over HTTP and HTTPS,
                 HTTP/2 (h2c and h2 over TLS, 16 connections x 32 streams; HTTP/1.1
                 clients to an HTTP/2 upstream), 1 round of 2 s, 1,000 idle
                 connections; writes bench/out/RESULTS-quick.md; its
                 verdicts are labelled a smoke check (one short round decides nothing)
  --rounds N     interleaved rounds per scenario (default 3); medians are reported
  --duration S   seconds per wrk run (default 5)
  --only REGEX   run only scenarios whose name matches (e.g. '1k-c64', '^h2up')
  --no-idle      skip the idle keep-alive connection scenario
  --idle-conns N idle keep-alive connections to hold (default 10000)
  --no-build     do not run cargo build (use the release binary as it is)
                 ringway is $CARGO_TARGET_DIR/release/ringway (default target/)
  --baseline BIN a second ringway binary (e.g. main's build) run as two extra
                 targets, ringway-base-uring and ringway-base-epoll, in every round
  --baseline-label TEXT  names the baseline in the report (default: "baseline")
  --rate N       offered load of the fixed-rate scenarios, req/s (default 20000)
  --install-oha  `cargo install oha` if missing (slow on a busy 2-core machine);
                 without it oha is used only if already on PATH
  --out FILE     Markdown output (default bench/RESULTS.md)
  --keep         keep the temp dir with configs, logs and raw results
EOF
}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ORIG_ARGS="$*"
QUICK=0 ROUNDS=3 DURATION=5 ONLY="" IDLE=1 IDLE_CONNS=10000 BUILD=1 INSTALL_OHA=0 KEEP=0
BASELINE="" BASELINE_LABEL=baseline RATE=20000
OUT="$REPO/bench/RESULTS.md"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --rounds) ROUNDS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --only) ONLY=$2; shift ;;
    --no-idle) IDLE=0 ;;
    --idle-conns) IDLE_CONNS=$2; shift ;;
    --no-build) BUILD=0 ;;
    --install-oha) INSTALL_OHA=1 ;;
    --baseline) BASELINE=$2; shift ;;
    --baseline-label) BASELINE_LABEL=$2; shift ;;
    --rate) RATE=$2; shift ;;
    --out) OUT=$2; shift ;;
    --keep) KEEP=1 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
  shift
done
if [[ $QUICK == 1 ]]; then
  ROUNDS=1 DURATION=2 IDLE_CONNS=1000 ONLY=${ONLY:-'^(tls-)?1k-c64-w2$|^tls-close-1k|^h2'}
  [[ $OUT == "$REPO/bench/RESULTS.md" ]] && OUT="$REPO/bench/out/RESULTS-quick.md"
fi
mkdir -p "$(dirname "$OUT")"

WORK=$(mktemp -d /tmp/ringway-bench.XXXXXX)
chmod 755 "$WORK"   # nginx workers run as www-data and must read the files
RESULTS=$WORK/results.tsv   # one row per wrk run
IDLE_TSV=$WORK/idle.tsv     # one row per proxy in the idle scenario
TLS_TSV=$WORK/tls.tsv       # ringway's full/resumed handshakes per HTTPS run
UPCONN_TSV=$WORK/upconns.tsv # established upstream connections mid-run (h2up)
OHA_TSV=$WORK/oha.tsv
META=$WORK/meta.txt
CLK=$(getconf CLK_TCK)
BENCH_START=$(date +%s)

# ---------------------------------------------------------------- process hygiene
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap 'cleanup; exit 130' INT TERM

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

# Stop one process we started (and, for nginx, its workers go with the master).
stop_pid() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local keep=() p
  for p in "${PIDS[@]}"; do [[ $p != "$pid" ]] && keep+=("$p"); done
  PIDS=("${keep[@]}")
}

# ---------------------------------------------------------------- install
install_missing() {
  local pkgs=()
  command -v nginx >/dev/null || pkgs+=(nginx)
  command -v haproxy >/dev/null || pkgs+=(haproxy)
  command -v wrk >/dev/null || pkgs+=(wrk)
  command -v h2load >/dev/null || pkgs+=(nghttp2-client)   # the fixed-rate scenarios
  [[ -x /usr/bin/time ]] || pkgs+=(time)
  command -v python3 >/dev/null || pkgs+=(python3)
  command -v openssl >/dev/null || pkgs+=(openssl)   # the certificate, s_time
  command -v curl >/dev/null || pkgs+=(curl)         # ringway's admin counters
  command -v ss >/dev/null || pkgs+=(iproute2)       # upstream connections (h2up)
  if [[ ${#pkgs[@]} -gt 0 ]]; then
    log "installing from Debian: ${pkgs[*]}"
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${pkgs[@]}" >&2
  fi
  if ! command -v oha >/dev/null && [[ $INSTALL_OHA == 1 ]]; then
    log "cargo install oha (slow on a busy machine)"
    nice -n 10 cargo install --locked oha >&2 || log "oha install failed; continuing without it"
  fi
  export PATH="$HOME/.cargo/bin:$PATH"
}
install_missing
if [[ $BUILD == 1 ]]; then
  log "building ringway (release)"
  (cd "$REPO" && nice -n 10 cargo build --release >&2)
  (cd "$REPO" && nice -n 10 cargo build --release --example relay_floor >&2)
fi
# cargo builds into $CARGO_TARGET_DIR when it is set; run what it built.
RINGWAY=${CARGO_TARGET_DIR:-$REPO/target}/release/ringway
[[ -x $RINGWAY ]] || { echo "bench: $RINGWAY missing" >&2; exit 1; }
# The io_uring byte-relay floor (bench/relay_floor.rs): run when it is built.
RELAY_FLOOR=${CARGO_TARGET_DIR:-$REPO/target}/release/examples/relay_floor
if [[ -n $BASELINE ]]; then
  BASELINE=$(realpath "$BASELINE")
  [[ -x $BASELINE ]] || { echo "bench: baseline $BASELINE missing" >&2; exit 1; }
fi
HAVE_OHA=0; command -v oha >/dev/null && HAVE_OHA=1

# ---------------------------------------------------------------- addresses (loopback only)
# Not 8080: `ringway demo` binds 127.0.0.2:8080, and an SO_REUSEPORT twin would share it.
UP_HOST=127.0.0.2 UP_PORT=18080
declare -A ADDR=(
  [direct]=127.0.0.2:18080
  [ringway-uring]=127.0.0.11:8000
  [ringway-epoll]=127.0.0.12:8000
  [nginx]=127.0.0.13:8000
  [haproxy]=127.0.0.14:8000
  [haproxy-tcp]=127.0.0.15:8000
  [relay-floor]=127.0.0.18:8000
  [ringway-base-uring]=127.0.0.16:8000
  [ringway-base-epoll]=127.0.0.17:8000
)
PROXIES=(ringway-uring ringway-epoll nginx haproxy haproxy-tcp)
[[ -n $BASELINE ]] && PROXIES+=(ringway-base-uring ringway-base-epoll)
# relay-floor: plain TCP only (no TLS, no HTTP/2 listeners), so it is a target of the
# plain HTTP/1.1 scenarios alone.
RELAY_TARGETS=()
[[ -x $RELAY_FLOOR ]] && RELAY_TARGETS=(relay-floor)
TARGETS=(direct "${PROXIES[@]}" "${RELAY_TARGETS[@]}")
# HTTPS: every proxy also listens with TLS on port 8443 of its own address (same
# processes, same certificate: ECDSA P-256, made by openssl in make_files). There is
# no "direct" row for HTTPS (the upstream speaks plain HTTP); haproxy-tcp terminates
# TLS and relays bytes, the floor. ringway's admin (127.0.0.x:9901) gives its
# ssl.handshake / ssl.session_reused counters: full versus resumed handshakes.
TLS_PORT=8443 ADMIN_PORT=9901
TLS_TARGETS=("${PROXIES[@]}")
tls_addr() { echo "${ADDR[$1]%:*}:$TLS_PORT"; }
# HTTP/2 from clients: every HTTP proxy (not haproxy-tcp, a byte relay to an HTTP/1.1
# upstream) also listens for h2c with prior knowledge on port 8002 and for h2 by ALPN
# over TLS (same certificate) on 8444 of its own address: listeners of their own,
# because nginx's `listen ... http2` and HAProxy's `proto h2` take only HTTP/2 there.
# Upstreams stay HTTP/1.1 with keep-alive. No "direct" row: the upstream speaks HTTP/1.1.
H2C_PORT=8002 H2TLS_PORT=8444
H2_TARGETS=()
for _t in "${PROXIES[@]}"; do [[ $_t != haproxy-tcp ]] && H2_TARGETS+=("$_t"); done
h2c_addr() { echo "${ADDR[$1]%:*}:$H2C_PORT"; }
h2tls_addr() { echo "${ADDR[$1]%:*}:$H2TLS_PORT"; }
# HTTP/1.1 clients, HTTP/2 to the upstream (issue 13): the upstream nginx also serves
# the same files over h2c with prior knowledge on UP_H2 (`listen ... http2`), and
# ringway (cluster `upstream_h2`, `protocol: http2`) and HAProxy (`server ... proto h2`)
# take HTTP/1.1 on port 8003 of their own address and relay it there. Not targets:
# nginx (it proxies to HTTP/2 only through grpc_pass), haproxy-tcp (a byte relay:
# HTTP/1.1 bytes to an HTTP/2-only port) and direct (wrk speaks only HTTP/1.1).
# Envoy is not installed; its documented behaviour is the comparison (README).
UP_H2_HOST=127.0.0.3 UP_H2_PORT=18080
H2UP_PORT=8003
H2UP_TARGETS=()
for _t in "${PROXIES[@]}"; do [[ $_t == ringway-* || $_t == haproxy ]] && H2UP_TARGETS+=("$_t"); done
h2up_addr() { echo "${ADDR[$1]%:*}:$H2UP_PORT"; }
declare -A MAIN_PID=()   # proxy name -> main PID (nginx: master)

# ---------------------------------------------------------------- /proc helpers
# The proxy's processes: the main PID and its direct children (nginx workers).
proc_pids() {
  local main=$1 t
  [[ -d /proc/$main ]] || return 0
  echo "$main"
  for t in /proc/"$main"/task/*/children; do cat "$t" 2>/dev/null; done | tr ' ' '\n' | grep -v '^$' || true
}
# utime+stime clock ticks of all threads of the given processes.
cpu_ticks() {
  local sum=0 p v
  for p in "$@"; do
    v=$(sed 's/^.*) //' /proc/"$p"/stat 2>/dev/null | awk '{print $12+$13}') || v=0
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}
mem_kib() { # FIELD PIDS... : sum of VmRSS/VmHWM in KiB
  local field=$1 sum=0 p v; shift
  for p in "$@"; do
    v=$(awk -v f="$field:" '$1==f {print $2}' /proc/"$p"/status 2>/dev/null) || v=0
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}
reset_hwm() { local p; for p in "$@"; do echo 5 > /proc/"$p"/clear_refs 2>/dev/null || true; done; }


# ---------------------------------------------------------------- configs
make_files() {
  mkdir -p "$WORK/up/www" "$WORK/up/tmp"
  head -c 1024 /dev/zero | tr '\0' 'a' > "$WORK/up/www/1k"
  head -c 65536 /dev/zero | tr '\0' 'b' > "$WORK/up/www/64k"
  head -c 1048576 /dev/zero | tr '\0' 'c' > "$WORK/up/www/1m"
  # One ECDSA P-256 certificate for every proxy's HTTPS listener (self-signed; the
  # load generators do not verify). HAProxy wants certificate and key in one file.
  mkdir -p "$WORK/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
    -subj /CN=bench.test -addext "subjectAltName=DNS:bench.test,IP:127.0.0.11,IP:127.0.0.12,IP:127.0.0.13,IP:127.0.0.14,IP:127.0.0.15,IP:127.0.0.16,IP:127.0.0.17" \
    -keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" 2> "$WORK/tls/openssl.err" \
    || { echo "bench: openssl req failed" >&2; cat "$WORK/tls/openssl.err" >&2; exit 1; }
  chmod 644 "$WORK/tls/key.pem"
  cat "$WORK/tls/cert.pem" "$WORK/tls/key.pem" > "$WORK/tls/haproxy.pem"
  cat > "$WORK/up/nginx.conf" <<EOF
# Upstream: one nginx worker serving static files, keep-alive on.
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 20000;
pid $WORK/up/nginx.pid;
error_log $WORK/up/error.log warn;
events { worker_connections 19000; multi_accept on; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_timeout 120s; keepalive_requests 10000000;
  open_file_cache max=16 inactive=600s; open_file_cache_valid 600s;
  client_body_temp_path $WORK/up/tmp; proxy_temp_path $WORK/up/tmp;
  fastcgi_temp_path $WORK/up/tmp; uwsgi_temp_path $WORK/up/tmp; scgi_temp_path $WORK/up/tmp;
  default_type application/octet-stream;
  server {
    listen $UP_HOST:$UP_PORT backlog=4096;   # no reuseport: a clash must fail loudly
    root $WORK/up/www;
    # The 1 MiB upload: nginx reads and discards the body, then answers 200.
    location = /upload { client_max_body_size 4m; return 200 "ok\n"; }
  }
  # The same files over HTTP/2, h2c with prior knowledge only (nginx 1.22's plaintext
  # "listen ... http2"): the upstream of the h2up scenarios. nginx's HTTP/2 defaults
  # (128 concurrent streams); keepalive_requests above bounds requests per connection.
  server {
    listen $UP_H2_HOST:$UP_H2_PORT http2 backlog=4096;
    root $WORK/up/www;
  }
}
EOF
}

write_proxy_configs() { # WORKERS
  local w=$1 name d
  for name in "${PROXIES[@]}"; do
    [[ $name == ringway-* ]] || continue
    d=$WORK/$name; mkdir -p "$d"
    # TLS listeners use ringway's TLS defaults (1.2 and 1.3, tickets, session
    # cache; ALPN offers h2 and http/1.1); h2c is prior knowledge on codec auto.
    {
      ringway_listener bench "${ADDR[$name]}"
      ringway_listener bench_tls "$(tls_addr "$name")" "$WORK/tls"
      ringway_listener bench_h2c "$(h2c_addr "$name")"
      ringway_listener bench_h2tls "$(h2tls_addr "$name")" "$WORK/tls"
      # HTTP/1.1 (codec auto) in, HTTP/2 out: the h2up scenarios.
      ringway_listener bench_h2up "$(h2up_addr "$name")" "" upstream_h2
    } | ringway_config "$w" "$UP_HOST:$UP_PORT" "${ADDR[$name]%:*}:$ADMIN_PORT" "$UP_H2_HOST:$UP_H2_PORT" > "$d/ringway.yaml"
  done

  d=$WORK/nginx; mkdir -p "$d/tmp"
  cat > "$d/nginx.conf" <<EOF
# nginx as a reverse proxy: $w workers pinned like ringway's, upstream keep-alive,
# response buffering in memory only, request bodies streamed (not spooled to disk).
daemon off;
master_process on;
worker_processes $w;
worker_cpu_affinity auto;
worker_rlimit_nofile 20000;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 19000; multi_accept on; }
http {
  access_log off;
  tcp_nodelay on;
  keepalive_timeout 120s; keepalive_requests 10000000;
  client_body_temp_path $d/tmp; proxy_temp_path $d/tmp;
  fastcgi_temp_path $d/tmp; uwsgi_temp_path $d/tmp; scgi_temp_path $d/tmp;
  upstream up { server $UP_HOST:$UP_PORT; keepalive 1024; keepalive_requests 10000000; }
  server {
    listen ${ADDR[nginx]} backlog=4096;
    client_max_body_size 4m;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_request_buffering off;
      proxy_buffers 16 64k;
      proxy_max_temp_file_size 0;
    }
  }
  server {
    listen $(tls_addr nginx) ssl backlog=4096;
    ssl_certificate $WORK/tls/cert.pem;
    ssl_certificate_key $WORK/tls/key.pem;
    ssl_session_cache shared:SSL:10m;
    ssl_protocols TLSv1.2 TLSv1.3;
    client_max_body_size 4m;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_request_buffering off;
      proxy_buffers 16 64k;
      proxy_max_temp_file_size 0;
    }
  }
  # HTTP/2: nginx 1.22 takes the http2 parameter of listen ("http2 on;" is 1.25.1+).
  # Plaintext: h2c with prior knowledge only. keepalive_requests above also bounds
  # the requests per HTTP/2 connection (1.19.7+); default 128 concurrent streams.
  server {
    listen $(h2c_addr nginx) http2 backlog=4096;
    client_max_body_size 4m;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_request_buffering off;
      proxy_buffers 16 64k;
      proxy_max_temp_file_size 0;
    }
  }
  server {
    listen $(h2tls_addr nginx) ssl http2 backlog=4096;
    ssl_certificate $WORK/tls/cert.pem;
    ssl_certificate_key $WORK/tls/key.pem;
    ssl_session_cache shared:SSL:10m;
    ssl_protocols TLSv1.2 TLSv1.3;
    client_max_body_size 4m;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_request_buffering off;
      proxy_buffers 16 64k;
      proxy_max_temp_file_size 0;
    }
  }
}
EOF

  d=$WORK/haproxy; mkdir -p "$d"
  local cpumap="cpu-map auto:1/1-$w 0-$((w - 1))"
  cat > "$d/haproxy.cfg" <<EOF
# HAProxy HTTP mode: $w threads pinned like ringway's workers, server-side keep-alive
# with connection reuse.
global
  nbthread $w
  $cpumap
  # 10,000 idle clients need 10,000 fds with server-side reuse, but HAProxy budgets
  # two per connection; the hard limit here is 20,000, so let it run below its budget.
  maxconn 10100
  no strict-limits
defaults
  mode http
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout http-keep-alive 120s
  option http-keep-alive
  http-reuse always
frontend fe
  bind ${ADDR[haproxy]}
  default_backend be
frontend fe_tls
  bind $(tls_addr haproxy) ssl crt $WORK/tls/haproxy.pem
  default_backend be
# HTTP/2 from clients: h2c with prior knowledge, and h2 by ALPN over TLS
frontend fe_h2c
  bind $(h2c_addr haproxy) proto h2
  default_backend be
frontend fe_h2tls
  bind $(h2tls_addr haproxy) ssl crt $WORK/tls/haproxy.pem alpn h2
  default_backend be
# HTTP/1.1 from clients, HTTP/2 (h2c, prior knowledge) to the upstream: the h2up
# scenarios; "http-reuse always" (above) lets requests share a connection's streams.
frontend fe_h2up
  bind $(h2up_addr haproxy)
  default_backend be_h2
backend be
  server up $UP_HOST:$UP_PORT
backend be_h2
  server up_h2 $UP_H2_HOST:$UP_H2_PORT proto h2
EOF
  cat > "$d/haproxy-tcp.cfg" <<EOF
# HAProxy mode tcp: a byte relay with no HTTP parsing, one upstream connection per
# client connection -- the floor any HTTP proxy is measured against.
global
  nbthread $w
  $cpumap
  maxconn 9000
  no strict-limits
defaults
  mode tcp
  timeout connect 5s
  timeout client 120s
  timeout server 120s
frontend fe
  bind ${ADDR[haproxy-tcp]}
  default_backend be
frontend fe_tls
  bind $(tls_addr haproxy-tcp) ssl crt $WORK/tls/haproxy.pem
  default_backend be
backend be
  server up $UP_HOST:$UP_PORT
EOF
}

proxy_cmd() { # NAME WORKERS -> the exact command line
  local name=$1 w=$2
  case $name in
    ringway-uring) echo "$RINGWAY -c $WORK/ringway-uring/ringway.yaml --io-driver uring --workers $w" ;;
    ringway-epoll) echo "$RINGWAY -c $WORK/ringway-epoll/ringway.yaml --io-driver epoll --workers $w" ;;
    ringway-base-uring) echo "$BASELINE -c $WORK/ringway-base-uring/ringway.yaml --io-driver uring --workers $w" ;;
    ringway-base-epoll) echo "$BASELINE -c $WORK/ringway-base-epoll/ringway.yaml --io-driver epoll --workers $w" ;;
    nginx) echo "nginx -p $WORK/nginx -c $WORK/nginx/nginx.conf -e $WORK/nginx/error.log" ;;
    haproxy) echo "haproxy -db -f $WORK/haproxy/haproxy.cfg" ;;
    haproxy-tcp) echo "haproxy -db -f $WORK/haproxy/haproxy-tcp.cfg" ;;
    relay-floor) echo "$RELAY_FLOOR ${ADDR[relay-floor]} $UP_HOST:$UP_PORT $w" ;;
  esac
}

start_upstream() {
  # shellcheck disable=SC2086
  nginx -p "$WORK/up" -c "$WORK/up/nginx.conf" -e "$WORK/up/error.log" &
  UP_PID=$!; PIDS+=("$UP_PID")
  if ! wait_port "$UP_HOST" "$UP_PORT" "$UP_PID" || ! wait_port "$UP_H2_HOST" "$UP_H2_PORT" "$UP_PID"; then
    echo "bench: upstream did not start" >&2; cat "$WORK/up/error.log" >&2; exit 1
  fi
  log "upstream nginx PID $UP_PID on $UP_HOST:$UP_PORT (HTTP/1.1) and $UP_H2_HOST:$UP_H2_PORT (h2c)"
}

# Start proxy NAME with W workers in the background, its command recorded.
launch() { # NAME WORKERS
  local name=$1 w=$2 cmd
  cmd=$(proxy_cmd "$name" "$w")
  echo "$name (workers $w): $cmd" >> "$WORK/commands.txt"
  # shellcheck disable=SC2086
  $cmd > "$WORK/$name.$w.out" 2> "$WORK/$name.$w.err" &
  MAIN_PID[$name]=$!; PIDS+=("$!")
}

start_proxies() { # WORKERS
  local w=$1 name host port
  write_proxy_configs "$w"
  for name in "${PROXIES[@]}"; do
    launch "$name" "$w"
    host=${ADDR[$name]%:*} port=${ADDR[$name]#*:}
    if ! wait_port "$host" "$port" "${MAIN_PID[$name]}" || ! wait_port "$host" "$TLS_PORT" "${MAIN_PID[$name]}"; then
      echo "bench: $name did not start; stderr:" >&2; tail -20 "$WORK/$name.$w.err" >&2; exit 1
    fi
    if [[ $name != haproxy-tcp ]] && { ! wait_port "$host" "$H2C_PORT" "${MAIN_PID[$name]}" || ! wait_port "$host" "$H2TLS_PORT" "${MAIN_PID[$name]}"; }; then
      echo "bench: $name did not open its HTTP/2 listeners; stderr:" >&2; tail -20 "$WORK/$name.$w.err" >&2; exit 1
    fi
    if [[ " ${H2UP_TARGETS[*]} " == *" $name "* ]] && ! wait_port "$host" "$H2UP_PORT" "${MAIN_PID[$name]}"; then
      echo "bench: $name did not open its HTTP/2-upstream listener; stderr:" >&2; tail -20 "$WORK/$name.$w.err" >&2; exit 1
    fi
    if [[ $name == ringway-* ]] && ! grep -q "listener" "$WORK/$name.$w.out"; then
      sleep 0.5; grep -q "listener" "$WORK/$name.$w.out" || log "warning: $name printed no listener line"
    fi
  done
  for name in "${RELAY_TARGETS[@]}"; do
    launch "$name" "$w"
    host=${ADDR[$name]%:*} port=${ADDR[$name]#*:}
    if ! wait_port "$host" "$port" "${MAIN_PID[$name]}"; then
      echo "bench: $name did not start; stderr:" >&2; tail -20 "$WORK/$name.$w.err" >&2; exit 1
    fi
  done
  log "proxies up with $w worker(s): $(for n in "${PROXIES[@]}" "${RELAY_TARGETS[@]}"; do printf '%s=%s ' "$n" "${MAIN_PID[$n]}"; done)"
}

stop_proxies() {
  local name
  for name in "${PROXIES[@]}" "${RELAY_TARGETS[@]}"; do stop_pid "${MAIN_PID[$name]}"; done
}

# ringway's TLS counters for the bench_tls listener: "HANDSHAKES REUSED" (0 0 for others).
tls_counters() { # TARGET
  [[ $1 == ringway-* ]] || { echo "NA NA"; return; }
  timeout 3 curl -s "http://${ADDR[$1]%:*}:$ADMIN_PORT/stats?filter=bench_tls%5C.ssl%5C.(handshake%7Csession_reused)%24" 2>/dev/null \
    | awk -F': ' '/ssl.handshake:/ {h=$2} /ssl.session_reused:/ {r=$2} END {print (h==""?"NA":h), (r==""?"NA":r)}'
}
# Record full/resumed handshakes of one run (ringway only): SCEN TARGET ROUND "H0 R0" "H1 R1" REQUESTS
tls_record() {
  local h0 r0 h1 r1; read -r h0 r0 <<< "$4"; read -r h1 r1 <<< "$5"
  [[ $h0 == NA || $h1 == NA ]] && return 0
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" $((h1 - h0)) $((r1 - r0)) "$6" >> "$TLS_TSV"
}

# ---------------------------------------------------------------- upstream connections
# How many HTTP/2 connections a proxy holds to the upstream while it relays the h2up
# load: the established TCP connections to UP_H2 owned by TARGET's processes, counted
# once, half-way through the run. Every proxy's upstream sockets have the same source
# (127.0.0.1), so ss tells them apart by owning PID (-p), not by address. Connections
# kept from an earlier round still count: they are held, as Envoy's would be.
count_upconns() { # PID_ALTERNATION (e.g. "123|124")
  ss -Htnp state established dst "$UP_H2_HOST:$UP_H2_PORT" | grep -cE "pid=($1)," || true
}
# Start the mid-run count in the background (SAMPLER_PID); upconn_record collects it.
upconn_sample_start() { # TARGET
  local pids; pids=$(proc_pids "${MAIN_PID[$1]}" | paste -sd'|')
  rm -f "$WORK/upconns.out"
  ( sleep "$(awk -v d="$DURATION" 'BEGIN { print d / 2 }')"; count_upconns "$pids" ) > "$WORK/upconns.out" &
  SAMPLER_PID=$!; PIDS+=("$SAMPLER_PID")
}
# Stop the sampler (already done unless the load ended early) and record its count.
upconn_record() { # SCENARIO TARGET ROUND
  stop_pid "$SAMPLER_PID"
  local n; n=$(cat "$WORK/upconns.out" 2>/dev/null || true)
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${n:-NA}" >> "$UPCONN_TSV"
  log "    upstream HTTP/2 connections mid-run: ${n:-NA}"
}

# ---------------------------------------------------------------- one wrk run
# TLS: 0 plain HTTP; 1 HTTPS on the TLS port; h2up plain HTTP/1.1 to the listener
# that relays to the HTTP/2 upstream, with its upstream connections counted mid-run.
# run_wrk SCENARIO WORKERS ROUND TARGET CONNS PATH POST_BYTES CLOSE [TLS]
run_wrk() {
  local scen=$1 w=$2 round=$3 target=$4 conns=$5 path=$6 post=$7 close=$8 tls=${9:-0}
  local addr=${ADDR[$target]} ppids=() upids=() extra=() scheme=http c0="NA NA" c1="NA NA"
  [[ $tls == 1 ]] && { addr=$(tls_addr "$target"); scheme=https; }
  [[ $tls == h2up ]] && addr=$(h2up_addr "$target")
  if [[ $target != direct ]]; then mapfile -t ppids < <(proc_pids "${MAIN_PID[$target]}"); fi
  mapfile -t upids < <(proc_pids "$UP_PID")
  [[ $close == 1 ]] && extra=(-H "Connection: close")
  local cmd=(wrk -t1 -c"$conns" -d"${DURATION}s" --timeout 5s -s "$REPO/bench/wrk_report.lua" "${extra[@]}" "$scheme://$addr$path")
  echo "$scen: ${post:+BENCH_POST_BYTES=$post }${cmd[*]}" >> "$WORK/wrk-commands.txt"
  local p0=0 u0 p1=0 u1 hwm=0
  [[ ${#ppids[@]} -gt 0 ]] && { reset_hwm "${ppids[@]}"; p0=$(cpu_ticks "${ppids[@]}"); }
  [[ $tls == 1 ]] && c0=$(tls_counters "$target")
  if [[ $tls == h2up ]]; then
    echo "$scen: mid-run: ss -Htnp state established dst $UP_H2_HOST:$UP_H2_PORT (lines owned by the proxy's PIDs)" >> "$WORK/wrk-commands.txt"
    upconn_sample_start "$target"
  fi
  u0=$(cpu_ticks "${upids[@]}")
  BENCH_POST_BYTES=$post /usr/bin/time -f '%U %S' -o "$WORK/wrk.time" \
    timeout $((DURATION + 20)) "${cmd[@]}" > "$WORK/wrk.out" 2>&1 || true
  [[ ${#ppids[@]} -gt 0 ]] && { p1=$(cpu_ticks "${ppids[@]}"); hwm=$(mem_kib VmHWM "${ppids[@]}"); }
  u1=$(cpu_ticks "${upids[@]}")
  [[ $tls == h2up ]] && upconn_record "$scen" "$target" "$round"
  local line; line=$(grep '^BENCH ' "$WORK/wrk.out" || true)
  if [[ $tls == 1 ]]; then
    c1=$(tls_counters "$target")
    tls_record "$scen" "$target" "$round" "$c0" "$c1" "$(echo "$line" | sed -n 's/.*requests=\([0-9]*\).*/\1/p')"
  fi
  if [[ -z $line ]]; then
    log "  $scen $target: wrk produced no result: $(tail -3 "$WORK/wrk.out" | tr '\n' ' ')"
    printf '%s\t%s\t%s\t%s\t%s\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\n' "$scen" "$w" "$conns" "$target" "$round" >> "$RESULTS"
    return
  fi
  local lt; lt=$(tail -1 "$WORK/wrk.time" | awk '{print ($1+$2)*1000000}')
  # Derived figures in one awk: rps, latencies (ms), errors, CPU-µs per request.
  echo "$line" | awk -v scen="$scen" -v w="$w" -v c="$conns" -v t="$target" -v r="$round" \
      -v dp=$((p1 - p0)) -v du=$((u1 - u0)) -v lt="$lt" -v clk="$CLK" -v hwm="$hwm" '
    { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
    END {
      n = v["requests"]; secs = v["duration_us"] / 1e6
      errs = v["err_connect"] + v["err_read"] + v["err_write"] + v["err_timeout"]
      pcpu = (t == "direct") ? "NA" : sprintf("%.2f", dp * 1e6 / clk / (n > 0 ? n : 1))
      tot = sprintf("%.2f", ((dp + du) * 1e6 / clk + lt) / (n > 0 ? n : 1))
      printf "%s\t%s\t%s\t%s\t%s\t%.0f\t%.3f\t%.3f\t%.3f\t%d\t%d\t%s\t%s\t%s\n",
        scen, w, c, t, r, n / secs, v["p50"] / 1000, v["p99"] / 1000, v["p999"] / 1000,
        errs, v["err_status"], pcpu, tot, (t == "direct") ? "NA" : hwm
    }' >> "$RESULTS"
  log "  $(tail -1 "$RESULTS" | awk -F'\t' '{printf "%-14s r%s %8s req/s p50 %s ms p99 %s ms err %s non2xx %s cpu/req %s total %s rss %s KiB", $4, $5, $6, $7, $8, $10, $11, $12, $13, $14}')"
}

# One fixed-rate run: h2load --h1 offers RATE req/s in all (each of CONNS
# connections sends RATE/CONNS a second), so every target does the same work and
# CPU per request is compared at equal load, not at saturation.
# run_rate SCENARIO WORKERS ROUND TARGET CONNS PATH RATE
run_rate() {
  local scen=$1 w=$2 round=$3 target=$4 conns=$5 path=$6 rate=$7
  local addr=${ADDR[$target]} ppids=() upids=()
  if [[ $target != direct ]]; then mapfile -t ppids < <(proc_pids "${MAIN_PID[$target]}"); fi
  mapfile -t upids < <(proc_pids "$UP_PID")
  local per; per=$(awk -v r="$rate" -v c="$conns" 'BEGIN { printf "%d", (r + c / 2) / c }')
  local log=$WORK/h2load.log
  local cmd=(h2load --h1 -t1 -c"$conns" --rps "$per" -D "$DURATION" --log-file "$log" "http://$addr$path")
  echo "$scen: ${cmd[*]}" >> "$WORK/wrk-commands.txt"
  local p0=0 u0 p1=0 u1 hwm=0
  [[ ${#ppids[@]} -gt 0 ]] && { reset_hwm "${ppids[@]}"; p0=$(cpu_ticks "${ppids[@]}"); }
  u0=$(cpu_ticks "${upids[@]}")
  rm -f "$log"
  /usr/bin/time -f '%U %S' -o "$WORK/wrk.time" \
    timeout $((DURATION + 20)) "${cmd[@]}" > "$WORK/h2load.out" 2>&1 || true
  [[ ${#ppids[@]} -gt 0 ]] && { p1=$(cpu_ticks "${ppids[@]}"); hwm=$(mem_kib VmHWM "${ppids[@]}"); }
  u1=$(cpu_ticks "${upids[@]}")
  if ! grep -q '^finished in' "$WORK/h2load.out" || [[ ! -s $log ]]; then
    log "  $scen $target: h2load produced no result: $(tail -3 "$WORK/h2load.out" | tr '\n' ' ')"
    printf '%s\t%s\t%s\t%s\t%s\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\n' "$scen" "$w" "$conns" "$target" "$round" >> "$RESULTS"
    return
  fi
  local lt; lt=$(tail -1 "$WORK/wrk.time" | awk '{print ($1+$2)*1000000}')
  # h2load's summary: achieved rate, failed/errored/timed-out requests, non-2xx.
  local secs errs non2xx
  secs=$(awk '/^finished in/ { sub(/s,$/, "", $3); print $3 }' "$WORK/h2load.out")
  # "requests: N total, N started, N done, N succeeded, N failed, N errored, N timeout"
  errs=$(awk '/^requests:/ { print $10 }' "$WORK/h2load.out")
  # "status codes: N 2xx, N 3xx, N 4xx, N 5xx"; non-2xx counts >= 400, as wrk does
  non2xx=$(awk '/^status codes:/ { print $7 + $9 }' "$WORK/h2load.out")
  # Latency percentiles from the per-request log (column 3: µs to the end of the
  # response; status -1 is a failed stream), nearest-rank.
  awk -F'\t' '$2 >= 0 { print $3 }' "$log" | sort -n | awk -v scen="$scen" -v w="$w" -v c="$conns" \
      -v t="$target" -v r="$round" -v secs="${secs:-0}" -v errs="${errs:-0}" -v non2xx="${non2xx:-0}" \
      -v dp=$((p1 - p0)) -v du=$((u1 - u0)) -v lt="$lt" -v clk="$CLK" -v hwm="$hwm" '
    { v[NR] = $1 }
    function pct(q,  i) { i = int(q * NR + 0.999999); if (i < 1) i = 1; return v[i] / 1000 }
    END {
      n = NR
      pcpu = (t == "direct") ? "NA" : sprintf("%.2f", dp * 1e6 / clk / (n > 0 ? n : 1))
      tot = sprintf("%.2f", ((dp + du) * 1e6 / clk + lt) / (n > 0 ? n : 1))
      printf "%s\t%s\t%s\t%s\t%s\t%.0f\t%.3f\t%.3f\t%.3f\t%d\t%d\t%s\t%s\t%s\n",
        scen, w, c, t, r, (secs > 0 ? n / secs : 0), pct(0.50), pct(0.99), pct(0.999),
        errs, non2xx, pcpu, tot, (t == "direct") ? "NA" : hwm
    }' >> "$RESULTS"
  log "  $(tail -1 "$RESULTS" | awk -F'\t' '{printf "%-18s r%s %8s req/s p50 %s ms p99 %s ms err %s non2xx %s cpu/req %s total %s", $4, $5, $6, $7, $8, $10, $11, $12, $13}')"
}

# One HTTP/2 run at saturation: h2load -t1 -cCONNS -mSTREAMS for DURATION seconds,
# h2c with prior knowledge (KIND h2c) or h2 by ALPN over TLS (KIND h2). req/s is
# h2load's requests done ÷ its duration; p50/p99/p99.9 are nearest-rank percentiles
# of its per-request log (µs to the end of the response; status -1, a failed stream,
# is left out and counted under errors). A run whose negotiated protocol is not h2
# is recorded as no result.
# run_h2 SCENARIO WORKERS ROUND TARGET CONNS PATH STREAMS KIND
run_h2() {
  local scen=$1 w=$2 round=$3 target=$4 conns=$5 path=$6 streams=$7 kind=$8
  local url ppids=() upids=()
  if [[ $kind == h2c ]]; then url="http://$(h2c_addr "$target")$path"; else url="https://$(h2tls_addr "$target")$path"; fi
  mapfile -t ppids < <(proc_pids "${MAIN_PID[$target]}")
  mapfile -t upids < <(proc_pids "$UP_PID")
  local log=$WORK/h2load.log
  local cmd=(h2load -t1 -c"$conns" -m"$streams" -D "$DURATION" --log-file "$log" "$url")
  echo "$scen: ${cmd[*]}" >> "$WORK/wrk-commands.txt"
  local p0 u0 p1 u1 hwm
  reset_hwm "${ppids[@]}"; p0=$(cpu_ticks "${ppids[@]}"); u0=$(cpu_ticks "${upids[@]}")
  rm -f "$log"
  /usr/bin/time -f '%U %S' -o "$WORK/wrk.time" \
    timeout $((DURATION + 20)) "${cmd[@]}" > "$WORK/h2load.out" 2>&1 || true
  p1=$(cpu_ticks "${ppids[@]}"); hwm=$(mem_kib VmHWM "${ppids[@]}"); u1=$(cpu_ticks "${upids[@]}")
  cp "$WORK/h2load.out" "$WORK/h2load.$scen.$target.$round.out"
  local proto; proto=$(awk '/^Application protocol:/ {print $3}' "$WORK/h2load.out")
  if ! grep -q '^finished in' "$WORK/h2load.out" || [[ ! -s $log || $proto != h2* ]]; then
    log "  $scen $target: h2load produced no h2 result (protocol ${proto:-none}): $(tail -3 "$WORK/h2load.out" | tr '\n' ' ')"
    printf '%s\t%s\t%s\t%s\t%s\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\n' "$scen" "$w" "$conns" "$target" "$round" >> "$RESULTS"
    return
  fi
  local lt; lt=$(tail -1 "$WORK/wrk.time" | awk '{print ($1+$2)*1000000}')
  local secs errs non2xx
  secs=$(awk '/^finished in/ { sub(/s,$/, "", $3); print $3 }' "$WORK/h2load.out")
  # "requests: N total, N started, N done, N succeeded, N failed, N errored, N timeout"
  errs=$(awk '/^requests:/ { print $10 }' "$WORK/h2load.out")
  non2xx=$(awk '/^status codes:/ { print $7 + $9 }' "$WORK/h2load.out")
  awk -F'\t' '$2 >= 0 { print $3 }' "$log" | sort -n | awk -v scen="$scen" -v w="$w" -v c="$conns" \
      -v t="$target" -v r="$round" -v secs="${secs:-0}" -v errs="${errs:-0}" -v non2xx="${non2xx:-0}" \
      -v dp=$((p1 - p0)) -v du=$((u1 - u0)) -v lt="$lt" -v clk="$CLK" -v hwm="$hwm" '
    { v[NR] = $1 }
    function pct(q,  i) { i = int(q * NR + 0.999999); if (i < 1) i = 1; return v[i] / 1000 }
    END {
      n = NR
      printf "%s\t%s\t%s\t%s\t%s\t%.0f\t%.3f\t%.3f\t%.3f\t%d\t%d\t%.2f\t%.2f\t%s\n",
        scen, w, c, t, r, (secs > 0 ? n / secs : 0), pct(0.50), pct(0.99), pct(0.999),
        errs, non2xx, dp * 1e6 / clk / (n > 0 ? n : 1), ((dp + du) * 1e6 / clk + lt) / (n > 0 ? n : 1), hwm
    }' >> "$RESULTS"
  log "  $(tail -1 "$RESULTS" | awk -F'\t' '{printf "%-18s r%s %8s req/s p50 %s ms p99 %s ms err %s non2xx %s cpu/req %s total %s", $4, $5, $6, $7, $8, $10, $11, $12, $13}') ($proto)"
}

# One new TLS connection per request with a *full* handshake: wrk and h2load both
# resume sessions when they reconnect, so here CONNS `openssl s_time -new`
# processes run side by side, each a loop of connect, full handshake (it never
# offers a session), `GET PATH HTTP/1.0`, read to close, for DURATION seconds.
# req/s = connections summed over the processes ÷ the wall time of the whole run.
# s_time reports no status codes: a response shorter than the 1 KiB body (an error
# page) is caught by bytes read per connection, counted under non-2xx.
# run_stime SCENARIO WORKERS ROUND TARGET CONNS PATH
run_stime() {
  local scen=$1 w=$2 round=$3 target=$4 conns=$5 path=$6
  local addr; addr=$(tls_addr "$target")
  local ppids=() upids=() c0 c1 i
  mapfile -t ppids < <(proc_pids "${MAIN_PID[$target]}")
  mapfile -t upids < <(proc_pids "$UP_PID")
  local one="openssl s_time -connect $addr -new -www $path -time $DURATION"
  echo "$scen: $conns × ($one) in parallel" >> "$WORK/wrk-commands.txt"
  rm -f "$WORK"/stime.*.out
  local script="for i in \$(seq $conns); do $one > $WORK/stime.\$i.out 2>&1 & done; wait"
  local p0 u0 p1 u1 hwm t0 t1
  reset_hwm "${ppids[@]}"; p0=$(cpu_ticks "${ppids[@]}"); u0=$(cpu_ticks "${upids[@]}")
  c0=$(tls_counters "$target")
  t0=$(date +%s%N)
  /usr/bin/time -f '%U %S' -o "$WORK/wrk.time" timeout $((DURATION + 20)) bash -c "$script" > /dev/null 2>&1 || true
  t1=$(date +%s%N)
  p1=$(cpu_ticks "${ppids[@]}"); hwm=$(mem_kib VmHWM "${ppids[@]}"); u1=$(cpu_ticks "${upids[@]}")
  c1=$(tls_counters "$target")
  # "N connections in X.XXs; ..." and "..., B bytes read per connection"
  local n=0 short=0 k b
  for i in $(seq "$conns"); do
    k=$(awk '/connections in [0-9.]+s;/ {print $1; exit}' "$WORK/stime.$i.out" 2>/dev/null)
    b=$(awk '/bytes read per connection/ {print $(NF-4); exit}' "$WORK/stime.$i.out" 2>/dev/null)
    n=$((n + ${k:-0}))
    if [[ -n $k && ${b:-0} -lt 1024 ]]; then short=$((short + k)); fi
  done
  if [[ $n == 0 ]]; then
    log "  $scen $target: s_time produced no result: $(tail -3 "$WORK/stime.1.out" 2>/dev/null | tr '\n' ' ')"
    printf '%s\t%s\t%s\t%s\t%s\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\n' "$scen" "$w" "$conns" "$target" "$round" >> "$RESULTS"
    return
  fi
  tls_record "$scen" "$target" "$round" "$c0" "$c1" "$n"
  local lt; lt=$(tail -1 "$WORK/wrk.time" | awk '{print ($1+$2)*1000000}')
  awk -v scen="$scen" -v w="$w" -v c="$conns" -v t="$target" -v r="$round" -v n="$n" \
      -v ns=$((t1 - t0)) -v short="$short" -v dp=$((p1 - p0)) -v du=$((u1 - u0)) -v lt="$lt" \
      -v clk="$CLK" -v hwm="$hwm" 'BEGIN {
      printf "%s\t%s\t%s\t%s\t%s\t%.0f\tNA\tNA\tNA\t0\t%d\t%.2f\t%.2f\t%s\n",
        scen, w, c, t, r, n / (ns / 1e9), short, dp * 1e6 / clk / n, ((dp + du) * 1e6 / clk + lt) / n, hwm
    }' >> "$RESULTS"
  log "  $(tail -1 "$RESULTS" | awk -F'\t' '{printf "%-18s r%s %8s req/s short %s cpu/req %s total %s", $4, $5, $6, $11, $12, $13}')"
}

# oha pass (when installed): one run per proxy on the headline scenario, for p99/p99.9
run_oha() { # SCENARIO WORKERS CONNS PATH
  local scen=$1 w=$2 conns=$3 path=$4 target out
  for target in "${TARGETS[@]}"; do
    out=$(timeout $((DURATION + 20)) oha --no-tui -z "${DURATION}s" -c "$conns" --output-format json "http://${ADDR[$target]}$path" 2>/dev/null || true)
    echo "$scen: oha --no-tui -z ${DURATION}s -c $conns --output-format json http://${ADDR[$target]}$path" >> "$WORK/wrk-commands.txt"
    echo "$out" | python3 -c '
import json, sys
scen, w, t = sys.argv[1:4]
try:
    d = json.load(sys.stdin)
except Exception:
    sys.exit(0)
p = d.get("latencyPercentiles", {})
s = d.get("summary", {})
ms = lambda x: "NA" if x is None else "%.3f" % (x * 1000)
print("\t".join([scen, w, t, "%.0f" % s.get("requestsPerSec", 0), ms(p.get("p50")), ms(p.get("p99")), ms(p.get("p99.9"))]))
' "$scen" "$w" "$target" >> "$OHA_TSV" || true
  done
}

# ---------------------------------------------------------------- scenarios
# name | workers | connections | path | POST bytes | close after each request |
# offered req/s (0: as fast as it goes, wrk; else fixed rate, h2load) |
# TLS (0: plain HTTP; 1: HTTPS with wrk, which resumes sessions when it reconnects;
# full: HTTPS, a full handshake per request, CONNS parallel `openssl s_time -new`;
# h2c / h2: HTTP/2 with prior knowledge / by ALPN over TLS, h2load at saturation;
# h2up: HTTP/1.1 from wrk, HTTP/2 (h2c) from the proxy to the upstream) |
# concurrent streams per connection (HTTP/2 from clients only)
RK=$((RATE / 1000))k
SCENARIOS=(
  "1k-c64-w2|2|64|/1k|0|0|0"
  "rate$RK-1k-c64-w2|2|64|/1k|0|0|$RATE"
  "1k-c1-w2|2|1|/1k|0|0|0"
  "1k-c1000-w2|2|1000|/1k|0|0|0"
  "64k-c64-w2|2|64|/64k|0|0|0"
  "1m-c64-w2|2|64|/1m|0|0|0"
  "post1m-c64-w2|2|64|/upload|1048576|0|0"
  "close-1k-c64-w2|2|64|/1k|0|1|0"
  "1k-c64-w1|1|64|/1k|0|0|0"
  "rate$RK-1k-c64-w1|1|64|/1k|0|0|$RATE"
  "64k-c64-w1|1|64|/64k|0|0|0"
  "tls-1k-c64-w2|2|64|/1k|0|0|0|1"
  "tls-close-1k-c8-w2|2|8|/1k|0|1|0|full"
  "tls-resume-1k-c64-w2|2|64|/1k|0|1|0|1"
  "h2c-1k-c16-m32-w2|2|16|/1k|0|0|0|h2c|32"
  "h2-tls-1k-c16-m32-w2|2|16|/1k|0|0|0|h2|32"
  "h2up-1k-c64-w2|2|64|/1k|0|0|0|h2up"
)

kind_label() { # TLS STREAMS: the protocol part of a scenario's log line
  case $1 in
    0) ;;
    h2c|h2) echo ", HTTP/2 ($1, $2 streams per connection)" ;;
    h2up) echo ", HTTP/1.1 clients, HTTP/2 (h2c) to the upstream" ;;
    *) echo ", HTTPS ($1)" ;;
  esac
}

run_scenario() { # SPEC
  local name w conns path post close rate tls streams round i n targets t
  IFS='|' read -r name w conns path post close rate tls streams <<< "$1"
  tls=${tls:-0}
  log "scenario $name: $conns connections, ${path}, workers $w, $ROUNDS round(s) of ${DURATION}s$([[ $rate != 0 ]] && echo ", $rate req/s offered")$(kind_label "$tls" "$streams")"
  if [[ $tls == 0 ]]; then targets=("${TARGETS[@]}")
  elif [[ $tls == h2c || $tls == h2 ]]; then targets=("${H2_TARGETS[@]}")
  elif [[ $tls == h2up ]]; then targets=("${H2UP_TARGETS[@]}")
  else targets=("${TLS_TARGETS[@]}"); fi
  n=${#targets[@]}
  for round in $(seq "$ROUNDS"); do
    # Rotate the order each round so no target always runs first or last.
    for i in $(seq 0 $((n - 1))); do
      t=${targets[$(((i + round - 1) % n))]}
      if [[ $tls == h2c || $tls == h2 ]]; then
        run_h2 "$name" "$w" "$round" "$t" "$conns" "$path" "$streams" "$tls"
      elif [[ $tls == full ]]; then
        run_stime "$name" "$w" "$round" "$t" "$conns" "$path"
      elif [[ $rate != 0 ]]; then
        run_rate "$name" "$w" "$round" "$t" "$conns" "$path" "$rate"
      else
        run_wrk "$name" "$w" "$round" "$t" "$conns" "$path" \
          "$([[ $post == 0 ]] && echo "" || echo "$post")" "$close" "$tls"
      fi
    done
  done
  if [[ $HAVE_OHA == 1 && $name == 1k-c64-w* ]]; then run_oha "$name" "$w" "$conns" "$path"; fi
}

# Idle keep-alive connections: added RSS per connection, per proxy.
run_idle() { # WORKERS
  local w=$1 target pids before after held line
  local idle_targets=(ringway-uring ringway-epoll nginx haproxy)
  [[ -n $BASELINE ]] && idle_targets+=(ringway-base-uring ringway-base-epoll)
  for target in "${idle_targets[@]}"; do
    mapfile -t pids < <(proc_pids "${MAIN_PID[$target]}")
    sleep 0.5
    before=$(mem_kib VmRSS "${pids[@]}")
    local host=${ADDR[$target]%:*} port=${ADDR[$target]#*:}
    echo "idle: python3 bench/idle_hold.py $host $port /1k $IDLE_CONNS --hold 60 --deadline 60" >> "$WORK/wrk-commands.txt"
    coproc HOLD { exec timeout 90 python3 "$REPO/bench/idle_hold.py" "$host" "$port" /1k "$IDLE_CONNS" --hold 60 --deadline 60; }
    local hold_pid=$HOLD_PID; PIDS+=("$hold_pid")
    line=""
    read -r -t 90 line <&"${HOLD[0]}" || true
    sleep 1
    mapfile -t pids < <(proc_pids "${MAIN_PID[$target]}")
    after=$(mem_kib VmRSS "${pids[@]}")
    held=$(echo "$line" | awk '{print $2+0}')
    local wfd=${HOLD[1]}
    exec {wfd}>&-
    stop_pid "$hold_pid"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$w" "$held" "$before" "$after" \
      "$(awk -v a="$after" -v b="$before" -v n="$held" 'BEGIN { printf "%.2f", (n > 0 ? (a - b) / n : 0) }')" >> "$IDLE_TSV"
    log "  idle $target: $line; RSS $before -> $after KiB"
    sleep 1
  done
}

# ---------------------------------------------------------------- main
{
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "cpu=$(nproc) x $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "kernel=$(uname -r)"
  echo "rustc=$(rustc --version 2>/dev/null || echo '?')"
  echo "quick=$QUICK"
  echo "baseline=${BASELINE:+$BASELINE_LABEL ($BASELINE, built $(date -u -r "$BASELINE" '+%H:%M:%S UTC'))}"
  echo "binary=$RINGWAY"
  echo "h2load=$(h2load --version 2>&1 | awk '{print $2}')"
  echo "ringway=HEAD $(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null)$(cd "$REPO" && git diff --quiet -- src 2>/dev/null || echo '+dirty src'), binary built $(date -u -r "$RINGWAY" '+%H:%M:%S UTC')"
  echo "nginx=$(nginx -v 2>&1 | sed 's/.*nginx\///')"
  echo "haproxy=$(haproxy -v | head -1 | awk '{print $3}')"
  echo "wrk=$(wrk -v 2>&1 | head -1 | awk '{print $2}')"
  echo "openssl=$(openssl version | awk '{print $2}')"
  echo "oha=$([[ $HAVE_OHA == 1 ]] && oha --version | awk '{print $2}' || echo 'not installed')"
  echo "nofile=$(ulimit -Hn)"
  echo "rounds=$ROUNDS"
  echo "duration=$DURATION"
  echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "uring_disabled=$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo n/a)"
  echo "invocation=bench/run.sh${ORIG_ARGS:+ $ORIG_ARGS}"
} > "$META"
: > "$RESULTS"; : > "$IDLE_TSV"; : > "$TLS_TSV"; : > "$OHA_TSV"; : > "$UPCONN_TSV"; : > "$WORK/commands.txt"; : > "$WORK/wrk-commands.txt"

make_files
start_upstream
for w in 2 1; do
  specs=()
  for s in "${SCENARIOS[@]}"; do
    IFS='|' read -r name sw _ <<< "$s"
    [[ $sw == "$w" ]] || continue
    [[ -n $ONLY && ! $name =~ $ONLY ]] && continue
    specs+=("$s")
  done
  want_idle=0
  [[ $IDLE == 1 && $w == 2 ]] && want_idle=1
  [[ ${#specs[@]} -eq 0 && $want_idle == 0 ]] && continue
  start_proxies "$w"
  for s in "${specs[@]}"; do run_scenario "$s"; done
  if [[ $want_idle == 1 ]]; then
    log "scenario idle: $IDLE_CONNS idle keep-alive connections per proxy"
    run_idle "$w"
  fi
  stop_proxies
done
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$META"
echo "wall_seconds=$(( $(date +%s) - BENCH_START ))" >> "$META"

python3 "$REPO/bench/report.py" --meta "$META" --results "$RESULTS" --idle "$IDLE_TSV" --oha "$OHA_TSV" --tls "$TLS_TSV" --upconns "$UPCONN_TSV" \
  --commands "$WORK/commands.txt" --wrk-commands "$WORK/wrk-commands.txt" --configs "$WORK" \
  --scenarios "$(printf '%s\n' "${SCENARIOS[@]}")" > "$OUT"
cp "$RESULTS" "$(dirname "$OUT")/$(basename "$OUT" .md).raw.tsv" 2>/dev/null || true
log "wrote $OUT"

#!/usr/bin/env bash
# Audit a ringway TLS listener with its *default* TLS settings: sslscan and
# testssl.sh (Debian packages) against ringway on loopback, reports in bench/out/.
# Only `tls: { certificates: [...] }` is configured, so what is offered is ringway's
# defaults. Two certificates are audited in turn: ECDSA P-256 and RSA 2048 (the
# TLS 1.2 ECDHE-RSA suites are only offered with an RSA key).
# Every process started here is recorded by PID and stopped by the EXIT trap.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/tls-audit.sh [--no-build] [--no-testssl] [--driver uring|epoll]
  --no-build    do not run cargo build (use $CARGO_TARGET_DIR/release/ringway as it is)
  --no-testssl  sslscan only (testssl.sh takes a few minutes per certificate)
  --driver D    ringway's io driver (default uring)
Writes bench/out/tls-audit-{ecdsa,rsa}-{sslscan,testssl}.txt.
EOF
}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=1 TESTSSL=1 DRIVER=uring
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-build) BUILD=0 ;;
    --no-testssl) TESTSSL=0 ;;
    --driver) DRIVER=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
  shift
done
OUT=$REPO/bench/out
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/ringway-tls-audit.XXXXXX)
KEEP=0
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap 'cleanup; exit 130' INT TERM
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

pkgs=()
command -v sslscan >/dev/null || pkgs+=(sslscan)
[[ $TESTSSL == 1 ]] && ! command -v testssl >/dev/null && pkgs+=(testssl.sh)
command -v openssl >/dev/null || pkgs+=(openssl)
if [[ ${#pkgs[@]} -gt 0 ]]; then
  log "installing from Debian: ${pkgs[*]}"
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${pkgs[@]}" >&2
fi
if [[ $BUILD == 1 ]]; then
  (cd "$REPO" && nice -n 10 cargo build --release >&2)
fi
RINGWAY=${CARGO_TARGET_DIR:-$REPO/target}/release/ringway
[[ -x $RINGWAY ]] || { echo "tls-audit: $RINGWAY missing" >&2; exit 1; }

HOST=127.0.0.41 PORT=8443 UP=127.0.0.42:18090


# A trivial upstream so that testssl's HTTP checks get a 200.
mkdir -p "$WORK/www"; echo ok > "$WORK/www/index.html"
python3 -m http.server --bind "${UP%:*}" --directory "$WORK/www" "${UP#*:}" > "$WORK/up.log" 2>&1 &
UP_PID=$!; PIDS+=("$UP_PID")
wait_port "${UP%:*}" "${UP#*:}" "$UP_PID" || { echo "tls-audit: upstream did not start" >&2; exit 1; }

audit() { # KIND: ecdsa | rsa
  local kind=$1 keyopt
  case $kind in
    ecdsa) keyopt=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1) ;;
    rsa) keyopt=(-newkey rsa:2048) ;;
  esac
  openssl req -x509 "${keyopt[@]}" -nodes -days 30 -subj /CN=audit.test \
    -addext "subjectAltName=DNS:audit.test,IP:$HOST" \
    -keyout "$WORK/$kind.key" -out "$WORK/$kind.crt" 2> "$WORK/openssl.err"
  cat > "$WORK/$kind.yaml" <<EOF
workers: 1
drain_timeout: 1s
listeners:
  - name: audit
    address: $HOST:$PORT
    tls:
      certificates:
        - { cert_chain: $WORK/$kind.crt, private_key: $WORK/$kind.key }
    virtual_hosts:
      - name: all
        domains: ["*"]
        routes:
          - match: { prefix: / }
            cluster: up
clusters:
  - name: up
    type: static
    hosts: ["$UP"]
EOF
  "$RINGWAY" -c "$WORK/$kind.yaml" --io-driver "$DRIVER" > "$WORK/$kind.out" 2> "$WORK/$kind.err" &
  local pid=$!; PIDS+=("$pid")
  wait_port "$HOST" "$PORT" "$pid" || { echo "tls-audit: ringway did not start" >&2; cat "$WORK/$kind.err" >&2; exit 1; }
  log "$kind: sslscan $HOST:$PORT"
  timeout 120 sslscan --no-colour --show-sigs "$HOST:$PORT" > "$OUT/tls-audit-$kind-sslscan.txt" 2>&1 || true
  if [[ $TESTSSL == 1 ]]; then
    log "$kind: testssl $HOST:$PORT (a few minutes)"
    # --sneaky: no testssl user agent; --warnings off: no prompts; -U: vulnerabilities,
    # -p protocols, -e each cipher, -S server defaults, -P preference, -h headers.
    timeout 600 testssl --color 0 --warnings off --quiet -p -e -S -P -U -h \
      "https://$HOST:$PORT/" > "$OUT/tls-audit-$kind-testssl.txt" 2>&1 || true
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
audit ecdsa
audit rsa
log "reports: $(ls "$OUT"/tls-audit-* | tr '\n' ' ')"

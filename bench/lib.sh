# Process hygiene shared by bench/run.sh and perf/record.sh: every long-running
# process a script starts goes into PIDS, and on exit each is stopped by PID
# (TERM, a short grace, then KILL) and the work directory is removed unless
# KEEP=1. Sourced, not run.

PIDS=()            # every long-running process we started
CLEANED=0
cleanup() {
  [[ $CLEANED == 1 ]] && return
  CLEANED=1
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 30); do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  if [[ ${KEEP:-0} == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# One ringway config for bench/run.sh and perf/record.sh, so a profile measures
# the configuration a benchmark ran: every listener routes everything to one
# cluster, the static `upstream` (HTTP/1.1) unless it names another.
ringway_listener() { # NAME ADDR [CERT_DIR: cert.pem and key.pem there, for TLS; "" for none] [CLUSTER]
  printf '  - name: %s\n    address: %s\n    max_request_body_size: 4MiB\n' "$1" "$2"
  if [[ -n ${3:-} ]]; then
    printf '    tls:\n      certificates:\n        - { cert_chain: %s/cert.pem, private_key: %s/key.pem }\n' "$3" "$3"
  fi
  cat <<'YAML'
    virtual_hosts:
      - name: all
        domains: ["*"]
        routes:
YAML
  printf '          - match: { prefix: / }\n            cluster: %s\n' "${4:-upstream}"
}

# With H2_UPSTREAM_ADDR, a second static cluster `upstream_h2` speaks HTTP/2 (h2c,
# prior knowledge) to that address, with ringway's HTTP/2 defaults otherwise (its
# stream limit defers to the server's SETTINGS_MAX_CONCURRENT_STREAMS).
ringway_config() { # WORKERS UPSTREAM_ADDR [ADMIN_ADDR] [H2_UPSTREAM_ADDR]; listener entries on stdin
  printf 'workers: %s\ndrain_timeout: 1s\n' "$1"
  if [[ -n ${3:-} ]]; then printf 'admin: { address: %s }\n' "$3"; fi
  echo "listeners:"
  cat
  printf 'clusters:\n  - name: upstream\n    type: static\n    hosts: ["%s"]\n    max_idle_per_host: 1024\n' "$2"
  if [[ -n ${4:-} ]]; then
    printf '  - name: upstream_h2\n    type: static\n    hosts: ["%s"]\n    protocol: http2\n' "$4"
  fi
}

wait_port() { # HOST PORT [PID [TRIES]]: until HOST:PORT accepts, TRIES × 0.1 s (default
  # 100), giving up early once PID (if given) has exited
  local i
  for i in $(seq "${4:-100}"); do
    if [[ -n ${3:-} ]] && ! kill -0 "$3" 2>/dev/null; then return 1; fi
    if timeout 0.5 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

upstream_nginx_conf() { # WORK UP CONNECTIONS KEEPALIVE [H2_ADDR]: the static upstream perf/
  # profiles against; with H2_ADDR the same files over h2c (prior knowledge) there too
  cat <<NGINX
daemon off;
worker_processes 1;
worker_rlimit_nofile 20000;
pid $1/up.pid;
error_log $1/up.err warn;
events { worker_connections $3; }
http {
  access_log off; sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_timeout $4; keepalive_requests 10000000;
  open_file_cache max=16 inactive=600s; open_file_cache_valid 600s;
  client_body_temp_path $1/tmp; proxy_temp_path $1/tmp;
  fastcgi_temp_path $1/tmp; uwsgi_temp_path $1/tmp; scgi_temp_path $1/tmp;
  server { listen $2 backlog=4096; root $1/www; }${5:+
  server { listen $5 http2 backlog=4096; root $1/www; \}}
}
NGINX
}

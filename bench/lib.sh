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
# the configuration a benchmark ran: every listener routes everything to the
# static cluster `upstream`.
ringway_listener() { # NAME ADDR [CERT_DIR: cert.pem and key.pem there, for TLS]
  printf '  - name: %s\n    address: %s\n    max_request_body_size: 4MiB\n' "$1" "$2"
  if [[ -n ${3:-} ]]; then
    printf '    tls:\n      certificates:\n        - { cert_chain: %s/cert.pem, private_key: %s/key.pem }\n' "$3" "$3"
  fi
  cat <<'YAML'
    virtual_hosts:
      - name: all
        domains: ["*"]
        routes:
          - match: { prefix: / }
            cluster: upstream
YAML
}

ringway_config() { # WORKERS UPSTREAM_ADDR [ADMIN_ADDR]; listener entries on stdin
  printf 'workers: %s\ndrain_timeout: 1s\n' "$1"
  if [[ -n ${3:-} ]]; then printf 'admin: { address: %s }\n' "$3"; fi
  echo "listeners:"
  cat
  printf 'clusters:\n  - name: upstream\n    type: static\n    hosts: ["%s"]\n    max_idle_per_host: 1024\n' "$2"
}

#!/usr/bin/env bash
# Cost of one admin API add as a pool grows. POSTs N backends (default 5000) one by one
# on one keep-alive connection and prints, per block of adds, the median and 90th
# percentile time of an add: once with a state file (in STATE_DIR, default a temporary
# directory on the disk of /tmp), once without one, so the state file's share shows.
# No backend has to exist (no health checks are configured). Everything is on 127.0.0.1.
# Usage: bench/admin_add_cost.sh [N]; needs build/keel and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-5000}"
work=$(mktemp -d)
state_dir="${STATE_DIR:-$work}"
keel_pid=
cleanup() {
  if [ -n "$keel_pid" ]; then kill "$keel_pid" 2>/dev/null || true; wait "$keel_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

run() {  # $1: label, $2: state_file line (or empty)
  cat > "$work/keel.yaml" <<YAML
listeners:
  - address: 127.0.0.1:0
admin:
  address: 127.0.0.1:0
$2
pools:
  - name: web
    backends: []
YAML
  rm -f "$state_dir/keel-bench-state.json"
  build/keel --config "$work/keel.yaml" > "$work/keel.out" 2> "$work/keel.err" & keel_pid=$!
  local admin=
  for _ in $(seq 1 200); do
    admin=$(sed -n 's/^admin listening on //p' "$work/keel.out")
    [ -n "$admin" ] && break
    sleep 0.05
  done
  [ -n "$admin" ] || { cat "$work/keel.err" >&2; echo "keel did not start" >&2; exit 1; }
  echo "== $1"
  python3 - "$admin" "$count" <<'PY'
import http.client, json, statistics, sys, time
host, port = sys.argv[1].rsplit(":", 1)
count = int(sys.argv[2])
connection = http.client.HTTPConnection(host, int(port))
block = max(count // 10, 1)
times = []
print(f"{'adds':>12} {'median ms':>10} {'p90 ms':>8}")
for i in range(count):
    # Addresses that need no resolver: 127.1.x.y:80.
    body = json.dumps({"address": f"127.1.{i // 250}.{i % 250 + 1}:80"})
    start = time.perf_counter()
    connection.request("POST", "/api/v1/pools/web/backends", body)
    response = connection.getresponse()
    response.read()
    times.append((time.perf_counter() - start) * 1000)
    if response.status != 201:
        sys.exit(f"add {i + 1}: HTTP {response.status}")
    if (i + 1) % block == 0:
        part = sorted(times[-block:])
        print(f"{i + 2 - block:>5}-{i + 1:<6} {statistics.median(part):>10.2f} {part[int(len(part) * 0.9)]:>8.2f}")
PY
  kill "$keel_pid"; wait "$keel_pid" 2>/dev/null || true; keel_pid=
}

run "with state_file ($state_dir)" "state_file: $state_dir/keel-bench-state.json"
run "without state_file" ""

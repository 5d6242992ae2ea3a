#!/usr/bin/env bash
# What per-request counting for /metrics costs: keel built with it (KEEL_METRICS=ON,
# the default) against keel built without it (-DKEEL_METRICS=OFF), same config.
#   1. wrk -t1 -c64 -d5s, interleaved repetitions, keel pinned to CPU 1, wrk and the
#      keel-echo backend to CPU 0;
#   2. callgrind instructions per request (repeatable where req/s is noisy): keel under
#      valgrind, counters zeroed after a warm-up, dumped after a wrk run; the dump's
#      total (all threads) divided by the requests wrk completed.
# Usage: bench/metrics_overhead.sh ON_BUILD_DIR OFF_BUILD_DIR [reps]
set -euo pipefail
on_dir=${1:?usage: $0 ON_BUILD_DIR OFF_BUILD_DIR [reps]}
off_dir=${2:?usage: $0 ON_BUILD_DIR OFF_BUILD_DIR [reps]}
reps=${3:-3}
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

backend_port=18589
proxy_port=18600
taskset -c 0 "$on_dir/keel-echo" --listen 127.0.0.1:$backend_port >/dev/null &
pids+=($!)
# A fresh port per keel start: a stopping keel (or a valgrind one starting up)
# never answers for another.
next_config() {
  proxy_port=$((proxy_port + 1))
  cat >"$work/keel.yaml" <<YAML
workers: 1
listeners:
  - address: 127.0.0.1:$proxy_port
timeouts: { shutdown: 1s }
pools:
  - name: bench
    backends:
      - { address: 127.0.0.1:$backend_port }
YAML
}

wait_port() {
  for _ in $(seq 1 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/$proxy_port) 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "keel did not listen on $proxy_port" >&2
  return 1
}

run_wrk() {  # prints requests/s
  taskset -c 0 wrk -t1 -c64 -d5s "http://127.0.0.1:$proxy_port/" | awk '/^Requests\/sec/ {print $2}'
}

echo "== wrk -t1 -c64 -d5s, $reps interleaved repetitions (req/s)"
for rep in $(seq 1 "$reps"); do
  for variant in on off; do
    dir=$on_dir
    [ "$variant" = off ] && dir=$off_dir
    next_config
    taskset -c 1 "$dir/keel" --config "$work/keel.yaml" >/dev/null 2>&1 &
    pid=$!
    wait_port
    echo "rep $rep metrics=$variant $(run_wrk)"
    kill "$pid"
    wait "$pid" || true
  done
done

echo "== callgrind: instructions per request (wrk -t1 -c4 -d5s against keel under valgrind)"
for variant in on off; do
  dir=$on_dir
  [ "$variant" = off ] && dir=$off_dir
  out="$work/callgrind.$variant"
  next_config
  valgrind --tool=callgrind --callgrind-out-file="$out" \
    "$dir/keel" --config "$work/keel.yaml" >/dev/null 2>&1 &
  pid=$!
  wait_port
  wrk -t1 -c4 -d2s "http://127.0.0.1:$proxy_port/" >/dev/null  # warm-up: connections, pools
  callgrind_control -z "$pid" >/dev/null
  requests=$(wrk -t1 -c4 -d5s "http://127.0.0.1:$proxy_port/" | awk '/requests in/ {print $1}')
  callgrind_control -d "$pid" >/dev/null
  kill "$pid"
  wait "$pid" || true
  instructions=$(awk '/^totals:/ {print $2; exit}' "$out.1")
  echo "metrics=$variant requests=$requests instructions=$instructions per_request=$((instructions / requests))"
done

#!/usr/bin/env bash
# Pool churn under load: wrk at full load through keel while the admin API adds,
# drains and removes backends every ~120 ms. Prints wrk's summary and exits 1 if any
# answer was not 2xx, a socket error happened, wrk did not run, or keel died; a
# clean run exits 0. Everything runs on 127.0.0.1 and stops by itself.
# Usage: bench/churn.sh [SECONDS] (default 20); needs build/keel, build/keel-echo, wrk, curl.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-20}"
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

ports=(18181 18182 18183 18184)
for port in "${ports[@]}"; do
  build/keel-echo --listen "127.0.0.1:$port" --id "echo-$port" >/dev/null & pids+=($!)
done
cat > "$work/keel.yaml" <<YAML
workers: auto
listeners:
  - address: 127.0.0.1:18080
admin:
  address: 127.0.0.1:18901
state_file: $work/state.json
timeouts:
  drain: 5s
pools:
  - name: web
    backends:
      - { address: 127.0.0.1:${ports[0]} }
      - { address: 127.0.0.1:${ports[1]} }
YAML
build/keel --config "$work/keel.yaml" > "$work/keel.out" 2> "$work/keel.err" & pids+=($!)
for _ in $(seq 1 100); do
  grep -q "admin listening on" "$work/keel.out" 2>/dev/null && break
  sleep 0.05
done

api=http://127.0.0.1:18901/api/v1/pools/web/backends
wrk -t2 -c64 -d"${duration}s" --latency http://127.0.0.1:18080/ > "$work/wrk.txt" & wrk_pid=$!

changes=0
end=$((SECONDS + duration - 1))
while [ $SECONDS -lt $end ]; do
  a=${ports[2]}; b=${ports[3]}
  curl -s -o /dev/null -X POST "$api" -d "{\"address\":\"127.0.0.1:$a\"}"; sleep 0.1
  curl -s -o /dev/null -X PATCH "$api/127.0.0.1:${ports[0]}" -d '{"state":"draining"}'; sleep 0.1
  curl -s -o /dev/null -X POST "$api" -d "{\"address\":\"127.0.0.1:$b\",\"weight\":2}"; sleep 0.1
  curl -s -o /dev/null -X DELETE "$api/127.0.0.1:$a"; sleep 0.1
  curl -s -o /dev/null -X PATCH "$api/127.0.0.1:${ports[0]}" -d '{"state":"active"}'; sleep 0.1
  curl -s -o /dev/null -X PUT "$api" -d "[{\"address\":\"127.0.0.1:${ports[0]}\"},{\"address\":\"127.0.0.1:${ports[1]}\"}]"; sleep 0.1
  changes=$((changes + 6))
done
wait "$wrk_pid"
cat "$work/wrk.txt"
echo "admin changes applied during the run: $changes"
curl -s http://127.0.0.1:18901/api/v1/pools/web; echo

# wrk prints these lines only when something went wrong.
failed=0
if ! grep -q "Requests/sec" "$work/wrk.txt"; then
  echo "FAIL: wrk did not complete a run" >&2; failed=1
fi
if grep -q "Non-2xx or 3xx responses" "$work/wrk.txt"; then
  echo "FAIL: $(grep "Non-2xx or 3xx responses" "$work/wrk.txt" | tr -s ' ')" >&2; failed=1
fi
if grep -q "Socket errors" "$work/wrk.txt"; then
  echo "FAIL: $(grep "Socket errors" "$work/wrk.txt" | tr -s ' ')" >&2; failed=1
fi
if ! kill -0 "${pids[-1]}" 2>/dev/null; then
  echo "FAIL: keel is no longer running; its stderr:" >&2; cat "$work/keel.err" >&2; failed=1
fi
exit "$failed"

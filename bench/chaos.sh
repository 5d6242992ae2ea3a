#!/usr/bin/env bash
# Chaos soak: keel under load from keep-alive and fresh-connection clients while, at the
# same time and over and over, a backend is kill -9ed and restarted, the admin API adds,
# patches, drains, removes and replaces backends, SIGHUP reloads a changed config,
# SIGUSR1 reopens the rotated access log and a backend's health check flaps.
#
# Usage: bench/chaos.sh [SECONDS | --quick] [--keep]
#   SECONDS  length of the soak (default 60); --quick = 10 s with fewer clients (CI).
#   --keep   keep the work folder (logs, access logs, results) even when the run passes.
# Prints requests, failures by kind, keel's RSS and open fds before and after, and exits 1
# unless: every failed request was in flight on a backend at the instant it was killed
# (see README, "Chaos soak"), every admin call got its expected status, keel is alive,
# its fd count is back to the baseline and its RSS grew by less than the tolerance.
# Everything runs on 127.0.0.1 (ephemeral ports) and is stopped on exit.
# Needs build/keel, build/keel-echo (Release build), python3 and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C  # $EPOCHREALTIME with a decimal point, whatever the user's locale

duration=60 keepalive=16 fresh=8 keep=0
for arg in "$@"; do
  case "$arg" in
    --quick) duration=10 keepalive=6 fresh=4 ;;
    --keep) keep=1 ;;
    ''|*[!0-9]*) echo "usage: bench/chaos.sh [SECONDS | --quick] [--keep]" >&2; exit 2 ;;
    *) duration=$arg ;;
  esac
done
[ "$duration" -ge 5 ] || { echo "chaos.sh: SECONDS must be at least 5" >&2; exit 2; }
for tool in build/keel build/keel-echo; do
  [ -x "$tool" ] || { echo "chaos.sh: $tool missing; build first (scripts/build)" >&2; exit 2; }
done
for tool in python3 curl; do
  command -v "$tool" >/dev/null || { echo "chaos.sh: $tool not found" >&2; exit 2; }
done

# Tolerances, stated: RSS after the soak may exceed the warmed-up baseline by this much
# (allocator caches and arenas keep freed memory; a leak of a few hundred bytes per
# request over a minute grows by tens of MiB).
rss_tolerance_kib=$((8 * 1024))
idle_timeout_s=4  # timeouts.idle: upstream and client keep-alive connections close after it

work=$(mktemp -d /tmp/keel-chaos.XXXXXX)
pids=()
passed=0
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ -s "$work/killed.pid" ]; then kill -9 "$(cat "$work/killed.pid")" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  if [ "$passed" = 1 ] && [ "$keep" = 0 ]; then rm -rf "$work"; else echo "logs kept in $work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits (up to 10 s) for "listening on HOST:PORT" in FILE; prints HOST:PORT.
listening_address() {
  local file=$1 prefix=${2:-listening on} line
  for _ in $(seq 1 200); do
    line=$(grep -m1 "^$prefix " "$file" 2>/dev/null || true)
    if [ -n "$line" ]; then echo "${line#"$prefix "}"; return 0; fi
    sleep 0.05
  done
  echo "chaos.sh: nothing printed '$prefix' in $file within 10 s" >&2
  return 1
}

# True while PID runs (a killed child stays a zombie until its parent waits for it).
running() { [ -r "/proc/$1/stat" ] && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

# The backends: b1 and b2 always stay; "killed" is kill -9ed and restarted; c1 and c2
# come and go through the admin API; the flapper answers traffic but its /healthz
# alternates 200/503 every 2 s.
declare -A address
for name in b1 b2 c1 c2; do
  build/keel-echo --listen 127.0.0.1:0 --id "$name" > "$work/echo-$name.out" 2>&1 & pids+=($!)
done
# Not this shell's child (it would report "Killed" when reaping it): the kill loop owns it.
(build/keel-echo --listen 127.0.0.1:0 --id killed > "$work/echo-killed.out" 2>&1 & echo $! > "$work/killed.pid")
for name in b1 b2 killed c1 c2; do address[$name]=$(listening_address "$work/echo-$name.out"); done
python3 bench/chaos_load.py flapper "$work/flapper.port" 2000 2> "$work/flapper.err" & pids+=($!)
for _ in $(seq 1 200); do [ -s "$work/flapper.port" ] && break; sleep 0.05; done
[ -s "$work/flapper.port" ] || { echo "chaos.sh: the flapping backend did not start" >&2; exit 1; }
address[flapper]=127.0.0.1:$(cat "$work/flapper.port")

# Two variants of the config; every SIGHUP swaps them (balance and check interval change).
write_config() {  # BALANCE INTERVAL
  cat > "$work/keel.yaml.tmp" <<YAML
workers: 2
listeners:
  - address: 127.0.0.1:0
admin:
  address: 127.0.0.1:0
state_file: $work/state.json
access_log:
  path: $work/access.log
  format: json
timeouts:
  connect: 1s
  upstream_header: 5s
  idle: ${idle_timeout_s}s
  drain: 3s
pools:
  - name: web
    balance: $1
    retries: 3
    backends:
      - { address: ${address[b1]} }
      - { address: ${address[b2]} }
      - { address: ${address[killed]} }
      - { address: ${address[flapper]} }
    health_check:
      path: /healthz
      interval: $2
      timeout: 500ms
      healthy_threshold: 2
      unhealthy_threshold: 2
    passive:
      max_fails: 1
      fail_timeout: 1s
YAML
  mv "$work/keel.yaml.tmp" "$work/keel.yaml"
}
write_config round_robin 500ms
build/keel --config "$work/keel.yaml" > "$work/keel.out" 2> "$work/keel.err" & keel=$!; pids+=("$keel")
listen=$(listening_address "$work/keel.out") || { cat "$work/keel.err" >&2; exit 1; }
admin=$(listening_address "$work/keel.out" "admin listening on")
api="http://$admin/api/v1/pools/web/backends"

fd_count() { ls "/proc/$keel/fd" 2>/dev/null | wc -l; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$keel/status" 2>/dev/null || echo 0; }
# The smallest fd count over 2 s: health checks open short-lived sockets.
fd_floor() {
  local floor=1000000 n
  for _ in $(seq 1 40); do n=$(fd_count); [ "$n" -lt "$floor" ] && floor=$n; sleep 0.05; done
  echo "$floor"
}
# Waits until keel holds no more fds than TARGET (idle connections close after
# timeouts.idle, removed backends after timeouts.drain); prints the floor it reached.
settle_fds() {
  local target=$1 floor
  for _ in $(seq 1 8); do
    floor=$(fd_floor)
    [ "$floor" -le "$target" ] && break
  done
  echo "$floor"
}

echo "keel pid $keel on $listen, admin $admin"
echo "backends: $(for name in b1 b2 killed c1 c2 flapper; do printf '%s=%s ' "$name" "${address[$name]}"; done)"
cold_fds=$(fd_floor) cold_rss=$(rss_kib)

# Warm-up: the same load without chaos, so that buffers, allocator arenas and
# connection pools exist before the baseline is taken.
warmup=$(( duration / 6 > 3 ? duration / 6 : 3 ))
python3 bench/chaos_load.py load "http://$listen/" "$warmup" "$work/warmup.json" --tag w \
  --keepalive "$keepalive" --fresh "$fresh" > "$work/warmup.txt" & load=$!; pids+=("$load")
wait "$load"
sleep "$((idle_timeout_s + 1))"
base_fds=$(settle_fds "$cold_fds") base_rss=$(rss_kib)

# The chaos, each in its own loop until the deadline.
end=$((EPOCHSECONDS + duration))
kill_loop() {  # kill -9 the "killed" backend every ~2.5 s, restart it 0.5 s later
  local pid
  while [ "$EPOCHSECONDS" -lt "$end" ]; do
    sleep 2
    pid=$(cat "$work/killed.pid")
    echo "$EPOCHREALTIME kill ${address[killed]}" >> "$work/events"
    kill -9 "$pid" 2>/dev/null || true
    while running "$pid"; do sleep 0.01; done  # its sockets close as it dies
    echo "$EPOCHREALTIME dead ${address[killed]}" >> "$work/events"
    sleep 0.5
    for attempt in $(seq 1 20); do  # SO_REUSEADDR: the port is free at once; retry anyway
      : > "$work/echo-killed.out"
      build/keel-echo --listen "${address[killed]}" --id killed > "$work/echo-killed.out" 2>&1 &
      pid=$!
      echo "$pid" > "$work/killed.pid"
      while running "$pid" && ! grep -q '^listening on' "$work/echo-killed.out"; do sleep 0.01; done
      running "$pid" && break
      echo "restart attempt $attempt failed: $(cat "$work/echo-killed.out")" >&2
      sleep 0.2
    done
    echo "$EPOCHREALTIME restart ${address[killed]}" >> "$work/events"
  done
}
admin_call() {  # EXPECTED METHOD PATH [BODY]: one admin call, its status logged
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X "$2" "$api$3" ${4:+-d "$4"} || true)
  echo "expected $1 got $code: $2 ${3:-/}" >> "$work/admin.log"
  sleep 0.15
}
admin_loop() {
  local b1=${address[b1]} b2=${address[b2]} k=${address[killed]} f=${address[flapper]}
  local c1=${address[c1]} c2=${address[c2]}
  while [ "$EPOCHSECONDS" -lt "$end" ]; do
    admin_call 201 POST "" "{\"address\":\"$c1\",\"weight\":2}"
    admin_call 200 PATCH "/$b1" '{"state":"draining"}'
    admin_call 201 POST "" "{\"address\":\"$c2\"}"
    admin_call 200 PATCH "/$c1" '{"weight":3}'
    admin_call 200 PATCH "/$b1" '{"state":"active"}'
    admin_call 202 DELETE "/$c1"
    admin_call 200 PATCH "/$k" '{"weight":2}'
    admin_call 200 PUT "" "[{\"address\":\"$b1\"},{\"address\":\"$b2\"},{\"address\":\"$k\"},{\"address\":\"$f\"},{\"address\":\"$c1\"}]"
    admin_call 200 PATCH "/$c1" '{"state":"draining"}'
    admin_call 200 PUT "" "[{\"address\":\"$b1\"},{\"address\":\"$b2\"},{\"address\":\"$k\"},{\"address\":\"$f\"}]"
  done
}
signal_loop() {  # SIGHUP with a changed config every 1 s, logrotate + SIGUSR1 every 0.7 s
  local n=0 hup=0 usr1=0
  while [ "$EPOCHSECONDS" -lt "$end" ]; do
    sleep 0.35; n=$((n + 1))
    if [ $((n % 2)) = 0 ]; then
      usr1=$((usr1 + 1))
      if [ -e "$work/access.log" ]; then mv "$work/access.log" "$work/access.log.$usr1"; fi
      kill -USR1 "$keel" || true
    fi
    if [ $((n % 3)) = 0 ]; then
      hup=$((hup + 1))
      if [ $((hup % 2)) = 1 ]; then write_config least_conn 700ms; else write_config round_robin 500ms; fi
      kill -HUP "$keel" || true
    fi
  done
  echo "$hup $usr1" > "$work/signals"
}
: > "$work/events"; : > "$work/admin.log"
kill_loop 2> "$work/kill_loop.err" & loops=($!)
admin_loop 2> "$work/admin_loop.err" & loops+=($!)
signal_loop 2> "$work/signal_loop.err" & loops+=($!)
pids+=("${loops[@]}")
python3 bench/chaos_load.py load "http://$listen/" "$duration" "$work/load.json" --tag s \
  --keepalive "$keepalive" --fresh "$fresh" > "$work/load.txt" & load=$!; pids+=("$load")
wait "$load" || { echo "chaos.sh: the load client failed" >&2; cat "$work/load.txt" >&2; }
wait "${loops[@]}" || true

# Back to the starting backend set, all active, then let idle connections close.
curl -s -o /dev/null --max-time 5 -X PUT "$api" \
  -d "[{\"address\":\"${address[b1]}\"},{\"address\":\"${address[b2]}\"},{\"address\":\"${address[killed]}\"},{\"address\":\"${address[flapper]}\"}]" || true
curl -s -o /dev/null --max-time 5 -X PATCH "$api/${address[b1]}" -d '{"state":"active"}' || true
sleep "$((idle_timeout_s + 1))"
after_fds=$(settle_fds "$base_fds") after_rss=$(rss_kib)

set +e  # from here on every check reports, none stops the script
echo "== chaos soak: ${duration} s, keel $(build/keel --version 2>&1 | head -1)"
status=0
python3 bench/chaos_load.py report "$work/load.json" "$work/events" "$work"/access.log* || status=1
kills=$(grep -c ' kill ' "$work/events" || true)
read -r hups usr1s < "$work/signals" || true
admin_calls=$(wc -l < "$work/admin.log")
admin_bad=$(awk '$2 ":" != $4' "$work/admin.log" | wc -l)
echo "chaos: $kills kill -9 + restart, $admin_calls admin calls ($admin_bad with an unexpected status), ${hups:-?} SIGHUP reloads, ${usr1s:-?} SIGUSR1 log reopens"
if [ "$admin_bad" -gt 0 ]; then
  status=1
  awk '$2 ":" != $4' "$work/admin.log" | sort | uniq -c | sed 's/^/  admin: /'
fi
echo "keel fds:  cold $cold_fds, baseline $base_fds, after $after_fds"
echo "keel RSS:  cold $cold_rss KiB, baseline $base_rss KiB, after $after_rss KiB (tolerance +$rss_tolerance_kib KiB)"
dropped=$(curl -s --max-time 5 "http://$admin/metrics" | awk '/^keel_access_log_dropped_lines_total/ { s += $2 } END { print s + 0 }')
echo "access log lines dropped by keel: $dropped"
grep -E '(warn|error)' "$work/keel.err" | sed -E 's/^[^ ]+ //; s/[0-9]+/N/g' | sort | uniq -c | sort -rn | head -20 |
  sed 's/^/  keel log: /' || true
if ! running "$keel" || [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$admin/healthz")" != 200 ]; then
  echo "FAIL: keel is not alive"; status=1
  tail -20 "$work/keel.err"
fi
if [ "$after_fds" -gt "$base_fds" ]; then
  echo "FAIL: keel holds $((after_fds - base_fds)) more fds than at the baseline"; status=1
  ls -l "/proc/$keel/fd" 2>/dev/null | awk '{ print $NF }' | sed -E 's/[0-9]+/N/g' | sort | uniq -c
fi
if [ "$after_rss" -gt $((base_rss + rss_tolerance_kib)) ]; then
  echo "FAIL: keel's RSS grew by $((after_rss - base_rss)) KiB"; status=1
fi
if [ "$status" = 0 ]; then echo "PASS"; passed=1; else echo "FAIL"; fi
exit "$status"

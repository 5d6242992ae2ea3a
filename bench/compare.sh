#!/usr/bin/env bash
# Comparative benchmark (issue #4): keel, nginx and HAProxy as round-robin reverse proxies
# in front of the same two nginx backends, measured with wrk in one run, interleaved
# (direct keel nginx haproxy, direct keel nginx haproxy, ...), several repetitions;
# prints one markdown table of medians with min-max.
#
# Usage: bench/compare.sh [--reps N] [--duration S] [--warmup S] [--idle N]
#                         [--keel PATH] [--port-base P] [--quick]
#   --reps N       repetitions (default 5)
#   --duration S   seconds per measured wrk run (default 5)
#   --warmup S     seconds of wrk warm-up before each measured run (default 1)
#   --idle N       idle keep-alive connections in scenario e (default 5000)
#   --keel PATH    keel binary (default build/keel, else build-bench/keel)
#   --port-base P  ports P+1, P+2 (backends), P+10..P+12 (proxies); default 19080
#   --scenarios L  which scenarios to run, e.g. "a,e" (default a,b,c,d,e)
#   --scaling      keel alone, unpinned, with workers: 1 and then workers: 2 (interleaved,
#                  --reps times), wrk -t2 -c64 on scenario a: does keel scale with cores
#   --quick        smoke test for CI: keel only, one 2 s run; exits non-zero if keel
#                  does not proxy (round-robin, X-Forwarded-For, bodies) or wrk reports
#                  an error
#
# Layout: wrk (-t1) and both backends are pinned to one CPU, the proxy under test to
# another (taskset), so the proxy is the bottleneck and req/s per proxy core is what is
# compared. Every proxy: one worker thread/process, upstream keep-alive, the forwarded
# headers keel adds (X-Forwarded-For appended, X-Forwarded-Proto, X-Forwarded-Host, Via),
# no access log; configs are bench/keel.yaml, bench/nginx.conf, bench/haproxy.cfg,
# bench/backend-nginx.conf (templates filled with ports and paths).
# Scenarios: a 13-byte body, -c64 keep-alive; b the same, -c256; c 16 KiB body, -c64;
# d 'Connection: close', -c32; e N idle keep-alive client connections (each made one
# request): proxy RSS before/after and bytes per connection. "direct" is wrk straight
# to one backend (the ceiling of the load side).
# Per measurement: req/s, p50, p99 (wrk --latency), proxy CPU seconds (utime+stime delta
# of the measured run from /proc/PID/stat; nginx: its worker) and peak RSS (VmHWM). Each
# proxy is started fresh for each measurement, so peak RSS is that scenario's.
#
# Everything listens on 127.0.0.1 only; every file (configs, pid files, logs, temp
# paths) is in one mktemp directory that is removed at the end; every process started
# is stopped by its PID, also on failure or Ctrl-C; every wait is bounded.
# Exit status: 0 done and clean; 1 setup failure (or --quick failure); 2 the run
# completed but some measurement had errors or a proxy died (listed under the table).
# Needs: wrk, nginx, haproxy (not for --quick), python3 (scenario e), curl, taskset.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

reps=5
duration=5
warmup=1
idle=5000
quick=0
scaling=0
scenarios="a,b,c,d,e"
keel_bin=""
port_base=${KEEL_BENCH_PORT_BASE:-19080}

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "compare.sh: $*" >&2; exit 1; }
note() { echo "$*" >&2; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
wants() { [[ ,$scenarios, == *,$1,* ]]; }

while [ $# -gt 0 ]; do
  case $1 in
    --reps) reps=${2:-}; shift 2 || die "--reps needs a value" ;;
    --duration) duration=${2:-}; shift 2 || die "--duration needs a value" ;;
    --warmup) warmup=${2:-}; shift 2 || die "--warmup needs a value" ;;
    --idle) idle=${2:-}; shift 2 || die "--idle needs a value" ;;
    --keel) keel_bin=${2:-}; shift 2 || die "--keel needs a value" ;;
    --port-base) port_base=${2:-}; shift 2 || die "--port-base needs a value" ;;
    --scenarios) scenarios=${2:-}; shift 2 || die "--scenarios needs a value" ;;
    --quick) quick=1; shift ;;
    --scaling) scaling=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (try --help)" ;;
  esac
done
for v in reps duration warmup idle port_base; do
  is_uint "${!v}" || die "--${v//_/-} must be a non-negative integer, got '${!v}'"
done
[ "$reps" -ge 1 ] && [ "$reps" -le 100 ] || die "--reps must be 1..100"
[ "$duration" -ge 1 ] && [ "$duration" -le 600 ] || die "--duration must be 1..600"
[ "$warmup" -le 60 ] || die "--warmup must be 0..60"
[ "$idle" -ge 1 ] && [ "$idle" -le 15000 ] || die "--idle must be 1..15000"
[ "$port_base" -ge 1024 ] && [ "$port_base" -le 65000 ] || die "--port-base must be 1024..65000"
[[ $scenarios =~ ^[a-e](,[a-e])*$ ]] || die "--scenarios must be a comma-separated list of a..e, got '$scenarios'"

if [ -z "$keel_bin" ]; then
  for candidate in "$root/build/keel" "$root/build-bench/keel"; do
    if [ -x "$candidate" ]; then keel_bin=$candidate; break; fi
  done
fi
[ -n "$keel_bin" ] && [ -x "$keel_bin" ] || die "keel binary not found (build it, or pass --keel PATH)"

needed=(wrk nginx curl taskset timeout)
if [ "$quick" -eq 0 ]; then needed+=(haproxy python3); fi
for tool in "${needed[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is not installed (Debian: apt-get install wrk nginx-light haproxy curl python3)"
done

b1_port=$((port_base + 1))
b2_port=$((port_base + 2))
declare -A proxy_port=([keel]=$((port_base + 10)) [nginx]=$((port_base + 11)) [haproxy]=$((port_base + 12)))

# ---------------------------------------------------------------- processes, cleanup
work=""
live_pids=()     # every process started and not yet stopped (nginx workers included)
cleaning=0

alive() {        # running and not a zombie
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}
track() { live_pids+=("$1"); }
untrack() {
  local p kept=()
  for p in "${live_pids[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done
  live_pids=("${kept[@]}")
}
# stop_pid PID [EXTRA_PID...]: SIGTERM, up to 5 s, then SIGKILL; the extra PIDs
# (an nginx master's workers) are waited for and killed the same way.
stop_pid() {
  local p i
  kill -TERM "$1" 2>/dev/null
  for p in "$@"; do
    for ((i = 0; i < 100; i++)); do alive "$p" || break; sleep 0.05; done
    if alive "$p"; then kill -KILL "$p" 2>/dev/null; fi
  done
  for p in "$@"; do wait "$p" 2>/dev/null; untrack "$p"; done
  return 0
}
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  [ "$cleaning" -eq 1 ] && return
  cleaning=1
  local p i
  for p in "${live_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for ((i = 0; i < 60; i++)); do
    local any=0
    for p in "${live_pids[@]}"; do alive "$p" && any=1; done
    [ "$any" -eq 0 ] && break
    sleep 0.05
  done
  for p in "${live_pids[@]}"; do alive "$p" && kill -KILL "$p" 2>/dev/null; done
  for p in "${live_pids[@]}"; do wait "$p" 2>/dev/null; done
  live_pids=()
  [ -n "$work" ] && [ -d "$work" ] && rm -rf "$work"
}
trap cleanup EXIT
trap 'note "interrupted"; exit 130' INT
trap 'note "terminated"; exit 143' TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$b1_port" "$b2_port" "${proxy_port[@]}"; do
  port_in_use "$p" && die "port 127.0.0.1:$p is already in use (choose another --port-base)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/keel-bench.XXXXXX") || die "mktemp failed"
mkdir -p "$work/tmp" "$work/www"
head -c 16384 /dev/zero | tr '\0' 'x' > "$work/www/16k"
: > "$work/results.tsv"

# ---------------------------------------------------------------- CPU pinning
cpu_list=()
allowed=$(awk '/^Cpus_allowed_list:/ {print $2}' /proc/self/status)
IFS=, read -ra ranges <<< "$allowed"
for r in "${ranges[@]}"; do
  if [[ $r == *-* ]]; then
    for ((c = ${r%-*}; c <= ${r#*-} && ${#cpu_list[@]} < 2; c++)); do cpu_list+=("$c"); done
  elif [ -n "$r" ] && [ ${#cpu_list[@]} -lt 2 ]; then
    cpu_list+=("$r")
  fi
done
if [ ${#cpu_list[@]} -ge 2 ]; then
  pin_load=(taskset -c "${cpu_list[0]}")
  pin_proxy=(taskset -c "${cpu_list[1]}")
  pinning="load side (wrk, backends) on CPU ${cpu_list[0]}, proxy under test on CPU ${cpu_list[1]}"
else
  note "warning: fewer than 2 CPUs available; running without CPU pinning"
  pin_load=()
  pin_proxy=()
  pinning="none (fewer than 2 CPUs)"
fi

# ---------------------------------------------------------------- configs
user_line=""
if [ "$(id -u)" -eq 0 ]; then user_line="user root;"; fi   # workers must read the work dir
render() {  # render TEMPLATE OUT [ID PORT]
  sed -e "s|@WORK@|$work|g" -e "s|@B1@|$b1_port|g" -e "s|@B2@|$b2_port|g" \
      -e "s|@USER@|$user_line|g" -e "s|@ID@|${3:-}|g" -e "s|@PORT@|${4:-}|g" "$1" > "$2"
}
render "$here/backend-nginx.conf" "$work/backend-b1.conf" b1 "$b1_port"
render "$here/backend-nginx.conf" "$work/backend-b2.conf" b2 "$b2_port"
render "$here/keel.yaml" "$work/keel.yaml" "" "${proxy_port[keel]}"
render "$here/nginx.conf" "$work/nginx.conf" "" "${proxy_port[nginx]}"
render "$here/haproxy.cfg" "$work/haproxy.cfg" "" "${proxy_port[haproxy]}"

# ---------------------------------------------------------------- helpers
http_ok() { [ "$(curl -s -o /dev/null --max-time 1 -w '%{http_code}' "$1" 2>/dev/null)" = 200 ]; }
wait_http() {  # wait_http URL PID: up to 5 s, fails early if PID dies
  local i
  for ((i = 0; i < 100; i++)); do
    http_ok "$1" && return 0
    alive "$2" || return 1
    sleep 0.05
  done
  return 1
}
nginx_worker() {  # the (single) worker of an nginx master, waited for up to 5 s
  local i w
  for ((i = 0; i < 100; i++)); do
    w=$(pgrep -P "$1" 2>/dev/null | head -n1)
    [ -n "$w" ] && { echo "$w"; return 0; }
    alive "$1" || return 1
    sleep 0.05
  done
  return 1
}
cpu_ticks() {  # utime+stime of a process (all its threads), in clock ticks
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  local fields
  read -ra fields <<< "${stat##*) }"   # fields[0] is the state; utime, stime follow at 11, 12
  echo $(( fields[11] + fields[12] ))
}
status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
clk_tck=$(getconf CLK_TCK)

backend_pids=()
start_backend() {  # start_backend ID PORT
  local id=$1 port=$2 master worker
  "${pin_load[@]}" nginx -p "$work" -e "$work/backend-$id.err" -c "$work/backend-$id.conf" \
    > "$work/backend-$id.out" 2>&1 &
  master=$!
  track "$master"
  worker=$(nginx_worker "$master") || { cat "$work/backend-$id.err" "$work/backend-$id.out" >&2; die "backend $id did not start"; }
  track "$worker"
  backend_pids+=("$master" "$worker")
  wait_http "http://127.0.0.1:$port/small" "$master" || { cat "$work/backend-$id.err" >&2; die "backend $id does not answer"; }
}

# start_proxy NAME: sets proxy_pid (the process measured), proxy_pids (all of it)
proxy_pid=""
proxy_pids=()
start_proxy() {
  local name=$1 port=${proxy_port[$1]} master worker
  proxy_pid=""
  proxy_pids=()
  case $name in
    keel)
      "${pin_proxy[@]}" "$keel_bin" --config "$work/keel.yaml" >> "$work/keel.out" 2>> "$work/keel.err" &
      master=$!; track "$master"; proxy_pid=$master; proxy_pids=("$master") ;;
    nginx)
      "${pin_proxy[@]}" nginx -p "$work" -e "$work/nginx.err" -c "$work/nginx.conf" >> "$work/nginx.out" 2>&1 &
      master=$!; track "$master"; proxy_pids=("$master")
      worker=$(nginx_worker "$master") || return 1
      track "$worker"; proxy_pids+=("$worker"); proxy_pid=$worker ;;
    haproxy)
      "${pin_proxy[@]}" haproxy -db -f "$work/haproxy.cfg" >> "$work/haproxy.out" 2>&1 &
      master=$!; track "$master"; proxy_pid=$master; proxy_pids=("$master") ;;
  esac
  wait_http "http://127.0.0.1:$port/small" "$master"
}
stop_proxy() { [ ${#proxy_pids[@]} -gt 0 ] && stop_pid "${proxy_pids[@]}"; proxy_pids=(); proxy_pid=""; }

proxy_log_tail() {
  local f
  for f in "$work/$1.err" "$work/$1.out"; do
    [ -s "$f" ] && { echo "--- tail of $1's ${f##*.}:"; tail -n 20 "$f"; }
  done
  return 0
}

# check_proxy PORT: round-robin over both backends, X-Forwarded-For added, both bodies intact
check_proxy() {
  local port=$1 ids="" body i out
  for ((i = 0; i < 4; i++)); do
    body=$(curl -s --max-time 2 "http://127.0.0.1:$port/check") || { echo "GET /check failed"; return 1; }
    [[ $body == *"xff=127.0.0.1"* ]] || { echo "X-Forwarded-For not added (backend saw: '$body')"; return 1; }
    ids+=" ${body%% *}"
  done
  [[ $ids == *b1* && $ids == *b2* ]] || { echo "not round-robin over both backends (saw:$ids)"; return 1; }
  out=$(curl -s --max-time 2 "http://127.0.0.1:$port/small")
  [ "$out" = "Hello, World!" ] || { echo "GET /small returned '$out'"; return 1; }
  out=$(curl -s --max-time 2 -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$port/16k")
  [ "$out" = "200 16384" ] || { echo "GET /16k returned status and size '$out'"; return 1; }
  return 0
}

# run_wrk OUT CONNS SECONDS URL [ARGS...]: bounded wrk on the load CPU
run_wrk() {
  local out=$1 conns=$2 secs=$3 url=$4
  shift 4
  local pid rc
  # in the background and waited for, so that a signal to this script is acted on at once
  timeout -k 2 $((secs + 20)) "${pin_load[@]}" wrk -t1 -c"$conns" -d"${secs}s" --timeout 5s --latency "$@" "$url" > "$out" 2>&1 &
  pid=$!
  track "$pid"
  wait "$pid"
  rc=$?
  untrack "$pid"
  return "$rc"
}
# parse_wrk FILE: prints "rps p50_ms p99_ms requests errors"
parse_wrk() {
  awk '
    function ms(v) { if (v ~ /us$/) return (v + 0) / 1000; if (v ~ /ms$/) return v + 0;
                     if (v ~ /m$/) return (v + 0) * 60000; if (v ~ /s$/) return (v + 0) * 1000; return -1 }
    /^Requests\/sec:/ { rps = $2 }
    /^ +50%/ { p50 = ms($2) }
    /^ +99%/ { p99 = ms($2) }
    / requests in / { reqs = $1 }
    /Socket errors:/ { gsub(",", ""); errs += $4 + $6 + $8 + $10 }
    /Non-2xx or 3xx responses:/ { errs += $5 }
    END { if (rps == "") { rps = 0; p50 = -1; p99 = -1; reqs = 0 }
          printf "%s %s %s %s %d\n", rps, p50, p99, reqs, errs }' "$1"
}

record() { printf '%s\n' "$(IFS=$'\t'; echo "$*")" >> "$work/results.tsv"; }
# columns: rep scenario target rps p50 p99 cpu_s hwm_kib requests errors rss0_kib rss1_kib bytes_per_conn status

declare -A scen_conns=([a]=64 [b]=256 [c]=64 [d]=32)
declare -A scen_path=([a]=/small [b]=/small [c]=/16k [d]=/small)
problems=()

# measure_load REP SCEN TARGET (TARGET direct = wrk straight to backend b1)
measure_load() {
  local rep=$1 scen=$2 target=$3 url port extra=() cpu0 cpu1 hwm rc status=ok
  local conns=${scen_conns[$scen]} rps p50 p99 reqs errs cpu="" out="$work/wrk-$target-$scen.txt"
  [ "$scen" = d ] && extra=(-H "Connection: close")
  if [ "$target" = direct ]; then
    url="http://127.0.0.1:$b1_port${scen_path[$scen]}"
  else
    port=${proxy_port[$target]}
    url="http://127.0.0.1:$port${scen_path[$scen]}"
    if ! start_proxy "$target"; then
      problems+=("rep $rep, $scen, $target: did not start")
      note "[rep $rep/$reps] $scen $target: DID NOT START"; proxy_log_tail "$target" >&2
      record "$rep" "$scen" "$target" 0 -1 -1 "" 0 0 0 "" "" "" failed-start
      stop_proxy; return
    fi
  fi
  [ "$warmup" -gt 0 ] && run_wrk /dev/null "$conns" "$warmup" "$url" "${extra[@]}"
  [ -n "$proxy_pid" ] && [ "$target" != direct ] && cpu0=$(cpu_ticks "$proxy_pid")
  run_wrk "$out" "$conns" "$duration" "$url" "${extra[@]}"
  rc=$?
  read -r rps p50 p99 reqs errs < <(parse_wrk "$out")
  hwm=""
  if [ "$target" != direct ]; then
    cpu1=$(cpu_ticks "$proxy_pid")
    cpu=$(awk -v a="$cpu0" -v b="$cpu1" -v t="$clk_tck" 'BEGIN { printf "%.2f", (b - a) / t }')
    hwm=$(status_kib "$proxy_pid" VmHWM)
    if ! alive "$proxy_pid"; then
      status=crashed
      local how=""
      if [ "$target" != nginx ]; then wait "$proxy_pid" 2>/dev/null; how=" (exit status $?)"; fi
      problems+=("rep $rep, $scen, $target: the proxy process died during the run$how; wrk: $reqs requests, $errs errors; not counted in the table")
      proxy_log_tail "$target" >&2
    fi
  fi
  if [ "$status" = ok ] && { [ "$rc" -ne 0 ] || [ "$errs" -gt 0 ] || [ "$reqs" = 0 ]; }; then
    status=errors
    problems+=("rep $rep, $scen, $target: wrk exit $rc, $errs errors, $reqs requests: $(grep -E 'Socket errors|Non-2xx' "$out" | tr -s ' ' | tr '\n' ';')")
  fi
  record "$rep" "$scen" "$target" "$rps" "$p50" "$p99" "$cpu" "$hwm" "$reqs" "$errs" "" "" "" "$status"
  note "$(printf '[rep %d/%d] %s %-7s %9s req/s  p50 %6s ms  p99 %6s ms  cpu %5s s  peak %6s KiB  %s' \
    "$rep" "$reps" "$scen" "$target" "$rps" "$p50" "$p99" "${cpu:--}" "${hwm:--}" "$status")"
  [ "$target" != direct ] && stop_proxy
}

# measure_idle REP TARGET: scenario e
measure_idle() {
  local rep=$1 target=$2 port=${proxy_port[$2]} helper rss0 rss1 hwm cpu0 cpu1 cpu i ok=0 failed=0 bpc status=ok
  if ! start_proxy "$target"; then
    problems+=("rep $rep, e, $target: did not start")
    record "$rep" e "$target" "" "" "" "" "" "" "" "" "" "" failed-start
    stop_proxy; return
  fi
  run_wrk /dev/null 4 1 "http://127.0.0.1:$port/small"   # a few upstream connections exist
  sleep 0.3
  rss0=$(status_kib "$proxy_pid" VmRSS)
  cpu0=$(cpu_ticks "$proxy_pid")
  rm -f "$work/idle.ready"
  "${pin_load[@]}" python3 "$here/idle_conns.py" 127.0.0.1 "$port" "$idle" --path /small \
    --ready-file "$work/idle.ready" --open-timeout 30 --hold 90 > "$work/idle.out" 2>&1 &
  helper=$!
  track "$helper"
  for ((i = 0; i < 800; i++)); do   # at most 40 s
    [ -f "$work/idle.ready" ] && break
    alive "$helper" || break
    sleep 0.05
  done
  if [ -f "$work/idle.ready" ]; then
    read -r ok failed < "$work/idle.ready"
    sleep 0.5
  else
    failed=$idle
  fi
  rss1=$(status_kib "$proxy_pid" VmRSS)
  hwm=$(status_kib "$proxy_pid" VmHWM)
  cpu1=$(cpu_ticks "$proxy_pid")
  cpu=$(awk -v a="$cpu0" -v b="$cpu1" -v t="$clk_tck" 'BEGIN { printf "%.2f", (b - a) / t }')
  if ! alive "$proxy_pid"; then
    status=crashed
    problems+=("rep $rep, e, $target: the proxy process died while holding the idle connections; not counted in the table")
    proxy_log_tail "$target" >&2
  fi
  stop_pid "$helper"
  if [ "$status" = ok ] && [ "$failed" -gt 0 ]; then
    status=errors
    problems+=("rep $rep, e, $target: $failed of $idle idle connections failed ($(tail -n 3 "$work/idle.out" | tr '\n' ' '))")
  fi
  bpc=$(awk -v a="$rss0" -v b="$rss1" -v n="$ok" 'BEGIN { if (n > 0) printf "%.0f", (b - a) * 1024 / n; else print "" }')
  record "$rep" e "$target" "" "" "" "$cpu" "$hwm" "$ok" "$failed" "$rss0" "$rss1" "$bpc" "$status"
  note "$(printf '[rep %d/%d] e %-7s RSS %s -> %s KiB, %s B/conn, %s ok, %s failed, cpu %s s, peak %s KiB  %s' \
    "$rep" "$reps" "$target" "$rss0" "$rss1" "$bpc" "$ok" "$failed" "$cpu" "$hwm" "$status")"
  stop_proxy
}

# ---------------------------------------------------------------- run
start_backend b1 "$b1_port"
start_backend b2 "$b2_port"

keel_version=$("$keel_bin" --version 2>&1 | head -n1)

if [ "$quick" -eq 1 ]; then
  started=$(date +%s.%N)
  start_proxy keel || { proxy_log_tail keel >&2; die "quick: keel did not start or does not answer"; }
  why=$(check_proxy "${proxy_port[keel]}") || { proxy_log_tail keel >&2; die "quick: keel does not proxy correctly: $why"; }
  run_wrk "$work/wrk-quick.txt" 16 2 "http://127.0.0.1:${proxy_port[keel]}/small"
  rc=$?
  read -r rps p50 p99 reqs errs < <(parse_wrk "$work/wrk-quick.txt")
  alive "$proxy_pid" || { proxy_log_tail keel >&2; die "quick: keel died under load"; }
  stop_proxy
  if [ "$rc" -ne 0 ] || [ "$errs" -gt 0 ] || [ "$reqs" = 0 ]; then
    cat "$work/wrk-quick.txt" >&2
    die "quick: wrk exit $rc, $errs errors, $reqs requests"
  fi
  elapsed=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
  echo "quick: OK: $keel_version proxied $reqs requests (round-robin, X-Forwarded-For, bodies checked), $rps req/s, p99 $p99 ms, 0 errors, ${elapsed} s"
  exit 0
fi

if [ "$scaling" -eq 1 ]; then
  # Nothing pinned: keel's workers, wrk and the backends share both CPUs, as on a
  # machine where the proxy is not alone.
  pin_load=()
  pin_proxy=()
  cp "$work/keel.yaml" "$work/keel-1.yaml"
  sed 's/^workers: 1$/workers: 2/' "$work/keel-1.yaml" > "$work/keel-2.yaml"
  declare -A scaled=()
  for ((rep = 1; rep <= reps; rep++)); do
    for n in 1 2; do
      cp "$work/keel-$n.yaml" "$work/keel.yaml"
      start_proxy keel || { proxy_log_tail keel >&2; die "scaling: keel ($n workers) did not start"; }
      [ "$warmup" -gt 0 ] && run_wrk /dev/null 64 "$warmup" "http://127.0.0.1:${proxy_port[keel]}/small" -t2
      run_wrk "$work/wrk-scale.txt" 64 "$duration" "http://127.0.0.1:${proxy_port[keel]}/small" -t2
      read -r rps p50 p99 reqs errs < <(parse_wrk "$work/wrk-scale.txt")
      stop_proxy
      [ "$errs" = 0 ] || problems+=("scaling rep $rep, $n workers: $errs errors")
      scaled[$n]+="$rps "
      note "[rep $rep/$reps] scaling: workers $n: $rps req/s, p99 $p99 ms, $errs errors"
    done
  done
  echo "| keel workers (unpinned, wrk -t2 -c64, 13 B) | req/s per repetition | median |"
  echo "|---|---|---|"
  for n in 1 2; do
    median=$(tr ' ' '\n' <<< "${scaled[$n]}" | grep -v '^$' | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
    echo "| $n | ${scaled[$n]}| $median |"
  done
  [ ${#problems[@]} -eq 0 ] || { printf '%s\n' "${problems[@]}" >&2; exit 2; }
  exit 0
fi

nginx_version=$(nginx -v 2>&1 | head -n1)
haproxy_version=$(haproxy -v 2>/dev/null | head -n1 | sed 's/ - https.*//')
wrk_version=$(wrk -v 2>&1 | head -n1 | sed 's/ Copyright.*//')
cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)

for target in keel nginx haproxy; do
  start_proxy "$target" || { proxy_log_tail "$target" >&2; die "$target did not start or does not answer"; }
  why=$(check_proxy "${proxy_port[$target]}") || { proxy_log_tail "$target" >&2; die "$target does not proxy correctly: $why"; }
  stop_proxy
done
note "all three proxies balance over both backends and add X-Forwarded-For; $reps repetitions follow (about $(( (reps * (16 * (duration + warmup) + 15) + 59) / 60 )) min)"

run_started=$(date -u '+%Y-%m-%d %H:%M UTC')
for ((rep = 1; rep <= reps; rep++)); do
  for scen in a b c d; do
    wants "$scen" || continue
    for target in direct keel nginx haproxy; do measure_load "$rep" "$scen" "$target"; done
  done
  wants e && for target in keel nginx haproxy; do measure_idle "$rep" "$target"; done
done

# ---------------------------------------------------------------- report
echo
echo "## keel vs nginx vs HAProxy ($run_started)"
echo
echo "- machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}, Linux $(uname -r)"
echo "- versions: $keel_version; $nginx_version; $haproxy_version; $wrk_version"
echo "- pinning: $pinning"
echo "- $reps repetitions, interleaved (direct, keel, nginx, HAProxy per scenario); ${duration} s per wrk run after ${warmup} s warm-up; wrk -t1; each proxy started fresh per measurement, one worker"
echo "- cells: median (min–max) over repetitions; proxy CPU = CPU seconds the proxy used during the measured run (µs per request in brackets); peak RSS = VmHWM; nginx figures are its worker process"
echo "- direct = wrk straight to one backend, both on the load CPU: the ceiling of the load side in a-c; in d it is not a ceiling (there the backend itself accepts every new connection on the load CPU, while behind a proxy it keeps upstream connections alive)"
echo "- keel ÷ best: within each repetition, keel's req/s ÷ the higher of nginx and HAProxy, and keel's p99 ÷ the lower (e: bytes per idle connection ÷ the lower); median (min–max)"
echo
python3 - "$work/results.tsv" "$idle" <<'PY'
import statistics, sys
from collections import defaultdict

rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
idle = int(sys.argv[2])
keys = ["rep", "scen", "target", "rps", "p50", "p99", "cpu", "hwm", "reqs", "errs", "rss0", "rss1", "bpc", "status"]
data = defaultdict(lambda: defaultdict(dict))  # (scen, target) -> rep -> fields
for r in rows:
    d = dict(zip(keys, r))
    if d["status"] in ("failed-start", "crashed"):
        continue
    data[(d["scen"], d["target"])][d["rep"]] = d

def num(v):
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if x < 0 else x

def series(scen, target, field):
    return [x for x in (num(d.get(field)) for d in data[(scen, target)].values()) if x is not None]

def cell(values, fmt):
    if not values:
        return "—"
    m = statistics.median(values)
    if len(values) == 1:
        return fmt(m)
    return f"{fmt(m)} ({fmt(min(values))}–{fmt(max(values))})"

f_int = lambda x: f"{x:,.0f}"
f_ms = lambda x: f"{x:.2f}"
f_cpu = lambda x: f"{x:.2f}"
f_mib = lambda x: f"{x / 1024:.1f}"
f_ratio = lambda x: f"{x:.2f}×"

def paired(scen, field, better):
    """keel / best anchor per repetition; better = max or min."""
    out = []
    for rep, k in data[(scen, "keel")].items():
        kv = num(k.get(field))
        anchors = [num(data[(scen, t)].get(rep, {}).get(field)) for t in ("nginx", "haproxy")]
        anchors = [a for a in anchors if a is not None and a > 0]
        if kv is None or not anchors:
            continue
        out.append(kv / better(anchors))
    return out

names = {"direct": "direct (ceiling)", "keel": "**keel**", "nginx": "nginx", "haproxy": "HAProxy"}
labels = {"a": "a: 13 B body, -c64", "b": "b: 13 B body, -c256", "c": "c: 16 KiB body, -c64",
          "d": "d: Connection: close, -c32", "e": f"e: {idle:,} idle keep-alive conns"}
print("| scenario | proxy | req/s | p50 ms | p99 ms | proxy CPU s (µs/req) | peak RSS MiB | idle: RSS before → after MiB, B/conn | keel ÷ best of nginx, HAProxy |")
print("|---|---|---|---|---|---|---|---|---|")
for scen in "abcde":
    for target in ("direct", "keel", "nginx", "haproxy"):
        if not data[(scen, target)]:
            continue
        if scen == "e":
            cpu = cell(series(scen, target, "cpu"), f_cpu)
            idle_cell = (f"{cell(series(scen, target, 'rss0'), f_mib)} → {cell(series(scen, target, 'rss1'), f_mib)}, "
                         f"{cell(series(scen, target, 'bpc'), f_int)} B")
            ratio = ""
            if target == "keel":
                ratio = "B/conn " + cell(paired("e", "bpc", min), f_ratio)
            print(f"| {labels[scen]} | {names[target]} | — | — | — | {cpu} | "
                  f"{cell(series(scen, target, 'hwm'), f_mib)} | {idle_cell} | {ratio} |")
            continue
        if target == "direct":
            cpu, hwm = "—", "—"
        else:
            per_req = [float(d["cpu"]) * 1e6 / float(d["reqs"]) for d in data[(scen, target)].values()
                       if num(d.get("cpu")) is not None and num(d.get("reqs"))]
            cpu = f"{cell(series(scen, target, 'cpu'), f_cpu)} ({cell(per_req, lambda x: f'{x:.1f}')})"
            hwm = cell(series(scen, target, "hwm"), f_mib)
        ratio = ""
        if target == "keel":
            ratio = f"req/s {cell(paired(scen, 'rps', max), f_ratio)}; p99 {cell(paired(scen, 'p99', min), f_ratio)}"
        print(f"| {labels[scen]} | {names[target]} | {cell(series(scen, target, 'rps'), f_int)} | "
              f"{cell(series(scen, target, 'p50'), f_ms)} | {cell(series(scen, target, 'p99'), f_ms)} | "
              f"{cpu} | {hwm} | | {ratio} |")
PY
echo
if [ ${#problems[@]} -eq 0 ]; then
  echo "Errors: none (every wrk run: 0 socket errors, 0 non-2xx; every idle connection answered; no proxy died)."
  exit 0
fi
echo "Problems (runs with errors are still in the table; runs that did not start or whose proxy died are not):"
for p in "${problems[@]}"; do echo "- $p"; done
exit 2

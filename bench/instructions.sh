#!/usr/bin/env bash
# Instructions per proxied request (issue #4): the proxy runs under valgrind's callgrind
# in front of two nginx backends (bench/backend-nginx.conf, the same ones compare.sh
# uses); after a warm-up the counters are zeroed, wrk sends load, and the user-space
# instructions the proxy executed are divided by the requests wrk completed. Unlike req/s
# on this shared machine, the count repeats within a few percent, so it is what
# optimisations of the hot path are judged by (before/after), and it compares keel with
# nginx and HAProxy doing the same work (bench/keel.yaml, nginx.conf, haproxy.cfg; nginx
# in one process). Kernel work (syscalls) is not in it: count those with strace -c.
#
# Usage: bench/instructions.sh [--proxy keel|nginx|haproxy|all] [--keel PATH]
#                              [--seconds S] [--port-base P]
#   --proxy P      which proxy to measure (default keel)
#   --keel PATH    keel binary (default build/keel)
#   --seconds S    seconds of measured load per scenario (default 10)
#   --port-base P  ports P+1, P+2 (backends), P+10 (keel); default 19180
# Scenarios: a 13-byte body over 16 keep-alive connections; c 16 KiB body, 16
# connections; d 'Connection: close', 8 connections. Prints one line per scenario.
# Everything listens on 127.0.0.1; every process is stopped by PID; the work
# directory is removed at the end (kept, for callgrind_annotate, with
# KEEL_INSTR_KEEP=1).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
keel_bin="$root/build/keel"
seconds=10
port_base=19180
proxies="keel"

die() { echo "instructions.sh: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case $1 in
    --proxy) proxies=${2:-}; shift 2 || die "--proxy needs a value" ;;
    --keel) keel_bin=${2:-}; shift 2 || die "--keel needs a value" ;;
    --seconds) seconds=${2:-}; shift 2 || die "--seconds needs a value" ;;
    --port-base) port_base=${2:-}; shift 2 || die "--port-base needs a value" ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1'" ;;
  esac
done
[[ $seconds =~ ^[0-9]+$ ]] && [ "$seconds" -ge 1 ] && [ "$seconds" -le 300 ] || die "--seconds must be 1..300"
[[ $port_base =~ ^[0-9]+$ ]] && [ "$port_base" -ge 1024 ] && [ "$port_base" -le 65000 ] || die "bad --port-base"
case $proxies in
  keel|nginx|haproxy) ;;
  all) proxies="keel nginx haproxy" ;;
  *) die "--proxy must be keel, nginx, haproxy or all" ;;
esac
[[ " $proxies " != *" keel "* ]] || [ -x "$keel_bin" ] || die "no keel binary at $keel_bin (build first)"
[[ " $proxies " != *" haproxy "* ]] || command -v haproxy >/dev/null || die "'haproxy' is not installed"
for tool in valgrind callgrind_control callgrind_annotate wrk nginx curl; do
  command -v "$tool" >/dev/null || die "'$tool' is not installed (Debian: apt-get install valgrind wrk nginx-light curl)"
done

b1=$((port_base + 1)); b2=$((port_base + 2)); kp=$((port_base + 10))
work=$(mktemp -d "${TMPDIR:-/tmp}/keel-instr.XXXXXX") || die "mktemp failed"
mkdir -p "$work/tmp" "$work/www"
head -c 16384 /dev/zero | tr '\0' 'x' > "$work/www/16k"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do timeout 10 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null; done
  if [ -n "${KEEL_INSTR_KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT

user_line=""
[ "$(id -u)" -eq 0 ] && user_line="user root;"
render() {  # render TEMPLATE OUT ID PORT
  sed -e "s|@WORK@|$work|g" -e "s|@B1@|$b1|g" -e "s|@B2@|$b2|g" -e "s|@USER@|$user_line|g" \
      -e "s|@ID@|$3|g" -e "s|@PORT@|$4|g" "$1" > "$2"
}
render "$here/backend-nginx.conf" "$work/b1.conf" b1 "$b1"
render "$here/backend-nginx.conf" "$work/b2.conf" b2 "$b2"
render "$here/keel.yaml" "$work/keel.yaml" "" "$kp"
render "$here/nginx.conf" "$work/nginx.conf" "" "$kp"
sed -i 's/^master_process on;/master_process off;/' "$work/nginx.conf"  # one process to count
render "$here/haproxy.cfg" "$work/haproxy.cfg" "" "$kp"

wait_ok() {  # wait_ok URL: up to 60 s (keel starts slowly under valgrind)
  for _ in $(seq 600); do
    [ "$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "$1")" = 200 ] && return 0
    sleep 0.1
  done
  return 1
}

for id in b1 b2; do
  nginx -c "$work/$id.conf" -e "$work/$id.err" & pids+=($!)
done
wait_ok "http://127.0.0.1:$b1/small" && wait_ok "http://127.0.0.1:$b2/small" || die "backends did not start"

total_ir() {  # the Ir total of the newest dump
  local file
  file=$(ls -t "$work"/callgrind.out* | head -n1)
  callgrind_annotate "$file" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}'
}

measure() {  # measure NAME CONNS PATH [wrk args...]
  local name=$1 conns=$2 path=$3; shift 3
  wrk -t1 -c"$conns" -d2s "$@" "http://127.0.0.1:$kp$path" > /dev/null 2>&1   # warm-up
  callgrind_control -z "$proxy_pid" > /dev/null 2>&1
  wrk -t1 -c"$conns" -d"${seconds}s" "$@" "http://127.0.0.1:$kp$path" > "$work/wrk.out" 2>&1
  callgrind_control -d "$name" "$proxy_pid" > /dev/null 2>&1
  local requests ir
  requests=$(awk '/requests in/ {print $1; exit}' "$work/wrk.out")
  ir=$(total_ir)
  if grep -qE 'Socket errors|Non-2xx' "$work/wrk.out"; then
    echo "$name: wrk reported errors: $(grep -E 'Socket errors|Non-2xx' "$work/wrk.out" | tr -s ' ')" >&2
  fi
  [ -n "$requests" ] && [ "$requests" -gt 0 ] || die "$name: wrk completed no request"
  printf '%-8s %s: %s requests, %s instructions, %d instructions/request\n' \
    "$proxy" "$name" "$requests" "$ir" $((ir / requests))
}

for proxy in $proxies; do
  rm -f "$work"/callgrind.out*
  case $proxy in
    keel) command=("$keel_bin" --config "$work/keel.yaml") ;;
    nginx) command=(nginx -p "$work" -e "$work/nginx.err" -c "$work/nginx.conf") ;;
    haproxy) command=(haproxy -db -f "$work/haproxy.cfg") ;;
  esac
  valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" --dump-instr=no \
    "${command[@]}" > "$work/$proxy.log" 2>&1 &
  proxy_pid=$!
  pids+=("$proxy_pid")
  wait_ok "http://127.0.0.1:$kp/small" || { cat "$work/$proxy.log" >&2; die "$proxy did not start"; }
  measure "a-small-keepalive" 16 /small
  measure "c-16k-keepalive" 16 /16k
  measure "d-connection-close" 8 /small -H 'Connection: close'
  kill -TERM "$proxy_pid" 2>/dev/null
  timeout 20 tail --pid="$proxy_pid" -f /dev/null 2>/dev/null || kill -KILL "$proxy_pid" 2>/dev/null
  if [ -n "${KEEL_INSTR_KEEP:-}" ]; then mkdir -p "$work/$proxy" && mv "$work"/callgrind.out* "$work/$proxy/"; fi
done

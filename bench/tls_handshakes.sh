#!/usr/bin/env bash
# Full TLS handshakes per second (issue #6): keel and nginx terminating TLS with
# the same certificate, in front of the same backend, measured in one run,
# interleaved (keel nginx keel nginx ...).
#
# Usage: bench/tls_handshakes.sh [--reps N] [--duration S] [--clients N] [--key ec|rsa]
#                                [--keel PATH] [--port-base P]
#   --reps N       repetitions (default 3)
#   --duration S   seconds per measurement (default 5)
#   --clients N    parallel `openssl s_time` processes (default 2)
#   --key ec|rsa   certificate key: ECDSA P-256 (default) or RSA 2048
#   --keel PATH    keel binary (default build/keel)
#   --port-base P  backend P+1, keel P+10, nginx P+11 (default 24180)
#
# Load: `openssl s_time -new -www /` opens a new connection per request, does a
# full handshake (TLS 1.3, no resumption), sends "GET / HTTP/1.0" and reads the
# answer, which the proxy fetched from a keel-echo backend. The clients and the
# backend share one CPU, the proxy under test (one worker) gets the other
# (taskset). Reported per proxy: handshakes per second (connections completed /
# wall time, all clients) and handshakes per proxy CPU second (from
# /proc/PID/stat; for nginx its worker), which stays meaningful even when the
# clients, not the proxy, are the bottleneck. One self-signed certificate made in
# the work directory serves both. Everything listens on 127.0.0.1, lives in one
# mktemp directory removed at the end, and every process started is stopped by PID.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
reps=3
duration=5
clients=2
key=ec
keel_bin="$root/build/keel"
port_base=24180

die() { echo "tls_handshakes.sh: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case $1 in
    --reps) reps=${2:-}; shift 2 ;;
    --duration) duration=${2:-}; shift 2 ;;
    --clients) clients=${2:-}; shift 2 ;;
    --key) key=${2:-}; shift 2 ;;
    --keel) keel_bin=${2:-}; shift 2 ;;
    --port-base) port_base=${2:-}; shift 2 ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done
for n in "$reps" "$duration" "$clients" "$port_base"; do [[ $n =~ ^[0-9]+$ ]] || die "not a number: $n"; done
[ "$key" = ec ] || [ "$key" = rsa ] || die "--key is ec or rsa"
for tool in openssl nginx taskset curl; do command -v "$tool" > /dev/null || die "needs $tool"; done
[ -x "$keel_bin" ] || die "no keel binary at $keel_bin (build first)"
echo_bin="$(dirname "$keel_bin")/keel-echo"
[ -x "$echo_bin" ] || die "no keel-echo next to $keel_bin"

work=$(mktemp -d "${TMPDIR:-/tmp}/keel-tls-bench.XXXXXX") || die "mktemp failed"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

backend_port=$((port_base + 1))
keel_port=$((port_base + 10))
nginx_port=$((port_base + 11))

if [ "$key" = ec ]; then key_args=(-newkey ec -pkeyopt ec_paramgen_curve:P-256); else key_args=(-newkey rsa:2048); fi
openssl req -x509 "${key_args[@]}" -nodes -keyout "$work/server.key" -out "$work/server.crt" -days 2 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost 2> /dev/null || die "cannot make a certificate"

cpus=$(awk '/^Cpus_allowed_list:/ {print $2}' /proc/self/status)
first_cpu=${cpus%%[-,]*}
second_cpu=$(python3 -c "
import os; c=sorted(os.sched_getaffinity(0)); print(c[1] if len(c)>1 else c[0])" 2>/dev/null || echo "$first_cpu")
pin_load=(taskset -c "$first_cpu")
pin_proxy=(taskset -c "$second_cpu")

cat > "$work/keel.yaml" <<YAML
workers: 1
listeners:
  - address: 127.0.0.1:$keel_port
    tls: { certificate: $work/server.crt, private_key: $work/server.key }
timeouts:
  shutdown: 1s
pools:
  - name: bench
    backends:
      - { address: 127.0.0.1:$backend_port }
YAML
mkdir -p "$work/tmp"
user_line=""
if [ "$(id -u)" -eq 0 ]; then user_line="user root;"; fi
cat > "$work/nginx.conf" <<CONF
$user_line
worker_processes 1;
daemon off;
master_process on;
pid $work/nginx.pid;
error_log $work/nginx.err warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/tmp/body;
    proxy_temp_path $work/tmp/proxy;
    fastcgi_temp_path $work/tmp/fastcgi;
    uwsgi_temp_path $work/tmp/uwsgi;
    scgi_temp_path $work/tmp/scgi;
    upstream backends { server 127.0.0.1:$backend_port; keepalive 64; }
    server {
        listen 127.0.0.1:$nginx_port ssl;
        ssl_certificate $work/server.crt;
        ssl_certificate_key $work/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_tickets on;
        location / {
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
        }
    }
}
CONF

"${pin_load[@]}" "$echo_bin" --listen "127.0.0.1:$backend_port" > "$work/echo.log" 2>&1 &
pids+=($!)

wait_https() {  # wait_https PORT: up to 5 s
  for _ in $(seq 100); do
    curl -sk -o /dev/null --max-time 1 "https://127.0.0.1:$1/" && return 0
    sleep 0.05
  done
  return 1
}
cpu_ticks() {
  local stat fields
  stat=$(cat "/proc/$1/stat" 2> /dev/null) || { echo 0; return; }
  read -ra fields <<< "${stat##*) }"
  echo $((fields[11] + fields[12]))
}
tick_hz=$(getconf CLK_TCK)

# measure NAME PID PORT: prints "handshakes_per_s handshakes_per_cpu_s"
measure() {
  local port=$3 cpu0 cpu1 total=0 i
  cpu0=$(cpu_ticks "$2")
  local start end
  start=$(date +%s.%N)
  for ((i = 0; i < clients; i++)); do
    "${pin_load[@]}" timeout $((duration + 10)) openssl s_time -connect "127.0.0.1:$port" -new \
      -time "$duration" -www / > "$work/s_time.$i" 2>&1 &
  done
  wait_clients
  end=$(date +%s.%N)
  cpu1=$(cpu_ticks "$2")
  for ((i = 0; i < clients; i++)); do
    local n
    n=$(awk '/connections in [0-9.]+ real seconds/ {print $1; exit}' "$work/s_time.$i")
    [ -n "$n" ] || { echo "s_time failed against $1:" >&2; cat "$work/s_time.$i" >&2; echo "0 0"; return; }
    total=$((total + n))
  done
  awk -v n="$total" -v s="$start" -v e="$end" -v c0="$cpu0" -v c1="$cpu1" -v hz="$tick_hz" \
    'BEGIN { cpu = (c1 - c0) / hz; printf "%.0f %.0f\n", n / (e - s), (cpu > 0 ? n / cpu : 0) }'
}
wait_clients() {
  local job
  for job in $(jobs -p); do
    case " ${pids[*]} " in *" $job "*) continue ;; esac
    wait "$job"
  done
}

start_keel() {
  "${pin_proxy[@]}" "$keel_bin" --config "$work/keel.yaml" > "$work/keel.log" 2>&1 &
  keel_pid=$!
  pids+=("$keel_pid")
  wait_https "$keel_port" || { cat "$work/keel.log" >&2; die "keel did not start"; }
}
stop_pid() { kill "$1" 2> /dev/null; for _ in $(seq 50); do kill -0 "$1" 2> /dev/null || return 0; sleep 0.1; done; kill -9 "$1"; }
start_nginx() {
  "${pin_proxy[@]}" nginx -c "$work/nginx.conf" -p "$work" > "$work/nginx.out" 2>&1 &
  nginx_pid=$!
  pids+=("$nginx_pid")
  wait_https "$nginx_port" || { cat "$work/nginx.err" >&2; die "nginx did not start"; }
  nginx_worker=""
  for _ in $(seq 100); do
    nginx_worker=$(pgrep -P "$nginx_pid" | head -n1)
    [ -n "$nginx_worker" ] && break
    sleep 0.05
  done
}

echo "TLS full handshakes, $key key, $clients s_time clients x ${duration}s, $reps reps; load on CPU $first_cpu, proxy on CPU $second_cpu"
printf '%-5s %-6s %14s %18s\n' rep proxy handshakes/s handshakes/cpu-s
declare -A sum_rate sum_cpu
for ((rep = 1; rep <= reps; rep++)); do
  start_keel
  read -r rate per_cpu < <(measure keel "$keel_pid" "$keel_port")
  stop_pid "$keel_pid"
  printf '%-5s %-6s %14s %18s\n' "$rep" keel "$rate" "$per_cpu"
  sum_rate[keel]=$(( ${sum_rate[keel]:-0} + rate )); sum_cpu[keel]=$(( ${sum_cpu[keel]:-0} + per_cpu ))
  start_nginx
  read -r rate per_cpu < <(measure nginx "$nginx_worker" "$nginx_port")
  stop_pid "$nginx_pid"
  printf '%-5s %-6s %14s %18s\n' "$rep" nginx "$rate" "$per_cpu"
  sum_rate[nginx]=$(( ${sum_rate[nginx]:-0} + rate )); sum_cpu[nginx]=$(( ${sum_cpu[nginx]:-0} + per_cpu ))
done
for proxy in keel nginx; do
  printf 'mean  %-6s %14s %18s\n' "$proxy" $(( sum_rate[$proxy] / reps )) $(( sum_cpu[$proxy] / reps ))
done
awk -v k="${sum_rate[keel]}" -v n="${sum_rate[nginx]}" -v kc="${sum_cpu[keel]}" -v nc="${sum_cpu[nginx]}" \
  'BEGIN { if (n > 0 && nc > 0) printf "keel/nginx: %.2f (handshakes/s), %.2f (per CPU second)\n", k / n, kc / nc }'

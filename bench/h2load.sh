#!/usr/bin/env bash
# HTTP/2 benchmark (issue #12): h2load against keel, nginx (listen ... http2) and HAProxy
# (proto h2) in one run, each a one-worker reverse proxy in front of the same two
# nginx backends (HTTP/1.1, keep-alive), over h2c (prior knowledge) and TLS (ALPN h2),
# with -c64 -m10 and -c256 -m1. Prints one markdown table: requests/s and the
# proxy's CPU time per request (utime+stime of the measured run, /proc/PID/stat).
#
# Usage: bench/h2load.sh [--requests N] [--keel PATH] [--port-base P] [--quick]
#   --requests N   requests per measurement (default 200000)
#   --keel PATH    keel binary (default build/keel)
#   --port-base P  backends on P+1, P+2; proxies on P+10.. (default 19180)
#   --quick        smoke test for CI: keel over h2c only, 5000 requests; exits 1 if
#                  h2load reports a failed or errored request
#
# Everything listens on 127.0.0.1; every file is in one mktemp directory removed at
# the end; every process started is stopped by its PID (also on failure or Ctrl-C).
# Needs: h2load (nghttp2-client), nginx, haproxy (not for --quick), openssl, curl.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
requests=200000
quick=0
keel_bin="$root/build/keel"
port_base=${KEEL_BENCH_PORT_BASE:-19180}

die() { echo "h2load.sh: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case $1 in
    --requests) requests=${2:-}; shift 2 || die "--requests needs a value" ;;
    --keel) keel_bin=${2:-}; shift 2 || die "--keel needs a value" ;;
    --port-base) port_base=${2:-}; shift 2 || die "--port-base needs a value" ;;
    --quick) quick=1; requests=5000; shift ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (try --help)" ;;
  esac
done
[[ $requests =~ ^[0-9]+$ && $port_base =~ ^[0-9]+$ ]] || die "--requests and --port-base take integers"
[ -x "$keel_bin" ] || die "no keel binary at $keel_bin (build it, or pass --keel)"
needed=(h2load nginx curl openssl)
[ $quick = 1 ] || needed+=(haproxy)
for tool in "${needed[@]}"; do command -v "$tool" >/dev/null || die "$tool not found"; done

work=$(mktemp -d /tmp/keel-h2load.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$work/tmp"

b1=$((port_base + 1)); b2=$((port_base + 2))
# Two CPUs or more: load side (h2load, backends) on the first, the proxy on the
# second, so that the proxy is the bottleneck and its CPU per request compares.
pin_load=(); pin_proxy=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then pin_load=(taskset -c 0); pin_proxy=(taskset -c 1); fi
user_line=""; [ "$(id -u)" = 0 ] && user_line="user root;"

wait_port() {  # wait_port PORT: up to 5 s for a TCP listener
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null; }

# Two backends: nginx answering 13 bytes.
cat >"$work/backend.conf" <<CONF
$user_line
worker_processes 1; daemon off; master_process off; pid $work/backend.pid; error_log $work/backend.err warn;
events { worker_connections 4096; }
http {
  access_log off; keepalive_requests 1000000;
  client_body_temp_path $work/tmp/b-body; proxy_temp_path $work/tmp/b-proxy; fastcgi_temp_path $work/tmp/b-f;
  uwsgi_temp_path $work/tmp/b-u; scgi_temp_path $work/tmp/b-s;
  server { listen 127.0.0.1:$b1; listen 127.0.0.1:$b2; location / { return 200 "hello, world\n"; } }
}
CONF
"${pin_load[@]}" nginx -c "$work/backend.conf" -e "$work/backend.err" & pids+=($!)
wait_port "$b1" || die "backend did not start: $(cat "$work/backend.err" 2>/dev/null)"

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" -days 1 \
  -subj /CN=localhost 2>/dev/null || die "openssl could not make a certificate"

start_keel() {  # start_keel PORT TLS(0|1)
  local tls=""
  [ "$2" = 1 ] && tls="    tls: { certificate: $work/cert.pem, private_key: $work/key.pem }"
  cat >"$work/keel-$1.yaml" <<CONF
workers: 1
listeners:
  - address: 127.0.0.1:$1
$tls
timeouts: { shutdown: 1s }
pools:
  - name: bench
    backends: [ { address: 127.0.0.1:$b1 }, { address: 127.0.0.1:$b2 } ]
CONF
  "${pin_proxy[@]}" "$keel_bin" --config "$work/keel-$1.yaml" >"$work/keel-$1.log" 2>&1 & pid=$!
}
start_nginx() {
  local ssl=""; [ "$2" = 1 ] && ssl="ssl"
  cat >"$work/nginx-$1.conf" <<CONF
$user_line
worker_processes 1; daemon off; master_process off; pid $work/nginx-$1.pid; error_log $work/nginx-$1.err warn;
events { worker_connections 4096; }
http {
  access_log off; keepalive_requests 1000000; http2_max_concurrent_streams 128;
  # Debian 12's nginx 1.22: "listen ... http2" (the "http2 on" directive came in 1.25.1).
  client_body_temp_path $work/tmp/n-body; proxy_temp_path $work/tmp/n-proxy; fastcgi_temp_path $work/tmp/n-f;
  uwsgi_temp_path $work/tmp/n-u; scgi_temp_path $work/tmp/n-s;
  upstream backends { server 127.0.0.1:$b1; server 127.0.0.1:$b2; keepalive 512; }
  server {
    listen 127.0.0.1:$1 $ssl http2;
    ssl_certificate $work/cert.pem; ssl_certificate_key $work/key.pem;
    location / {
      proxy_pass http://backends; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header Host \$host; proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme; proxy_set_header X-Forwarded-Host \$host;
      proxy_set_header Via "1.1 nginx";
    }
  }
}
CONF
  "${pin_proxy[@]}" nginx -c "$work/nginx-$1.conf" -e "$work/nginx-$1.err" & pid=$!
}
start_haproxy() {
  local bind="bind 127.0.0.1:$1 proto h2"
  if [ "$2" = 1 ]; then cat "$work/cert.pem" "$work/key.pem" >"$work/both.pem"; bind="bind 127.0.0.1:$1 ssl crt $work/both.pem alpn h2,http/1.1"; fi
  cat >"$work/haproxy-$1.cfg" <<CONF
global
  nbthread 1
  maxconn 9000
defaults
  mode http
  option http-keep-alive
  option forwardfor
  http-reuse always
  timeout connect 2s
  timeout client 60s
  timeout server 30s
frontend bench
  $bind
  http-request set-header X-Forwarded-Proto http
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  http-request add-header Via "1.1 haproxy"
  default_backend backends
backend backends
  balance roundrobin
  server b1 127.0.0.1:$b1
  server b2 127.0.0.1:$b2
CONF
  "${pin_proxy[@]}" haproxy -db -f "$work/haproxy-$1.cfg" >"$work/haproxy-$1.log" 2>&1 & pid=$!
}

# measure PROXY TLS CLIENTS STREAMS PORT: one fresh proxy, a short warm-up, one
# measured h2load run; prints "req/s cpu_us_per_request" or "failed".
measure() {
  local proxy=$1 tls=$2 clients=$3 streams=$4 port=$5 url
  "start_$proxy" "$port" "$tls"; pids+=("$pid")
  local proxy_pid=$pid
  wait_port "$port" || { echo "failed(start)"; return; }
  url="http://127.0.0.1:$port/"; [ "$tls" = 1 ] && url="https://127.0.0.1:$port/"
  "${pin_load[@]}" h2load -n 2000 -c "$clients" -m "$streams" "$url" >/dev/null 2>&1
  local before after out
  before=$(cpu_ticks "$proxy_pid")
  out=$("${pin_load[@]}" h2load -n "$requests" -c "$clients" -m "$streams" "$url" 2>&1)
  after=$(cpu_ticks "$proxy_pid")
  kill "$proxy_pid" 2>/dev/null; wait "$proxy_pid" 2>/dev/null
  local rps ok failed errored
  rps=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' <<<"$out")
  read -r ok failed errored < <(awk '/^requests:/ {print $8, $10, $12}' <<<"$out")
  if [ -z "$rps" ] || [ "${failed:-1}" != 0 ] || [ "${errored:-1}" != 0 ] || [ "${ok:-0}" != "$requests" ]; then
    echo "failed(ok=${ok:-?} failed=${failed:-?} errored=${errored:-?})"; return
  fi
  local hz; hz=$(getconf CLK_TCK)
  echo "$rps $(awk -v t=$((after - before)) -v hz="$hz" -v n="$requests" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')"
}

if [ $quick = 1 ]; then
  result=$(measure keel 0 16 10 $((port_base + 10)))
  echo "keel h2c -c16 -m10, $requests requests: $result"
  [[ $result == failed* ]] && exit 1
  exit 0
fi

echo "| transport | load | proxy | requests/s | proxy CPU µs/request |"
echo "| --- | --- | --- | ---: | ---: |"
port=$((port_base + 10))
status=0
for tls in 0 1; do
  transport=h2c; [ $tls = 1 ] && transport="h2 (TLS)"
  for load in "64 10" "256 1"; do
    set -- $load
    for proxy in keel nginx haproxy; do
      port=$((port + 1))
      result=$(measure "$proxy" "$tls" "$1" "$2" "$port")
      if [[ $result == failed* ]]; then
        echo "| $transport | -c$1 -m$2 | $proxy | $result | |"; status=2
      else
        read -r rps cpu <<<"$result"
        echo "| $transport | -c$1 -m$2 | $proxy | $rps | $cpu |"
      fi
    done
  done
done
exit $status

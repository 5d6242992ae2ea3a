#!/usr/bin/env bash
# Cluster mode's costs, on 127.0.0.1 only, with a real 3-member etcd started here:
#  1. per request: wrk through a plain keel and through a cluster-mode keel (same
#     config otherwise), alternated in pairs; prints each pair's req/s and the ratio;
#  2. a burst of admin changes (default 1000 adds through instance A): time until A
#     and B both have them all, and the etcd revisions the burst consumed.
# Usage: bench/cluster.sh [--quick] [CHANGES]; needs build/keel, build/keel-echo, wrk,
# python3, etcd-server and etcd-client.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=5s pairs=3
if [ "${1:-}" = "--quick" ]; then duration=2s pairs=1; shift; fi
changes="${1:-1000}"
for program in build/keel build/keel-echo /usr/bin/etcd /usr/bin/etcdctl; do
  [ -x "$program" ] || { echo "missing $program" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "missing wrk (scripts/install-deps wrk)" >&2; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# etcd: 3 members, data in $work.
cluster="" endpoints=""
declare -a client_ports peer_ports
for m in 0 1 2; do
  client_ports[$m]=$(free_port); peer_ports[$m]=$(free_port)
  cluster+="${cluster:+,}e$m=http://127.0.0.1:${peer_ports[$m]}"
  endpoints+="${endpoints:+, }http://127.0.0.1:${client_ports[$m]}"
done
for m in 0 1 2; do
  etcd --name "e$m" --data-dir "$work/e$m" \
    --listen-client-urls "http://127.0.0.1:${client_ports[$m]}" --advertise-client-urls "http://127.0.0.1:${client_ports[$m]}" \
    --listen-peer-urls "http://127.0.0.1:${peer_ports[$m]}" --initial-advertise-peer-urls "http://127.0.0.1:${peer_ports[$m]}" \
    --initial-cluster "$cluster" --initial-cluster-token keel-bench >"$work/e$m.log" 2>&1 &
  pids+=($!)
done
etcdctl() { ETCDCTL_API=3 command etcdctl --endpoints "127.0.0.1:${client_ports[0]}" --command-timeout 20s "$@"; }
etcdctl endpoint health >/dev/null
revision() { etcdctl endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["header"]["revision"])'; }

echo_port=$(free_port)
build/keel-echo --listen "127.0.0.1:$echo_port" --threads 1 >/dev/null 2>&1 &
pids+=($!)

start_keel() {  # $1 name, $2 cluster section (or empty); prints "traffic admin"
  cat > "$work/$1.yaml" <<YAML
workers: 1
listeners:
  - address: 127.0.0.1:0
admin:
  address: 127.0.0.1:0
pools:
  - name: app
    backends: [{address: 127.0.0.1:$echo_port}]
  - name: spare
    backends: []
routes:
  - {path_prefix: /, pool: app}
$2
YAML
  build/keel --config "$work/$1.yaml" >"$work/$1.out" 2>"$work/$1.err" &
  pids+=($!)
  for _ in $(seq 1 200); do
    if grep -q "^admin listening on" "$work/$1.out"; then break; fi
    sleep 0.05
  done
  echo "$(sed -n 's/^listening on //p' "$work/$1.out" | head -1) $(sed -n 's/^admin listening on //p' "$work/$1.out")"
}
cluster_section() { printf 'cluster:\n  instance: %s\n  etcd:\n    endpoints: [%s]\n' "$1" "$endpoints"; }

read -r plain_traffic _ < <(start_keel plain "")
read -r a_traffic a_admin < <(start_keel lb-a "$(cluster_section lb-a)")
read -r b_traffic b_admin < <(start_keel lb-b "$(cluster_section lb-b)")

echo "== per request: wrk -t1 -c32 -d$duration, plain keel vs cluster-mode keel, alternated"
rps() { wrk -t1 -c32 -d"$duration" "http://$1/" | awk '/Requests\/sec/ {print $2}'; }
for pair in $(seq 1 "$pairs"); do
  plain=$(rps "$plain_traffic"); clustered=$(rps "$a_traffic")
  python3 -c "import sys; p,c=float(sys.argv[1]),float(sys.argv[2]); print(f'pair $pair: plain {p:.0f} req/s, cluster {c:.0f} req/s, ratio {c/p:.3f}')" "$plain" "$clustered"
done

echo "== $changes admin changes through lb-a (adds to pool 'spare'), applied on lb-a and lb-b"
before=$(revision)
python3 - "$a_admin" "$b_admin" "$changes" <<'PY'
import http.client, json, sys, time
a, b, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
def connect(address):
    host, port = address.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=30)
def backends(connection):
    connection.request("GET", "/api/v1/pools/spare")
    response = connection.getresponse()
    return len(json.loads(response.read())["backends"])
ca, cb = connect(a), connect(b)
start = time.perf_counter()
for i in range(count):
    ca.request("POST", "/api/v1/pools/spare/backends", json.dumps({"address": f"127.2.{i // 250}.{i % 250 + 1}:80"}))
    response = ca.getresponse()
    response.read()
    if response.status != 201:
        sys.exit(f"change {i + 1}: HTTP {response.status}")
answered = time.perf_counter() - start
while backends(cb) < count:
    time.sleep(0.005)
everywhere = time.perf_counter() - start
print(f"{count} changes answered by lb-a (each once applied there) in {answered:.2f} s "
      f"({count / answered:.0f}/s); on lb-b too after {everywhere:.2f} s")
PY
after=$(revision)
echo "etcd revisions consumed: $((after - before)) for $changes changes (the rest: instance reports)"

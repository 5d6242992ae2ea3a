#!/usr/bin/env python3
"""Load and bookkeeping for bench/chaos.sh (Python 3 standard library only).

  chaos_load.py load URL SECONDS OUT.json [--keepalive N] [--fresh N] [--procs N] [--tag T]
      Closed-loop HTTP/1.1 clients against URL for SECONDS: N keep-alive clients and N
      clients that open a fresh connection per request (Connection: close), spread
      over --procs processes. Every request has its own target (/chaos/<T><client>/<n>),
      so keel's access log says which backend served it; every fourth request is a POST
      of 1000 bytes. Each answer is checked: a 200 must be keel-echo's description of
      this very request (its "target", and the whole upload's "body_length"). Writes
      counts by outcome, by backend id, latencies and every failure (target, kind,
      send and failure times) to OUT.json.

  chaos_load.py report OUT.json EVENTS ACCESS_LOG...
      Classifies the failures of a load run against the kills in EVENTS (lines
      "<unix time> kill <address>", then "<unix time> dead <address>" once the process
      was seen gone) and keel's JSON access logs, prints the summary and exits 1 if
      any failure is not explained by a kill (see README, "Chaos soak").

  chaos_load.py flapper PORT_FILE PERIOD_MS
      A backend for the pool whose /healthz alternates between 200 and 503 every
      PERIOD_MS (its traffic is always answered, like keel-echo's): health checks flap
      while the backend itself is fine. Writes its port to PORT_FILE once listening.
"""
import json
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

CLIENT_TIMEOUT = 15.0  # seconds; above keel's upstream_header in chaos.sh, so a 504 shows as 504
UPLOAD = b"u" * 1000
MAX_KEPT_FAILURES = 2000  # per process; counts stay exact beyond it


class BadResponse(Exception):
    pass


class Closed(Exception):
    """The connection ended before a whole response arrived."""


def read_response(sock, buf):
    """Reads one response; returns (status, body, keep_alive, rest of the buffer)."""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            break
        if len(buf) > 65536:
            raise BadResponse("response head over 64 KiB")
        chunk = sock.recv(65536)
        if not chunk:
            raise Closed("before a response" if not buf else "inside the response head")
        buf += chunk
    head = buf[:end].decode("latin-1").split("\r\n")
    buf = buf[end + 4:]
    parts = head[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise BadResponse("status line " + repr(head[0][:80]))
    status = int(parts[1])
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    keep_alive = headers.get("connection", "").lower() != "close" and parts[0] == "HTTP/1.1"
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = b""
        while True:
            while b"\r\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    raise Closed("inside a chunked body")
                buf += chunk
            line, _, buf = buf.partition(b"\r\n")
            size = int(line.split(b";")[0], 16)
            while len(buf) < size + 2:
                chunk = sock.recv(65536)
                if not chunk:
                    raise Closed("inside a chunked body")
                buf += chunk
            if size == 0:
                # No trailers from keel-echo; a trailer line would break the next parse.
                return status, body, keep_alive, buf[2:]
            body += buf[:size]
            buf = buf[size + 2:]
    if "content-length" in headers:
        length = int(headers["content-length"])
        while len(buf) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise Closed("inside the body")
            buf += chunk
        return status, buf[:length], keep_alive, buf[length:]
    while True:  # delimited by close
        chunk = sock.recv(65536)
        if not chunk:
            return status, buf, False, b""
        buf += chunk


class Stats:
    def __init__(self):
        self.requests = 0
        self.ok = 0
        self.kinds = {}
        self.backends = {}
        self.failures = []
        self.latencies = []  # ms, sampled

    def fail(self, kind, method, target, sent, detail):
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        if len(self.failures) < MAX_KEPT_FAILURES:
            self.failures.append({"kind": kind, "method": method, "target": target, "sent": sent,
                                  "failed": time.time(), "detail": detail[:200].strip()})


def backend_id(body):
    start = body.find(b'"id":"')
    if start < 0:
        return "?"
    start += 6
    return body[start:body.find(b'"', start)].decode("latin-1")


def client(name, host, port, keep_alive, deadline, stats, lock):
    sock = None
    buf = b""
    n = 0
    local = Stats()
    while time.time() < deadline:
        n += 1
        target = "/chaos/%s/%d" % (name, n)
        post = n % 4 == 0  # every fourth request uploads a body
        method = "POST" if post else "GET"
        request = ("%s %s HTTP/1.1\r\nHost: chaos.test\r\n%s%s\r\n" %
                   (method, target, "" if keep_alive else "Connection: close\r\n",
                    "Content-Length: %d\r\n" % len(UPLOAD) if post else "")).encode()
        if post:
            request += UPLOAD
        sent = time.time()
        local.requests += 1
        stage = "connect"
        try:
            if sock is None:
                sock = socket.create_connection((host, port), timeout=CLIENT_TIMEOUT)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                buf = b""
                reused = False
            else:
                reused = True
            stage = "send"
            sock.sendall(request)
            stage = "read"
            status, body, server_keeps, buf = read_response(sock, buf)
            if status == 200:
                if b'"target":"' + target.encode() + b'"' not in body:
                    raise BadResponse("200 for another request: " + body[:120].decode("latin-1"))
                if post and b'"body_length":%d' % len(UPLOAD) not in body:
                    raise BadResponse("upload not relayed whole: " + body[-60:].decode("latin-1"))
                local.ok += 1
                bid = backend_id(body)
                local.backends[bid] = local.backends.get(bid, 0) + 1
                if len(local.latencies) < 200000:
                    local.latencies.append((time.time() - sent) * 1000.0)
            else:
                kind = "http_%d" % status if status in (502, 503, 504) else "http_other"
                local.fail(kind, method, target, sent, body[:100].decode("latin-1"))
            if not (keep_alive and server_keeps):
                sock.close()
                sock = None
        except BadResponse as error:
            local.fail("bad_response", method, target, sent, str(error))
            sock = close_quietly(sock)
        except Closed as error:
            kind = "closed_reused" if stage == "read" and reused and "before" in str(error) else "closed"
            local.fail(kind, method, target, sent, str(error))
            sock = close_quietly(sock)
        except socket.timeout:
            local.fail("timeout", method, target, sent, "no answer in %gs (%s)" % (CLIENT_TIMEOUT, stage))
            sock = close_quietly(sock)
        except (ConnectionResetError, BrokenPipeError) as error:
            local.fail("connect" if stage == "connect" else "reset", method, target, sent, "%s: %s" % (stage, error))
            sock = close_quietly(sock)
        except OSError as error:
            local.fail("connect" if stage == "connect" else "read_error", method, target, sent, "%s: %s" % (stage, error))
            sock = close_quietly(sock)
    close_quietly(sock)
    with lock:
        stats.requests += local.requests
        stats.ok += local.ok
        for kind, count in local.kinds.items():
            stats.kinds[kind] = stats.kinds.get(kind, 0) + count
        for bid, count in local.backends.items():
            stats.backends[bid] = stats.backends.get(bid, 0) + count
        stats.failures.extend(local.failures)
        stats.latencies.extend(local.latencies[::10])


def close_quietly(sock):
    if sock is not None:
        try:
            sock.close()
        except OSError:
            pass
    return None


def load_process(tag, index, host, port, seconds, keepalive, fresh, queue):
    stats = Stats()
    lock = threading.Lock()
    deadline = time.time() + seconds
    threads = [threading.Thread(target=client, args=("%sk%d-%d" % (tag, index, i), host, port, True, deadline, stats, lock))
               for i in range(keepalive)]
    threads += [threading.Thread(target=client, args=("%sf%d-%d" % (tag, index, i), host, port, False, deadline, stats, lock))
                for i in range(fresh)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put(stats.__dict__)


def split(total, parts, index):
    return total // parts + (1 if index < total % parts else 0)


def run_load(args):
    url, seconds, out = args[0], float(args[1]), args[2]
    options = dict(zip(args[3::2], args[4::2]))
    keepalive = int(options.get("--keepalive", 16))
    fresh = int(options.get("--fresh", 8))
    procs = max(1, int(options.get("--procs", 2)))
    tag = options.get("--tag", "")  # keeps targets unique across the runs of one keel
    parsed = urlsplit(url)
    queue = multiprocessing.Queue()
    # SIGTERM (chaos.sh's cleanup) exits through Python, which terminates daemonic children.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    started = time.time()
    workers = [multiprocessing.Process(target=load_process,
                                       args=(tag, i, parsed.hostname, parsed.port, seconds,
                                             split(keepalive, procs, i), split(fresh, procs, i), queue),
                                       daemon=True)
               for i in range(procs)]
    for worker in workers:
        worker.start()
    parts = [queue.get(timeout=seconds + CLIENT_TIMEOUT + 30) for _ in workers]
    for worker in workers:
        worker.join()
    total = {"seconds": time.time() - started, "keepalive_clients": keepalive, "fresh_clients": fresh,
             "requests": 0, "ok": 0, "kinds": {}, "backends": {}, "failures": []}
    latencies = []
    for part in parts:
        total["requests"] += part["requests"]
        total["ok"] += part["ok"]
        for key in ("kinds", "backends"):
            for name, count in part[key].items():
                total[key][name] = total[key].get(name, 0) + count
        total["failures"].extend(part["failures"])
        latencies.extend(part["latencies"])
    latencies.sort()
    if latencies:
        total["latency_ms"] = {q: round(latencies[min(len(latencies) - 1, int(len(latencies) * f))], 2)
                               for q, f in (("p50", 0.5), ("p99", 0.99), ("max", 1.0))}
    with open(out, "w") as file:
        json.dump(total, file)
    print("load: %d requests in %.1f s (%.0f req/s), %d failed" %
          (total["requests"], total["seconds"], total["requests"] / total["seconds"],
           total["requests"] - total["ok"]))


def read_access_logs(paths, wanted):
    found = {}
    for path in paths:
        with open(path, "rb") as file:
            for line in file:
                if b"/chaos/" not in line:
                    continue
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("target") in wanted:
                    found[entry["target"]] = entry
    return found


def run_report(args):
    with open(args[0]) as file:
        load = json.load(file)
    # (kill time, death time, address): from "T kill ADDRESS" and the next "T dead ADDRESS"
    kills = []
    with open(args[1]) as file:
        for line in file:
            fields = line.split()
            if len(fields) == 3 and fields[1] == "kill":
                kills.append([float(fields[0]), None, fields[2]])
            elif len(fields) == 3 and fields[1] == "dead" and kills and kills[-1][1] is None:
                kills[-1][1] = float(fields[0])
    failures = load["failures"]
    log = read_access_logs(args[2:], {f["target"] for f in failures})
    explained, unexplained = [], []
    for failure in failures:
        # In flight on a killed backend: the request had reached the backend (keel's 502
        # says the backend closed the connection, or the response broke off), keel's
        # access log names the killed backend for it, the client sent it before the
        # backend's process was seen gone and got its failure after the kill signal.
        # A backend found dead ("backend unreachable") is never excused: retries are for it.
        entry = log.get(failure["target"])
        backend = entry.get("backend") if entry else None
        reached = (failure["kind"] == "http_502" and "backend closed the connection" in failure["detail"]) or \
            failure["kind"] in ("closed", "reset", "read_error")
        killed = [k for k in kills if reached and k[2] == backend and k[1] is not None and
                  failure["sent"] <= k[1] and failure["failed"] >= k[0]]
        failure["backend"] = backend or ""
        failure["access_log_status"] = entry.get("status") if entry else None
        if killed:
            failure["after_kill_ms"] = (failure["sent"] - killed[0][0]) * 1000.0
            failure["death_ms"] = (killed[0][1] - killed[0][0]) * 1000.0
        (explained if killed else unexplained).append(failure)
    failed = load["requests"] - load["ok"]
    kept_all = len(failures) == failed  # else some failures were not kept: count them as unexplained
    lost = failed - len(failures)
    print("requests: %d (%.0f req/s; %d keep-alive and %d fresh-connection clients), answered 200 correctly: %d"
          % (load["requests"], load["requests"] / load["seconds"], load["keepalive_clients"],
             load["fresh_clients"], load["ok"]))
    if "latency_ms" in load:
        print("latency of the 200s (ms): p50 %(p50)s  p99 %(p99)s  max %(max)s" % load["latency_ms"])
    print("200s by backend: " + ", ".join("%s %d" % item for item in sorted(load["backends"].items())))
    print("failures by kind: " + (", ".join("%s %d" % item for item in sorted(load["kinds"].items())) or "none"))
    deaths = sorted((k[1] - k[0]) * 1000.0 for k in kills if k[1] is not None)
    print("backend kills: %d (kill signal to process gone: median %.0f ms, max %.0f ms); "
          "failures in flight on a killed backend: %d (%d POST, %d GET)" %
          (len(kills), deaths[len(deaths) // 2] if deaths else 0, deaths[-1] if deaths else 0, len(explained),
           sum(f["method"] == "POST" for f in explained), sum(f["method"] == "GET" for f in explained)))
    for failure in explained:
        offset = failure["after_kill_ms"]
        print("  in flight on killed %s: %s %s %s, sent %.0f ms %s the kill signal, process gone %.0f ms after it (%s)"
              % (failure["backend"], failure["kind"], failure["method"], failure["target"], abs(offset),
                 "after" if offset >= 0 else "before", failure["death_ms"], failure["detail"]))
    print("unexplained failures: %d" % (len(unexplained) + lost))
    for failure in unexplained[:50]:
        print("  %s %s %s sent %.3f failed %.3f backend %r access-log status %s: %s" % (
            failure["kind"], failure["method"], failure["target"], failure["sent"], failure["failed"], failure["backend"],
            failure["access_log_status"], failure["detail"]))
    if not kept_all:
        print("  (%d failures beyond the %d kept per process)" % (lost, MAX_KEPT_FAILURES))
    return 0 if not unexplained and kept_all else 1


class FlapHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    period = 1.0
    started = time.time()

    def do_GET(self):
        if self.path == "/healthz":
            healthy = int((time.time() - self.started) / self.period) % 2 == 0
            self.answer(200 if healthy else 503, b"ok" if healthy else b"maintenance")
            return
        self.describe(0)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        self.describe(len(self.rfile.read(length)))

    def describe(self, body_length):
        body = json.dumps({"id": "flapper", "method": self.command, "target": self.path, "body_length": body_length},
                          separators=(",", ":")).encode()
        self.answer(200, body)

    def answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def run_flapper(args):
    FlapHandler.period = int(args[1]) / 1000.0
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer(("127.0.0.1", 0), FlapHandler)
    with open(args[0] + ".tmp", "w") as file:
        file.write(str(server.server_address[1]))
    os.rename(args[0] + ".tmp", args[0])
    server.serve_forever()


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("load", "report", "flapper"):
        sys.exit(__doc__)
    command, args = sys.argv[1], sys.argv[2:]
    if command == "load" and len(args) >= 3:
        run_load(args)
    elif command == "report" and len(args) >= 3:
        sys.exit(run_report(args))
    elif command == "flapper" and len(args) == 2:
        run_flapper(args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

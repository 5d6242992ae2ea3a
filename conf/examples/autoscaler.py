#!/usr/bin/env python3
"""An example autoscaler loop for keel (standard library only).

keel only recommends a pool size (autoscale.webhook); this script acts on it:
it listens for the webhook, starts `keel-echo` processes and adds them to the
pool through the admin API when `desired` rises, and removes them (DELETE, then
waits for keel to finish draining before stopping the process) when it falls.

    build/keel --config conf/examples/autoscale.yaml &
    conf/examples/autoscaler.py --listen 127.0.0.1:9000 --admin 127.0.0.1:9901 \
        --pool web --echo build/keel-echo --echo-arg=--delay --echo-arg=20
    wrk -t2 -c32 -d20s http://127.0.0.1:8080/

It only ever removes backends it started itself, never starts more than
--max-instances, and stops its children (after removing them from the pool) on
SIGTERM, SIGINT or exit. Besides the webhook it polls
GET /api/v1/pools/{pool}/autoscale every --poll seconds, so a lost webhook
only delays it. Prints "listening on HOST:PORT" once the webhook is bound
(port 0 picks a free one).
"""

import argparse
import ctypes
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request


def log(message):
    print(time.strftime("%H:%M:%S ") + message, file=sys.stderr, flush=True)


class Admin:
    """The keel admin API (docs/admin-api.md)."""

    def __init__(self, address, token):
        self.base = "http://" + address
        self.token = token

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                text = response.read()
                return response.status, json.loads(text) if text else {}
        except urllib.error.HTTPError as error:
            text = error.read()
            try:
                return error.code, json.loads(text)
            except ValueError:
                return error.code, {"error": text.decode(errors="replace")}

    def backends(self, pool):
        status, body = self.call("GET", "/api/v1/pools/" + pool)
        if status != 200:
            raise RuntimeError("GET pool %s: %s %s" % (pool, status, body))
        return body["backends"]


def die_with_parent():
    """In the child before exec (Linux): SIGTERM when this script dies, even by SIGKILL."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Instance:
    """One keel-echo child."""

    def __init__(self, echo, extra_args):
        self.process = subprocess.Popen(
            [echo, "--listen", "127.0.0.1:0"] + extra_args,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            preexec_fn=die_with_parent)
        line = self.process.stdout.readline()  # "listening on 127.0.0.1:PORT"
        if not line.startswith("listening on "):
            self.process.kill()
            self.process.wait()
            raise RuntimeError("keel-echo did not start: %r" % line)
        self.address = line.split()[2]

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Scaler:
    def __init__(self, args):
        self.admin = Admin(args.admin, args.token)
        self.pool = args.pool
        self.echo = args.echo
        self.echo_args = args.echo_arg or []
        self.max_instances = args.max_instances
        self.drain_timeout = args.drain_timeout
        self.desired = None  # the latest recommendation
        self.instances = {}  # address -> Instance, in the pool
        self.leaving = {}  # address -> (Instance, DELETE time): draining out of the pool
        self.lock = threading.RLock()  # the signal handler takes it on the main thread too
        self.changed = threading.Condition(self.lock)
        self.stopping = False

    def recommend(self, desired, source):
        with self.lock:
            if desired != self.desired:
                log("desired %d (%s)" % (desired, source))
            self.desired = desired
            self.changed.notify()

    def reconcile(self):
        with self.lock:
            desired = self.desired
        if desired is None:
            return
        backends = self.admin.backends(self.pool)
        active = [b["address"] for b in backends if b["state"] == "active"]
        listed = {b["address"] for b in backends}
        # Backends keel has dropped after draining: their process can go.
        for address in list(self.leaving):
            instance, since = self.leaving[address]
            if address not in listed or time.monotonic() - since > self.drain_timeout:
                log("stopping %s (drained)" % address)
                instance.stop()
                del self.leaving[address]
        count = len(active)
        while count < desired and len(self.instances) + len(self.leaving) < self.max_instances:
            instance = Instance(self.echo, self.echo_args)
            status, body = self.admin.call(
                "POST", "/api/v1/pools/%s/backends" % self.pool, {"address": instance.address})
            if status != 201:
                log("cannot add %s: %s %s" % (instance.address, status, body))
                instance.stop()
                break
            log("added %s" % instance.address)
            self.instances[instance.address] = instance
            count += 1
        while count > desired:
            mine = [a for a in active if a in self.instances]
            if not mine:
                break  # the rest were not started here: not ours to remove
            address = mine[-1]
            active.remove(address)
            status, body = self.admin.call("DELETE", "/api/v1/pools/%s/backends/%s" % (self.pool, address))
            if status not in (202, 404):
                log("cannot remove %s: %s %s" % (address, status, body))
                break
            log("removing %s (draining)" % address)
            self.leaving[address] = (self.instances.pop(address), time.monotonic())
            count -= 1

    def poll_recommendation(self):
        status, body = self.admin.call("GET", "/api/v1/pools/%s/autoscale" % self.pool)
        if status == 200:
            self.recommend(body["desired"], "poll")
        else:
            log("GET autoscale: %s %s" % (status, body))

    def run(self, poll_interval):
        next_poll = 0.0
        while True:
            with self.lock:
                if self.stopping:
                    return
            try:
                if time.monotonic() >= next_poll:
                    self.poll_recommendation()
                    next_poll = time.monotonic() + poll_interval
                self.reconcile()
            except (OSError, RuntimeError, ValueError, KeyError) as error:
                log("reconcile failed: %s" % error)
            with self.lock:
                if not self.stopping:
                    # Woken by a webhook; else looks again soon (drains finish).
                    self.changed.wait(timeout=0.2 if self.leaving else min(poll_interval, 1.0))

    def shutdown(self):
        with self.lock:
            self.stopping = True
            self.changed.notify()
        for address, instance in list(self.instances.items()):
            self.admin.call("DELETE", "/api/v1/pools/%s/backends/%s" % (self.pool, address))
            self.leaving[address] = (instance, time.monotonic())
        self.instances.clear()
        deadline = time.monotonic() + min(self.drain_timeout, 5)
        while self.leaving and time.monotonic() < deadline:
            try:
                listed = {b["address"] for b in self.admin.backends(self.pool)}
            except (OSError, RuntimeError, ValueError):
                break  # keel is gone: nothing to wait for
            for address in [a for a in self.leaving if a not in listed]:
                self.leaving.pop(address)[0].stop()
            time.sleep(0.1)
        for instance, _ in self.leaving.values():
            instance.stop()
        self.leaving.clear()


def webhook_handler(scaler):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            try:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                if body.get("pool") == scaler.pool:
                    scaler.recommend(int(body["desired"]), "webhook: %s, observed %s, %s" % (
                        body.get("current"), body.get("observed_concurrency"), body.get("mode")))
                self.send_response(204)
            except (ValueError, KeyError, TypeError):
                self.send_response(400)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:9000", help="webhook address (port 0: any)")
    parser.add_argument("--admin", default="127.0.0.1:9901", help="keel admin API address")
    parser.add_argument("--pool", default="web")
    parser.add_argument("--token", default=os.environ.get("KEEL_ADMIN_TOKEN", ""))
    parser.add_argument("--echo", default="build/keel-echo", help="path of keel-echo")
    parser.add_argument("--echo-arg", action="append", help="extra keel-echo argument (repeatable)")
    parser.add_argument("--max-instances", type=int, default=10)
    parser.add_argument("--poll", type=float, default=5.0, help="seconds between API polls")
    parser.add_argument("--drain-timeout", type=float, default=35.0,
                        help="stop a removed instance after this long even if keel still lists it")
    args = parser.parse_args()

    host, _, port = args.listen.rpartition(":")
    scaler = Scaler(args)
    server = http.server.ThreadingHTTPServer((host, int(port)), webhook_handler(scaler))
    print("listening on %s:%d" % server.server_address[:2], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def on_signal(signo, frame):
        with scaler.lock:
            scaler.stopping = True
            scaler.changed.notify()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        scaler.run(args.poll)
    finally:
        server.shutdown()
        scaler.shutdown()
        log("stopped")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""keel under systemd's Type=notify protocol (packaging/keel.service).

Runs keel with NOTIFY_SOCKET pointing at a datagram socket this test owns, as
systemd does, and expects READY=1 once keel prints its listening lines,
RELOADING=1 then READY=1 for a SIGHUP, and STOPPING=1 for SIGTERM (then exit 0).
Skipped (exit 77) when keel was built without libsystemd.

Usage: service_notify.py KEEL_BINARY
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile

CONFIG = """
listeners:
  - address: 127.0.0.1:0
pools:
  - name: web
    backends:
      - { address: 127.0.0.1:9 }
"""


def main() -> int:
    keel = sys.argv[1]
    if subprocess.run(["ldd", keel], capture_output=True, text=True).stdout.find("libsystemd") < 0:
        print("keel is built without libsystemd (KEEL_SYSTEMD=OFF or no libsystemd-dev): skipped")
        return 77
    with tempfile.TemporaryDirectory() as work:
        config = os.path.join(work, "keel.yaml")
        with open(config, "w") as f:
            f.write(CONFIG)
        path = os.path.join(work, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(10)
        env = dict(os.environ, NOTIFY_SOCKET=path)
        proc = subprocess.Popen([keel, "--config", config], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        try:
            def expect(wanted):
                got = sock.recv(4096).decode()
                if got != wanted:
                    raise AssertionError(f"expected {wanted!r} on NOTIFY_SOCKET, got {got!r}")
                print("got", got)

            line = proc.stdout.readline()
            assert line.startswith("listening on "), f"unexpected first line {line!r}"
            expect("READY=1")
            proc.send_signal(signal.SIGHUP)
            expect("RELOADING=1")
            expect("READY=1")
            proc.send_signal(signal.SIGTERM)
            expect("STOPPING=1")
            status = proc.wait(timeout=10)
            assert status == 0, f"keel exited {status} after SIGTERM"
        except (AssertionError, socket.timeout) as error:
            print(f"FAILED: {error}", file=sys.stderr)
            return 1
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())

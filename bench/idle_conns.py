#!/usr/bin/env python3
"""Open N keep-alive client connections to HOST:PORT, send one GET on each, read its
response, then hold every connection idle until SIGTERM/SIGINT or --hold seconds pass.

Used by bench/compare.sh (scenario e) to measure a proxy's memory per idle keep-alive
connection. When every connection has its answer it writes "OK FAILED" (counts) to
--ready-file, so the caller knows when to read the proxy's RSS. Exits 0 if every
connection got a 2xx answer, 1 otherwise. Everything is bounded in time.
"""
import argparse
import os
import resource
import signal
import socket
import sys
import time


def read_response(sock, deadline):
    """Reads one HTTP/1.1 response; returns its status code (0 on failure)."""
    data = b""
    while b"\r\n\r\n" not in data:
        if time.monotonic() > deadline:
            return 0
        chunk = sock.recv(65536)
        if not chunk:
            return 0
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return 0
    length = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    while True:
        if length is not None and len(body) >= length:
            return status
        if chunked and body.endswith(b"0\r\n\r\n"):
            return status
        if length is None and not chunked:
            return status  # no body expected (e.g. 204/304) or close-delimited: good enough
        if time.monotonic() > deadline:
            return 0
        chunk = sock.recv(65536)
        if not chunk:
            return 0
        body += chunk


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("--path", default="/small")
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--ready-file", required=True)
    parser.add_argument("--open-timeout", type=float, default=30.0,
                        help="give up opening connections after this many seconds")
    parser.add_argument("--hold", type=float, default=60.0,
                        help="hold the connections at most this many seconds")
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.count + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))

    stop = {"now": False}

    def on_signal(_signum, _frame):
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    request = (f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
               "User-Agent: keel-bench-idle\r\n\r\n").encode()
    socks = []
    ok = failed = 0
    deadline = time.monotonic() + args.open_timeout
    while len(socks) + failed < args.count and not stop["now"]:
        batch = []
        for _ in range(min(args.batch, args.count - len(socks) - failed)):
            if time.monotonic() > deadline:
                break
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(5.0)
            try:
                s.connect((args.host, args.port))
                s.sendall(request)
                batch.append(s)
            except OSError:
                s.close()
                failed += 1
        if not batch:
            break
        for s in batch:
            try:
                status = read_response(s, deadline)
            except (OSError, ValueError):
                status = 0
            if 200 <= status < 300:
                ok += 1
                socks.append(s)
            else:
                failed += 1
                s.close()
        if time.monotonic() > deadline:
            failed += args.count - len(socks) - failed
            break

    tmp = args.ready_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{ok} {failed}\n")
    os.rename(tmp, args.ready_file)

    end = time.monotonic() + args.hold
    while not stop["now"] and time.monotonic() < end:
        time.sleep(0.05)
    for s in socks:
        s.close()
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""HTTP/2 client and attacker for keel's integration tests (Debian python3-h2).

Usage: h2_client.py MODE HOST:PORT [ARG]
Prints one result line per finding ("status 200", "goaway 11", "refused 20", ...)
and "end" when the connection closed or the mode finished. Every mode is bounded
in time (a 10 s socket timeout at most) and in what it sends.
"""
import os
import signal
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(kind, flags, stream, payload=b""):
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


def request_headers(address, path="/", method="GET", extra=()):
    return [(":method", method), (":scheme", "http"), (":authority", address), (":path", path)] + list(extra)


class Client:
    def __init__(self, address, settings=None, timeout=10.0):
        host, port = address.rsplit(":", 1)
        self.address = address
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(settings)
        self.flush()
        self.status = {}
        self.headers = {}
        self.trailers = {}
        self.bodies = {}
        self.resets = {}
        self.ended = set()
        self.goaway = None
        self.closed = False
        self.settings_acked = False

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def pump(self, until, deadline=10.0):
        """Reads and handles events until until() is true, the peer closes, or the deadline."""
        stop = time.monotonic() + deadline
        while not until() and not self.closed and time.monotonic() < stop:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                data = b""
            if not data:
                self.closed = True
                break
            try:
                events = self.conn.receive_data(data)
            except h2.exceptions.ProtocolError as e:
                print("protocol_error", repr(e), file=sys.stderr)
                self.closed = True
                break
            for event in events:
                if os.environ.get("H2_DEBUG"):
                    print("event", event, file=sys.stderr)
                self.handle(event)
            try:
                self.flush()
            except OSError:
                self.closed = True

    def handle(self, event):
        if isinstance(event, h2.events.ResponseReceived):
            self.headers[event.stream_id] = dict(event.headers)
            self.status[event.stream_id] = dict(event.headers)[":status"]
        elif isinstance(event, h2.events.TrailersReceived):
            self.trailers[event.stream_id] = list(event.headers)
        elif isinstance(event, h2.events.DataReceived):
            self.bodies.setdefault(event.stream_id, bytearray()).extend(event.data)
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            self.ended.add(event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            self.resets[event.stream_id] = int(event.error_code)
        elif isinstance(event, h2.events.SettingsAcknowledged):
            self.settings_acked = True
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = (int(event.error_code), event.last_stream_id)


def mode_get(address, path="/"):
    c = Client(address)
    sid = c.conn.get_next_available_stream_id()
    c.conn.send_headers(sid, request_headers(address, path, extra=[("cookie", "a=1"), ("cookie", "b=2")]),
                        end_stream=True)
    c.flush()
    c.pump(lambda: sid in c.ended or sid in c.resets)
    print("status", c.status.get(sid))
    print("body", bytes(c.bodies.get(sid, b"")).decode(errors="replace").replace("\n", "\\n"))
    print("retry_after", c.headers.get(sid, {}).get("retry-after", ""))
    print("trailers", ",".join("%s=%s" % pair for pair in c.trailers.get(sid, [])))
    print("reset", c.resets.get(sid, ""))


def mode_post_whole(address, size):
    """POST of `size` bytes without content-length, headers, DATA and END_STREAM
    in one write (keel reads them in one pass, before the stream's exchange starts)."""
    c = Client(address)
    sid = c.conn.get_next_available_stream_id()
    c.conn.send_headers(sid, request_headers(address, "/whole", method="POST"))
    c.conn.send_data(sid, b"w" * int(size), end_stream=True)
    c.flush()
    c.pump(lambda: sid in c.ended or sid in c.resets)
    print("status", c.status.get(sid))
    print("body", bytes(c.bodies.get(sid, b"")).decode(errors="replace").replace("\n", "\\n"))


def mode_split_preface(address):
    """The connection preface in two writes 100 ms apart (its first 5 bytes could
    still be "PRI *" of nothing else), then a GET."""
    host, port = address.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(PREFACE[:5])
    time.sleep(0.1)  # the pause is the behaviour under test
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    data = conn.data_to_send()
    assert data.startswith(PREFACE)
    sock.sendall(data[5:])
    c = Client.__new__(Client)
    c.__dict__.update(address=address, sock=sock, conn=conn, status={}, headers={}, trailers={}, bodies={},
                      resets={}, ended=set(), goaway=None, closed=False, settings_acked=False)
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, request_headers(address, "/split"), end_stream=True)
    c.flush()
    c.pump(lambda: sid in c.ended or sid in c.resets)
    print("status", c.status.get(sid))
    print("body", bytes(c.bodies.get(sid, b"")).decode(errors="replace").replace("\n", "\\n"))


got_signal = False


def mode_get_across_signal(address):
    """GET /first, then waits for SIGUSR1 (the test reloads keel meanwhile), then
    GET /second on the same connection: prints both statuses and bodies."""
    def on_signal(*_):
        global got_signal
        got_signal = True
    signal.signal(signal.SIGUSR1, on_signal)
    c = Client(address, timeout=0.05)
    for name in ("first", "second"):
        sid = c.conn.get_next_available_stream_id()
        c.conn.send_headers(sid, request_headers(address, "/" + name), end_stream=True)
        c.flush()
        c.pump(lambda: sid in c.ended or sid in c.resets)
        print(name, c.status.get(sid), bytes(c.bodies.get(sid, b"")).decode(errors="replace"), flush=True)
        if name == "first":
            c.pump(lambda: got_signal, deadline=10)
    print("closed", c.closed)


def mode_stalled_upload(address, size):
    """POST that sends `size` bytes of its body and then nothing: keel answers
    once its idle timeout passes; prints the status and how long that took."""
    c = Client(address)
    sid = c.conn.get_next_available_stream_id()
    c.conn.send_headers(sid, request_headers(address, "/stalled", method="POST"))
    c.conn.send_data(sid, b"s" * int(size))
    c.flush()
    start = time.monotonic()
    c.pump(lambda: sid in c.ended or sid in c.resets)
    print("status", c.status.get(sid))
    print("after", "%.1f" % (time.monotonic() - start))


def mode_concurrent(address, count):
    """Opens `count` streams before reading the server's SETTINGS (so the client
    library does not hold them back) and counts how many were refused."""
    count = int(count)
    c = Client(address)
    ids = []
    for _ in range(count):
        sid = c.conn.get_next_available_stream_id()
        c.conn.send_headers(sid, request_headers(address, "/c"), end_stream=True)
        ids.append(sid)
    c.flush()
    c.pump(lambda: all(i in c.ended or i in c.resets for i in ids))
    refused = sum(1 for i in ids if c.resets.get(i) == 7)  # REFUSED_STREAM
    answered = sum(1 for i in ids if c.status.get(i) == "200")
    print("refused", refused)
    print("answered", answered)


def mode_big_headers(address, size):
    """One request whose header list is `size` bytes of cookie pieces."""
    size = int(size)
    c = Client(address)
    c.conn.local_settings  # the library's own limit on what it receives, not what it sends
    pieces = [("cookie", "k%05d=%s" % (i, "v" * 40)) for i in range(size // 50 + 1)]
    sid = c.conn.get_next_available_stream_id()
    c.conn.send_headers(sid, request_headers(address, "/big", extra=pieces), end_stream=True)
    c.flush()
    c.pump(lambda: sid in c.ended or sid in c.resets)
    print("status", c.status.get(sid))
    print("reset", c.resets.get(sid))


def mode_bad_header(address, name):
    c = Client(address)
    c.conn.config.validate_outbound_headers = False
    c.conn.config.normalize_outbound_headers = False
    sid = c.conn.get_next_available_stream_id()
    c.conn.send_headers(sid, request_headers(address, "/bad", extra=[(name, "x")]), end_stream=True)
    good = c.conn.get_next_available_stream_id()
    c.conn.send_headers(good, request_headers(address, "/good"), end_stream=True)
    c.flush()
    c.pump(lambda: (sid in c.ended or sid in c.resets) and (good in c.ended or good in c.resets))
    print("reset", c.resets.get(sid))
    print("status", c.status.get(sid))
    print("good", c.status.get(good))


def mode_rapid_reset(address, count):
    """HEADERS then RST_STREAM, `count` times, as fast as it can: CVE-2023-44487."""
    c = Client(address)
    for _ in range(int(count)):
        sid = c.conn.get_next_available_stream_id()
        try:
            c.conn.send_headers(sid, request_headers(address, "/r"), end_stream=True)
            c.conn.reset_stream(sid, error_code=8)
            c.flush()
        except (OSError, h2.exceptions.ProtocolError):
            break
    c.pump(lambda: c.goaway is not None)
    print("goaway", c.goaway[0] if c.goaway else None)
    print("closed", c.closed)


def raw_flood(address, frames):
    host, port = address.rsplit(":", 1)
    # A small receive window: what the server answers piles up on its side.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect((host, int(port)))
    sock.sendall(PREFACE + frame(4, 0, 0))
    received = bytearray()
    goaway = None
    try:
        sock.sendall(b"".join(frames))
    except OSError:
        pass
    # Read what comes back until the server closes: a GOAWAY frame names the error.
    stop = time.monotonic() + 10
    closed = False
    try:
        while time.monotonic() < stop:
            data = sock.recv(65536)
            if not data:
                closed = True
                break
            received.extend(data)
    except socket.timeout:
        pass
    except OSError:
        closed = True  # reset
    at = 0
    while at + 9 <= len(received):
        length = int.from_bytes(received[at:at + 3], "big")
        if received[at + 3] == 7 and at + 9 + 8 <= len(received):
            goaway = int.from_bytes(received[at + 13:at + 17], "big")
        at += 9 + length
    print("goaway", goaway)
    print("closed", closed)


def mode_continuation_flood(address, count):
    hpack_get = b"\x82\x86\x84\x41\x01a"
    frames = [frame(1, 0, 1, hpack_get)] + [frame(9, 0, 1, b"") for _ in range(int(count))]
    raw_flood(address, frames)


def mode_settings_flood(address, count):
    raw_flood(address, [frame(4, 0, 0) for _ in range(int(count))])


def mode_ping_flood(address, count):
    raw_flood(address, [frame(6, 0, 0, b"12345678") for _ in range(int(count))])


def mode_zero_window(address, path):
    """A client that never opens its window: the stream must not wait forever."""
    c = Client(address, settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
    c.pump(lambda: c.settings_acked, deadline=5)
    sid = c.conn.get_next_available_stream_id()
    c.conn.send_headers(sid, request_headers(address, path), end_stream=True)
    c.flush()
    start = time.monotonic()
    # DataReceived cannot happen with a zero window; wait for a reset or close.
    c.pump(lambda: sid in c.resets or c.goaway is not None)
    print("status", c.status.get(sid))
    print("reset", c.resets.get(sid))
    print("after", "%.1f" % (time.monotonic() - start))


reset_now = False


def mode_reset_after_signal(address, path):
    """Sends a request, resets it when SIGUSR1 arrives (the test saw it reach the backend)."""
    def on_signal(*_):
        global reset_now
        reset_now = True
    signal.signal(signal.SIGUSR1, on_signal)
    c = Client(address, timeout=0.05)
    sid = c.conn.get_next_available_stream_id()
    c.conn.send_headers(sid, request_headers(address, path), end_stream=True)
    c.flush()
    print("sent", flush=True)
    c.pump(lambda: reset_now, deadline=10)
    c.conn.reset_stream(sid, error_code=8)
    c.flush()
    # A second request on the same connection still works.
    sid2 = c.conn.get_next_available_stream_id()
    c.conn.send_headers(sid2, request_headers(address, "/after"), end_stream=True)
    c.flush()
    c.pump(lambda: sid2 in c.ended or sid2 in c.resets)
    print("after", c.status.get(sid2))


def mode_upload(address, size):
    """POST `size` bytes with no content-length, in 10 KiB DATA frames, honouring flow control."""
    size = int(size)
    c = Client(address)
    sid = c.conn.get_next_available_stream_id()
    c.conn.send_headers(sid, request_headers(address, "/upload", method="POST"))
    c.flush()
    sent = 0
    stop = time.monotonic() + 10
    try:
        while sent < size and time.monotonic() < stop and not c.closed and sid not in c.ended and sid not in c.resets:
            window = min(c.conn.local_flow_control_window(sid), 10240, size - sent)
            if window <= 0:
                c.pump(lambda: c.conn.local_flow_control_window(sid) > 0 or sid in c.ended or sid in c.resets,
                       deadline=2)
                continue
            c.conn.send_data(sid, b"u" * window)
            sent += window
            c.flush()
        c.conn.end_stream(sid)
        c.flush()
    except h2.exceptions.StreamClosedError:
        pass  # answered (413) before the whole body went
    c.pump(lambda: sid in c.ended or sid in c.resets)
    print("sent", sent)
    print("status", c.status.get(sid))
    print("body", bytes(c.bodies.get(sid, b"")).decode(errors="replace").replace("\n", "\\n"))


def mode_held(address, path):
    """A request the backend holds: prints "sent", "goaway CODE LAST" as soon as a
    GOAWAY arrives, then the stream's outcome."""
    c = Client(address)
    sid = c.conn.get_next_available_stream_id()
    c.conn.send_headers(sid, request_headers(address, path), end_stream=True)
    c.flush()
    print("sent", flush=True)
    c.pump(lambda: c.goaway is not None or sid in c.ended or sid in c.resets)
    if c.goaway is not None:
        print("goaway", c.goaway[0], c.goaway[1], flush=True)
    c.pump(lambda: sid in c.ended or sid in c.resets)
    print("status", c.status.get(sid))
    print("body", bytes(c.bodies.get(sid, b"")).decode(errors="replace").replace("\n", "\\n"))
    if c.goaway is not None:
        c.pump(lambda: False, deadline=5)  # until keel closes the connection
        print("closed", c.closed)


def mode_resets(address, count):
    """`count` requests the client resets at once, then one it lets finish."""
    c = Client(address)
    for _ in range(int(count)):
        sid = c.conn.get_next_available_stream_id()
        c.conn.send_headers(sid, request_headers(address, "/reset"), end_stream=True)
        c.conn.reset_stream(sid, error_code=8)
    last = c.conn.get_next_available_stream_id()
    c.conn.send_headers(last, request_headers(address, "/last"), end_stream=True)
    c.flush()
    c.pump(lambda: last in c.ended or last in c.resets)
    print("status", c.status.get(last))


MODES = {
    "held": mode_held,
    "resets": mode_resets,
    "get": mode_get,
    "concurrent": mode_concurrent,
    "big_headers": mode_big_headers,
    "bad_header": mode_bad_header,
    "rapid_reset": mode_rapid_reset,
    "continuation_flood": mode_continuation_flood,
    "settings_flood": mode_settings_flood,
    "ping_flood": mode_ping_flood,
    "zero_window": mode_zero_window,
    "reset_after_signal": mode_reset_after_signal,
    "upload": mode_upload,
    "stalled_upload": mode_stalled_upload,
    "get_across_signal": mode_get_across_signal,
    "post_whole": mode_post_whole,
    "split_preface": mode_split_preface,
}

if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in MODES:
        sys.exit("usage: h2_client.py {%s} HOST:PORT [ARG]" % "|".join(MODES))
    MODES[sys.argv[1]](sys.argv[2], *sys.argv[3:])
    print("end", flush=True)

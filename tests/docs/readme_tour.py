#!/usr/bin/env python3
"""docs.tour: every command of the README's tour works against the demo config.

The tour is the part of README.md between `<!-- tour:begin -->` and
`<!-- tour:end -->`. In its ```console blocks, a line `$ COMMAND` is run with
bash from the repository root, and the lines after it (up to the next `$ ` line
or the block's end) are what it must print: each expected line must appear in
the output in order, where `...` stands for any text. A command must exit 0.

The setup is the demo's (scripts/demo), on free ports instead of the fixed ones
so that the test never collides with a demo or another test on this machine:
three keel-echo backends (echo-1, echo-2 in the pool, echo-3 spare) and keel on
conf/keel.yaml itself with its addresses replaced. The same replacements are
made in the commands and the expected output: 8080 is keel's listener, 9901 its
admin API, 8081-8083 the backends, `$(pidof keel)` this keel, `build/keel` the
binary under test. conf/keel.yaml must therefore keep its listener on
127.0.0.1:8080, its admin API on 127.0.0.1:9901 and its backends 8081 and 8082.

Usage: readme_tour.py REPO_ROOT KEEL KEEL_ECHO
"""
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time

COMMAND_TIMEOUT = 10  # seconds per command
START_TIMEOUT = 10


def tour_blocks(readme: str):
    """[(command, [expected lines])] in README order."""
    match = re.search(r"<!-- tour:begin -->(.*?)<!-- tour:end -->", readme, re.DOTALL)
    if not match:
        raise SystemExit("README.md has no <!-- tour:begin --> ... <!-- tour:end --> section")
    steps = []
    for block in re.findall(r"```console\n(.*?)```", match.group(1), re.DOTALL):
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif steps and line.strip():
                steps[-1][1].append(line)
    if not steps:
        raise SystemExit("the README's tour has no `$ command` lines")
    return steps


def read_listening(proc, wanted: int, deadline: float):
    """The addresses of the first `wanted` 'listening on' lines of proc's stdout.

    Reads the pipe unbuffered: a buffered readline could take both lines at once
    and leave select() waiting for bytes that already arrived."""
    found, pending = [], b""
    fd = proc.stdout.fileno()
    while len(found) < wanted:
        while b"\n" not in pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise RuntimeError(f"no 'listening on' line from {proc.args[0]} in time")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError(f"{proc.args[0]} exited with {proc.wait()} before listening")
            pending += chunk
        line, pending = pending.split(b"\n", 1)
        match = re.match(r"(?:admin )?listening on (\S+)", line.decode())
        if match:
            found.append(match.group(1))
    return found


def matches(expected, output: str) -> bool:
    """Each expected line, with '...' as a wildcard, appears in order in output."""
    position = 0
    for line in expected:
        pattern = ".*?".join(re.escape(part) for part in line.split("..."))
        found = re.compile(pattern).search(output, position)
        if not found:
            return False
        position = found.end()
    return True


def main() -> int:
    root, keel, echo = sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
    os.chdir(root)
    with open("README.md", encoding="utf-8") as f:
        steps = tour_blocks(f.read())
    with open("conf/keel.yaml", encoding="utf-8") as f:
        config = f.read()

    processes = []
    work = tempfile.mkdtemp(prefix="keel-tour-")
    try:
        deadline = time.monotonic() + START_TIMEOUT
        ports = {}
        for number, name in ((8081, "echo-1"), (8082, "echo-2"), (8083, "echo-3")):
            proc = subprocess.Popen([echo, "--listen", "127.0.0.1:0", "--id", name],
                                    stdout=subprocess.PIPE)
            processes.append(proc)
            ports[number] = read_listening(proc, 1, deadline)[0].rsplit(":", 1)[1]

        replacements = {"127.0.0.1:8080": "127.0.0.1:0", "127.0.0.1:9901": "127.0.0.1:0",
                        "127.0.0.1:8081": f"127.0.0.1:{ports[8081]}",
                        "127.0.0.1:8082": f"127.0.0.1:{ports[8082]}"}
        for old, new in replacements.items():
            if old not in config:
                raise SystemExit(f"conf/keel.yaml no longer has {old}: the README's tour relies on it")
            config = config.replace(old, new)
        config_path = os.path.join(work, "keel.yaml")
        with open(config_path, "w", encoding="utf-8") as f:
            f.write(config)
        keel_log = open(os.path.join(work, "keel.err"), "w+")
        proc = subprocess.Popen([keel, "--config", config_path], stdout=subprocess.PIPE,
                                stderr=keel_log)
        processes.append(proc)
        listener, admin = read_listening(proc, 2, deadline)
        ports[8080] = listener.rsplit(":", 1)[1]
        ports[9901] = admin.rsplit(":", 1)[1]

        def substitute(text: str) -> str:
            for number, port in ports.items():
                text = re.sub(rf"(localhost|127\.0\.0\.1):{number}\b", rf"\g<1>:{port}", text)
            text = text.replace("$(pidof keel)", str(proc.pid))
            return re.sub(r"(^|[;&|]\s*)build/keel\b", rf"\g<1>{keel}", text)

        failures = 0
        for command, expected in steps:
            run = substitute(command)
            want = [substitute(line) for line in expected]
            try:
                result = subprocess.run(["bash", "-o", "pipefail", "-c", run], capture_output=True, text=True,
                                        timeout=COMMAND_TIMEOUT)
                output, status = result.stdout, result.returncode
            except subprocess.TimeoutExpired:
                output, status = "", "timeout"
            ok = status == 0 and matches(want, output)
            print(("ok    " if ok else "FAIL  ") + command)
            if not ok:
                failures += 1
                print(f"  ran: {run}\n  exit status: {status}\n  output:\n" +
                      "".join(f"    {line}\n" for line in output.splitlines()) +
                      "  expected (in order, ... = anything):\n" + "".join(f"    {line}\n" for line in want),
                      file=sys.stderr)
            if proc.poll() is not None:
                print(f"keel exited with {proc.returncode} after: {command}", file=sys.stderr)
                failures += 1
                break
        if failures:
            keel_log.seek(0)
            print("keel's log:\n" + keel_log.read(), file=sys.stderr)
        print(f"{len(steps)} tour commands, {failures} failed")
        return 1 if failures else 0
    finally:
        for proc in processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in processes:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""The host alerts in conf/prometheus/keel-alerts.yml query node_exporter metrics that
a real node_exporter (Debian prometheus-node-exporter) exposes: an alert on a misspelt
name would never fire, and promtool's rule tests only feed made-up series.

  node_metrics_test.py RULES_FILE

Exits 0 when every node_* name is in a real scrape, 1 with a FAIL line otherwise
(also when node_exporter is missing: a check that cannot run must not pass).
"""

import re
import shutil
import subprocess
import sys
import time
import urllib.request

WAIT = 10  # seconds


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def rule_names(path):
    """node_* names outside comments; histogram-like suffixes are not used by the rules."""
    names = set()
    with open(path) as rules:
        for line in rules:
            if line.lstrip().startswith("#"):
                continue
            names.update(re.findall(r"\b(node_[a-zA-Z0-9_]+)", line))
    names.discard("node_exporter")
    return names


def scrape():
    binary = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    if not binary:
        fail("prometheus-node-exporter not found: install the Debian package prometheus-node-exporter "
             "(scripts/install-deps prometheus-node-exporter)")
    # Only the collectors the rules read, on an ephemeral port it reports on stderr.
    proc = subprocess.Popen([binary, "--web.listen-address=127.0.0.1:0", "--collector.disable-defaults",
                             "--collector.cpu", "--collector.meminfo", "--collector.filesystem"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + WAIT
        address = None
        seen = []
        while address is None:
            line = proc.stderr.readline()
            if not line or time.monotonic() > deadline:
                fail("node_exporter did not start:\n" + "".join(seen))
            seen.append(line)
            match = re.search(r'msg="Listening on" address=(\S+)', line)
            if match:
                address = match.group(1)
        with urllib.request.urlopen("http://%s/metrics" % address, timeout=WAIT) as response:
            return response.read().decode()
    finally:
        proc.kill()
        proc.wait(WAIT)


def main():
    if len(sys.argv) != 2:
        fail("usage: node_metrics_test.py RULES_FILE")
    wanted = rule_names(sys.argv[1])
    if len(wanted) < 3:
        fail("expected the host rules' node_* metrics in %s, found %s" % (sys.argv[1], sorted(wanted)))
    exposed = set(re.findall(r"^# TYPE (\S+) ", scrape(), re.MULTILINE))
    missing = sorted(wanted - exposed)
    if missing:
        fail("the host alerts use %s, which node_exporter does not expose" % ", ".join(missing))
    print("PASS: %d node_exporter metrics of the host alerts exist: %s" % (len(wanted), ", ".join(sorted(wanted))))


if __name__ == "__main__":
    main()

"""What every browser test needs: fail() with a FAIL line, the guarded selenium import,
Child (a process that announces `listening on HOST:PORT`, killed on exit) and browser()
(headless Debian Chromium driven by chromedriver).

A browser test that cannot run (chromium, chromedriver or selenium missing) fails with a
FAIL line naming the Debian package: it must never pass unchecked.
"""

import argparse
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

WAIT = 10  # seconds: the bound of every wait for a page, keel or a backend


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
except ImportError:
    fail("python3 selenium not found: install the Debian package python3-selenium "
         "(scripts/install-deps python3-selenium)")


class Child:
    """A process that prints `listening on HOST:PORT` lines on stdout; killed on exit."""

    def __init__(self, argv, listening_lines=1, env=None):
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log, env=env)
        self.addresses = []
        deadline = time.monotonic() + WAIT
        buffer = b""
        while len(self.addresses) < listening_lines:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.stop()
                fail("%s did not start listening:\n%s" % (argv[0], self.stderr()))
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                text = line.decode()
                if "listening on " in text:
                    self.addresses.append(text.split("listening on ", 1)[1].strip())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(WAIT)

    def stderr(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]


def arguments(description, extra=None):
    """--keel and --echo (executables, checked), and what `extra(parser)` adds."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--keel", required=True)
    parser.add_argument("--echo", required=True)
    if extra:
        extra(parser)
    args = parser.parse_args()
    for binary in (args.keel, args.echo):
        if not os.access(binary, os.X_OK):
            fail("%s is not an executable: build it first" % binary)
    return args


def browser(extra_flags=()):
    """Headless Chromium; extra_flags are added to the usual ones."""
    chromium = shutil.which("chromium")
    chromedriver = shutil.which("chromedriver")
    if not chromium or not chromedriver:
        fail("chromium or chromedriver not found: install the Debian packages chromium and "
             "chromium-driver (scripts/install-deps chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,900", "--no-first-run", "--disable-extensions") + tuple(extra_flags):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(chromedriver), options=options)

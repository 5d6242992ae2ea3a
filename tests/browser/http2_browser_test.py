#!/usr/bin/python3
"""HTTP/2 through keel's TLS listener in headless Chromium (Debian chromium,
chromium-driver, python3-selenium, openssl): a throwaway CA signs a certificate for
127.0.0.1, keel serves it on an ephemeral port in front of two keel-echo backends, and
the browser loads a page, uploads a body several flow-control windows long and sends
parallel requests, all over one h2 connection.

  http2_browser_test.py --keel build/keel --echo build/keel-echo

Exits 0 when every check passed, 1 with a FAIL line otherwise (also when chromium,
chromedriver, selenium or openssl is missing: a browser test that cannot run must not
pass).
"""

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

from browser_support import WAIT, Child, arguments, browser, fail  # first: fails clearly without selenium
from selenium.common.exceptions import TimeoutException, WebDriverException

UPLOAD_BYTES = 200 * 1024  # a little over three of keel's 64 KiB stream windows
PARALLEL = 8               # fetches in flight at once


def openssl(directory, *args, stdin=None):
    try:
        done = subprocess.run(("openssl",) + args, cwd=directory, input=stdin, capture_output=True,
                              timeout=WAIT)
    except subprocess.TimeoutExpired:
        fail("openssl %s took longer than %d s" % (args[0], WAIT))
    if done.returncode != 0:
        fail("openssl %s failed:\n%s" % (" ".join(args), done.stderr.decode(errors="replace")))
    return done.stdout


def make_certificate(directory):
    """A CA and a server certificate for 127.0.0.1 and localhost, signed by it.
    Returns the certificate's and key's paths and the base64 SHA-256 of the
    certificate's public key (SPKI), the form Chromium's allow-list takes."""
    if not shutil.which("openssl"):
        fail("openssl not found: install the Debian package openssl (scripts/install-deps openssl)")
    curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl(directory, "req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=keel browser test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    openssl(directory, "req", *curve, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(directory, "server.ext"), "w") as out:
        out.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                  "extendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n")
    openssl(directory, "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.crt")
    public_pem = openssl(directory, "x509", "-in", "server.crt", "-noout", "-pubkey")
    spki = openssl(directory, "pkey", "-pubin", "-outform", "DER", stdin=public_pem)
    return (os.path.join(directory, "server.crt"), os.path.join(directory, "server.key"),
            base64.b64encode(hashlib.sha256(spki).digest()).decode())


def write_config(directory, certificate, key, backends, access_log):
    path = os.path.join(directory, "keel.yaml")
    with open(path, "w") as out:
        out.write("""workers: 1
listeners:
  - address: 127.0.0.1:0
    tls: { certificate: "%s", private_key: "%s" }
admin:
  address: 127.0.0.1:0
pools:
  - name: web
    balance: round_robin
    backends:
%saccess_log: { path: "%s", format: json }
""" % (certificate, key, "".join('      - { address: "%s" }\n' % b for b in backends), access_log))
    return path


def accepted_connections(admin):
    with urllib.request.urlopen("http://%s/metrics" % admin, timeout=WAIT) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("keel_accepted_connections_total "):
                return int(float(line.split()[1]))
    fail("keel's /metrics has no keel_accepted_connections_total")


# The protocol a fetch went over: its resource timing entry is queued once its body is
# read, so it may appear a moment later.
PROTOCOL_OF = """
async function protocol_of(url) {
    for (;;) {
        const entry = performance.getEntriesByName(url).pop();
        if (entry) return entry.nextHopProtocol;
        await new Promise(resolve => setTimeout(resolve, 10));
    }
}
"""


def in_page(driver, what, script):
    """Runs an async script in the page: it calls done(value) with a JSON-able value, or
    done({error: text}). A script that never answers fails after WAIT seconds."""
    try:
        result = driver.execute_async_script(
            "const done = arguments[arguments.length - 1];\n" + PROTOCOL_OF +
            "(async () => {" + script + "})().then(done, e => done({error: String(e)}));")
    except TimeoutException:
        fail("%s: no answer in the page within %d s" % (what, WAIT))
    except WebDriverException as error:
        fail("%s: %s" % (what, error.msg))
    if isinstance(result, dict) and "error" in result:
        fail("%s: %s" % (what, result["error"]))
    return result


def check_navigation(driver, origin):
    """The page itself: negotiated h2, and forwarded to a backend as an HTTPS request."""
    try:
        driver.get(origin + "/page")
    except WebDriverException as error:
        fail("loading %s/page: %s" % (origin, error.msg))
    protocol = driver.execute_script(
        "const n = performance.getEntriesByType('navigation')[0]; return n ? n.nextHopProtocol : null;")
    if protocol != "h2":
        fail("the page was loaded over %r, not h2 (ALPN did not pick HTTP/2)" % protocol)
    text = driver.execute_script("return document.body ? document.body.innerText : '';")
    try:
        echo = json.loads(text[text.index("{"):text.rindex("}") + 1])
    except ValueError:
        fail("the page is not the echo's JSON:\n%s" % text[:2000])
    if echo.get("method") != "GET" or echo.get("target") != "/page":
        fail("the backend saw %s %s, not GET /page" % (echo.get("method"), echo.get("target")))
    proto = echo.get("headers", {}).get("x-forwarded-proto")
    if proto != "https":
        fail("the backend saw X-Forwarded-Proto %r, not https: %s" % (proto, text[:2000]))


def check_upload(driver):
    """A body several flow-control windows long arrives whole: keel opens the window as
    bytes reach the backend."""
    answer = in_page(driver, "POST of %d bytes" % UPLOAD_BYTES, """
        const body = new Uint8Array(%d);
        for (let i = 0; i < body.length; i++) body[i] = i & 0xff;
        const response = await fetch('/upload', {method: 'POST', body: body,
                                                 headers: {'Content-Type': 'application/octet-stream'}});
        const echo = await response.json();
        return {status: response.status, echo: echo, protocol: await protocol_of(response.url)};""" % UPLOAD_BYTES)
    echo = answer["echo"]
    if answer["status"] != 200 or echo.get("method") != "POST":
        fail("the upload got %d and reached the backend as %s" % (answer["status"], echo.get("method")))
    if echo.get("body_length") != UPLOAD_BYTES:
        fail("sent %d bytes, the backend received %s" % (UPLOAD_BYTES, echo.get("body_length")))
    if answer["protocol"] != "h2":
        fail("the upload went over %r, not h2" % answer["protocol"])


def check_parallel(driver, admin):
    """Requests in flight at once, on the connection the page already opened, reach both
    backends (round robin). Counted as no new connection rather than one in all:
    Chromium's preconnect predictor sometimes opens a spare socket while the page loads
    (its net log shows it idle until the browser quits)."""
    before = accepted_connections(admin)
    answers = in_page(driver, "%d parallel fetches" % PARALLEL, """
        const urls = Array.from({length: %d}, (_, i) => '/parallel/' + i);
        return Promise.all(urls.map(async url => {
            const response = await fetch(url, {cache: 'no-store'});
            const echo = await response.json();
            return {status: response.status, echo: echo, protocol: await protocol_of(response.url)};
        }));""" % PARALLEL)
    after = accepted_connections(admin)
    for answer in answers:
        if answer["status"] != 200 or answer["protocol"] != "h2":
            fail("a parallel fetch got %d over %r" % (answer["status"], answer["protocol"]))
    ids = sorted({answer["echo"].get("id") for answer in answers})
    if ids != ["a", "b"]:
        fail("%d requests reached backends %s, not both a and b" % (PARALLEL, ids))
    if after != before:
        fail("the parallel fetches opened %d more connection(s) instead of sharing the page's"
             % (after - before))
    return after


def check_access_log(path, expected):
    """Every request is logged, as HTTP/2.0 (written every 20 ms, off the worker)."""
    deadline = time.monotonic() + WAIT
    lines = []
    while time.monotonic() < deadline:
        with open(path) as log:
            lines = [json.loads(line) for line in log if line.strip()]
        if all(any(line["target"] == target for line in lines) for target in expected):
            break
        time.sleep(0.05)
    else:
        fail("the access log lacks some of %s within %d s; it has:\n%s"
             % (expected, WAIT, "\n".join(json.dumps(line) for line in lines)))
    for line in lines:
        if line["protocol"] != "HTTP/2.0":
            fail("the access log shows %s for %s, not HTTP/2.0" % (line["protocol"], line["target"]))


def main():
    args = arguments(__doc__.split("\n\n")[0])

    started = time.monotonic()
    children = []
    keel = None
    driver = None
    try:
        with tempfile.TemporaryDirectory() as directory:
            certificate, key, spki = make_certificate(directory)
            for name in ("a", "b"):
                children.append(Child([args.echo, "--listen", "127.0.0.1:0", "--id", name]))
            access_log = os.path.join(directory, "access.log")
            config = write_config(directory, certificate, key, [c.addresses[0] for c in children], access_log)
            keel = Child([args.keel, "--config", config], listening_lines=2)
            children.append(keel)
            listener, admin = keel.addresses  # "listening on" first, then "admin listening on"

            # Trust exactly this certificate's key, as a pinned CA would.
            driver = browser(["--ignore-certificate-errors-spki-list=" + spki])
            driver.set_page_load_timeout(WAIT)
            driver.set_script_timeout(WAIT)
            check_navigation(driver, "https://" + listener)
            check_upload(driver)
            connections = check_parallel(driver, admin)
            check_access_log(access_log, ["/page", "/upload"] + ["/parallel/%d" % i for i in range(PARALLEL)])
    except SystemExit:
        if keel:
            print("keel's log:\n" + keel.stderr(), file=sys.stderr)
        raise
    finally:
        if driver:
            driver.quit()
        for child in children:
            child.stop()
    print("PASS: HTTP/2 over TLS in headless Chromium, %d client connection(s) (%.1fs)"
          % (connections, time.monotonic() - started))


if __name__ == "__main__":
    main()

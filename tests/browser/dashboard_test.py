#!/usr/bin/python3
"""The dashboard end to end in headless Chromium (Debian chromium, chromium-driver,
python3-selenium): keel and keel-echo backends run on 127.0.0.1 with ephemeral ports,
the browser loads the page from the admin listener and works its buttons.

  dashboard_test.py --keel build/keel --echo build/keel-echo [--screenshot docs/dashboard.png]

Exits 0 when every check passed, 1 with a FAIL line otherwise (also when chromium,
chromedriver or selenium is missing: a browser test that cannot run must not pass).
"""

import json
import os
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from browser_support import WAIT, Child, arguments, browser, fail  # first: fails clearly without selenium
from selenium.common.exceptions import TimeoutException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def api(admin, method, path, body=None, token=None):
    request = urllib.request.Request("http://" + admin + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=WAIT) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def backend_json(admin, pool, address, token=None):
    status, body = api(admin, "GET", "/api/v1/pools/" + pool, token=token)
    if status != 200:
        return None
    for backend in json.loads(body)["backends"]:
        if backend["address"] == address:
            return backend
    return None


class Page:
    def __init__(self, driver):
        self.driver = driver

    def wait(self, what, condition, timeout=WAIT):
        if os.environ.get("DASHBOARD_TEST_TRACE"):
            print("%.2f waiting for %s" % (time.monotonic(), what), file=sys.stderr)
        try:
            return WebDriverWait(self.driver, timeout, ignored_exceptions=[StaleElementReferenceException]).until(
                lambda _: condition())
        except TimeoutException:
            fail("the page never showed %s; it shows:\n%s" % (what, self.text()))

    def text(self):
        try:
            return self.driver.find_element(By.TAG_NAME, "body").text
        except Exception:  # the page itself is broken: say so rather than hide the first failure
            return "<no page>"

    def rows(self, pool):
        return self.driver.find_elements(By.CSS_SELECTOR, 'section[data-pool="%s"] tbody tr' % pool)

    def row(self, pool, address):
        found = self.driver.find_elements(
            By.CSS_SELECTOR, 'section[data-pool="%s"] tbody tr[data-backend="%s"]' % (pool, address))
        return found[0] if found else None

    def cell(self, pool, address, name):
        # Found and read in one script: the page redraws its tables every refresh, and an
        # element found by one call can be gone (stale) by the next.
        return self.driver.execute_script(
            "const td = document.querySelector(arguments[0]); return td ? td.innerText.trim() : null;",
            'section[data-pool="%s"] tbody tr[data-backend="%s"] td.%s' % (pool, address, name))

    def click(self, pool, address, button):
        def press():  # found and clicked again if a redraw made the button stale in between
            row = self.row(pool, address)
            buttons = row.find_elements(By.CSS_SELECTOR, "button." + button) if row else []
            if buttons:
                buttons[0].click()
            return bool(buttons)
        self.wait("a %s button for %s" % (button, address), press)


def write_config(directory, backends, extra=""):
    path = os.path.join(directory, "keel.yaml")
    with open(path, "w") as out:
        out.write("""workers: 2
listeners:
  - address: 127.0.0.1:0
admin:
  address: 127.0.0.1:0
pools:
  - name: web
    backends:
%s    health_check: { path: /healthz, interval: 200ms, timeout: 200ms, unhealthy_threshold: 1 }
  - name: api
    backends:
      - { address: "%s" }
    autoscale: { target_concurrency: 10, min_backends: 1, max_backends: 4 }
%s""" % ("".join('      - { address: "%s" }\n' % b for b in backends[:-1]), backends[-1], extra))
    return path


def open_keel(directory, echo_binary, keel_binary, children, env=None):
    backends = [Child([echo_binary, "--listen", "127.0.0.1:0", "--id", name]) for name in ("a", "b", "c")]
    children.extend(backends)
    addresses = [b.addresses[0] for b in backends]
    keel = Child([keel_binary, "--config", write_config(directory, addresses)], listening_lines=2, env=env)
    children.append(keel)
    admin = keel.addresses[1]  # "listening on" first, then "admin listening on"
    return keel, admin, backends, addresses


def check_without_token(driver, args, directory, children, screenshot):
    keel, admin, backends, (a, b, c) = open_keel(directory, args.echo, args.keel, children)
    page = Page(driver)
    driver.get("http://%s/?refresh=0.3" % admin)  # quicker than the default 2 s, for a quicker test

    # Every pool, its backends, their health and the autoscaling state.
    page.wait("both pools with their backends",
              lambda: {r.get_attribute("data-backend") for r in page.rows("web")} == {a, b}
              and page.row("api", c) is not None)
    page.wait("backend a healthy after its check", lambda: page.cell("web", a, "health").startswith("healthy"))
    page.wait("the autoscale state of pool api",
              lambda: "current" in driver.find_element(By.CSS_SELECTOR, 'section[data-pool="api"] .autoscale').text)
    if not page.cell("api", c, "health").startswith("unchecked"):
        fail("pool api has no checks, yet shows %r" % page.cell("api", c, "health"))

    # A backend added through the API appears, and turns healthy.
    extra = Child([args.echo, "--listen", "127.0.0.1:0", "--id", "d"])
    children.append(extra)
    d = extra.addresses[0]
    status, body = api(admin, "POST", "/api/v1/pools/web/backends", {"address": d})
    if status != 201:
        fail("POST of a backend answered %d: %s" % (status, body))
    page.wait("the backend added through the API", lambda: page.row("web", d) is not None)
    page.wait("the added backend healthy", lambda: page.cell("web", d, "health").startswith("healthy"))

    # Drain, then re-activate, with the buttons; the API agrees with the page.
    page.click("web", d, "drain")
    page.wait("the drained backend as draining", lambda: page.cell("web", d, "state") == "draining")
    if backend_json(admin, "web", d)["state"] != "draining":
        fail("the page says draining, the API says %s" % backend_json(admin, "web", d)["state"])
    page.click("web", d, "activate")
    page.wait("the re-activated backend as active", lambda: page.cell("web", d, "state") == "active")
    if backend_json(admin, "web", d)["state"] != "active":
        fail("re-activate did not reach the API")

    # A killed backend turns unhealthy, with the reason.
    backends[1].stop()
    page.wait("the killed backend unhealthy with its reason",
              lambda: page.cell("web", b, "health").startswith("unhealthy")
              and "connection refused" in page.cell("web", b, "health"))

    # The add form and the remove button.
    spare = Child([args.echo, "--listen", "127.0.0.1:0", "--id", "e"])
    children.append(spare)
    e = spare.addresses[0]
    form = driver.find_element(By.CSS_SELECTOR, 'section[data-pool="web"] form.add')
    form.find_element(By.NAME, "address").send_keys(e)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    page.wait("the backend added with the form", lambda: page.row("web", e) is not None)
    if backend_json(admin, "web", e) is None:
        fail("the add form did not reach the API")
    page.click("web", e, "remove")
    driver.switch_to.alert.accept()
    page.wait("the removed backend gone", lambda: page.row("web", e) is None)

    if screenshot:
        # Traffic while the picture is taken, so the rates are not all zero.
        stop = threading.Event()

        def traffic():
            while not stop.is_set():
                try:
                    urllib.request.urlopen("http://%s/" % keel.addresses[0], timeout=WAIT).read()
                except urllib.error.URLError:
                    pass
        sender = threading.Thread(target=traffic)
        sender.start()
        page.wait("a request rate above zero for the picture", lambda: any(
            text not in ("", "–", "0.0") for text in driver.execute_script(
                "return [...document.querySelectorAll('td.rate')].map(td => td.innerText.trim());")))
        driver.save_screenshot(screenshot)
        stop.set()
        sender.join()

    # A refused change is shown, not swallowed.
    form.find_element(By.NAME, "address").send_keys(d)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    page.wait("the 409 of a duplicate backend", lambda: "already in pool" in driver.find_element(By.ID, "message").text)

    for child in [keel] + backends + [extra, spare]:
        child.stop()


def check_token(driver, args, directory, children):
    token = "s3cret-dashboard-token"
    env = dict(os.environ, KEEL_ADMIN_TOKEN=token)
    keel, admin, backends, (a, b, c) = open_keel(directory, args.echo, args.keel, children, env)
    page = Page(driver)

    # The page itself needs no token; the API does, and the page asks for it.
    status, _ = api(admin, "GET", "/")
    if status != 200:
        fail("the page should be served without a token, got %d" % status)
    status, _ = api(admin, "GET", "/api/v1/pools")
    if status != 401:
        fail("the API answered %d without the token" % status)
    driver.get("http://%s/?refresh=0.3" % admin)
    page.wait("the token form", lambda: driver.find_element(By.ID, "token-form").is_displayed())
    if page.rows("web"):
        fail("pools shown before a token was given")

    token_input = driver.find_element(By.ID, "token")
    token_input.send_keys("wrong")
    driver.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()
    page.wait("the refusal of a wrong token", lambda: "refused" in driver.find_element(By.ID, "token-error").text)

    token_input.send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()
    page.wait("the pools once the token is given", lambda: page.row("web", a) is not None)
    if driver.find_element(By.ID, "token-form").is_displayed():
        fail("the token form stays after a valid token")

    # Typed once: a reload of the page keeps it (sessionStorage), and changes work.
    driver.refresh()
    page.wait("the pools after a reload, without asking again", lambda: page.row("web", a) is not None)
    page.click("web", a, "drain")
    page.wait("a drained with the token", lambda: page.cell("web", a, "state") == "draining")
    if backend_json(admin, "web", a, token)["state"] != "draining":
        fail("the drain with a token did not reach the API")
    for child in [keel] + backends:
        child.stop()


def main():
    args = arguments(__doc__.split("\n\n")[0],
                     lambda parser: parser.add_argument("--screenshot", help="save a picture of the page here"))

    started = time.monotonic()
    children = []
    driver = None
    try:
        driver = browser()
        with tempfile.TemporaryDirectory() as directory:
            check_without_token(driver, args, directory, children, args.screenshot)
            check_token(driver, args, directory, children)
    except SystemExit:
        for child in children:
            if isinstance(child, Child) and child.proc.args[0] == args.keel:
                print("keel's log:\n" + child.stderr(), file=sys.stderr)
        raise
    finally:
        if driver:
            driver.quit()
        for child in children:
            child.stop()
    print("PASS: dashboard in headless Chromium (%.1fs)" % (time.monotonic() - started))


if __name__ == "__main__":
    main()

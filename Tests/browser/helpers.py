"""Helpers shared by the browser tests: ports, headless Chromium, error collection."""

import contextlib
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")

# Installed before any page script runs: records uncaught errors and rejections.
ERROR_HOOK = """
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || e)));
window.addEventListener('unhandledrejection', e => window.__errors.push('unhandled: ' + String(e.reason && e.reason.stack || e.reason)));
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30.0, ca_file: str | None = None) -> None:
    """Waits until GET url answers 200 (over https, trusting `ca_file`)."""
    deadline = time.monotonic() + timeout
    last = None
    context = ssl.create_default_context(cafile=ca_file) if ca_file else None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as r:
                if r.status == 200:
                    return
        except Exception as e:  # noqa: BLE001 - any failure means "not yet"
            last = e
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready: {last}")


def make_driver(width: int = 1200, height: int = 800, profile_dir: str | None = None,
                trust_spki: str | None = None) -> webdriver.Chrome:
    """A headless Chromium with its own profile (so localStorage is per person); `trust_spki`: the
    SHA-256 fingerprint (base64) of the one server key to accept without a trusted CA."""
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--force-device-scale-factor=1"):
        opts.add_argument(arg)
    if trust_spki:
        opts.add_argument(f"--ignore-certificate-errors-spki-list={trust_spki}")
    opts.add_argument(f"--user-data-dir={profile_dir or tempfile.mkdtemp(prefix='webchat-profile-')}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": ERROR_HOOK})
    driver.set_window_size(width, height)
    return driver


def script_errors(driver) -> list[str]:
    """Uncaught errors seen by the page hook plus SEVERE console entries."""
    errors = list(driver.execute_script("return window.__errors || []") or [])
    for entry in driver.get_log("browser"):
        if entry.get("level") == "SEVERE":
            errors.append(entry.get("message", ""))
    return errors


@contextlib.contextmanager
def python_socketio_server(script: Path, page: str):
    """A python-socketio test server (`script`, pinging every second) on a free port that also serves
    `pages/<page>`; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(script), str(port), "--ping-interval", "1", "--ping-timeout", "1"])
    try:
        wait_http(f"http://127.0.0.1:{port}/test/{page}")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


def run_check_page(url: str, profile_dir: str, at_least: int, ignored_errors: tuple[str, ...]) -> None:
    """Opens a page of in-browser checks (they set `window.__results` and `window.__done`) and asserts that it
    finished, that every check passed, that there were at least `at_least`, and that the console holds no error
    but those containing one of `ignored_errors`."""
    driver = make_driver(profile_dir=profile_dir)
    try:
        driver.get(url)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not driver.execute_script("return window.__done === true"):
            time.sleep(0.25)
        results = driver.execute_script("return window.__results || []")
        print(json.dumps(results, indent=1))
        assert driver.execute_script("return window.__done === true"), "page did not finish"
        failed = [r for r in results if not r["ok"]]
        assert not failed, failed
        assert len(results) >= at_least
        errors = [e for e in script_errors(driver) if not any(x in e for x in ignored_errors)]
        assert not errors, errors
    finally:
        driver.quit()

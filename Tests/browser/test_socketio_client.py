"""Public/js/socketio.js against python-socketio's server, in headless Chromium."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import free_port, make_driver, script_errors, wait_http

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def sio_server():
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(HERE / "sio_server.py"), str(port),
                             "--ping-interval", "1", "--ping-timeout", "1"])
    try:
        wait_http(f"http://127.0.0.1:{port}/test/socketio_test.html")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


def test_socketio_client_interoperates_with_python_socketio(sio_server, tmp_path):
    driver = make_driver(profile_dir=str(tmp_path / "profile"))
    try:
        driver.get(sio_server + "/test/socketio_test.html")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not driver.execute_script("return window.__done === true"):
            time.sleep(0.25)
        results = driver.execute_script("return window.__results || []")
        print(json.dumps(results, indent=1))
        assert driver.execute_script("return window.__done === true"), "page did not finish"
        failed = [r for r in results if not r["ok"]]
        assert not failed, failed
        assert len(results) >= 12
        # Failed WebSocket connections to the dead port are logged by Chromium; ignore those.
        errors = [e for e in script_errors(driver) if "127.0.0.1:9/" not in e]
        assert not errors, errors
    finally:
        driver.quit()

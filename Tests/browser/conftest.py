"""Fixtures for the browser tests.

The web-client tests drive the real server: WEBCHAT_BIN=/path/to/webchat is started per
test on a free port with a fresh SQLite store, and can be killed and restarted. The
Swift test suite (ChatServerTests/BrowserTests) sets it; without it the tests fail.
"""

import os
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from helpers import free_port, make_driver, script_errors, wait_http


# Console noise that is expected while a server is killed or a lookup 404s.
EXPECTED_CONSOLE = ("Failed to load resource", "WebSocket connection to", "ERR_CONNECTION_REFUSED")


class Server:
    """A webchat server process on a fixed port and data directory, restartable."""

    def __init__(self, argv_prefix: list[str], data_dir: str):
        self.port = free_port()
        self.data_dir = data_dir
        self.argv = argv_prefix + ["--host", "127.0.0.1", "--port", str(self.port),
                                   "--store", f"sqlite:{data_dir}/chat.sqlite", "--auth", "password"]
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.log = open(os.path.join(data_dir, "server.log"), "ab")

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT)
        wait_http(self.url + "/healthz", timeout=60)

    def kill(self) -> None:
        """SIGKILL, like a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def restart(self) -> None:
        """Same port, same data."""
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture
def server():
    binary = os.environ.get("WEBCHAT_BIN")
    if not binary:
        pytest.fail("set WEBCHAT_BIN to the webchat binary (swift build puts it in .build/debug/webchat)")
    s = Server([binary, "--bcrypt-cost", "4"], tempfile.mkdtemp(prefix="webchat-test-"))
    s.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def browsers():
    """Factory: browsers(width=..., profile_dir=...) → a new headless Chromium; all checked for script errors at the end."""
    drivers = []

    def make(**kwargs):
        d = make_driver(**kwargs)
        drivers.append(d)
        return d

    yield make
    problems = []
    for d in drivers:
        try:
            errs = [e for e in script_errors(d) if not any(x in e for x in EXPECTED_CONSOLE)]
            problems += errs
        except Exception:  # noqa: BLE001 - a driver the test already quit
            pass
        finally:
            try:
                d.quit()
            except Exception:  # noqa: BLE001
                pass
    assert not problems, f"script errors in the page: {problems}"

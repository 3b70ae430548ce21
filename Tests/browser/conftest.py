"""Fixtures for the browser tests.

Which server the web-client tests drive:
  WEBCHAT_BIN=/path/to/webchat  start that binary per test on a free port with a fresh
                                SQLite store (kill/restart tests run);
  WEBCHAT_URL=http://host:port  use a running server (kill/restart tests are skipped);
  neither                       start Tests/browser/mock_server.py, the python stand-in,
                                exactly like a binary (same arguments).
"""

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from helpers import free_port, make_driver, script_errors, wait_http

HERE = Path(__file__).resolve().parent

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
        self.can_restart = True
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


class ExternalServer:
    """A server someone else runs (WEBCHAT_URL): no kill or restart."""

    can_restart = False

    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def kill(self):
        pytest.skip("needs WEBCHAT_BIN (server restart)")

    restart = kill

    def stop(self):
        pass


@pytest.fixture
def server():
    binary = os.environ.get("WEBCHAT_BIN")
    url = os.environ.get("WEBCHAT_URL")
    if not binary and url:
        s = ExternalServer(url)
        wait_http(s.url + "/healthz")
        yield s
        return
    prefix = [binary] if binary else [sys.executable, str(HERE / "mock_server.py")]
    s = Server(prefix, tempfile.mkdtemp(prefix="webchat-test-"))
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

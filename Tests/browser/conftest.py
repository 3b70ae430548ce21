"""Fixtures for the browser tests.

The web-client tests drive the real server: WEBCHAT_BIN=/path/to/webchat is started per
test on a free port with a fresh SQLite store, and can be killed and restarted. The
Swift test suite (ChatServerTests/BrowserTests) sets it; without it the tests fail.
"""

import base64
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from helpers import free_port, make_driver, script_errors, wait_http
from webchat_page import Bot, unique


# Console noise that is expected while a server is killed or a lookup 404s.
EXPECTED_CONSOLE = ("Failed to load resource", "WebSocket connection to", "ERR_CONNECTION_REFUSED")


class Server:
    """A webchat server process on a fixed port and data directory, restartable."""

    def __init__(self, argv_prefix: list[str], data_dir: str, tls: "Certificates | None" = None):
        self.port = free_port()
        self.data_dir = data_dir
        self.argv = argv_prefix + ["--host", "127.0.0.1", "--port", str(self.port),
                                   "--store", f"sqlite:{data_dir}/chat.sqlite", "--auth", "password"]
        if tls:
            self.argv += ["--tls-cert-file", tls.chain, "--tls-key-file", tls.key]
        self.tls = tls
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.proc = None
        self.log = open(os.path.join(data_dir, "server.log"), "ab")

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT)
        wait_http(self.url + "/healthz", timeout=60, ca_file=self.tls.ca if self.tls else None)

    def kill(self) -> None:
        """SIGKILL, like a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def restart(self) -> None:
        """Same port, same data."""
        self.kill()
        self.start()

    def pause(self) -> None:
        """SIGSTOP: the server stalls, its connections stay open (resume() ends it)."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the test item, for fixtures to see whether it failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


def _failed(request) -> bool:
    return any(getattr(getattr(request.node, f"report_{when}", None), "failed", False) for when in ("setup", "call"))


class Certificates:
    """A CA of the test's own and a server certificate it signed for 127.0.0.1, made by openssl in
    `folder`; `spki` is the server key's SHA-256 fingerprint, which Chromium is told to trust."""

    def __init__(self, folder: str):
        self.ca, self.chain, self.key = (os.path.join(folder, name) for name in ("ca.pem", "server.pem", "server.key"))
        with open(os.path.join(folder, "san.cnf"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\n")
        for step in (
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=webchat test CA"],
            ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
            ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem",
             "-days", "2", "-extfile", "san.cnf"],
        ):
            subprocess.run(["openssl"] + step, cwd=folder, check=True, capture_output=True)
        public_key = subprocess.run(["openssl", "x509", "-in", self.chain, "-pubkey", "-noout"], check=True, capture_output=True).stdout
        der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=public_key, check=True, capture_output=True).stdout
        self.spki = base64.b64encode(hashlib.sha256(der).digest()).decode()


def pytest_configure(config):
    config.addinivalue_line("markers", "server_args(*args): more command-line options for the test's webchat server")


def _server(request, tls: bool = False):
    binary = os.environ.get("WEBCHAT_BIN")
    if not binary:
        pytest.fail("set WEBCHAT_BIN to the webchat binary (swift build puts it in .build/debug/webchat)")
    data_dir = tempfile.mkdtemp(prefix="webchat-test-")
    marker = request.node.get_closest_marker("server_args")
    s = Server([binary, "--bcrypt-cost", "4", *(marker.args if marker else ())], data_dir,
               tls=Certificates(data_dir) if tls else None)
    s.start()
    try:
        yield s
    finally:
        s.stop()
        # Its data and log are kept for a failed test, and said where.
        if _failed(request):
            print(f"server data and log kept in {s.data_dir}")
        else:
            shutil.rmtree(s.data_dir, ignore_errors=True)


@pytest.fixture
def server(request):
    yield from _server(request)


@pytest.fixture
def tls_server(request):
    """The server with --tls-cert-file and --tls-key-file; its URL is https."""
    yield from _server(request, tls=True)


@pytest.fixture
def browsers():
    """Factory: browsers(width=..., profile_dir=...) → a new headless Chromium; all checked for script errors at the end."""
    drivers = []
    profiles = []

    def make(**kwargs):
        # Every profile is the fixture's to remove, also one a test made to reuse across browsers.
        profile = kwargs.pop("profile_dir", None) or tempfile.mkdtemp(prefix="webchat-profile-")
        profiles.append(profile)
        d = make_driver(profile_dir=profile, **kwargs)
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
    for profile in set(profiles):
        shutil.rmtree(profile, ignore_errors=True)
    assert not problems, f"script errors in the page: {problems}"


@pytest.fixture
def bots(server):
    """Factory: bots("bob", connect=...) → a Bot signed up on the test's server; all disconnected at the end."""
    made = []

    def make(prefix: str, **kwargs):
        bot = Bot(server.url, unique(prefix), **kwargs)
        made.append(bot)
        return bot

    yield make
    for bot in made:
        bot.close()

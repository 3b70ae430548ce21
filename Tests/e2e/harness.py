"""Test-side helpers: a REST client and a Socket.IO chat client built on python-socketio
(the official Python client, which nobody on this project wrote), plus a way to run the
webchat binary as a child process. Used by chat_scenarios.py."""

import json
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
import uuid

import engineio
import requests
import socketio

# python-engineio hands every received message to a thread of its own (`run_async=True`), so
# under load events could reach the handlers in another order than they came on the wire;
# these checks are about the wire order. Handlers here are short and never wait for the server;
# a withheld ack (see `WithheldAck`) is not an error to log.
_trigger_event = engineio.Client._trigger_event


def _trigger_in_wire_order(self, event, *args, **kwargs):
    if event != "message" or "message" not in self.handlers:
        return _trigger_event(self, event, *args, **kwargs)
    try:
        return self.handlers["message"](*args)
    except WithheldAck:
        return None  # no ack goes back: the point of a client with ack=False
    except Exception:  # noqa: BLE001 - as engineio does: log it, keep reading
        self.logger.exception("message handler error")
        return None


engineio.Client._trigger_event = _trigger_in_wire_order


class Failure(AssertionError):
    pass


# A server with TLS whose certificate a test's own CA signed: REST and sockets trust that CA.
CA_FILE = os.environ.get("WEBCHAT_TEST_CA_FILE") or None


def trusting_session():
    """A requests session that trusts CA_FILE alone: REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE, set on
    many machines, would otherwise override its verify."""
    http = requests.Session()
    http.trust_env = False
    http.verify = CA_FILE
    return http


def check(condition, message, *details):
    if not condition:
        raise Failure(message + ("".join("\n  " + repr(d) for d in details)))


def new_id():
    return str(uuid.uuid4())


class Api:
    """The REST API under /api/v1."""

    def __init__(self, url, token=None):
        self.url = (url or "").rstrip("/")
        self.token = token

    def call(self, method, path, body=None, token=None, expect=None):
        headers = {}
        token = token if token is not None else self.token
        if token:
            headers["Authorization"] = "Bearer " + token
        r = requests.request(method, self.url + "/api/v1" + path, json=body, headers=headers, timeout=10, verify=CA_FILE or True)
        data = r.json() if r.content else None
        if expect is not None:
            check(r.status_code == expect, f"{method} {path}: expected {expect}, got {r.status_code}", data)
        return r.status_code, data

    def session(self, user, password=None):
        body = {"id": user}
        if password is not None:
            body["password"] = password
        status, data = self.call("POST", "/sessions", body, expect=200)
        return data["token"]


class WithheldAck(Exception):
    """Raised from an event handler so python-socketio sends no ack for that event."""


_default_excepthook = threading.excepthook


def _quiet_withheld_acks(args):
    # A WithheldAck is how a scenario declines to ack; it is not an error worth a traceback.
    if not isinstance(args.exc_value, WithheldAck):
        _default_excepthook(args)


threading.excepthook = _quiet_withheld_acks


class Chat:
    """One Socket.IO connection of one user, recording everything it receives."""

    def __init__(self, url, auth, transports=("websocket",), ack=True):
        self.url = url
        self.auth = auth
        self.ack = ack
        self.events = queue.Queue()
        self.log = []
        self.connect_error = None
        options = {}
        if CA_FILE:
            # Polling takes its verification from ssl_verify, the WebSocket from the session's.
            options = {"http_session": trusting_session(), "ssl_verify": CA_FILE}
        self.sio = socketio.Client(reconnection=False, **options)
        self.sio.on("*", self._on_event)
        self.sio.on("connect_error", self._on_connect_error)
        self.transports = list(transports)

    def _on_event(self, event, *args):
        payload = args[0] if args else None
        self.log.append((event, payload))
        self.events.put((event, payload))
        if not self.ack and event in ("message", "receipt", "group"):
            raise WithheldAck(event)
        return None

    def _on_connect_error(self, data):
        self.connect_error = data

    def connect(self):
        self.sio.connect(self.url, auth=self.auth, transports=self.transports, wait_timeout=10)
        return self

    def try_connect(self):
        """Connects, returning the CONNECT_ERROR data instead of raising when refused."""
        try:
            self.connect()
            return None
        except socketio.exceptions.ConnectionError as error:
            return self.connect_error or str(error)

    def disconnect(self):
        if self.sio.connected:
            self.sio.disconnect()

    def call(self, event, payload, timeout=10):
        return self.sio.call(event, payload, timeout=timeout)

    def send(self, to=None, group=None, body="hi", id=None, **extra):
        payload = {"id": id or new_id(), "body": body}
        if to:
            payload["to"] = to
        if group:
            payload["group"] = group
        payload.update(extra)
        return self.call("message", payload)

    def expect(self, event, where=lambda p: True, timeout=5):
        """Waits for the next `event` whose payload satisfies `where`; skips others."""
        deadline = time.time() + timeout
        seen = []
        while True:
            remaining = deadline - time.time()
            try:
                name, payload = self.events.get(timeout=max(0.01, remaining))
            except queue.Empty:
                raise Failure(f"no '{event}' within {timeout}s; saw {seen}")
            if name == event and where(payload):
                return payload
            seen.append((name, payload))

    def expect_none(self, event, where=lambda p: True, within=1.0):
        deadline = time.time() + within
        while time.time() < deadline:
            try:
                name, payload = self.events.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                return
            check(not (name == event and where(payload)), f"unexpected '{event}'", payload)

    def received(self, event):
        return [p for (n, p) in self.log if n == event]


def dm(a, b):
    return "dm:" + ":".join(sorted([a, b]))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    """In a child, before exec: SIGKILL when this test process ends, however it ends, so no
    server outlives a scenario that was interrupted or timed out (Linux's PR_SET_PDEATHSIG).
    Also unblocks every signal: this process may have inherited a mask with SIGTERM blocked
    from the Swift test thread that started it, and a server would then ignore a stop."""
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


class ServerProcess:
    """The webchat binary as a child process on a fixed free port, so it can be killed
    with SIGKILL and started again on the same port and data. `store` replaces the SQLite
    file in `data_dir` (e.g. a shared `dynamodb://` store); `env` adds environment variables."""

    def __init__(self, binary, data_dir, *args, store=None, env=None, name="server"):
        self.binary = binary
        self.port = free_port()
        self.store = os.path.join(data_dir, "chat.sqlite")
        self.store_spec = store or "sqlite:" + self.store
        self.args = list(args)
        self.env = dict(os.environ, **(env or {}))
        self.log_path = os.path.join(data_dir, name + ".log")
        self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.binary, "--host", "127.0.0.1", "--port", str(self.port), "--store", self.store_spec] + self.args,
            stdout=log, stderr=subprocess.STDOUT, env=self.env, preexec_fn=_die_with_parent)
        deadline = time.time() + 30
        while time.time() < deadline:
            check(self.proc.poll() is None, "server exited at start", self.logs()[-2000:])
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise Failure("server did not become healthy", self.logs()[-2000:])

    def exit_code(self, timeout=30):
        """Waits for a server that is expected to stop on its own; its exit status."""
        return self.proc.wait(timeout=timeout)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def logs(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


SCENARIOS = {}


def scenario(fn):
    """Registers a scenario under its function name."""
    SCENARIOS[fn.__name__] = fn
    return fn


class Context:
    """What a scenario works with: the server URL, REST, and connections it closes afterwards."""

    def __init__(self, url, server_bin=None, tmp=None):
        self.url = url
        self.server_bin = server_bin
        self.tmp = tmp
        self.api = Api(url)
        self.chats = []

    def token(self, user):
        return self.api.session(user)

    def chat(self, user, ack=True, since=None, transports=("websocket",), url=None):
        auth = {"token": self.token(user)}
        if since is not None:
            auth["since"] = since
        c = Chat(url or self.url, auth, transports=transports, ack=ack).connect()
        self.chats.append(c)
        return c

    def user_api(self, user):
        return Api(self.url, self.token(user))

    def close(self):
        for c in self.chats:
            try:
                c.disconnect()
            except Exception:
                pass


def synced(chat, timeout=5):
    return chat.expect("synced", timeout=timeout)


def online(ctx, user, ack=True):
    """A connection of `user` that has been replayed its timeline (got `synced`)."""
    chat = ctx.chat(user, ack=ack)
    synced(chat)
    return chat


def error_code(reply):
    """The error code of a failed ack (checking its shape)."""
    check(reply.get("ok") is False and isinstance(reply.get("error", {}).get("message"), str), "an error ack", reply)
    return reply["error"]["code"]

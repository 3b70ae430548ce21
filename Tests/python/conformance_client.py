"""Drives the socketio-conformance server with the official python-socketio client.

usage: conformance_client.py URL polling|websocket|upgrade
Checks two namespaces, events, acks in both directions and binary attachments; exits 1 with a
message on the first failed expectation.
"""
import sys
import threading

import engineio
import socketio

# python-engineio hands every received message to a thread of its own (`run_async=True`), so
# under load events could reach the handlers in another order than they came on the wire;
# these checks are about the wire order. Handlers here are short and never wait for the server.
_trigger_event = engineio.Client._trigger_event


def _trigger_in_wire_order(self, event, *args, **kwargs):
    if event == "message":
        kwargs["run_async"] = False
    return _trigger_event(self, event, *args, **kwargs)


engineio.Client._trigger_event = _trigger_in_wire_order

URL, MODE = sys.argv[1], sys.argv[2]
TRANSPORTS = {"polling": ["polling"], "websocket": ["websocket"], "upgrade": ["polling", "websocket"]}[MODE]
EXPECTED_TRANSPORT = "polling" if MODE == "polling" else "websocket"
NAMESPACES = ["/", "/custom"]
AUTH = {"token": "abc", "n": 1}
TIMEOUT = 5


def fail(message):
    print(f"FAIL [{MODE}]: {message}", flush=True)
    sys.exit(1)


class Inbox:
    """Events received per (namespace, event), waited for with a timeout."""

    def __init__(self):
        self.cond = threading.Condition()
        self.items = {}

    def put(self, key, value):
        with self.cond:
            self.items.setdefault(key, []).append(value)
            self.cond.notify_all()

    def take(self, key):
        with self.cond:
            if not self.cond.wait_for(lambda: self.items.get(key), timeout=TIMEOUT):
                fail(f"no {key[1]!r} event on {key[0]} within {TIMEOUT}s")
            return self.items[key].pop(0)


inbox = Inbox()
sio = socketio.Client(reconnection=False)

for ns in NAMESPACES:
    def make(ns):
        sio.on("auth", lambda *args: inbox.put((ns, "auth"), args), namespace=ns)
        sio.on("message-back", lambda *args: inbox.put((ns, "message-back"), args), namespace=ns)
        sio.on("ack-result", lambda *args: inbox.put((ns, "ack-result"), args), namespace=ns)
        sio.on("immediate-ack-result", lambda *args: inbox.put((ns, "immediate-ack-result"), args), namespace=ns)
        sio.on("order", lambda *args: inbox.put((ns, "order"), args), namespace=ns)
        # The return value of a handler is the ack the server waits for.
        sio.on("ack-me", lambda *args: (*args, "from-client", ns), namespace=ns)
    make(ns)


def expect_equal(what, actual, expected):
    if actual != expected:
        fail(f"{what}: expected {expected!r}, got {actual!r}")


try:
    sio.connect(URL, namespaces=NAMESPACES, transports=TRANSPORTS, auth=AUTH, wait_timeout=TIMEOUT)
except Exception as error:  # noqa: BLE001 - any connection failure is a test failure
    fail(f"connect failed: {error!r}")

expect_equal("transport", sio.transport(), EXPECTED_TRANSPORT)
for ns in NAMESPACES:
    expect_equal(f"auth on {ns}", inbox.take((ns, "auth")), (AUTH,))

    plain = (1, "2", {"3": [True]}, None, 4.5, "é😀")
    sio.emit("message", plain, namespace=ns)
    expect_equal(f"message-back on {ns}", inbox.take((ns, "message-back")), plain)

    binary = (b"\x01\x02\x03", {"nested": b"\x00\xff", "list": [b"", b"x"]})
    sio.emit("message", binary, namespace=ns)
    expect_equal(f"binary message-back on {ns}", inbox.take((ns, "message-back")), binary)

    try:
        answer = sio.call("message-with-ack", (1, "2", b"\x04\x05\x06"), namespace=ns, timeout=TIMEOUT)
    except Exception as error:  # noqa: BLE001
        fail(f"client->server ack on {ns}: {error!r}")
    expect_equal(f"client->server ack on {ns}", answer, (1, "2", b"\x04\x05\x06"))

    sio.emit("request-ack", ("x", 2, b"\x07"), namespace=ns)
    expect_equal(f"server->client ack on {ns}", inbox.take((ns, "ack-result")), ("x", 2, b"\x07", "from-client", ns))

    sio.emit("request-immediate-ack", ("y", 3), namespace=ns)
    expect_equal(f"server->client immediate ack on {ns}", inbox.take((ns, "immediate-ack-result")), ("y", 3, "from-client", ns))

    # Handled where it is read while nothing waits; queued behind a handler still running.
    sio.emit("quick", namespace=ns)
    expect_equal(f"immediate handler on {ns}", inbox.take((ns, "order")), ("quick",))
    sio.emit("slow", namespace=ns)
    sio.emit("quick", namespace=ns)
    expect_equal(f"slow handler first on {ns}", inbox.take((ns, "order")), ("slow",))
    expect_equal(f"then the queued quick one on {ns}", inbox.take((ns, "order")), ("quick-queued",))

expect_equal("transport at the end", sio.transport(), EXPECTED_TRANSPORT)
sio.disconnect()
print(f"OK [{MODE}]", flush=True)

"""Sends malformed input on fresh sessions and checks each is closed within 150 ms while another
session keeps working.

usage: malformed_client.py URL
"""
import json
import socket
import sys
import time

import requests
import websocket

import conformance_session
from conformance_session import fail

BASE = sys.argv[1].rstrip("/")
WS_BASE = BASE.replace("http", "ws", 1)
LIMIT = 0.150


def ws_session():
    return conformance_session.ws_session(BASE)


def recv_non_ping(ws):
    while True:
        message = ws.recv()
        if message == "2":
            ws.send("3")
            continue
        return message


def check_alive(ws, label):
    ws.send(f'42["message","{label}"]')
    expected = f'42["message-back","{label}"]'
    got = recv_non_ping(ws)
    if got != expected:
        fail(f"healthy session broken after {label}: got {got!r}")


def closed_within(ws, limit):
    start = time.monotonic()
    ws.settimeout(2)
    try:
        while True:
            opcode, _ = ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                break
    except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
        pass
    except websocket.WebSocketTimeoutException:
        return None
    return time.monotonic() - start


WS_CASES = {
    "engine.io garbage": [("text", "abc")],
    "unknown socket.io type": [("text", "4abc")],
    "event not an array": [("text", "42{}")],
    "invalid ack id": [("text", '42abc["message"]')],
    "truncated JSON": [("text", '42["message",')],
    "unexpected binary frame": [("binary", b"\x01\x02")],
    "text instead of attachment": [("text", '451-["message",{"_placeholder":true,"num":0}]'), ("text", "42[\"x\"]")],
    "too many attachments": [("text", '4599-["message"]')],
    # Each under maxPayload (1e6), together over it: refused before the packet completes.
    "attachments over maxPayload together": [
        ("text", '452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'),
        ("binary", b"\x00" * 600_000), ("binary", b"\x00" * 600_000),
    ],
    "client ping": [("text", "2")],
    "event on unconnected namespace": [("text", '42/custom,["message"]')],
}

healthy = ws_session()
check_alive(healthy, "start")

for label, frames in WS_CASES.items():
    victim = ws_session()
    start = time.monotonic()
    for kind, data in frames:
        if kind == "text":
            victim.send(data)
        else:
            victim.send_binary(data)
    sent = time.monotonic() - start
    elapsed = closed_within(victim, LIMIT)
    if elapsed is None:
        fail(f"websocket session not closed after {label}")
    # Timed from the end of the input: masking and sending 1.2 MB in Python alone can take
    # longer than the limit on a loaded machine.
    if elapsed > LIMIT:
        fail(f"websocket session closed {elapsed * 1000:.0f} ms after the input (> 150 ms) on {label}")
    print(f"ok websocket {label}: closed {elapsed * 1000:.1f} ms after the input (sent in {sent * 1000:.1f} ms)", flush=True)
    check_alive(healthy, label)

# In a packet that is not binary, a placeholder-shaped object is plain data, as in the
# reference parser: echoed back, the session unharmed.
healthy.send('42["message",{"_placeholder":true,"num":0}]')
echo = recv_non_ping(healthy)
if not echo.startswith("42") or json.loads(echo[2:]) != ["message-back", {"_placeholder": True, "num": 0}]:
    fail(f"placeholder-shaped data in a plain event answered {echo!r}")
print("ok placeholder-shaped data in a plain event is data", flush=True)

# Text that is not UTF-8 fails the WebSocket with 1007 (RFC 6455 §8.1), not repaired and handled.
victim = ws_session()
victim.send(b'42["message","\xed\xa0\x80x"]', opcode=websocket.ABNF.OPCODE_TEXT)
victim.settimeout(2)
try:
    opcode, data = victim.recv_data(control_frame=True)
except websocket.WebSocketTimeoutException:
    fail("websocket session not closed after invalid UTF-8")
if opcode != websocket.ABNF.OPCODE_CLOSE or int.from_bytes(data[:2], "big") != 1007:
    fail(f"invalid UTF-8 answered {opcode} {data!r}, not a close with 1007")
print("ok websocket invalid UTF-8: closed with 1007", flush=True)
check_alive(healthy, "invalid UTF-8")

POLL_CASES = {"engine.io garbage": "abc", "event not an array": "42{}", "empty packet": "4a\x1e\x1e4b"}
for label, body in POLL_CASES.items():
    sid = requests.get(f"{BASE}/socket.io/?EIO=4&transport=polling", timeout=5).text
    sid = sid[sid.index('"sid":"') + 7:].split('"')[0]
    url = f"{BASE}/socket.io/?EIO=4&transport=polling&sid={sid}"
    requests.post(url, data="40", timeout=5)
    requests.get(url, timeout=5)  # CONNECT answer and auth event
    start = time.monotonic()
    requests.post(url, data=body.encode(), timeout=5)
    response = requests.get(url, timeout=5)
    total = time.monotonic() - start
    if not (response.status_code == 400 or response.text == "1"):
        fail(f"polling session not closed after {label}: {response.status_code} {response.text!r}")
    if total > LIMIT:
        fail(f"polling session closed after {total * 1000:.0f} ms (> 150 ms) on {label}")
    print(f"ok polling {label}: closed in {total * 1000:.1f} ms", flush=True)
    check_alive(healthy, "polling " + label)

# A polling request for a session on a WebSocket is refused (400, code 3) and the WebSocket
# session carries on, as in the reference server.
ws = websocket.create_connection(f"{WS_BASE}/socket.io/?EIO=4&transport=websocket", timeout=5)
ws_sid = json.loads(ws.recv()[1:])["sid"]
ws.send("40")
recv_non_ping(ws)
recv_non_ping(ws)  # the conformance server's "auth" event
for method in ("get", "post"):
    response = requests.request(method, f"{BASE}/socket.io/?EIO=4&transport=polling&sid={ws_sid}", data="4hello", timeout=5)
    if response.status_code != 400 or response.json().get("code") != 3:
        fail(f"polling {method} on a WebSocket session answered {response.status_code} {response.text!r}")
check_alive(ws, "polling on a WebSocket session")
ws.close()
print("ok polling on a WebSocket session: 400, the WebSocket carries on", flush=True)

# A first request that is not HTTP is answered 400 and its connection closed (it used to get
# no answer and stay open); a valid one before it on the same connection is answered first.
host, port = BASE.split("//", 1)[1].split(":")
for raw, answers in [(b"FOO / HTTP/1.1\r\nHost: x\r\n\r\n", 1), (b"\x00\x01garbage\r\n\r\n", 1),
                     (b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\nFOO / HTTP/1.1\r\n\r\n", 2)]:
    connection = socket.create_connection((host, int(port)), timeout=2)
    connection.sendall(raw)
    received = b""
    try:
        while chunk := connection.recv(4096):
            received += chunk
    except socket.timeout:
        fail(f"connection not closed after {raw[:20]!r}: {received[:80]!r}")
    if received.count(b"HTTP/1.1 ") != answers or b"HTTP/1.1 400" not in received:
        fail(f"{raw[:20]!r} answered {received[:200]!r}")
    connection.close()
print("ok requests that are not HTTP: 400 and closed", flush=True)
check_alive(healthy, "not HTTP")

# A polling client closing its session gets "ok", and the session is gone.
sid = requests.get(f"{BASE}/socket.io/?EIO=4&transport=polling", timeout=5).text
sid = sid[sid.index('"sid":"') + 7:].split('"')[0]
url = f"{BASE}/socket.io/?EIO=4&transport=polling&sid={sid}"
response = requests.post(url, data="1", timeout=5)
if response.status_code != 200 or response.text != "ok":
    fail(f"polling close answered {response.status_code} {response.text!r}, not 200 ok")
response = requests.get(url, timeout=5)
if response.status_code != 400:
    fail(f"polling session still there after its close packet: {response.status_code} {response.text!r}")
print("ok polling close packet: 200 ok, session gone", flush=True)
check_alive(healthy, "polling close")

healthy.close()
print("OK malformed", flush=True)

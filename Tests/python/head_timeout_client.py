"""Checks the first-request-head timeout of a server started with a short one: a connection that
never finishes its first head is closed once it passes, while a connection that sent a whole
head in time (plain HTTP kept alive, or a WebSocket) is left alone after it.

usage: head_timeout_client.py URL TIMEOUT_SECONDS
"""
import socket
import sys
import time

import websocket

from conformance_session import fail, ws_session

BASE = sys.argv[1].rstrip("/")
TIMEOUT = float(sys.argv[2])
HOST, PORT = BASE.split("//", 1)[1].split(":")
REQUEST = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"


def read_response(connection):
    """One whole response to GET /health (its body is "ok")."""
    received = b""
    while not received.endswith(b"ok"):
        chunk = connection.recv(4096)
        if not chunk:
            fail(f"connection closed mid-response: {received!r}")
        received += chunk
    return received


# A head that never ends: closed after the timeout, not before, and well before it would be
# without one (the default is 30 s).
for partial in [b"GET /health HTTP/1.1\r\nHost: x", b"", b"G"]:
    connection = socket.create_connection((HOST, int(PORT)), timeout=TIMEOUT * 6)
    start = time.monotonic()
    connection.sendall(partial)
    try:
        received = connection.recv(4096)
    except socket.timeout:
        fail(f"partial head {partial!r} still open after {TIMEOUT * 6:.1f} s")
    elapsed = time.monotonic() - start
    if received:
        fail(f"partial head {partial!r} answered {received!r}")
    if elapsed < TIMEOUT * 0.8:
        fail(f"partial head {partial!r} closed after {elapsed:.2f} s, before the {TIMEOUT} s timeout")
    connection.close()
    print(f"ok partial head {partial!r}: closed after {elapsed:.2f} s", flush=True)

# A whole head in time: answered, and the connection kept alive past the timeout.
connection = socket.create_connection((HOST, int(PORT)), timeout=5)
connection.sendall(REQUEST)
if b"200" not in read_response(connection):
    fail("first request not answered 200")
time.sleep(TIMEOUT * 2)
connection.sendall(REQUEST)
if b"200" not in read_response(connection):
    fail("keep-alive connection not answered after the timeout")
connection.close()
print("ok a whole first head in time: the connection outlives the timeout", flush=True)

# A WebSocket: still talking after the timeout (answering the server's pings meanwhile, as a
# client must, or its Engine.IO session times out).
ws = ws_session(BASE)
deadline = time.monotonic() + TIMEOUT * 2
while (left := deadline - time.monotonic()) > 0:
    ws.settimeout(left)
    try:
        message = ws.recv()
    except websocket.WebSocketTimeoutException:
        break
    if message != "2":
        fail(f"WebSocket sent {message!r} while idle")
    ws.send("3")
ws.settimeout(5)
ws.send('42["message","late"]')
while (message := ws.recv()) == "2":
    ws.send("3")
if message != '42["message-back","late"]':
    fail(f"WebSocket after the timeout answered {message!r}")
ws.close()
print("ok a WebSocket outlives the timeout", flush=True)

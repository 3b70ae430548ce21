"""Checks what a server started with a short HTTP idle timeout does with connections a client
leaves hanging, and with a dropped long poll and an unmasked WebSocket frame:

- a keep-alive connection idle after its request is closed after the timeout, not before;
- a request whose body stops arriving, and a second request head trickled in, are closed too;
- a body trickled in faster than the idle timeout is closed once the request timeout passes;
- a long poll whose connection the client drops ends its session (as the reference server's
  "poll connection closed prematurely"), so nothing is written into the dead connection;
- a WebSocket frame without a mask is answered with close 1002 (RFC 6455 §5.1).

usage: idle_connections_client.py URL IDLE_SECONDS REQUEST_TIMEOUT_SECONDS
"""
import json
import os
import socket
import struct
import sys
import time
import urllib.request

from conformance_session import fail

BASE = sys.argv[1].rstrip("/")
IDLE = float(sys.argv[2])
REQUEST = float(sys.argv[3])
HOST, PORT = BASE.split("//", 1)[1].split(":")
PORT = int(PORT)


def connect():
    return socket.create_connection((HOST, PORT), timeout=IDLE * 8)


def read_until(connection, marker):
    received = b""
    while marker not in received:
        chunk = connection.recv(4096)
        if not chunk:
            fail(f"connection closed early: {received!r}")
        received += chunk
    return received


def closed_after(connection, what, started):
    """Waits for the server to close `connection`; fails unless it does after about IDLE."""
    try:
        while connection.recv(4096):
            pass
    except socket.timeout:
        fail(f"{what}: still open after {IDLE * 8:.1f} s")
    except ConnectionResetError:
        pass
    elapsed = time.monotonic() - started
    if elapsed < IDLE * 0.8:
        fail(f"{what}: closed after {elapsed:.2f} s, before the {IDLE} s idle timeout")
    print(f"ok {what}: closed after {elapsed:.2f} s", flush=True)


# Idle between requests.
c = connect()
c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
read_until(c, b"ok")
closed_after(c, "keep-alive connection idle after a request", time.monotonic())

# A body that stops arriving.
c = connect()
c.sendall(b"POST /engine.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
closed_after(c, "request whose body stopped", time.monotonic())

# A second head trickled in, a byte at a time, slower than nothing at all would be.
c = connect()
c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
read_until(c, b"ok")
started = time.monotonic()
try:
    for byte in b"GET /health HTTP/1.1\r\nHost: x":
        c.sendall(bytes([byte]))
        time.sleep(IDLE / 4)
        if time.monotonic() - started > IDLE * 6:
            fail("trickled second head: still open")
except (BrokenPipeError, ConnectionResetError):
    pass
closed_after(c, "second head trickled in", started)

# A body trickled in, each byte well within the idle timeout: the request timeout ends it.
c = connect()
c.sendall(b"POST /engine.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
started = time.monotonic()
try:
    while time.monotonic() - started < REQUEST * 3:
        c.sendall(b"a")
        time.sleep(IDLE / 4)
    fail(f"trickled body: still open after {REQUEST * 3:.1f} s")
except (BrokenPipeError, ConnectionResetError):
    pass
elapsed = time.monotonic() - started
if elapsed < REQUEST * 0.9:
    fail(f"trickled body: closed after {elapsed:.2f} s, before the {REQUEST} s request timeout")
print(f"ok trickled body: closed after {elapsed:.2f} s", flush=True)

# A long poll whose connection goes: the session ends.
open_answer = urllib.request.urlopen(f"{BASE}/engine.io/?EIO=4&transport=polling", timeout=5).read().decode()
sid = json.loads(open_answer[1:])["sid"]
c = connect()
c.sendall(f"GET /engine.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
time.sleep(0.05)
c.close()
deadline = time.monotonic() + 5
while True:
    try:
        urllib.request.urlopen(f"{BASE}/engine.io/?EIO=4&transport=polling&sid={sid}", timeout=5).read()
    except urllib.error.HTTPError as error:
        body = error.read().decode()
        if error.code == 400 and '"code":1' in body:
            print("ok a dropped long poll ends its session", flush=True)
            break
        fail(f"poll after the drop answered {error.code} {body}")
    if time.monotonic() > deadline:
        fail("the session outlived its dropped long poll by 5 s")

# An unmasked frame.
c = connect()
key = "dGhlIHNhbXBsZSBub25jZQ=="
c.sendall((f"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
handshake = read_until(c, b"\r\n\r\n")
if b" 101 " not in handshake.split(b"\r\n")[0]:
    fail(f"WebSocket handshake answered {handshake!r}")
rest = handshake.split(b"\r\n\r\n", 1)[1]
payload = b"4hello"
c.sendall(bytes([0x81, len(payload)]) + payload)  # FIN + text, no mask bit
received = rest
deadline = time.monotonic() + 5
while time.monotonic() < deadline:
    # Frames from the server: the open packet, then close 1002.
    while len(received) >= 2:
        length = received[1] & 0x7F
        if len(received) < 2 + length:
            break
        opcode, body = received[0] & 0x0F, received[2:2 + length]
        received = received[2 + length:]
        if opcode == 0x8:
            code = struct.unpack("!H", body[:2])[0] if len(body) >= 2 else None
            if code != 1002:
                fail(f"unmasked frame: closed with {code}, not 1002")
            print("ok an unmasked frame is answered with close 1002", flush=True)
            sys.exit(0)
        if opcode == 0x1 and body.startswith(b"4"):
            fail(f"unmasked frame was processed: {body!r}")
    chunk = c.recv(4096)
    if not chunk:
        fail("unmasked frame: connection closed without a close frame")
    received += chunk
fail("unmasked frame: no close within 5 s")

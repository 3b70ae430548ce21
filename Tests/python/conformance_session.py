"""Helpers shared by the scripts that drive the conformance server (socketio-conformance)."""
import sys

import websocket


def fail(message):
    print(f"FAIL: {message}", flush=True)
    sys.exit(1)


def ws_session(base):
    """A Socket.IO session on the main namespace over a direct WebSocket to `base` (http://…),
    past the conformance server's "auth" event."""
    ws = websocket.create_connection(f"{base.replace('http', 'ws', 1)}/socket.io/?EIO=4&transport=websocket", timeout=5)
    if not ws.recv().startswith("0"):
        fail("no Engine.IO handshake")
    ws.send("40")
    if not ws.recv().startswith("40"):
        fail("no Socket.IO handshake")
    ws.recv()  # the conformance server's "auth" event
    return ws

"""python-socketio (aiohttp) echo server: the `socketio-conformance` behaviour on `/socket.io/`.

`message` is answered by `message-back` with the same arguments, `message-with-ack`
acks with the same arguments, and each connection is sent `auth` with its payload.
"""
import argparse

import socketio
from aiohttp import web

sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*", ping_interval=0.3, ping_timeout=0.2)
app = web.Application()
sio.attach(app)


@sio.event
async def connect(sid, environ, auth):
    await sio.emit("auth", auth, to=sid)


@sio.on("message")
async def message(sid, *args):
    await sio.emit("message-back", args, to=sid)


@sio.on("message-with-ack")
async def message_with_ack(sid, *args):
    return args


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3001)
    args = parser.parse_args()
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)

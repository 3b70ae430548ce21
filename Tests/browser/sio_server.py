"""A tiny python-socketio (aiohttp) server to test Public/js/socketio.js against.

Serves Public/ at /, the test pages of Tests/browser/pages/ at /test/, and on
Socket.IO namespace "/":
  connect      auth {"token":"bad"} -> CONNECT_ERROR {"message":"unauthorized"};
               otherwise emits "auth" with the handshake auth payload
  echo         -> emits "echo-back" with the same arguments
  ack-me       -> acks with the same arguments
  ask          -> emits "question" {"n": ...} with an ack; when the client acks,
                  emits "answered" with what the client acked
  binary       -> emits "bin" with a bytes payload inside an object
  kick         -> server-side namespace DISCONNECT of this client

Usage: python sio_server.py PORT [--ping-interval S --ping-timeout S]
"""

import argparse
import pathlib

import socketio
from aiohttp import web

ROOT = pathlib.Path(__file__).resolve().parents[2]


def build_app(ping_interval: float, ping_timeout: float) -> web.Application:
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        cors_allowed_origins="*",
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        transports=["websocket"],
    )
    app = web.Application()
    sio.attach(app)

    @sio.event
    async def connect(sid, environ, auth):
        if isinstance(auth, dict) and auth.get("token") == "bad":
            raise socketio.exceptions.ConnectionRefusedError("unauthorized")
        await sio.emit("auth", auth, to=sid)

    @sio.on("echo")
    async def echo(sid, *args):
        await sio.emit("echo-back", list(args) if len(args) != 1 else args[0], to=sid)

    @sio.on("ack-me")
    async def ack_me(sid, *args):
        return args

    @sio.on("ask")
    async def ask(sid, n):
        async def answered(*values):
            await sio.emit("answered", {"n": n, "values": list(values)}, to=sid)

        await sio.emit("question", {"n": n}, to=sid, callback=answered)

    @sio.on("binary")
    async def binary(sid):
        await sio.emit("bin", {"label": "four bytes", "data": b"\x01\x02\x03\x04"}, to=sid)

    @sio.on("kick")
    async def kick(sid):
        await sio.disconnect(sid)

    async def index(request):
        raise web.HTTPFound("/test/socketio_test.html")

    app.router.add_get("/", index)
    app.router.add_static("/test/", ROOT / "Tests" / "browser" / "pages")
    app.router.add_static("/js/", ROOT / "Public" / "js")
    return app


def main(build=None) -> None:
    """Serves the app `build(ping_interval, ping_timeout)` makes (`build_app` unless given)."""
    build = build or build_app
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--ping-interval", type=float, default=1.0)
    parser.add_argument("--ping-timeout", type=float, default=1.0)
    args = parser.parse_args()
    web.run_app(build(args.ping_interval, args.ping_timeout), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()

"""sio_server.py's python-socketio server with HTTP long-polling as its only transport.

The same events and pages as sio_server.py (its docstring lists them), but a WebSocket
request gets python-engineio's 400 "Invalid transport", as behind a proxy that blocks
upgrades, so Public/js/socketio.js has to fall back to polling.

Usage: python sio_polling_server.py PORT [--ping-interval S --ping-timeout S]
"""

import argparse

import engineio
from aiohttp import web

from sio_server import build_app


def build_polling_app(ping_interval: float, ping_timeout: float) -> web.Application:
    app = build_app(ping_interval, ping_timeout)
    # The Engine.IO server is the owner of the routes python-socketio added; it checks its
    # `transports` at every request.
    for route in app.router.routes():
        server = getattr(route.handler, "__self__", None)
        if isinstance(server, engineio.AsyncServer):
            server.transports = ["polling"]
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--ping-interval", type=float, default=1.0)
    parser.add_argument("--ping-timeout", type=float, default=1.0)
    args = parser.parse_args()
    web.run_app(build_polling_app(args.ping_interval, args.ping_timeout), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()

"""sio_server.py's python-socketio server with HTTP long-polling as its only transport.

The same events and pages as sio_server.py (its docstring lists them), but a WebSocket
request gets python-engineio's 400 "Invalid transport", as behind a proxy that blocks
upgrades, so Public/js/socketio.js has to fall back to polling.

Usage: python sio_polling_server.py PORT [--ping-interval S --ping-timeout S]
"""

import engineio
from aiohttp import web

import sio_server
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


if __name__ == "__main__":
    sio_server.main(build_polling_app)

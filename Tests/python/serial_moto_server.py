"""moto's DynamoDB endpoint (its `moto_server`), answering one request at a time.

    python serial_moto_server.py [-H 127.0.0.1] -p PORT

moto's own server runs every request on a thread of its own, and its in-memory backend is
not safe under concurrent requests: a TransactWriteItems it cancels restores whole tables
from a copy taken before it ran, undoing what requests on other threads committed
meanwhile (two webchat nodes lost timeline entries that way). Real DynamoDB isolates
transactions. Here requests still arrive on threads (connections stay alive) but take turns
through moto's application, so every request sees and leaves a consistent state."""

import argparse
import signal
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    moto = DomainDispatcherApplication(create_backend_app)
    turn = threading.Lock()

    def one_at_a_time(environ, start_response):
        with turn:
            # The whole body is made inside the turn: moto builds it from the backend's state.
            return list(moto(environ, start_response))

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    run_simple(args.host, args.port, one_at_a_time, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()

"""Public/js/socketio.js against python-socketio's server, in headless Chromium."""

from pathlib import Path

import pytest

from helpers import python_socketio_server, run_check_page

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def sio_server():
    with python_socketio_server(HERE / "sio_server.py", "socketio_test.html") as url:
        yield url


def test_socketio_client_interoperates_with_python_socketio(sio_server, tmp_path):
    # Failed WebSocket connections to the dead port are logged by Chromium; ignore those.
    run_check_page(sio_server + "/test/socketio_test.html", str(tmp_path / "profile"), 12, ("127.0.0.1:9/",))

"""The web client where WebSockets do not get through: it falls back to Engine.IO HTTP long-polling.

A proxy in front of the server passes plain HTTP but answers every WebSocket upgrade 400, as
some corporate proxies do; and Public/js/socketio.js's polling is checked against
python-socketio too (sio_polling_server.py), so it follows the protocol, not only our server.
"""

import select
import socket
import threading
from pathlib import Path

import pytest
from selenium.webdriver.common.keys import Keys

from helpers import free_port, python_socketio_server, run_check_page
from webchat_page import Person, dm, unique

HERE = Path(__file__).resolve().parent


class WebSocketBlockingProxy:
    """A TCP proxy on 127.0.0.1 to `target_port` that answers any request asking for
    `Upgrade: websocket` with 400 and closes that connection; counts refusals and polling requests."""

    def __init__(self, target_port: int):
        self.target = target_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.refused = 0
        self.polling_requests = 0
        self._closed = False
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.2)
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            with self._lock:
                self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
        except OSError:
            client.close()  # the server is down: as a refused connection
            return
        pair = (client, upstream)
        with self._lock:
            self._sockets.update(pair)
        try:
            while not self._closed:
                ready, _, _ = select.select(pair, [], [], 0.2)
                for source in ready:
                    data = source.recv(65536)
                    if not data:
                        return
                    if source is client:
                        lowered = data.lower()
                        if b"upgrade: websocket" in lowered:
                            with self._lock:
                                self.refused += 1
                            client.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                            return
                        with self._lock:
                            self.polling_requests += lowered.count(b"transport=polling")
                        upstream.sendall(data)
                    else:
                        client.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets.difference_update(pair)
            for s in pair:
                s.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            for s in list(self._sockets):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            threads = list(self._threads)
        for t in threads:
            t.join(timeout=5)


@pytest.fixture
def no_websocket_proxy(server):
    proxy = WebSocketBlockingProxy(server.port)
    try:
        yield proxy
    finally:
        proxy.close()


def test_chat_and_server_restart_through_a_proxy_that_blocks_websockets(server, browsers, no_websocket_proxy):
    proxy = no_websocket_proxy
    alice = Person(browsers(), proxy.url, unique("alice")).sign_up()
    bob = Person(browsers(), proxy.url, unique("bob")).sign_up()
    assert proxy.refused >= 4 and proxy.polling_requests > 0, (proxy.refused, proxy.polling_requests)
    conv = dm(alice.id, bob.id)
    alice.start_chat(bob.id)
    mid = alice.send("hello over long-polling")
    alice.wait_status(mid, "delivered")
    bob.open(conv)
    bob.wait_body("hello over long-polling")
    alice.wait_status(mid, "read")
    reply = bob.send("and back")
    alice.wait_body("and back")
    bob.wait_status(reply, "read")
    alice.type("typed")
    bob.wait(lambda: "typing" in bob.tid("typing-indicator").text, message="no typing indicator over polling")
    alice.tid("composer").send_keys(Keys.ENTER)
    bob.wait_body("typed")

    server.kill()
    alice.wait(lambda: alice.connection_state() != "connected", 30, "client did not notice the server died")
    during = alice.send("while the server is down")
    alice.wait_status(during, "pending")
    polls_before = proxy.polling_requests
    server.start()
    alice.wait_connected(60)
    bob.wait_connected(60)
    assert proxy.polling_requests > polls_before
    alice.wait_status(during, "read", 30)
    assert bob.bodies().count("while the server is down") == 1
    after = bob.send("after the restart")
    alice.wait_body("after the restart")
    bob.wait_status(after, "read")
    assert alice.bodies() == ["hello over long-polling", "and back", "typed", "while the server is down", "after the restart"]


@pytest.fixture(scope="module")
def sio_polling_server():
    with python_socketio_server(HERE / "sio_polling_server.py", "polling_test.html") as url:
        yield url


def test_polling_client_interoperates_with_python_socketio(sio_polling_server, tmp_path):
    # Refused WebSocket upgrades and requests to the dead port are logged by Chromium; ignore those,
    # and a 400 for a request that crossed the server's end of its session (a kick, a disconnect).
    run_check_page(sio_polling_server + "/test/polling_test.html", str(tmp_path / "profile"), 10,
                   ("127.0.0.1:9/", "WebSocket connection to", "status of 400 (Bad Request)"))

def test_a_server_back_during_the_fallback_handshake_gets_websocket_again(server, browsers):
    """WebSocket attempts that failed because the server was away say nothing about WebSockets:
    when polling works at the first try after them, a WebSocket probe alongside opens, and the
    client moves to WebSocket at once instead of staying on polling."""
    driver = browsers()
    driver.get(server.url + "/")
    driver.set_script_timeout(30)
    result = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        (async () => {
          const { SocketClient } = await import("/js/socketio.js");
          const { PollingSocket } = await import("/js/enginepolling.js");
          const id = "probe" + Math.floor(Math.random() * 1e9);
          const registered = await fetch("/api/v1/users", { method: "POST", headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ id, name: id, password: "correct horse battery" }) });
          const { token } = await registered.json();
          // The first two WebSockets go nowhere (as if the server were away), every later one is real.
          const urls = [];
          class FlakyWebSocket extends WebSocket {
            constructor(url) { super(urls.length < 2 ? url.replace("/socket.io/", "/away/") : url); urls.push(url); }
          }
          let pollingSessions = 0;
          class CountingPolling extends PollingSocket {
            constructor(url) { super(url); pollingSessions++; }
          }
          const sock = new SocketClient("", { WebSocket: FlakyWebSocket, Polling: CountingPolling, auth: { token },
            reconnectionDelay: 100, reconnectionDelayMax: 300, autoConnect: false });
          const transports = [];
          sock.on("connect", () => transports.push(sock.transport));
          sock.connect();
          const deadline = Date.now() + 20000;
          while (!transports.includes("websocket") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
          const answer = { transports, webSockets: urls.length, pollingSessions, transport: sock.transport, connected: sock.connected };
          sock.disconnect();
          return answer;
        })().then(done, (e) => done({ error: String(e) }));
    """)
    # Two failed WebSockets, one polling session (left as soon as the probe opened, perhaps before
    # its CONNECT was answered), the probe, then the WebSocket that connects.
    assert result.get("pollingSessions") == 1 and result["webSockets"] == 4, result
    assert result["connected"] and result["transport"] == "websocket" and result["transports"][-1] == "websocket", result

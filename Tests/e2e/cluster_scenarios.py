"""Scale-out scenarios (PROTOCOL.md §6): several webchat processes sharing a real Redis
(`--broker redis://`) and a real DynamoDB endpoint (moto's server, `--store dynamodb://`),
with python-socketio clients spread over the nodes."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid

import requests
from harness import (Api, Chat, Failure, ServerProcess, _die_with_parent, check, dm, free_port, new_id, scenario,
                     synced)

# Short heartbeats so that a node that dies is noticed within seconds (the default is 15 s).
PRESENCE = "heartbeat-interval-ms=300&heartbeat-timeout-ms=1500"


def _find(name, *folders):
    for folder in folders:
        path = os.path.join(folder, name)
        if os.access(path, os.X_OK):
            return path
    found = shutil.which(name)
    check(found is not None, f"{name} is required for the scale-out scenarios (scripts/test installs it)")
    return found


class Service:
    """A real service (redis-server, moto_server) on a fixed free port, stopped after the scenario."""

    def __init__(self, name, argv, port, tmp):
        self.name = name
        self.argv = argv
        self.port = port
        self.log_path = os.path.join(tmp, f"{name}-{port}.log")
        self.proc = None

    def start(self, timeout=60):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        deadline = time.time() + timeout
        import socket
        while time.time() < deadline:
            check(self.proc.poll() is None, f"{self.name} exited at start", self._log()[-2000:])
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise Failure(f"{self.name} did not listen on {self.port}", self._log()[-2000:])

    def stop(self, kill=False):
        if self.proc and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            self.proc.wait(timeout=10)

    def _log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


class Cluster:
    """Redis, a DynamoDB endpoint and `size` webchat nodes using both (open auth)."""

    def __init__(self, ctx, size=2, broker_query=PRESENCE):
        check(ctx.server_bin and ctx.tmp, "the scale-out scenarios need --server-bin and --tmp")
        self.ctx = ctx
        redis_port, moto_port = free_port(), free_port()
        self.redis = Service("redis", [_find("redis-server", "/usr/bin", "/usr/sbin"), "--port", str(redis_port),
                                       "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], redis_port, ctx.tmp)
        moto = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python", "serial_moto_server.py")
        self.moto = Service("moto", [sys.executable, moto, "-H", "127.0.0.1", "-p", str(moto_port)], moto_port, ctx.tmp)
        prefix = "t" + uuid.uuid4().hex[:8]
        self.broker = f"redis://127.0.0.1:{redis_port}?prefix={prefix}:" + (f"&{broker_query}" if broker_query else "")
        self.store = f"dynamodb://us-east-1?endpoint=http://127.0.0.1:{moto_port}&prefix={prefix}_"
        self.env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
        self.size = size
        self.nodes = []

    def __enter__(self):
        self.redis.start()
        self.moto.start()
        for index in range(self.size):
            self.nodes.append(self.node(index).start())
        return self

    def node(self, index):
        """A node of this cluster (not started)."""
        return ServerProcess(self.ctx.server_bin, self.ctx.tmp, "--auth", "open", "--broker", self.broker,
                             store=self.store, env=self.env, name=f"node{index}")

    def __exit__(self, *exc):
        for node in self.nodes:
            node.stop()
        self.redis.stop()
        self.moto.stop()
        if exc[0] is not None:
            for node in self.nodes:
                print(f"--- {node.log_path} ---\n{node.logs()[-3000:]}", file=sys.stderr)

    def chat(self, node, user, since=None, ack=True):
        """A connection of `user` to node `node` that has been replayed its timeline."""
        url = self.nodes[node].url
        auth = {"token": Api(url).session(user)}
        if since is not None:
            auth["since"] = since
        chat = Chat(url, auth, ack=ack).connect()
        self.ctx.chats.append(chat)
        synced(chat, timeout=10)
        return chat

    def api(self, node, user):
        url = self.nodes[node].url
        return Api(url, Api(url).session(user))


def _presence(chat, user, online, timeout=5):
    return chat.expect("presence", lambda p: p["user"] == user and p["online"] is online, timeout=timeout)


@scenario
def cluster_cross_node_delivery(ctx):
    """alice on node 0, bob on node 1: presence, message, delivered and read receipts, typing,
    the call log and history, each across nodes."""
    with Cluster(ctx) as cluster:
        cluster.api(0, "bob")  # bob exists before alice looks for him
        alice = cluster.chat(0, "alice")
        bob = cluster.chat(1, "bob")
        sent = alice.send(to="bob", body="hello across nodes")
        check(sent["ok"] is True, "send acked", sent)
        got = bob.expect("message", lambda p: p["id"] == sent["message"]["id"])
        check(got["from"] == "alice" and got["body"] == "hello across nodes" and got["seq"] >= 1, "message", got)
        receipt = alice.expect("receipt", lambda p: p["status"] == "delivered")
        check(receipt["ids"] == [got["id"]] and receipt["by"] == "bob", "delivered receipt", receipt)
        check(bob.call("read", {"conversation": dm("alice", "bob"), "ids": [got["id"]]})["ok"] is True, "read acked")
        read = alice.expect("receipt", lambda p: p["status"] == "read")
        check(read["ids"] == [got["id"]] and read["by"] == "bob", "read receipt", read)
        check(bob.call("typing", {"to": "alice", "typing": True})["ok"] is True, "typing acked")
        typing = alice.expect("typing")
        check(typing["from"] == "bob" and typing["typing"] is True, "typing", typing)
        # REST on either node sees the same conversation.
        _, log = cluster.api(1, "bob").call("GET", "/conversations", expect=200)
        row = log["conversations"][0]
        check(row["id"] == dm("alice", "bob") and row["unread"] == 0 and row["last"]["id"] == got["id"], "call log", log)
        _, page = cluster.api(0, "alice").call("GET", f"/conversations/{dm('alice', 'bob')}/messages", expect=200)
        message = page["messages"][-1]
        check(message["delivered"] == ["bob"] and message["read"] == ["bob"], "history receipts", page)
        # Presence: bob's last connection closes on node 1, alice on node 0 hears it.
        _, profile = cluster.api(0, "alice").call("GET", "/users/bob", expect=200)
        check(profile["online"] is True, "bob online seen from node 0", profile)
        bob.disconnect()
        gone = _presence(alice, "bob", False)
        check(isinstance(gone["lastSeen"], int), "lastSeen", gone)
        # A node on the same Redis prefix with other DynamoDB tables would number timelines of
        # its own on the same channels; one on the same tables with another Redis prefix, or
        # without Redis, would publish where the others do not listen. Each stops at start,
        # naming what the cluster shares and what it has.
        _refused(cluster, "--broker", cluster.broker, store=cluster.store.replace("&prefix=", "&prefix=other"),
                 reason=["share the store", "prefix=other"])
        _refused(cluster, "--broker", cluster.broker.replace("?prefix=", "?prefix=other"), store=cluster.store,
                 reason=["share the broker", "prefix 'other"])
        _refused(cluster, store=cluster.store, reason=["share the broker", "in-process broker"])


def _refused(cluster, *args, store, reason):
    """A node with `args` and `store` beside `cluster` exits 1 at start, its log saying `reason`."""
    other = ServerProcess(cluster.ctx.server_bin, cluster.ctx.tmp, "--auth", "open", *args, store=store, env=cluster.env,
                          name="stray")
    try:
        other.start()
        raise Failure(f"a node with {args} and {store} joined the cluster")
    except Failure as failure:
        check("exited at start" in str(failure), "the stray node stopped at start", str(failure))
    check(other.exit_code() == 1, "exit status 1")
    check(all(part in other.logs() for part in reason), f"the reason, {reason}", other.logs()[-1500:])


@scenario
def cluster_store_and_forward(ctx):
    """bob is offline while alice sends 30 messages through node 0; bob connects to node 1 and
    gets all of them in order, then a connection to node 0 replays nothing acked."""
    with Cluster(ctx) as cluster:
        cluster.api(1, "bob")
        alice = cluster.chat(0, "alice")
        ids = [new_id() for _ in range(30)]
        for i, message_id in enumerate(ids):
            check(alice.send(to="bob", id=message_id, body=f"m{i}")["ok"] is True, "send acked")
        bob = cluster.chat(1, "bob")
        got = bob.received("message")
        check([m["id"] for m in got] == ids, "replayed in order", [m["id"] for m in got])
        check([m["seq"] for m in got] == list(range(1, 31)), "seqs 1...30", [m["seq"] for m in got])
        # Delivered receipts reach alice on the other node, covering every message.
        delivered = set()
        while len(delivered) < 30:
            delivered.update(alice.expect("receipt", lambda p: p["status"] == "delivered", timeout=10)["ids"])
        bob.disconnect()
        time.sleep(0.3)  # acks are written in the background
        again = cluster.chat(0, "bob")
        check(again.received("message") == [], "nothing acked is replayed", again.received("message"))


@scenario
def cluster_concurrent_senders(ctx):
    """Four senders, two on each node, send to carol at once; carol has a connection on each
    node, and each of them gets all 100 messages with seqs 1...100, in order, once."""
    with Cluster(ctx) as cluster:
        cluster.api(0, "carol")
        carols = [cluster.chat(0, "carol"), cluster.chat(1, "carol")]
        senders = [cluster.chat(i % 2, f"sender{i}") for i in range(4)]

        def flood(chat, index):
            for n in range(25):
                reply = chat.send(to="carol", id=f"s{index}-{n}", body=f"{index}/{n}")
                check(reply["ok"] is True, "send acked", reply)

        threads = [threading.Thread(target=flood, args=(chat, i)) for i, chat in enumerate(senders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for carol in carols:
            deadline = time.time() + 15
            while len(carol.received("message")) < 100 and time.time() < deadline:
                time.sleep(0.05)
            seqs = [m["seq"] for m in carol.received("message")]
            check(seqs == list(range(1, 101)), "every message once, in seq order", seqs)
            ids = {m["id"] for m in carol.received("message")}
            check(len(ids) == 100, "100 distinct messages", len(ids))


@scenario
def cluster_groups(ctx):
    """A group with members on both nodes: creation, a message fanned out to every member's
    endpoint wherever it is connected, delivered receipts back to the sender, and a leave."""
    with Cluster(ctx) as cluster:
        for user in ("bob", "carol", "dave"):
            cluster.api(1, user)
        alice, carol = cluster.chat(0, "alice"), cluster.chat(0, "carol")
        bob, dave = cluster.chat(1, "bob"), cluster.chat(1, "dave")
        created = alice.call("group:create", {"name": "across", "members": ["bob", "carol", "dave"]})
        check(created["ok"] is True, "group created", created)
        group = created["group"]["id"]
        for chat in (alice, bob, carol, dave):
            event = chat.expect("group", lambda p: p["change"] == "created")
            check(event["group"]["id"] == group, "created event", event)
        sent = bob.send(group=group, body="hi all")
        check(sent["ok"] is True, "group send acked", sent)
        for chat in (alice, carol, dave):
            got = chat.expect("message", lambda p: p["id"] == sent["message"]["id"])
            check(got["group"] == group and got["from"] == "bob", "group message", got)
        delivered = set()
        while len(delivered) < 3:
            delivered.add(bob.expect("receipt", lambda p: p["status"] == "delivered", timeout=10)["by"])
        check(delivered == {"alice", "carol", "dave"}, "one delivered receipt per member", delivered)
        check(dave.call("group:leave", {"group": group})["ok"] is True, "leave acked")
        for chat in (alice, bob, carol):
            chat.expect("group", lambda p: p["change"] == "left" and p["users"] == ["dave"])


@scenario
def cluster_node_crash(ctx):
    """kill -9 of the node holding alice: bob, on the other node, sees alice go offline once her
    node's heartbeat expires; alice reconnects to the surviving node and gets what was sent."""
    with Cluster(ctx) as cluster:
        alice = cluster.chat(0, "alice")
        bob = cluster.chat(1, "bob")
        check(bob.send(to="alice", body="before")["ok"] is True, "send acked")
        alice.expect("message")
        time.sleep(0.5)  # alice's ack is written in the background
        cluster.nodes[0].kill()
        gone = _presence(bob, "alice", False, timeout=10)
        check(isinstance(gone["lastSeen"], int), "lastSeen after a crash", gone)
        _, profile = cluster.api(1, "bob").call("GET", "/users/alice", expect=200)
        check(profile["online"] is False, "alice offline", profile)
        sent = bob.send(to="alice", body="while you were away")
        check(sent["ok"] is True, "send acked", sent)
        back = cluster.chat(1, "alice")
        got = back.received("message")
        check([m["body"] for m in got] == ["while you were away"], "only the unacked message is replayed", got)


@scenario
def cluster_redis_restart(ctx):
    """Redis stops and comes back on the same port: sends during the outage are acked (they are
    stored), connected clients get them once the nodes are back on Redis without reconnecting,
    and presence is whole again."""
    with Cluster(ctx) as cluster:
        alice = cluster.chat(0, "alice")
        bob = cluster.chat(1, "bob")
        # Paused rather than gone, Redis answers nothing: /readyz says so at its 2 s deadline,
        # not after the broker's own 10 s reply timeout.
        os.kill(cluster.redis.proc.pid, signal.SIGSTOP)
        try:
            started = time.time()
            ready = requests.get(cluster.nodes[0].url + "/readyz", timeout=15)
            took = time.time() - started
        finally:
            os.kill(cluster.redis.proc.pid, signal.SIGCONT)
        check(ready.status_code == 503 and ready.json() == {"status": "broker unavailable"} and took < 4,
              "not ready while Redis is paused, within the deadline", ready.status_code, ready.text, took)
        cluster.redis.stop(kill=True)
        during = alice.send(to="bob", body="during the outage")
        check(during["ok"] is True, "a send during the outage is acked", during)
        ready = requests.get(cluster.nodes[0].url + "/readyz", timeout=10)
        check(ready.status_code == 503 and ready.json() == {"status": "broker unavailable"}, "not ready without Redis",
              ready.status_code, ready.text)
        cluster.redis.start()
        got = bob.expect("message", lambda p: p["id"] == during["message"]["id"], timeout=15)
        check(got["body"] == "during the outage", "caught up after the outage", got)
        after = alice.send(to="bob", body="after")
        check(bob.expect("message", lambda p: p["id"] == after["message"]["id"])["seq"] == got["seq"] + 1,
              "live again, in seq order")
        deadline = time.time() + 10
        while True:
            _, profile = cluster.api(1, "bob").call("GET", "/users/alice", expect=200)
            if profile["online"] is True:
                break
            check(time.time() < deadline, "alice is online again after the restart", profile)
            time.sleep(0.1)
        check(requests.get(cluster.nodes[0].url + "/readyz", timeout=10).status_code == 200, "ready again")
        # What an operator sees of it in /metrics: bob's node lost both connections once, has them
        # back, handed bob's endpoint a resync; the store's requests are timed per operation.
        metrics = _metrics(cluster.nodes[1])
        for role in ("commands", "pubsub"):
            check(metrics.get(f'webchat_redis_connection_losses_total{{connection="{role}"}}', 0) >= 1, f"{role} loss counted", metrics)
            check(metrics.get(f'webchat_redis_connected{{connection="{role}"}}') == 1, f"{role} connected again", metrics)
        check(metrics.get("webchat_broker_resyncs_total", 0) >= 1, "resyncs counted", metrics)
        check(metrics.get('webchat_dynamodb_request_duration_seconds_count{operation="TransactWriteItems"}', 0) >= 1,
              "DynamoDB transactions timed", metrics)


def _metrics(node):
    """The node's Prometheus text as {series: value}."""
    values = {}
    for line in requests.get(node.url + "/metrics", timeout=10).text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            values[series] = float(value)
    return values


@scenario
def cluster_graceful_leave(ctx):
    """SIGTERM to the node holding alice: it exits 0 in well under the heartbeat timeout (15 s
    here), and bob, on the other node, hears at once that alice went offline (the node removed
    its presence on the way out instead of leaving it to a reaper)."""
    with Cluster(ctx, broker_query="") as cluster:
        alice = cluster.chat(0, "alice")
        bob = cluster.chat(1, "bob")
        check(alice.send(to="bob", body="bye")["ok"] is True, "send acked")
        bob.expect("message")
        started = time.time()
        node = cluster.nodes[0]
        node.proc.send_signal(signal.SIGTERM)
        check(node.exit_code(timeout=10) == 0, "the node exits 0 on SIGTERM", node.logs()[-2000:])
        gone = _presence(bob, "alice", False, timeout=5)
        elapsed = time.time() - started
        check(elapsed < 5, f"offline in {elapsed:.1f} s, not after the 15 s heartbeat timeout", gone)
        check(isinstance(gone["lastSeen"], int), "lastSeen", gone)

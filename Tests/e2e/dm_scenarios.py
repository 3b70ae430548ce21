"""One-to-one chat, accounts and REST scenarios (PROTOCOL.md §2-§5)."""

import concurrent.futures
import json
import os
import time
import urllib.parse

import requests
import websocket

from harness import CA_FILE, Api, Chat, Failure, ServerProcess, check, dm, error_code, new_id, online, scenario, synced, trusting_session


@scenario
def online_delivery(ctx):
    bob = ctx.chat("bob")
    synced(bob)
    alice = ctx.chat("alice")
    synced(alice)
    reply = alice.send(to="bob", body="hello bob")
    check(reply["ok"] is True, "send acked ok", reply)
    m = reply["message"]
    check(m["from"] == "alice" and m["to"] == "bob" and m["conversation"] == dm("alice", "bob"), "message fields", m)
    check(m["pos"] == 1 and isinstance(m["ts"], int), "pos and ts", m)
    got = bob.expect("message")
    check(got["id"] == m["id"] and got["body"] == "hello bob" and got["seq"] == 1, "bob got it with seq 1", got)
    check(alice.received("message") == [], "the sender does not get its own message back", alice.received("message"))


@scenario
def delivered_after_ack(ctx):
    alice = online(ctx, "alice")
    bob = online(ctx, "bob", ack=False)
    m = alice.send(to="bob", body="are you there")["message"]
    bob.expect("message", lambda p: p["id"] == m["id"])
    alice.expect_none("receipt", within=1.0)
    bob.disconnect()
    bob2 = ctx.chat("bob")  # acks this time: the unacknowledged message is replayed and acked
    bob2.expect("message", lambda p: p["id"] == m["id"])
    r = alice.expect("receipt", lambda p: p["status"] == "delivered")
    check(r["ids"] == [m["id"]] and r["by"] == "bob" and r["conversation"] == m["conversation"], "delivered receipt", r)
    check(isinstance(r["seq"], int) and isinstance(r["ts"], int), "receipt has seq and ts", r)
    alice.expect_none("receipt", lambda p: p["status"] == "delivered", within=0.5)


@scenario
def read_receipts(ctx):
    alice = ctx.chat("alice")
    bob = ctx.chat("bob")
    synced(alice), synced(bob)
    ids = [alice.send(to="bob", body=f"m{i}")["message"]["id"] for i in range(3)]
    for i in ids:
        bob.expect("message", lambda p, i=i: p["id"] == i)
    reply = bob.call("read", {"conversation": dm("alice", "bob"), "ids": ids[:2]})
    check(reply == {"ok": True}, "read acked", reply)
    r = alice.expect("receipt", lambda p: p["status"] == "read")
    check(sorted(r["ids"]) == sorted(ids[:2]) and r["by"] == "bob", "read receipt for the two ids", r)
    # Reading again, or reading one's own message, produces nothing new.
    bob.call("read", {"conversation": dm("alice", "bob"), "ids": ids[:2]})
    alice.call("read", {"conversation": dm("alice", "bob"), "ids": ids})
    alice.expect_none("receipt", lambda p: p["status"] == "read", within=0.7)


@scenario
def from_is_ignored(ctx):
    ctx.token("mallory")
    alice = ctx.chat("alice")
    bob = ctx.chat("bob")
    synced(bob)
    reply = alice.send(to="bob", body="who am i", **{"from": "mallory"})
    check(reply["ok"] and reply["message"]["from"] == "alice", "ack says alice", reply)
    got = bob.expect("message")
    check(got["from"] == "alice", "recipient sees alice", got)


@scenario
def idempotent_resend(ctx):
    alice = ctx.chat("alice")
    bob = ctx.chat("bob")
    synced(bob)
    mid = new_id()
    first = alice.send(to="bob", body="once", id=mid)
    again = alice.send(to="bob", body="once", id=mid)
    check(first["ok"] and again["ok"], "both acked", first, again)
    check(first["message"] == again["message"], "the resend acks with the original message", first, again)
    bob.expect("message", lambda p: p["id"] == mid)
    bob.expect_none("message", lambda p: p["id"] == mid, within=0.7)
    other = alice.send(to="bob", body="different", id=mid)
    check(other == {"ok": False, "error": {"code": "conflict", "message": other.get("error", {}).get("message")}}, "conflict", other)
    check(ctx.user_api("bob").call("GET", f"/conversations/{dm('alice', 'bob')}/messages")[1]["messages"].__len__() == 1,
          "one message stored")


@scenario
def store_and_forward(ctx):
    ctx.token("bob")
    alice = ctx.chat("alice")
    sent = [alice.send(to="bob", body=f"offline {i}")["message"] for i in range(5)]
    bob = ctx.chat("bob")
    got = [bob.expect("message") for _ in sent]
    check([g["id"] for g in got] == [s["id"] for s in sent], "replayed in order", got)
    check([g["seq"] for g in got] == [1, 2, 3, 4, 5], "gap-free seqs", [g["seq"] for g in got])
    s = synced(bob)
    check(s["seq"] == 5 and not s.get("truncated"), "synced after the replay", s)
    live = alice.send(to="bob", body="live now")["message"]
    check(bob.expect("message")["id"] == live["id"], "then live")


@scenario
def unacked_replayed(ctx):
    alice = ctx.chat("alice")
    bob = ctx.chat("bob", ack=False)
    synced(bob)
    ids = [alice.send(to="bob", body=f"n{i}")["message"]["id"] for i in range(3)]
    for i in ids:
        bob.expect("message", lambda p, i=i: p["id"] == i)
    bob.disconnect()
    bob2 = ctx.chat("bob")
    again = [bob2.expect("message")["id"] for _ in ids]
    check(again == ids, "the unacknowledged events come again, in order", again, ids)
    synced(bob2)
    # python-socketio answers each event from a worker thread: give the last ack time to leave.
    time.sleep(0.5)
    bob2.disconnect()
    time.sleep(0.3)
    bob3 = ctx.chat("bob")
    s = synced(bob3)
    check(bob3.received("message") == [], "acknowledged events are not replayed", bob3.received("message"))
    check(s["seq"] == 3, "synced seq", s)


@scenario
def unacked_limit_then_replay(ctx):
    # A connection that acks nothing holds at most 1,000 events unacknowledged: the next ones
    # wait in order (nothing is dropped) and come, all of them and in order, to the next
    # connection that acks.
    alice = online(ctx, "alice")
    bob = online(ctx, "bob", ack=False)
    limit, total = 1000, 1012
    ids = [alice.send(to="bob", body=f"b{i}")["message"]["id"] for i in range(total)]
    first = [bob.expect("message")["id"] for _ in range(limit)]
    check(first == ids[:limit], "the first 1,000, in order", first[:3], ids[:3])
    bob.expect_none("message", within=1.0)
    bob.disconnect()
    bob2 = ctx.chat("bob")
    again = [bob2.expect("message", timeout=20)["id"] for _ in range(total)]
    diverges = next((i for i, (a, b) in enumerate(zip(again, ids)) if a != b), min(len(again), len(ids)))
    check(again == ids, "every one of them, in order, to the next connection",
          f"first difference at {diverges}: {again[diverges:diverges + 3]} against {ids[diverges:diverges + 3]}")
    synced(bob2)


@scenario
def since_replay(ctx):
    ctx.token("bob")
    alice = ctx.chat("alice")
    ids = [alice.send(to="bob", body=f"s{i}")["message"]["id"] for i in range(4)]
    bob = ctx.chat("bob", since=2)
    got = [bob.expect("message") for _ in range(2)]
    check([g["seq"] for g in got] == [3, 4] and [g["id"] for g in got] == ids[2:], "replay after since", got)
    synced(bob)
    bob.disconnect()
    bob0 = ctx.chat("bob", since=0)
    check([bob0.expect("message")["seq"] for _ in range(4)] == [1, 2, 3, 4], "since 0 replays everything")


@scenario
def bad_input_errors(ctx):
    ctx.token("bob")
    ctx.token("carol")
    alice = ctx.chat("alice")
    synced(alice)
    cases = [
        ("message", {"id": new_id(), "to": "bob"}, "bad_request"),                       # no body
        ("message", {"id": new_id(), "to": "bob", "body": ""}, "bad_request"),           # empty body
        ("message", {"id": new_id(), "to": "bob", "body": 5}, "bad_request"),            # wrong type
        ("message", {"id": "bad id!", "to": "bob", "body": "x"}, "bad_request"),         # id charset
        ("message", {"id": "x" * 65, "to": "bob", "body": "x"}, "bad_request"),          # id length
        ("message", {"id": new_id(), "body": "x"}, "bad_request"),                       # no target
        ("message", {"id": new_id(), "to": "bob", "group": "g", "body": "x"}, "bad_request"),
        ("message", "not an object", "bad_request"),
        ("message", {"id": new_id(), "to": "nobody-here", "body": "x"}, "not_found"),
        # Malformed ids are bad requests (nothing could have them), unknown well-formed ones not found.
        ("message", {"id": new_id(), "to": "Not An Id!", "body": "x"}, "bad_request"),
        ("message", {"id": new_id(), "group": "NO-SUCH", "body": "x"}, "bad_request"),
        ("read", {"conversation": "garbage", "ids": ["a"]}, "bad_request"),
        ("read", {"conversation": "dm:bob:alice", "ids": ["a"]}, "bad_request"),  # not in ascending order
        ("typing", {"to": "x", "typing": True}, "bad_request"),                    # too short
        ("group:invite", {"group": "Bad Group", "members": ["bob"]}, "bad_request"),
        ("group:invite", {"group": "nosuchgroup", "members": ["bob", "Bad Id"]}, "bad_request"),
        ("group:leave", {"group": ""}, "bad_request"),
        ("group:create", {"name": "g", "members": ["bob", "Bad Id"]}, "bad_request"),
        ("message", {"id": new_id(), "to": "bob", "body": "x" * 4001}, "too_large"),
        ("read", {"conversation": dm("bob", "carol"), "ids": ["a"]}, "not_found"),
        ("read", {"conversation": dm("alice", "bob"), "ids": ["a"] * 101}, "too_large"),
        ("read", {"conversation": dm("alice", "bob")}, "bad_request"),
        ("typing", {"to": "bob"}, "bad_request"),
        ("typing", {"to": "nobody-here", "typing": True}, "not_found"),
        ("group:invite", {"group": "nosuchgroup", "members": ["bob"]}, "not_found"),
        ("group:create", {"name": "", "members": ["bob"]}, "bad_request"),
        ("group:create", {"name": "g", "members": ["nobody-here"]}, "not_found"),
        ("no-such-event", {"x": 1}, "bad_request"),
    ]
    for event, payload, expected in cases:
        reply = alice.call(event, payload)
        check(error_code(reply) == expected, f"{event} {str(payload)[:60]} → {expected}", reply)
    reply = alice.call("message", {"id": new_id(), "to": "Not An Id!", "body": "x"})
    check("'to'" in reply["error"]["message"] and "user id" in reply["error"]["message"], "the error names the field and the format", reply)
    status, body = ctx.user_api("alice").call("POST", "/groups", {"name": "g", "members": ["bob", "Bad Id"]})
    check(status == 400 and "'members'" in body["error"]["message"], "REST: a malformed member is a 400 naming the field", status, body)
    # forbidden: a group alice is not in.
    group = ctx.user_api("bob").call("POST", "/groups", {"name": "bc", "members": ["carol"]}, expect=201)[1]
    check(error_code(alice.send(group=group["id"], body="let me in")) == "forbidden", "posting to a foreign group is forbidden")
    # User search: a prefix of up to 32 characters, counted as code points like every length.
    api = ctx.user_api("alice")
    _, found = api.call("GET", "/users?prefix=" + urllib.parse.quote("é" * 32), expect=200)
    check(found["users"] == [], "a 32-character prefix of 2-byte characters is taken", found)
    status, body = api.call("GET", "/users?prefix=" + urllib.parse.quote("é" * 33))
    check(status == 400 and "32 characters" in body["error"]["message"], "a 33-character prefix is refused", status, body)
    _, found = api.call("GET", "/users?prefix=al", expect=200)
    check([u["id"] for u in found["users"]] == ["alice"], "the search finds alice", found)
    # A member named twice: parsers disagree on which value wins, so it is refused.
    r = requests.post(api.url + "/api/v1/groups", data='{"name":"g","members":["bob"],"members":["carol"]}',
                      headers={"Authorization": "Bearer " + api.token, "Content-Type": "application/json"},
                      timeout=10, verify=CA_FILE or True)
    check(r.status_code == 400 and "duplicate member name" in r.json()["error"]["message"],
          "REST: a member named twice is a 400", r.status_code, r.text)
    # The connection is still usable after all of that.
    check(alice.send(to="bob", body="still here")["ok"], "connection still usable")


@scenario
def rate_limited(ctx):
    # The server for this scenario runs with --rate-burst 20 --rate-per-second 5.
    ctx.token("bob")
    alice = ctx.chat("alice")
    synced(alice)
    replies = [alice.call("typing", {"to": "bob", "typing": True}) for _ in range(25)]
    limited = [r for r in replies if not r.get("ok")]
    check(limited and all(r["error"]["code"] == "rate_limited" for r in limited), "over the burst → rate_limited", replies[-3:])
    time.sleep(1.2)
    check(alice.call("typing", {"to": "bob", "typing": False})["ok"], "usable again after backing off")
    bob = ctx.chat("bob")
    synced(bob)
    # A flood that ignores rate_limited is disconnected; others are untouched.
    for _ in range(200):
        if not alice.sio.connected:
            break
        try:
            alice.sio.emit("typing", {"to": "bob", "typing": True})
        except Exception:
            break
    deadline = time.time() + 5
    while alice.sio.connected and time.time() < deadline:
        time.sleep(0.05)
    check(not alice.sio.connected, "the flooding connection was closed")
    check(bob.call("typing", {"to": "alice", "typing": True})["ok"], "another connection is unaffected")


@scenario
def call_log(ctx):
    ctx.token("bob"), ctx.token("carol")
    alice = ctx.chat("alice")
    alice.send(to="bob", body="to bob")
    time.sleep(0.01)
    carol = ctx.chat("carol")
    for i in range(3):
        carol.send(to="alice", body=f"carol {i}")
    _, log = ctx.user_api("alice").call("GET", "/conversations", expect=200)
    convs = log["conversations"]
    check([c["id"] for c in convs] == [dm("alice", "carol"), dm("alice", "bob")], "newest first", convs)
    first = convs[0]
    check(first["kind"] == "dm" and first["peer"] == "carol" and first["title"] == "carol", "dm fields", first)
    check(first["last"]["body"] == "carol 2" and first["unread"] == 3, "last message and unread", first)
    check(convs[1]["unread"] == 0, "own messages are not unread", convs[1])
    ids = [m["id"] for m in ctx.user_api("alice").call("GET", f"/conversations/{dm('alice', 'carol')}/messages")[1]["messages"]]
    check(alice.call("read", {"conversation": dm("alice", "carol"), "ids": ids[:2]})["ok"], "read")
    _, log = ctx.user_api("alice").call("GET", "/conversations", expect=200)
    check(log["conversations"][0]["unread"] == 1, "unread drops after read", log["conversations"][0])
    _, bob_log = ctx.user_api("bob").call("GET", "/conversations", expect=200)
    check([c["id"] for c in bob_log["conversations"]] == [dm("alice", "bob")] and bob_log["conversations"][0]["unread"] == 1,
          "bob's call log", bob_log)


@scenario
def history_paging(ctx):
    alice = ctx.chat("alice")
    bob = ctx.chat("bob")
    synced(bob)
    sent = [alice.send(to="bob", body=f"h{i}")["message"] for i in range(5)]
    for s in sent:
        bob.expect("message", lambda p, s=s: p["id"] == s["id"])
    bob.call("read", {"conversation": dm("alice", "bob"), "ids": [sent[0]["id"]]})
    alice.expect("receipt", lambda p: p["status"] == "read")
    api = ctx.user_api("alice")
    conv = dm("alice", "bob")
    _, page = api.call("GET", f"/conversations/{conv}/messages?limit=2", expect=200)
    check([m["pos"] for m in page["messages"]] == [4, 5] and page["hasMore"] is True, "latest page ascending", page)
    _, page2 = api.call("GET", f"/conversations/{conv}/messages?limit=2&before=4", expect=200)
    check([m["pos"] for m in page2["messages"]] == [2, 3] and page2["hasMore"] is True, "second page", page2)
    _, page3 = api.call("GET", f"/conversations/{conv}/messages?limit=2&before=2", expect=200)
    check([m["pos"] for m in page3["messages"]] == [1] and page3["hasMore"] is False, "last page", page3)
    first = page3["messages"][0]
    check(first["delivered"] == ["bob"] and first["read"] == ["bob"], "receipt state of the first", first)
    check(page["messages"][1]["delivered"] == ["bob"] and page["messages"][1]["read"] == [], "delivered, unread", page["messages"][1])
    _, encoded = api.call("GET", f"/conversations/{conv.replace(':', '%3A')}/messages?limit=2", expect=200)
    check(encoded == page, "a percent-encoded conversation id names the same conversation", encoded)
    for bad in ["limit=0", "limit=101", "limit=x", "before=-1", "before=abc"]:
        status, body = api.call("GET", f"/conversations/{conv}/messages?{bad}")
        check(status == 400 and body["error"]["code"] == "bad_request", f"{bad} → 400", status, body)


@scenario
def history_of_others_is_404(ctx):
    alice = ctx.chat("alice")
    ctx.token("bob")
    alice.send(to="bob", body="private")
    carol = ctx.user_api("carol")
    for conv in [dm("alice", "bob"), "dm:zz:zzz", "grp:nope", "garbage", dm("carol", "nosuchuser")]:
        status, body = carol.call("GET", f"/conversations/{conv}/messages")
        check(status == 404 and body["error"]["code"] == "not_found", f"{conv} → 404", status, body)
    # A direct conversation with an existing user is there before its first message: empty.
    status, body = carol.call("GET", f"/conversations/{dm('bob', 'carol')}/messages")
    check(status == 200 and body["messages"] == [], "an empty conversation with a user who exists", status, body)


@scenario
def rest_requires_token(ctx):
    api = Api(ctx.url)
    for method, path in [("GET", "/conversations"), ("GET", "/me"), ("GET", "/users/alice"),
                         ("GET", f"/conversations/{dm('a1', 'b1')}/messages"), ("POST", "/groups"), ("DELETE", "/sessions/current")]:
        for token in [None, "forged-token", "x" * 300]:
            status, body = api.call(method, path, token=token or "")
            check(status == 401 and body["error"]["code"] == "unauthorized", f"{method} {path} token={str(token)[:10]} → 401", status, body)


@scenario
def socket_requires_token(ctx):
    for auth in [{}, {"token": "forged"}, {"token": 5}, {"token": ""}, {"token": None}]:
        err = Chat(ctx.url, auth).try_connect()
        check(err is not None and "unauthorized" in str(err), f"auth {auth} refused", err)


@scenario
def connections_per_user(ctx):
    """Run with --max-connections-per-user 3: a fourth connection of one user is refused with
    rate_limited, others' are not, and a closed connection frees its slot."""
    alice = [ctx.chat("alice") for _ in range(3)]
    refused = Chat(ctx.url, {"token": ctx.token("alice")}).try_connect()
    check(refused is not None and refused.get("message") == "rate_limited", "a fourth connection is refused", refused)
    check("3 connections per user" in refused.get("data", {}).get("reason", ""), "the reason names the limit", refused)
    check(all(chat.sio.connected for chat in alice), "the three stay connected")
    bob = ctx.chat("bob")
    check(bob.sio.connected, "another user still connects")
    alice[0].disconnect()
    deadline = time.time() + 5
    while True:
        fourth = Chat(ctx.url, {"token": ctx.token("alice")})
        if fourth.try_connect() is None or time.time() > deadline:
            break
        time.sleep(0.05)
    ctx.chats.append(fourth)
    check(fourth.sio.connected, "a closed connection frees its slot")
    check(fourth.send(to="bob", body="still here")["ok"] is True, "and the new one sends")


@scenario
def pending_connections_per_address(ctx):
    """Run with --auth open --max-pending-connections-per-address 3 --connect-timeout-ms 1500
    --trusted-proxies 127.0.0.1: one client address holds at most 3 Engine.IO sessions no
    namespace has accepted. A fourth handshake gets 429 over polling and is refused over
    WebSocket; other addresses (X-Forwarded-For from the trusted proxy) count apart; connected
    sockets do not count; a pending session frees its slot when it connects or times out; a
    session whose socket left its namespace is pending again."""
    endpoint = ctx.url + "/socket.io/?EIO=4&transport=polling"

    def handshake(client=None):
        return requests.get(endpoint, headers={"X-Forwarded-For": client} if client else {}, timeout=5)

    def sid(response):
        check(response.status_code == 200 and response.text.startswith("0"), "a session opens", response.status_code, response.text)
        return json.loads(response.text[1:])["sid"]

    def refused(response, what):
        check(response.status_code == 429 and response.json() == {"code": 4, "message": "Too many connections opening from this address"}
              and response.headers.get("Retry-After") == "1", what, response.status_code, response.headers, response.text)

    pending = [sid(handshake()) for _ in range(3)]
    refused(handshake(), "a fourth handshake from the address gets 429")
    err = Chat(ctx.url, {"user": "alice"}, transports=("websocket",)).try_connect()
    check(err is not None, "a WebSocket client from the address is refused too", err)
    others = [sid(handshake("203.0.113.9")) for _ in range(3)]
    refused(handshake("203.0.113.9"), "another address has a count of its own")
    check(len(set(pending + others)) == 6, "six sessions")

    # A pending session that connects its socket frees its slot at once.
    connected = requests.post(f"{endpoint}&sid={pending[0]}", data='40{"user":"alice"}', timeout=5)
    check(connected.status_code == 200, "CONNECT posted", connected.status_code, connected.text)
    polled = requests.get(f"{endpoint}&sid={pending[0]}", timeout=5)
    check(polled.text.startswith("40"), "the socket is connected", polled.text)
    sid(handshake())
    refused(handshake(), "full again")

    # The others time out (--connect-timeout-ms) and free theirs.
    deadline = time.time() + 6
    while handshake().status_code != 200:
        check(time.time() < deadline, "a pending session frees its slot when it times out")
        time.sleep(0.1)
    time.sleep(1.7)  # every session opened so far has timed out
    # Connected sockets never count: with four connected, three more may be pending.
    chats = [ctx.chat(f"user{i}") for i in range(4)]
    check(all(chat.sio.connected for chat in chats), "four sockets connect one after another")
    for _ in range(3):
        sid(handshake())
    refused(handshake(), "the connected ones did not count")

    # A session whose socket leaves its namespace, the session kept open, is pending again:
    # counted, and closed after the connect timeout.
    time.sleep(1.7)
    ghost = sid(handshake())
    requests.post(f"{endpoint}&sid={ghost}", data='40{"user":"ghost"}', timeout=5)
    check(requests.get(f"{endpoint}&sid={ghost}", timeout=5).text.startswith("40"), "the ghost's socket is connected")
    left = requests.post(f"{endpoint}&sid={ghost}", data="41", timeout=5)
    check(left.status_code == 200, "DISCONNECT of the namespace posted", left.status_code, left.text)
    sid(handshake())
    sid(handshake())
    refused(handshake(), "the session without a socket counts again")
    started = time.time()
    while True:  # polls (answering pings) until the session closes
        polled = requests.get(f"{endpoint}&sid={ghost}", timeout=10)
        if polled.status_code == 400 or polled.text.split("\x1e")[-1] == "1":
            break
        check(time.time() - started < 4, "the session without a socket is closed after the connect timeout", polled.text)
        if "2" in polled.text.split("\x1e"):
            requests.post(f"{endpoint}&sid={ghost}", data="3", timeout=5)

    # WebSocket handshakes arriving together: exactly the cap is admitted (a WebSocket's session
    # opens only after the upgrade is answered, so the place is taken at admission).
    time.sleep(1.7)
    ws_url = ctx.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"

    def open_websocket(_):
        try:
            ws = websocket.create_connection(ws_url, timeout=5)
        except websocket.WebSocketBadStatusException:
            return None
        ws.recv()  # the open packet
        return ws

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        sockets = list(pool.map(open_websocket, range(20)))
    opened = [ws for ws in sockets if ws is not None]
    check(len(opened) == 3, "20 WebSocket handshakes at once: the cap is admitted", len(opened))
    for ws in opened:
        ws.close()


@scenario
def typing(ctx):
    alice = ctx.chat("alice")
    bob = ctx.chat("bob")
    synced(bob)
    check(alice.call("typing", {"to": "bob", "typing": True}) == {"ok": True}, "typing acked")
    t = bob.expect("typing")
    check(t == {"conversation": dm("alice", "bob"), "from": "alice", "typing": True}, "typing payload", t)
    alice.call("typing", {"to": "bob", "typing": False})
    check(bob.expect("typing")["typing"] is False, "stopped typing")
    check(alice.received("typing") == [], "the typist is not told")
    bob.disconnect()
    bob2 = ctx.chat("bob")
    synced(bob2)
    check(bob2.received("typing") == [], "typing is never stored")


@scenario
def presence(ctx):
    ctx.token("bob")
    alice0 = ctx.chat("alice")
    check(alice0.send(to="bob", body="we share a conversation")["ok"], "sent")
    alice0.disconnect()
    ctx.token("carol")
    bob = ctx.chat("bob")
    synced(bob)
    time.sleep(0.2)
    alice = ctx.chat("alice")
    p = bob.expect("presence", lambda p: p["user"] == "alice")
    check(p["online"] is True, "online on first connection", p)
    alice2 = ctx.chat("alice")  # a second connection: no new presence event
    bob.expect_none("presence", lambda p: p["user"] == "alice", within=0.5)
    _, profile = ctx.user_api("bob").call("GET", "/users/alice", expect=200)
    check(profile["online"] is True, "profile shows online", profile)
    alice.disconnect()
    bob.expect_none("presence", lambda p: p["user"] == "alice", within=0.5)
    before = int(time.time() * 1000)
    alice2.disconnect()
    p = bob.expect("presence", lambda p: p["user"] == "alice")
    check(p["online"] is False and abs(p["lastSeen"] - before) < 5000, "offline on last disconnect with lastSeen", p)
    _, profile = ctx.user_api("bob").call("GET", "/users/alice", expect=200)
    check(profile["online"] is False and profile["lastSeen"] == p["lastSeen"], "profile shows last seen", profile)


@scenario
def polling_transport(ctx):
    alice = ctx.chat("alice", transports=("polling",))
    bob = ctx.chat("bob", transports=("polling",))
    synced(bob)
    m = alice.send(to="bob", body="over long-polling")["message"]
    check(bob.expect("message")["id"] == m["id"], "delivered over polling")
    alice.expect("receipt", lambda p: p["status"] == "delivered")
    # A backlog bigger than one poll may carry for python-engineio (16 packets): carol gets
    # it all over polling, then synced.
    ctx.token("carol")
    sent = [alice.send(to="carol", body=f"backlog {i}")["message"]["id"] for i in range(40)]
    carol = ctx.chat("carol", transports=("polling",))
    got = [carol.expect("message", timeout=10)["id"] for _ in sent]
    check(got == sent, "a 40-message backlog arrives in order over polling", got[:5])
    synced(carol)


@scenario
def kill9_nothing_lost(ctx):
    """kill -9 right after acks, restart on the same data: every acked message is there."""
    server = ServerProcess(ctx.server_bin, ctx.tmp, "--auth", "open").start()
    try:
        api = Api(server.url)
        alice = Chat(server.url, {"token": api.session("alice")}).connect()
        api.session("bob")
        acked = []
        for i in range(100):
            reply = alice.send(to="bob", body=f"durable {i}")
            check(reply["ok"], "acked", reply)
            acked.append(reply["message"]["id"])
        server.kill()
        alice.disconnect()
        server.start()
        bob = Chat(server.url, {"token": Api(server.url).session("bob")}).connect()
        got = [bob.expect("message")["id"] for _ in acked]
        check(got == acked, "all acked messages survived, in order")
        check(synced(bob)["seq"] == 100, "timeline intact")
        bob.disconnect()
    finally:
        server.stop()


@scenario
def sqlite_one_process(ctx):
    """A second process on the same SQLite file stops at start with a clear message (the
    writer counts seqs in memory); the first one goes on serving."""
    first = ServerProcess(ctx.server_bin, ctx.tmp, "--auth", "open").start()
    second = ServerProcess(ctx.server_bin, ctx.tmp, "--auth", "open", name="second")
    try:
        try:
            second.start()
            raise Failure("a second process started on the same SQLite file")
        except Failure as failure:
            check("exited at start" in str(failure), "the second process exits", str(failure))
        check(second.exit_code() != 0, "with a failure status")
        log = second.logs()
        check("is in use by another process (pid " in log and "--store dynamodb://" in log, "says why and what to do", log)
        alice = Chat(first.url, {"token": Api(first.url).session("alice")}).connect()
        synced(alice)
        alice.disconnect()
    finally:
        first.stop()


def sign_in(url, user, password, forwarded_for=None):
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    r = requests.post(url + "/api/v1/sessions", json={"id": user, "password": password}, headers=headers, timeout=10)
    return r.status_code, r.json()


@scenario
def sign_in_limit_per_address(ctx):
    """Failed sign-ins per client address (one password tried on many ids), behind a trusted
    proxy and without one: X-Forwarded-For counts only from a trusted peer."""
    pw = "correct horse battery"
    # Without trusted proxies: the header is ignored, so a client cannot dodge the limit with it.
    server = ServerProcess(ctx.server_bin, ctx.tmp, "--auth", "password", "--bcrypt-cost", "4",
                           "--max-failed-sign-ins-per-address", "4").start()
    try:
        api = Api(server.url)
        api.call("POST", "/users", {"id": "alice", "name": "Alice", "password": pw}, expect=201)
        for i in range(3):
            check(sign_in(server.url, f"victim{i}", "password1", forwarded_for=f"198.51.100.{i}")[0] == 401, "a wrong guess is 401")
        # Successes take back their own attempt only: they neither count nor clear.
        for _ in range(3):
            check(sign_in(server.url, "alice", pw)[0] == 200, "a right password signs in below the limit")
        check(sign_in(server.url, "victim3", "password1", forwarded_for="198.51.100.3")[0] == 401, "the fourth failure")
        status, body = sign_in(server.url, "alice", pw, forwarded_for="203.0.113.9")
        check(status == 429 and body["error"]["code"] == "rate_limited" and "address" in body["error"]["message"],
              "past the limit this address is held back, right password and forged header included", status, body)
        # The address limit is not an id limit: registering and existing sessions still work.
        api.call("POST", "/users", {"id": "bob", "name": "Bob", "password": pw}, expect=201)
    finally:
        server.stop()
    # Behind a trusted proxy (the loopback peer here): each forwarded client has its own count,
    # taken from the rightmost address the proxy appended, not from what the client wrote.
    proxied = os.path.join(ctx.tmp, "proxied")
    os.makedirs(proxied, exist_ok=True)
    server = ServerProcess(ctx.server_bin, proxied, "--auth", "password", "--bcrypt-cost", "4",
                           "--max-failed-sign-ins-per-address", "2", "--trusted-proxies", "127.0.0.1,10.0.0.0/8").start()
    try:
        api = Api(server.url)
        api.call("POST", "/users", {"id": "alice", "name": "Alice", "password": pw}, expect=201)
        for i in range(2):
            check(sign_in(server.url, f"victim{i}", "password1", forwarded_for=f"{i}.6.6.6, 203.0.113.7, 10.1.1.1")[0] == 401, "a wrong guess is 401")
        status, body = sign_in(server.url, "alice", pw, forwarded_for="9.9.9.9, 203.0.113.7")
        check(status == 429, "the forwarded client is held back whatever it put left of its address", status, body)
        check(sign_in(server.url, "alice", pw, forwarded_for="203.0.113.8")[0] == 200, "another forwarded client is not")
        check(sign_in(server.url, "alice", pw)[0] == 200, "nor the proxy's own requests")
    finally:
        server.stop()


@scenario
def password_mode(ctx):
    """Accounts in password mode, and no secret in the logs (trace level)."""
    server = ServerProcess(ctx.server_bin, ctx.tmp, "--auth", "password", "--bcrypt-cost", "4", "--log-level", "trace").start()
    try:
        api = Api(server.url)
        pw = "correct horse battery"
        status, reg = api.call("POST", "/users", {"id": "alice", "name": "Alice", "password": pw})
        check(status == 201 and reg["user"] == {"id": "alice", "name": "Alice"} and reg["token"], "registered", status, reg)
        status, body = api.call("POST", "/users", {"id": "alice", "name": "Other", "password": pw})
        check(status == 409 and body["error"]["code"] == "conflict", "duplicate id 409", status, body)
        for bad in ["A", "x", "-lead", "a" * 33, "sp ace", "ünï"]:
            status, body = api.call("POST", "/users", {"id": bad, "name": "n", "password": pw})
            check(status == 400 and body["error"]["code"] == "bad_request", f"invalid id {bad!r} 400", status, body)
        status, body = api.call("POST", "/users", {"id": "shortpw", "name": "n", "password": "123"})
        check(status == 400, "short password 400", status, body)
        status, body = api.call("POST", "/users", {"id": "noname", "name": "", "password": pw})
        check(status == 400, "empty name 400", status, body)
        # Names that would show as blank entries or break the line they are shown on.
        for blank in ["\u200b\u3164", "\u2800", "\u2066\u2069", "alice\r\nadmin", "\u001b[2Jred"]:
            status, body = api.call("POST", "/users", {"id": "blank", "name": blank, "password": pw})
            check(status == 400 and body["error"]["code"] == "bad_request", f"name {blank!r} 400", status, body)
        # bcrypt reads a C string of at most 72 bytes: nothing past a NUL or byte 72 may be
        # ignored, neither at registration nor at sign-in.
        status, body = api.call("POST", "/users", {"id": "nul", "name": "n", "password": "\u0000aaaaaaa"})
        check(status == 400, "a password with U+0000 is refused", status, body)
        api.call("POST", "/sessions", {"id": "nul", "password": ""}, expect=401)
        long_pw = "p" * 72
        api.call("POST", "/users", {"id": "longpw", "name": "n", "password": long_pw}, expect=201)
        api.call("POST", "/sessions", {"id": "longpw", "password": long_pw}, expect=200)
        status, body = api.call("POST", "/sessions", {"id": "longpw", "password": long_pw + "zz"})
        check(status == 401, "a password longer than 72 bytes does not sign in", status, body)
        # Ten failed sign-ins within five minutes hold that id's sign-ins back, the right
        # password included, before any check; other ids are not affected.
        api.call("POST", "/users", {"id": "guessed", "name": "n", "password": pw}, expect=201)
        for _ in range(10):
            api.call("POST", "/sessions", {"id": "guessed", "password": "wrong guess"}, expect=401)
        status, body = api.call("POST", "/sessions", {"id": "guessed", "password": pw})
        check(status == 429 and body["error"]["code"] == "rate_limited", "the id is held back after 10 failures", status, body)
        # A sign-in without a password fails like a wrong one, and counts as one.
        api.call("POST", "/users", {"id": "nopassword", "name": "n", "password": pw}, expect=201)
        for _ in range(10):
            api.call("POST", "/sessions", {"id": "nopassword"}, expect=401)
        status, body = api.call("POST", "/sessions", {"id": "nopassword", "password": pw})
        check(status == 429, "sign-ins without a password count toward the id's limit", status, body)
        api.call("POST", "/users", {"id": "nulsuffix", "name": "n", "password": "abcdefgh"}, expect=201)
        status, body = api.call("POST", "/sessions", {"id": "nulsuffix", "password": "abcdefgh\u0000anything"})
        check(status == 401, "a password with a NUL after the real one does not sign in", status, body)
        status, body = api.call("POST", "/sessions", {"id": "alice", "password": "wrong password"})
        check(status == 401 and body["error"]["code"] == "unauthorized", "wrong password 401", status, body)
        status, body = api.call("POST", "/sessions", {"id": "nobody", "password": pw})
        check(status == 401, "unknown user 401", status, body)
        status, body = api.call("POST", "/sessions", {"id": "alice"})
        check(status == 401, "no password 401", status, body)
        status, session = api.call("POST", "/sessions", {"id": "alice", "password": pw})
        check(status == 200 and session["token"] != reg["token"], "signed in", status, session)
        token = session["token"]
        api.call("GET", "/me", token=token, expect=200)
        bob_token = api.call("POST", "/users", {"id": "bob", "name": "Bob", "password": pw}, expect=201)[1]["token"]
        chat = Chat(server.url, {"token": token})
        check(chat.try_connect() is None, "socket accepts the token")
        chat.disconnect()
        api.call("DELETE", "/sessions/current", token=token, expect=204)
        status, body = api.call("GET", "/me", token=token)
        check(status == 401, "revoked token refused on REST", status, body)
        err = Chat(server.url, {"token": token}).try_connect()
        check(err is not None and "unauthorized" in str(err), "revoked token refused on the socket", err)
        err = Chat(server.url, {"user": "alice"}).try_connect()
        check(err is not None and "unauthorized" in str(err), "no password-less connect in password mode", err)
        api.call("GET", "/me", token=reg["token"], expect=200)  # other sessions stay valid
        api.call("GET", "/me", token=bob_token, expect=200)
        logs = server.logs()
        check("listening" in logs, "the server logged (at trace level)", logs[:500])
        for secret in [pw, token, reg["token"], bob_token]:
            check(secret not in logs, "no password or token in the logs")
    finally:
        server.stop()


@scenario
def tokens_end_sockets(ctx):
    """A token that stops being valid ends the sockets opened with it: at once when it is
    revoked on this server, at the next recheck when it is revoked in the store by another
    server (or expires). A refused CONNECT still leaves the session to the connect timeout."""
    import hashlib
    import sqlite3

    import websocket
    pw = "correct horse battery"

    def disconnected_within(chat, seconds):
        deadline = time.time() + seconds
        while chat.sio.connected and time.time() < deadline:
            time.sleep(0.01)
        return not chat.sio.connected

    def start(*args):
        server = ServerProcess(ctx.server_bin, ctx.tmp, "--auth", "password", "--bcrypt-cost", "4", *args).start()
        api = Api(server.url)
        status, _ = api.call("POST", "/users", {"id": "alice", "name": "Alice", "password": pw})
        if status != 201:
            api.call("POST", "/sessions", {"id": "alice", "password": pw}, expect=200)
        status, _ = api.call("POST", "/users", {"id": "bob", "name": "Bob", "password": pw})
        tokens = [api.call("POST", "/sessions", {"id": "alice", "password": pw}, expect=200)[1]["token"] for _ in range(2)]
        return server, api, tokens, [Chat(server.url, {"token": token}).connect() for token in tokens]

    # Revoked here: the socket ends before DELETE answers (the recheck is a minute away).
    server, api, tokens, chats = start("--token-recheck-ms", "60000", "--connect-timeout-ms", "1000")
    try:
        api.call("DELETE", "/sessions/current", token=tokens[0], expect=204)
        check(disconnected_within(chats[0], 0.5), "the socket of a token revoked here is disconnected at once")
        check(chats[1].sio.connected, "the user's other session stays connected")
        answer = chats[1].send(to="bob", body="still here")
        check(answer.get("ok") is True, "the other session still sends", answer)
        chats[1].disconnect()

        # A refused CONNECT does not stop the connect timeout (1 s here).
        ws = websocket.create_connection(server.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket", timeout=5)
        check(ws.recv().startswith("0"), "Engine.IO open")
        ws.send('40{"token":"not a token"}')
        refused = ws.recv()
        check(refused.startswith("44") and "unauthorized" in refused, "CONNECT refused", refused)
        began = time.time()
        closed = False
        try:
            while not closed and time.time() - began < 5:
                frame = ws.recv()
                if frame == "2":
                    ws.send("3")
                closed = frame in ("1", "")
        except (websocket.WebSocketConnectionClosedException, websocket.WebSocketTimeoutException, ConnectionError, OSError) as error:
            closed = not isinstance(error, websocket.WebSocketTimeoutException)
        check(closed and time.time() - began < 3, "the refused session closes at the connect timeout", time.time() - began)

        # A sign-out racing a CONNECT with its token: the CONNECT is refused (44), or answered and
        # then ended (40, then 41). Never a socket left connected, nor one answered without its 41.
        outcomes = {}
        for attempt in range(40):
            token = api.call("POST", "/sessions", {"id": "alice", "password": pw}, expect=200)[1]["token"]
            ws = websocket.create_connection(server.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket", timeout=5)
            check(ws.recv().startswith("0"), "Engine.IO open")
            ws.send("40" + json.dumps({"token": token}))
            time.sleep(0.0005 * (attempt % 8))
            api.call("DELETE", "/sessions/current", token=token, expect=204)
            frames, deadline = [], time.time() + 1.5
            ws.settimeout(0.1)
            while time.time() < deadline and not any(f.startswith(("41", "44")) for f in frames):
                try:
                    frames.append(ws.recv())
                except websocket.WebSocketTimeoutException:
                    pass
            ws.close()
            answers = [f[:2] for f in frames if f.startswith(("40", "41", "44"))]
            check(answers in (["44"], ["40", "41"]), "a CONNECT racing its token's sign-out is refused, or answered and ended",
                  attempt, frames)
            outcomes[tuple(answers)] = outcomes.get(tuple(answers), 0) + 1
        print("CONNECT racing sign-out:", outcomes)
    finally:
        server.stop()

    # Revoked in the store, as another server sharing it would: the next recheck finds out.
    server, api, tokens, chats = start("--token-recheck-ms", "300")
    try:
        digest = hashlib.sha256(tokens[0].encode()).hexdigest()
        with sqlite3.connect(server.store, timeout=10) as db:
            changed = db.execute("UPDATE tokens SET revoked = 1 WHERE hash = ?", (digest,)).rowcount
        check(changed == 1, "the token is in the store", changed)
        check(disconnected_within(chats[0], 3), "the socket of a token revoked in the store is disconnected at the recheck")
        time.sleep(0.7)
        check(chats[1].sio.connected, "a valid token's socket outlives rechecks")
        chats[1].disconnect()
    finally:
        server.stop()


@scenario
def operational_endpoints(ctx):
    import requests
    for path, body in [("/healthz", {"status": "ok"}), ("/readyz", {"status": "ready"})]:
        r = requests.get(ctx.url + path, timeout=5)
        check(r.status_code == 200 and r.json() == body, path, r.status_code, r.text[:200])
        check(r.headers.get("Content-Type") == "application/json; charset=utf-8", f"{path} says it is JSON", dict(r.headers))
    page = requests.get(ctx.url + "/js/api.js", timeout=5)
    check(page.status_code == 200 and page.headers.get("X-Content-Type-Options") == "nosniff", "files say nosniff", dict(page.headers))
    policy = page.headers.get("Content-Security-Policy", "")
    check("default-src 'self'" in policy and "frame-ancestors 'none'" in policy, "and carry a content security policy", policy)
    denied = requests.get(ctx.url + "/api/v1/me", timeout=5)
    check(denied.status_code == 401 and denied.headers.get("X-Content-Type-Options") == "nosniff"
          and "Content-Security-Policy" in denied.headers, "error answers carry both too", denied.status_code, dict(denied.headers))
    # A NUL would end the file name but not the extension the type is guessed from.
    r = requests.get(ctx.url + "/js/api.js%00.html", timeout=5)
    check(r.status_code == 400 and r.json()["error"]["code"] == "bad_request", "a path with %00 is refused", r.status_code, r.text[:200])
    alice = ctx.chat("alice")
    ctx.token("bob")
    alice.send(to="bob", body="counted")
    text = requests.get(ctx.url + "/metrics", timeout=5).text
    for name in ["webchat_connections", "webchat_messages_in_total", "webchat_send_duration_seconds", 'webchat_events_in_total{event="message"}',
                 "webchat_store_queue_wait_seconds", "webchat_store_batch_duration_seconds", "webchat_store_failed_batches_total"]:
        check(name in text, f"metric {name}", text[:800])
    # The SQLite writer reported its batches: at least the message's, holding one operation or more.
    values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    batches = float(values.get("webchat_store_batch_operations_count", "0"))
    check(batches >= 1 and float(values.get("webchat_store_batch_operations_sum", "0")) >= batches, "store batches counted", batches)
    page = requests.get(ctx.url + "/", timeout=5)
    check(page.status_code == 200 and "<html" in page.text.lower(), "the web client is served at /", page.status_code)


@scenario
def openapi_matches(ctx):
    """/openapi.yaml is a valid OpenAPI 3 document, and every operation in it reaches a
    handler of the server (not the router's 'no route' answer)."""
    import requests
    import yaml
    from openapi_spec_validator import validate

    r = requests.get(ctx.url + "/openapi.yaml", timeout=5)
    check(r.status_code == 200, "served", r.status_code)
    doc = yaml.safe_load(r.text)
    validate(doc)
    api = ctx.user_api("alice")
    no_route = api.call("GET", "/no/such/route")
    check(no_route[0] == 404, "unknown routes are 404", no_route)
    operations = 0
    for path, item in doc["paths"].items():
        concrete = path.replace("{id}", "x1").replace("{user}", "u1")
        for method in item:
            status, body = api.call(method.upper(), concrete, {} if method in ("post", "patch") else None)
            check((status, body) != no_route, f"{method.upper()} {path} is routed", status, body)
            operations += 1
    check(operations >= 13, "all operations checked", operations)
    # A documented path asked with a method it does not answer: 405, and Allow names exactly the
    # methods the document lists for it.
    verbs = {"get", "post", "put", "patch", "delete"}
    for path, item in doc["paths"].items():
        concrete = ctx.url + "/api/v1" + path.replace("{id}", "x1").replace("{user}", "u1")
        documented = sorted(m.upper() for m in item if m in verbs)
        wrong = sorted(verbs - set(item))[0].upper()
        r = requests.request(wrong, concrete, headers={"Authorization": "Bearer " + ctx.token("alice")}, timeout=5)
        check(r.status_code == 405 and r.json()["error"]["code"] == "bad_request", f"{wrong} {path} is 405", r.status_code, r.text)
        allow = sorted(m.strip() for m in r.headers.get("Allow", "").split(","))
        check(allow == documented, f"{wrong} {path}: Allow lists {documented}", allow)


@scenario
def cors_and_origins(ctx):
    """The server runs with --cors-origins http://allowed.example: browsers from there may
    use the REST API and the sockets, other origins may not, same-origin pages always may."""
    import requests
    import websocket

    allowed, evil, same = "http://allowed.example", "http://evil.example", ctx.url
    token = ctx.token("alice")
    url = ctx.url + "/api/v1/conversations"
    pre = requests.options(url, headers={"Origin": allowed, "Access-Control-Request-Method": "GET",
                                         "Access-Control-Request-Headers": "authorization"}, timeout=5)
    check(pre.status_code == 204 and pre.headers.get("Access-Control-Allow-Origin") == allowed, "preflight allowed", pre.status_code, dict(pre.headers))
    check("Authorization" in pre.headers.get("Access-Control-Allow-Headers", ""), "Authorization may be sent", dict(pre.headers))
    r = requests.get(url, headers={"Origin": allowed, "Authorization": "Bearer " + token}, timeout=5)
    check(r.status_code == 200 and r.headers.get("Access-Control-Allow-Origin") == allowed, "CORS answer for an allowed origin", dict(r.headers))
    r = requests.get(url, headers={"Origin": evil, "Authorization": "Bearer " + token}, timeout=5)
    check("Access-Control-Allow-Origin" not in r.headers, "no CORS headers for another origin", dict(r.headers))
    r = requests.get(ctx.url + "/api/v1/me", headers={"Origin": allowed}, timeout=5)
    check(r.status_code == 401 and r.headers.get("Access-Control-Allow-Origin") == allowed,
          "error answers carry CORS headers too, so the page can read them", r.status_code, dict(r.headers))
    # A page elsewhere cannot make its visitors' browsers change anything (a "simple" POST
    # needs no preflight): refused before it runs.
    sessions = ctx.url + "/api/v1/sessions"
    r = requests.post(sessions, data='{"id":"mallory"}', headers={"Origin": evil, "Content-Type": "text/plain"}, timeout=5)
    check(r.status_code == 403 and r.json()["error"]["code"] == "forbidden", "a POST from a refused origin is 403", r.status_code, r.text)
    r = requests.get(ctx.url + "/api/v1/users/mallory", headers={"Authorization": "Bearer " + token}, timeout=5)
    check(r.status_code == 404, "and it created nothing", r.status_code, r.text)
    r = requests.post(sessions, json={"id": "carol"}, headers={"Origin": allowed}, timeout=5)
    check(r.status_code == 200 and r.headers.get("Access-Control-Allow-Origin") == allowed, "a POST from an allowed origin runs", r.status_code)
    ws_url = ctx.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    for origin, ok in [(allowed, True), (same, True), (None, True), (evil, False)]:
        try:
            ws = websocket.create_connection(ws_url, origin=origin, timeout=5) if origin else \
                websocket.create_connection(ws_url, timeout=5, suppress_origin=True)
            opened = ws.recv().startswith("0")
            ws.close()
        except websocket.WebSocketBadStatusException as error:
            opened = False
            # Polling answers 403 {"code":4}; a refused WebSocket upgrade, as the reference
            # server's, 400 with the reason as text (docs/PROTOCOL.md §1).
            body = error.resp_body.decode() if isinstance(error.resp_body, bytes) else error.resp_body
            check(error.status_code == 400 and body == "Forbidden", "upgrade refused with 400 Forbidden", error.status_code, body)
        check(opened == ok, f"WebSocket from origin {origin}: {'accepted' if ok else 'refused'}", opened)


@scenario
def graceful_shutdown(ctx):
    """SIGTERM: acked messages are kept, clients are told (close packet) before the process
    exits 0, it says so in its log, and the SQLite file is closed (no WAL left)."""
    import signal
    server = ServerProcess(ctx.server_bin, ctx.tmp, "--auth", "open").start()
    try:
        api = Api(server.url)
        api.session("bob")
        alice = Chat(server.url, {"token": api.session("alice")}).connect()
        carol = Chat(server.url, {"token": api.session("carol")}, transports=("polling",)).connect()
        ids = [alice.send(to="bob", body=f"before shutdown {i}")["message"]["id"] for i in range(10)]
        start = time.time()
        server.proc.send_signal(signal.SIGTERM)
        check(server.proc.wait(timeout=15) == 0, "exit status 0")
        check(time.time() - start < 10, "stopped promptly", time.time() - start)
        deadline = time.time() + 5
        while (alice.sio.connected or carol.sio.connected) and time.time() < deadline:
            time.sleep(0.05)
        check(not alice.sio.connected, "the WebSocket client was disconnected")
        check(not carol.sio.connected, "the polling client was disconnected")
        check("webchat stopped" in server.logs(), "logged the stop", server.logs()[-500:])
        # The store was closed: its WAL is in the file, which alone holds every message.
        check(not os.path.exists(server.store + "-wal"), "no WAL left beside the database")
        import sqlite3
        with sqlite3.connect(f"file:{server.store}?mode=ro&immutable=1", uri=True) as db:
            stored = [row[0] for row in db.execute("SELECT client_id FROM messages ORDER BY id")]
        check(stored == ids, "the database file alone holds every message", stored)
        server.start()
        bob = Chat(server.url, {"token": Api(server.url).session("bob")}).connect()
        check([bob.expect("message")["id"] for _ in ids] == ids, "everything acked before SIGTERM is there")
        bob.disconnect()
    finally:
        server.stop()


@scenario
def https_and_wss(ctx):
    """A server with TLS (the test's own CA signed its certificate, and the clients here trust
    that CA): REST, a WebSocket connection (wss) and a polling one that upgrades carry a message
    and its receipt. A client that does not trust the CA, and plain HTTP, get nowhere."""
    check(ctx.url.startswith("https://") and CA_FILE, "an https URL and a CA to trust", ctx.url, CA_FILE)
    alice = online(ctx, "alice")
    bob = ctx.chat("bob", transports=("polling", "websocket"))
    synced(bob)
    reply = alice.send(to="bob", body="over TLS")
    check(reply.get("ok"), "sent over wss", reply)
    message = bob.expect("message", lambda p: p["body"] == "over TLS")
    alice.expect("receipt", lambda p: p["status"] == "delivered" and message["id"] in p["ids"])
    check(bob.sio.transport() == "websocket", "the polling connection upgraded to wss", bob.sio.transport())
    status, history = ctx.user_api("bob").call("GET", f"/conversations/{dm('alice', 'bob')}/messages", expect=200)
    check([m["body"] for m in history["messages"]] == ["over TLS"], "history over https", history)
    try:
        requests.get(ctx.url + "/healthz", timeout=5)
        raise Failure("a client that does not trust the CA was answered")
    except requests.exceptions.SSLError:
        pass
    try:
        answer = requests.get(ctx.url.replace("https://", "http://", 1) + "/healthz", timeout=5)
        raise Failure(f"plain HTTP on the TLS port was answered {answer.status_code}")
    except requests.exceptions.ConnectionError:
        pass


@scenario
def https_redirect_and_hsts(ctx):
    """A TLS server started with --http-redirect-port (its URL in WEBCHAT_TEST_REDIRECT_URL) and
    --hsts-max-age 31536000: plain HTTP there is sent to the same host, path and query over HTTPS
    (308: a POST stays a POST), without Strict-Transport-Security; the HTTPS answers carry it; a
    Host header that names no host gets a 400 and no Location."""
    redirect = os.environ.get("WEBCHAT_TEST_REDIRECT_URL")
    check(ctx.url.startswith("https://") and CA_FILE and redirect, "an https URL, a CA and a redirect URL", ctx.url, CA_FILE, redirect)
    https_port = urllib.parse.urlsplit(ctx.url).port
    redirect_port = urllib.parse.urlsplit(redirect).port
    for host, location in [
        (None, f"https://127.0.0.1:{https_port}/api/v1/users?prefix=al"),
        (f"localhost:{redirect_port}", f"https://localhost:{https_port}/api/v1/users?prefix=al"),
        ("chat.example.com", f"https://chat.example.com:{https_port}/api/v1/users?prefix=al"),
        ("[::1]:80", f"https://[::1]:{https_port}/api/v1/users?prefix=al"),
    ]:
        answer = requests.get(redirect + "/api/v1/users?prefix=al", headers={"Host": host} if host else {}, allow_redirects=False, timeout=5)
        check(answer.status_code == 308 and answer.headers.get("Location") == location, f"Host {host}: 308 to {location}",
              answer.status_code, answer.headers)
        check("Strict-Transport-Security" not in answer.headers, "no HSTS over plain HTTP", answer.headers)
    for host in ["evil.example/path", "user@evil.example", "[::1", "chat.example.com:http", "chat.example.com:123456"]:
        answer = requests.get(redirect + "/", headers={"Host": host}, allow_redirects=False, timeout=5)
        check(answer.status_code == 400 and "Location" not in answer.headers, f"Host {host!r}: 400, no Location", answer.status_code, answer.headers)

    http = trusting_session()
    answer = http.post(redirect + "/api/v1/sessions", json={"id": "carol"}, timeout=10)
    check(answer.status_code == 200 and answer.json().get("token") and [r.status_code for r in answer.history] == [308],
          "a sign-in POSTed to plain HTTP is sent on, as a POST, and answered over HTTPS", answer.status_code, answer.history, answer.text)
    check(answer.url.startswith(ctx.url) and answer.headers.get("Strict-Transport-Security") == "max-age=31536000",
          "HSTS on the HTTPS answer", answer.url, answer.headers)
    page = http.get(redirect + "/", timeout=10)
    check(page.status_code == 200 and "<html" in page.text.lower() and page.headers.get("Strict-Transport-Security") == "max-age=31536000",
          "the web client over HTTPS, with HSTS", page.status_code, page.headers)


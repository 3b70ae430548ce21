"""A python-socketio (aiohttp) chat server for side-by-side benchmarks with webchat.

It implements the subset of PROTOCOL.md that `webchat-bench` drives, the way a team
would write it with python-socketio: open auth (`POST /api/v1/sessions {"id"}`), the
`message` event with ack, a per-user timeline in memory with gap-free `seq`, replay
on connect then `synced`, `delivered` receipts on the recipient's ack, and
`group:create` plus group messages. State lives in memory (webchat's is durable).

As webchat does (PROTOCOL §3), acks that arrive together make one receipt per sender and
conversation: here, those handled in one turn of the event loop.
"""
import argparse
import asyncio
import re
import secrets
import time

import socketio
from aiohttp import web

USER_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,31}$")
MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*")
app = web.Application()
sio.attach(app)

users = {}        # user id -> {"id", "name"}
tokens = {}       # token -> user id
timelines = {}    # user id -> [entry]; entry = {"event", "data", "key"}
acked_seq = {}    # user id -> highest acknowledged seq
sessions = {}     # user id -> {sid}
states = {}       # sid -> {"user", "cursor", "synced", "lock"}
messages = {}     # (sender, id) -> message
positions = {}    # conversation -> last pos
delivered = set() # (sender, id, recipient)
receipts = {}     # (sender, conversation, recipient) -> [id]: delivered this turn of the loop, not yet sent
groups = {}       # group id -> {"id", "name", "owner", "members"}


def now_ms():
    return int(time.time() * 1000)


def error(code, message):
    return {"ok": False, "error": {"code": code, "message": message}}


def ensure_user(uid):
    return users.setdefault(uid, {"id": uid, "name": uid})


async def create_session(request):
    try:
        body = await request.json()
    except ValueError:
        body = None
    uid = body.get("id") if isinstance(body, dict) else None
    if not isinstance(uid, str) or not USER_ID.match(uid):
        return web.json_response({"error": {"code": "bad_request", "message": "bad id"}}, status=400)
    token = secrets.token_urlsafe(24)
    tokens[token] = uid
    return web.json_response({"user": ensure_user(uid), "token": token})


app.router.add_post("/api/v1/sessions", create_session)


def append(uid, event, payload, key=None):
    """Appends an event to a user's timeline and pushes it to that user's connections."""
    timeline = timelines.setdefault(uid, [])
    data = dict(payload, seq=len(timeline) + 1)
    timeline.append({"event": event, "data": data, "key": key})
    for sid in sessions.get(uid, ()):
        asyncio.ensure_future(flush(sid))


async def flush(sid):
    """Emits every timeline entry this connection has not seen, in order, then `synced` once."""
    state = states.get(sid)
    if state is None:
        return
    async with state["lock"]:
        uid = state["user"]
        timeline = timelines.setdefault(uid, [])
        while state["cursor"] < len(timeline) and sid in states:
            entry = timeline[state["cursor"]]
            state["cursor"] += 1
            await sio.emit(entry["event"], entry["data"], to=sid, callback=make_ack(uid, entry))
        if not state["synced"] and sid in states:
            state["synced"] = True
            await sio.emit("synced", {"seq": len(timeline)}, to=sid)


def make_ack(uid, entry):
    def on_ack(*_):
        seq = entry["data"]["seq"]
        if seq > acked_seq.get(uid, 0):
            acked_seq[uid] = seq
        key = entry["key"]
        if key is None or key + (uid,) in delivered:
            return
        delivered.add(key + (uid,))
        message = messages[key]
        if not receipts:
            asyncio.get_running_loop().call_soon(send_receipts)
        receipts.setdefault((key[0], message["conversation"], uid), []).append(message["id"])
    return on_ack


def send_receipts():
    """One `delivered` receipt per sender, conversation and recipient for the acks of this turn."""
    pending = list(receipts.items())
    receipts.clear()
    for (sender, conversation, uid), ids in pending:
        append(sender, "receipt", {"conversation": conversation, "ids": ids, "by": uid, "status": "delivered", "ts": now_ms()})


@sio.event
async def connect(sid, environ, auth):
    auth = auth if isinstance(auth, dict) else {}
    uid = tokens.get(auth.get("token"))
    if uid is None and isinstance(auth.get("user"), str) and USER_ID.match(auth["user"]):
        uid = ensure_user(auth["user"])["id"]
    if uid is None:
        raise socketio.exceptions.ConnectionRefusedError("unauthorized")
    since = auth.get("since")
    cursor = since if isinstance(since, int) and since >= 0 else acked_seq.get(uid, 0)
    states[sid] = {"user": uid, "cursor": min(cursor, len(timelines.get(uid, []))), "synced": False, "lock": asyncio.Lock()}
    sessions.setdefault(uid, set()).add(sid)
    # Replay after the CONNECT answer has gone out.
    asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(flush(sid)))


@sio.event
async def disconnect(sid, *_):
    state = states.pop(sid, None)
    if state is not None:
        sessions.get(state["user"], set()).discard(sid)


@sio.on("message")
async def on_message(sid, data):
    state = states.get(sid)
    if state is None:
        return error("unauthorized", "not connected")
    uid = state["user"]
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not MESSAGE_ID.match(data["id"]):
        return error("bad_request", "bad id")
    body = data.get("body")
    if not isinstance(body, str) or not 1 <= len(body) <= 4000:
        return error("bad_request", "bad body")
    key = (uid, data["id"])
    if key in messages:
        return {"ok": True, "message": messages[key]}
    if isinstance(data.get("to"), str):
        to = data["to"]
        if to not in users:
            return error("not_found", "no such user")
        conversation = "dm:" + ":".join(sorted([uid, to]))
        recipients = [to]
        message = {"id": data["id"], "conversation": conversation, "from": uid, "to": to, "body": body}
    elif isinstance(data.get("group"), str):
        group = groups.get(data["group"])
        if group is None or uid not in group["members"]:
            return error("forbidden", "not a member")
        conversation = "grp:" + group["id"]
        recipients = [m for m in group["members"] if m != uid]
        message = {"id": data["id"], "conversation": conversation, "from": uid, "group": group["id"], "body": body}
    else:
        return error("bad_request", "to or group")
    positions[conversation] = positions.get(conversation, 0) + 1
    message.update(ts=now_ms(), pos=positions[conversation])
    messages[key] = message
    for recipient in recipients:
        append(recipient, "message", message, key)
    return {"ok": True, "message": message}


@sio.on("group:create")
async def on_group_create(sid, data):
    state = states.get(sid)
    if state is None or not isinstance(data, dict):
        return error("bad_request", "bad group")
    uid = state["user"]
    members = [uid] + [m for m in data.get("members", []) if isinstance(m, str) and m in users and m != uid]
    gid = "g" + secrets.token_hex(8)
    group = {"id": gid, "name": str(data.get("name", gid)), "owner": uid, "members": members}
    groups[gid] = group
    for member in members:
        append(member, "group", {"conversation": "grp:" + gid, "change": "created" if member == uid else "joined",
                                 "group": group, "users": [member], "by": uid, "ts": now_ms()})
    return {"ok": True, "group": group}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)

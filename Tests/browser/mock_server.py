"""A stand-in webchat server, for developing and testing the web client before
the Swift server runs. It implements, simply and in memory with a JSON file for
durability, the parts of /work/shared/PROTOCOL.md the web client uses:
password auth, the call log, history, per-user timelines with seq and acks,
delivered/read receipts, groups, typing and presence. It is NOT the product:
no rate limits, no bcrypt, one process, whole-file writes.

Command line mirrors the real server's so conftest.py can run either:
  python mock_server.py --host 127.0.0.1 --port P --store sqlite:/tmp/x/chat.sqlite --auth password
"""

import argparse
import asyncio
import json
import os
import pathlib
import secrets
import time

import socketio
from aiohttp import web

ROOT = pathlib.Path(__file__).resolve().parents[2]
PUBLIC = ROOT / "Public"


def now_ms() -> int:
    return int(time.time() * 1000)


def dm_id(a: str, b: str) -> str:
    return f"dm:{min(a, b)}:{max(a, b)}"


def err(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


class State:
    """All chat state; saved whole to a JSON file after every change."""

    def __init__(self, path: pathlib.Path):
        self.path = path
        self.data = {"users": {}, "tokens": {}, "groups": {}, "messages": {}, "timelines": {}, "acked": {}, "lastSeen": {}}
        if path.exists():
            self.data = json.loads(path.read_text())

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data))
        os.replace(tmp, self.path)

    def __getattr__(self, name):
        return self.data[name]

    def append(self, user: str, kind: str, payload: dict) -> dict:
        tl = self.timelines.setdefault(user, [])
        entry = {"kind": kind, "payload": {**payload, "seq": len(tl) + 1}}
        tl.append(entry)
        return entry

    def members(self, conv: str) -> list[str]:
        if conv.startswith("dm:"):
            return conv.split(":")[1:]
        group = self.groups.get(conv[4:])
        return list(group["members"]) if group else []


def build(args) -> web.Application:
    store_path = pathlib.Path(args.store.split(":", 1)[1] + ".json")
    st = State(store_path)
    sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*", ping_interval=5, ping_timeout=5)
    app = web.Application()
    sio.attach(app)
    conns: dict[str, dict] = {}  # sid -> {"user", "sent": seq, "lock"}

    def user_of(request) -> str | None:
        auth = request.headers.get("Authorization", "")
        return st.tokens.get(auth[7:]) if auth.startswith("Bearer ") else None

    def public_user(uid: str) -> dict:
        online = any(c["user"] == uid for c in conns.values())
        return {"id": uid, "name": st.users[uid]["name"], "online": online, "lastSeen": st.lastSeen.get(uid)}

    # --- timeline delivery: one pump per connection serves replay and live alike ---

    async def pump(sid: str) -> None:
        conn = conns.get(sid)
        if not conn:
            return
        async with conn["lock"]:
            tl = st.timelines.get(conn["user"], [])
            while conn["sent"] < len(tl) and sid in conns:
                entry = tl[conn["sent"]]
                conn["sent"] += 1
                await sio.emit(entry["kind"], entry["payload"], to=sid, callback=make_ack(conn["user"], entry))

    def make_ack(user: str, entry: dict):
        async def on_ack(*_):
            seq = entry["payload"]["seq"]
            st.acked[user] = max(st.acked.get(user, 0), seq)
            if entry["kind"] == "message":
                m = find_message(entry["payload"]["conversation"], entry["payload"]["id"])
                if m and user not in m["delivered"]:
                    m["delivered"].append(user)
                    receipt(m["from"], m["conversation"], [m["id"]], user, "delivered")
                    await push(m["from"])
            st.save()
        return on_ack

    async def push(user: str) -> None:
        for sid, c in list(conns.items()):
            if c["user"] == user:
                await pump(sid)

    def receipt(to: str, conv: str, ids: list, by: str, status: str) -> None:
        st.append(to, "receipt", {"conversation": conv, "ids": ids, "by": by, "status": status, "ts": now_ms()})

    def find_message(conv: str, mid: str):
        return next((m for m in st.messages.get(conv, []) if m["id"] == mid), None)

    def public_message(m: dict) -> dict:
        return {k: v for k, v in m.items() if k not in ("delivered", "read")}

    async def presence(user: str, online: bool) -> None:
        peers = {u for conv in conversations_of(user) for u in st.members(conv)} - {user}
        payload = {"user": user, "online": online, "lastSeen": st.lastSeen.get(user)}
        for sid, c in list(conns.items()):
            if c["user"] in peers:
                await sio.emit("presence", payload, to=sid)

    def conversations_of(user: str) -> list[str]:
        convs = [c for c in st.messages if c.startswith("dm:") and user in st.members(c)]
        convs += [f"grp:{g}" for g, grp in st.groups.items() if user in grp["members"]]
        return convs

    @sio.event
    async def connect(sid, environ, auth):
        user = st.tokens.get((auth or {}).get("token", ""))
        if not user:
            raise socketio.exceptions.ConnectionRefusedError("unauthorized")
        since = (auth or {}).get("since")
        first = not any(c["user"] == user for c in conns.values())
        conns[sid] = {"user": user, "sent": since if isinstance(since, int) else st.acked.get(user, 0), "lock": asyncio.Lock()}

        async def start():
            await asyncio.sleep(0.05)  # let the CONNECT answer go out first
            await pump(sid)
            if sid in conns:
                await sio.emit("synced", {"seq": len(st.timelines.get(user, []))}, to=sid)
            if first:
                await presence(user, True)
        sio.start_background_task(start)

    @sio.event
    async def disconnect(sid, *_):
        conn = conns.pop(sid, None)
        if conn and not any(c["user"] == conn["user"] for c in conns.values()):
            st.lastSeen[conn["user"]] = now_ms()
            st.save()
            await presence(conn["user"], False)

    def fail(code: str, message: str) -> dict:
        return {"ok": False, "error": {"code": code, "message": message}}

    @sio.on("message")
    async def on_message(sid, req):
        me = conns[sid]["user"]
        if not isinstance(req, dict) or not req.get("id") or not isinstance(req.get("body"), str) or not (1 <= len(req["body"]) <= 4000):
            return fail("bad_request", "Invalid message")
        if req.get("group"):
            conv = f"grp:{req['group']}"
            if me not in st.members(conv):
                return fail("forbidden", "Not a member of this group")
        else:
            if req.get("to") not in st.users:
                return fail("not_found", f"No user '{req.get('to')}'")
            conv = dm_id(me, req["to"])
        existing = find_message(conv, req["id"])
        if existing:
            if existing["body"] != req["body"]:
                return fail("conflict", "Message id reused with other content")
            return {"ok": True, "message": public_message(existing)}
        msgs = st.messages.setdefault(conv, [])
        m = {"id": req["id"], "conversation": conv, "from": me, "body": req["body"], "ts": now_ms(), "pos": len(msgs) + 1,
             "delivered": [], "read": []}
        m.update({"group": req["group"]} if req.get("group") else {"to": req["to"]})
        msgs.append(m)
        recipients = [u for u in st.members(conv) if u != me]
        for u in recipients:
            st.append(u, "message", public_message(m))
        st.save()
        for u in recipients:
            await push(u)
        return {"ok": True, "message": public_message(m)}

    @sio.on("read")
    async def on_read(sid, req):
        me = conns[sid]["user"]
        conv = (req or {}).get("conversation", "")
        if me not in st.members(conv):
            return fail("not_found", "No such conversation")
        by_sender: dict[str, list] = {}
        for mid in req.get("ids", [])[:100]:
            m = find_message(conv, mid)
            if m and m["from"] != me and me not in m["read"]:
                m["read"].append(me)
                if me not in m["delivered"]:
                    m["delivered"].append(me)
                by_sender.setdefault(m["from"], []).append(mid)
        for sender, ids in by_sender.items():
            receipt(sender, conv, ids, me, "read")
        st.save()
        for sender in by_sender:
            await push(sender)
        return {"ok": True}

    @sio.on("typing")
    async def on_typing(sid, req):
        me = conns[sid]["user"]
        conv = f"grp:{req['group']}" if req.get("group") else dm_id(me, req.get("to", ""))
        targets = set(st.members(conv)) - {me}
        for s, c in list(conns.items()):
            if c["user"] in targets:
                await sio.emit("typing", {"conversation": conv, "from": me, "typing": bool(req.get("typing"))}, to=s)
        return {"ok": True}

    async def group_event(group: dict, change: str, users: list, by: str, notify: set) -> None:
        for u in notify:
            st.append(u, "group", {"conversation": f"grp:{group['id']}", "change": change, "group": group, "users": users, "by": by, "ts": now_ms()})
        st.save()
        for u in notify:
            await push(u)

    @sio.on("group:create")
    async def on_group_create(sid, req):
        me = conns[sid]["user"]
        members = [me] + [u for u in dict.fromkeys(req.get("members", [])) if u != me]
        missing = [u for u in members if u not in st.users]
        if missing:
            return fail("not_found", f"No user '{missing[0]}'")
        group = {"id": secrets.token_hex(6), "name": req.get("name") or "Group", "owner": me, "members": members}
        st.groups[group["id"]] = group
        await group_event(group, "created", members, me, set(members))
        return {"ok": True, "group": group}

    @sio.on("group:invite")
    async def on_group_invite(sid, req):
        me = conns[sid]["user"]
        group = st.groups.get(req.get("group", ""))
        if not group or me not in group["members"]:
            return fail("forbidden", "Not a member of this group")
        missing = [u for u in req.get("members", []) if u not in st.users]
        if missing:
            return fail("not_found", f"No user '{missing[0]}'")
        new = [u for u in req.get("members", []) if u not in group["members"]]
        group["members"] += new
        if new:
            await group_event(group, "joined", new, me, set(group["members"]))
        return {"ok": True, "group": group}

    @sio.on("group:leave")
    async def on_group_leave(sid, req):
        me = conns[sid]["user"]
        group = st.groups.get(req.get("group", ""))
        if not group or me not in group["members"]:
            return fail("forbidden", "Not a member of this group")
        notify = set(group["members"])
        group["members"].remove(me)
        await group_event(group, "left", [me], me, notify)
        return {"ok": True}

    # --- REST ---

    async def create_user(request):
        body = await request.json()
        uid, name, pw = body.get("id", ""), body.get("name", ""), body.get("password", "")
        import re
        if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{1,31}", uid) or not (1 <= len(name) <= 64) or not pw:
            return err(400, "bad_request", "Invalid id, name or password")
        if uid in st.users:
            return err(409, "conflict", f"The user id '{uid}' is taken")
        st.users[uid] = {"id": uid, "name": name, "password": pw}
        token = secrets.token_urlsafe(24)
        st.tokens[token] = uid
        st.save()
        return web.json_response({"user": {"id": uid, "name": name}, "token": token}, status=201)

    async def create_session(request):
        body = await request.json()
        u = st.users.get(body.get("id", ""))
        if not u or u["password"] != body.get("password"):
            return err(401, "unauthorized", "Wrong user id or password")
        token = secrets.token_urlsafe(24)
        st.tokens[token] = u["id"]
        st.save()
        return web.json_response({"user": {"id": u["id"], "name": u["name"]}, "token": token})

    async def delete_session(request):
        auth = request.headers.get("Authorization", "")
        st.tokens.pop(auth[7:], None)
        st.save()
        return web.Response(status=204)

    def authed(handler):
        async def wrapper(request):
            me = user_of(request)
            if not me:
                return err(401, "unauthorized", "Sign in first")
            return await handler(request, me)
        return wrapper

    async def get_user(request, me):
        uid = request.match_info["id"]
        if uid not in st.users:
            return err(404, "not_found", f"No user '{uid}'")
        return web.json_response(public_user(uid))

    async def get_me(request, me):
        return web.json_response(public_user(me))

    async def list_conversations(request, me):
        out = []
        for conv in conversations_of(me):
            msgs = st.messages.get(conv, [])
            last = msgs[-1] if msgs else None
            unread = sum(1 for m in msgs if m["from"] != me and me not in m["read"])
            if conv.startswith("dm:"):
                peer = next(u for u in st.members(conv) if u != me)
                item = {"id": conv, "kind": "dm", "title": st.users[peer]["name"], "peer": peer}
            else:
                group = st.groups[conv[4:]]
                item = {"id": conv, "kind": "group", "title": group["name"], "group": group}
            item.update({"unread": unread, "updatedAt": last["ts"] if last else 0})
            if last:
                item["last"] = public_message(last)
            out.append(item)
        out.sort(key=lambda c: -c["updatedAt"])
        return web.json_response({"conversations": out})

    async def list_messages(request, me):
        conv = request.match_info["id"]
        if me not in st.members(conv):
            return err(404, "not_found", "No such conversation")
        msgs = st.messages.get(conv, [])
        before = int(request.query.get("before", 10**12))
        limit = max(1, min(100, int(request.query.get("limit", 50))))
        older = [m for m in msgs if m["pos"] < before]
        page = older[-limit:]
        return web.json_response({"messages": page, "hasMore": len(older) > len(page)})

    async def healthz(request):
        return web.Response(text="ok")

    async def index(request):
        return web.FileResponse(PUBLIC / "index.html")

    app.router.add_post("/api/v1/users", create_user)
    app.router.add_post("/api/v1/sessions", create_session)
    app.router.add_delete("/api/v1/sessions/current", delete_session)
    app.router.add_get("/api/v1/me", authed(get_me))
    app.router.add_get("/api/v1/users/{id}", authed(get_user))
    app.router.add_get("/api/v1/conversations", authed(list_conversations))
    app.router.add_get("/api/v1/conversations/{id}/messages", authed(list_messages))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/", index)
    app.router.add_static("/js/", PUBLIC / "js")
    app.router.add_static("/css/", PUBLIC / "css")
    return app


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--store", default="sqlite:./mock-chat.sqlite")
    p.add_argument("--auth", default="password")
    args = p.parse_args()
    web.run_app(build(args), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()

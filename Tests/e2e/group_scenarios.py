"""Group chat scenarios (PROTOCOL.md §4-§5): create, fan-out, receipts per member,
invite, leave, and what outsiders may not do."""

from harness import check, error_code, scenario, synced


def create_group(ctx, owner_chat, name, members):
    reply = owner_chat.call("group:create", {"name": name, "members": members})
    check(reply["ok"] is True, "group created", reply)
    return reply["group"]


@scenario
def group_create_and_fan_out(ctx):
    for user in ["bob", "carol"]:
        ctx.token(user)
    alice = ctx.chat("alice")
    bob = ctx.chat("bob")
    synced(alice), synced(bob)
    group = create_group(ctx, alice, "Trip", ["bob", "carol"])
    check(group["name"] == "Trip" and group["owner"] == "alice" and group["members"] == ["alice", "bob", "carol"], "group shape", group)
    conv = "grp:" + group["id"]
    for chat in [alice, bob]:
        event = chat.expect("group")
        check(event["change"] == "created" and event["conversation"] == conv and event["group"] == group and event["by"] == "alice",
              "members are told of the new group", event)
        check(sorted(event["users"]) == ["alice", "bob", "carol"] and isinstance(event["seq"], int), "created event fields", event)
    reply = alice.send(group=group["id"], body="hello all")
    m = reply["message"]
    check(m["group"] == group["id"] and m["conversation"] == conv and "to" not in m and m["pos"] == 1, "group message", m)
    got = bob.expect("message")
    check(got["id"] == m["id"] and got["from"] == "alice", "online member gets it", got)
    r = alice.expect("receipt", lambda p: p["by"] == "bob" and p["status"] == "delivered")
    check(r["conversation"] == conv and r["ids"] == [m["id"]], "delivered by bob", r)
    alice.expect_none("receipt", lambda p: p["by"] == "carol", within=0.5)
    check(alice.received("message") == [], "the sender does not get its own message back")
    carol = ctx.chat("carol")  # offline until now: served from her timeline
    created = carol.expect("group")
    check(created["change"] == "created", "offline member gets the creation", created)
    check(carol.expect("message")["id"] == m["id"], "offline member gets the message on reconnect")
    synced(carol)
    r = alice.expect("receipt", lambda p: p["by"] == "carol" and p["status"] == "delivered")
    check(r["ids"] == [m["id"]], "delivered by carol", r)
    _, log = ctx.user_api("carol").call("GET", "/conversations", expect=200)
    entry = log["conversations"][0]
    check(entry["id"] == conv and entry["kind"] == "group" and entry["title"] == "Trip" and entry["group"] == group["id"], "call log shows the group", entry)
    check(entry["unread"] == 1 and entry["last"]["id"] == m["id"], "unread in the group", entry)


@scenario
def group_read_receipts(ctx):
    ctx.token("bob"), ctx.token("carol")
    alice = ctx.chat("alice")
    bob = ctx.chat("bob")
    carol = ctx.chat("carol")
    group = create_group(ctx, alice, "Reads", ["bob", "carol"])
    conv = "grp:" + group["id"]
    m1 = alice.send(group=group["id"], body="from alice")["message"]
    m2 = bob.send(group=group["id"], body="from bob")["message"]
    carol.expect("message", lambda p: p["id"] == m2["id"])
    check(carol.call("read", {"conversation": conv, "ids": [m1["id"], m2["id"]]}) == {"ok": True}, "read acked")
    ra = alice.expect("receipt", lambda p: p["status"] == "read")
    rb = bob.expect("receipt", lambda p: p["status"] == "read")
    check(ra["ids"] == [m1["id"]] and ra["by"] == "carol", "one read receipt to each sender: alice", ra)
    check(rb["ids"] == [m2["id"]] and rb["by"] == "carol", "one read receipt to each sender: bob", rb)
    _, page = ctx.user_api("alice").call("GET", f"/conversations/{conv}/messages", expect=200)
    first = page["messages"][0]
    check(sorted(first["delivered"]) == ["bob", "carol"] and first["read"] == ["carol"], "history shows who has it", first)


@scenario
def group_invite(ctx):
    for user in ["bob", "dave"]:
        ctx.token(user)
    alice = ctx.chat("alice")
    bob = ctx.chat("bob")
    group = create_group(ctx, alice, "Growing", ["bob"])
    before = alice.send(group=group["id"], body="before dave")["message"]
    dave = ctx.chat("dave")
    synced(dave)
    reply = bob.call("group:invite", {"group": group["id"], "members": ["dave"]})
    check(reply["ok"] and reply["group"]["members"] == ["alice", "bob", "dave"], "any member may invite", reply)
    joined = dave.expect("group", lambda p: p["change"] == "joined")
    check(joined["users"] == ["dave"] and joined["by"] == "bob" and joined["group"]["id"] == group["id"], "the new member is told", joined)
    alice.expect("group", lambda p: p["change"] == "joined")
    m = dave.send(group=group["id"], body="hi, I'm dave")["message"]
    check(alice.expect("message", lambda p: p["id"] == m["id"])["from"] == "dave", "the new member can talk")
    bob.expect("message", lambda p: p["id"] == m["id"])
    _, page = ctx.user_api("dave").call("GET", f"/conversations/grp:{group['id']}/messages", expect=200)
    check([x["id"] for x in page["messages"]] == [before["id"], m["id"]], "the new member reads the history", page)
    check(error_code(bob.call("group:invite", {"group": group["id"], "members": ["nobody-here"]})) == "not_found", "unknown invitee")


@scenario
def group_leave(ctx):
    for user in ["bob", "carol"]:
        ctx.token(user)
    alice = ctx.chat("alice")
    bob = ctx.chat("bob")
    carol = ctx.chat("carol")
    group = create_group(ctx, alice, "Leaving", ["bob", "carol"])
    gid, conv = group["id"], "grp:" + group["id"]
    carol.expect("group")
    check(carol.call("group:leave", {"group": gid}) == {"ok": True}, "carol leaves")
    left = carol.expect("group", lambda p: p["change"] == "left")
    check(left["users"] == ["carol"] and "carol" not in left["group"]["members"], "the leaver is told", left)
    alice.expect("group", lambda p: p["change"] == "left" and p["users"] == ["carol"])
    m = alice.send(group=gid, body="after carol left")["message"]
    bob.expect("message", lambda p: p["id"] == m["id"])
    carol.expect_none("message", within=0.7)
    check(error_code(carol.send(group=gid, body="can I still post?")) == "forbidden", "a former member may not post")
    status, body = ctx.user_api("carol").call("GET", f"/conversations/{conv}/messages")
    check(status == 404, "a former member may not read the history", status, body)
    status, _ = ctx.user_api("carol").call("GET", f"/groups/{gid}")
    check(status == 404, "nor see the group", status)
    # REST: the owner removes bob; bob may not remove the owner.
    bob_api, alice_api = ctx.user_api("bob"), ctx.user_api("alice")
    status, body = bob_api.call("DELETE", f"/groups/{gid}/members/alice")
    check(status == 403 and body["error"]["code"] == "forbidden", "only the owner removes others", status, body)
    alice_api.call("DELETE", f"/groups/{gid}/members/bob", expect=204)
    bob.expect("group", lambda p: p["change"] == "left" and p["users"] == ["bob"] and p["by"] == "alice")
    _, g = alice_api.call("GET", f"/groups/{gid}", expect=200)
    check(g["members"] == ["alice"], "membership after removals", g)


@scenario
def group_outsiders(ctx):
    for user in ["bob", "eve"]:
        ctx.token(user)
    alice = ctx.chat("alice")
    eve = ctx.chat("eve")
    group = create_group(ctx, alice, "Private", ["bob"])
    gid = group["id"]
    check(error_code(eve.send(group=gid, body="hello?")) == "forbidden", "an outsider may not post")
    check(error_code(eve.call("group:invite", {"group": gid, "members": ["eve"]})) in ("forbidden", "not_found"), "nor invite herself")
    check(error_code(eve.call("group:leave", {"group": gid})) in ("forbidden", "not_found"), "nor leave it")
    check(error_code(eve.call("typing", {"group": gid, "typing": True})) in ("forbidden", "not_found"), "nor type into it")
    check(error_code(eve.call("read", {"conversation": "grp:" + gid, "ids": ["x"]})) == "not_found", "nor mark it read")
    eve_api = ctx.user_api("eve")
    for method, path, body in [("GET", f"/groups/{gid}", None), ("GET", f"/conversations/grp:{gid}/messages", None),
                               ("POST", f"/groups/{gid}/members", {"members": ["eve"]}), ("DELETE", f"/groups/{gid}/members/bob", None)]:
        status, reply = eve_api.call(method, path, body)
        check(status in (403, 404), f"outsider {method} {path} refused", status, reply)
    _, g = ctx.user_api("alice").call("GET", f"/groups/{gid}", expect=200)
    check(g["members"] == ["alice", "bob"], "membership unchanged", g)
    eve.expect_none("message", within=0.3)


@scenario
def group_rest_create(ctx):
    ctx.token("bob")
    api = ctx.user_api("alice")
    status, g = api.call("POST", "/groups", {"name": "Via REST", "members": ["bob"]})
    check(status == 201 and g["owner"] == "alice" and g["members"] == ["alice", "bob"], "created over REST", status, g)
    for body, code in [({"members": ["bob"]}, 400), ({"name": "x" * 65}, 400), ({"name": "n", "members": ["nobody-here"]}, 404)]:
        status, reply = api.call("POST", "/groups", body)
        check(status == code, f"POST /groups {str(body)[:40]} → {code}", status, reply)
    _, bob_log = ctx.user_api("bob").call("GET", "/conversations", expect=200)
    check(any(c["id"] == "grp:" + g["id"] and c["title"] == "Via REST" for c in bob_log["conversations"]), "in bob's call log", bob_log)

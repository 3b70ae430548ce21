"""Checks GET /api/v1/limits of a server started with the limits given, and that each limit it
reports is the one the server enforces: input at the limit is taken, one more is refused.

usage: limits_client.py URL LIMITS_JSON   (the server must run with --auth open)
"""
import json
import os
import sys

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from harness import Context, Failure, check, error_code, new_id, online  # noqa: E402

URL = sys.argv[1].rstrip("/")
EXPECTED = json.loads(sys.argv[2])
# Code points, as the server counts: an emoji is one, though two UTF-16 units and four bytes.
WIDE = "\U0001F600"


def limits_endpoint():
    r = requests.get(URL + "/api/v1/limits", timeout=5)
    check(r.status_code == 200, "GET /limits needs no token", r.status_code, r.text)
    check(r.headers.get("Content-Type", "").startswith("application/json"), "JSON", dict(r.headers))
    check(r.headers.get("X-Content-Type-Options") == "nosniff" and "Content-Security-Policy" in r.headers,
          "the API's security headers", dict(r.headers))
    check(r.json() == EXPECTED, "the server's limits, and only those", r.json(), EXPECTED)
    # A stale token does not matter: the limits are public.
    r = requests.get(URL + "/api/v1/limits", headers={"Authorization": "Bearer stale"}, timeout=5)
    check(r.status_code == 200 and r.json() == EXPECTED, "a bad token is ignored", r.status_code, r.text)
    return r.json()


def enforced(ctx, limits):
    alice = online(ctx, "alice")
    ctx.token("bob")
    most = limits["maxMessageChars"]
    reply = alice.send(to="bob", body=WIDE * most)
    check(reply.get("ok") is True, f"a body of {most} code points is sent", reply)
    reply = alice.send(to="bob", body="a" * (most + 1))
    check(error_code(reply) == "too_large", f"a body of {most + 1} is too_large", reply)

    api = ctx.user_api("alice")
    most = limits["maxNameChars"]
    api.call("PATCH", "/me", {"name": WIDE * most}, expect=200)
    status, body = api.call("PATCH", "/me", {"name": "n" * (most + 1)})
    check(status == 400 and body["error"]["code"] == "bad_request", f"a name of {most + 1} is refused", status, body)

    most = limits["maxGroupNameChars"]
    others = [f"member{i}" for i in range(limits["maxGroupMembers"] - 1)]
    for other in others:
        ctx.token(other)
    reply = alice.call("group:create", {"name": WIDE * most, "members": others})
    check(reply.get("ok") is True, f"a group named with {most} code points, of {len(others) + 1} members", reply)
    reply = alice.call("group:create", {"name": "g" * (most + 1), "members": []})
    check(error_code(reply) == "bad_request", f"a group name of {most + 1} is refused", reply)
    ctx.token("onemore")
    reply = alice.call("group:create", {"name": "g", "members": others + ["onemore"]})
    check(error_code(reply) == "too_large", f"a group of {len(others) + 2} is too_large", reply)

    most = limits["maxReadIds"]
    conversation = "dm:alice:bob"
    reply = alice.call("read", {"conversation": conversation, "ids": [new_id() for _ in range(most)]})
    check(reply.get("ok") is True, f"a read of {most} ids", reply)
    reply = alice.call("read", {"conversation": conversation, "ids": [new_id() for _ in range(most + 1)]})
    check(error_code(reply) == "too_large", f"a read of {most + 1} ids is too_large", reply)


def main():
    ctx = Context(URL)
    try:
        enforced(ctx, limits_endpoint())
    except Failure as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    finally:
        ctx.close()
    print("ok limits")
    return 0


if __name__ == "__main__":
    sys.exit(main())

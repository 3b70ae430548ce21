#!/usr/bin/env python3
"""Disk written by group events on the SQLite store.

Starts the given webchat binary on a fresh SQLite file (open auth, loopback, a free port),
registers MEMBERS users, has one of them create GROUPS groups of all of them over REST, and
prints how much the database and its WAL grew and how long the creates took.

    bench/group-storage.py .build/release/webchat [--members 1000] [--groups 20]

Standard library only.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, body=None, token=None):
    request = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode())
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def disk(folder):
    return sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder) if f.startswith("chat.sqlite"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary")
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--groups", type=int, default=20)
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="group-storage-")
    port = free_port()
    base = f"http://127.0.0.1:{port}/api/v1"
    server = subprocess.Popen([args.binary, "--port", str(port), "--auth", "open", "--store", f"sqlite:{folder}/chat.sqlite",
                               "--rate-burst", "100000", "--rate-per-second", "100000", "--log-level", "warning"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    sys.exit("the server did not start")
                time.sleep(0.1)
        ids = [f"user{i:05d}" for i in range(args.members)]
        print(f"registering {len(ids)} users ...", file=sys.stderr)
        token = None
        for i, user in enumerate(ids):
            answer = call(base, "POST", "/sessions", {"id": user})
            token = token or answer["token"]
        time.sleep(2)  # let the checkpointer settle before measuring
        before = disk(folder)
        started = time.monotonic()
        for g in range(args.groups):
            group = call(base, "POST", "/groups", {"name": f"group {g}", "members": ids[1:]}, token)
            assert len(group["members"]) == len(ids), group
            print(f"\rgroup {g + 1}/{args.groups}", end="", file=sys.stderr)
        elapsed = time.monotonic() - started
        print(file=sys.stderr)
        time.sleep(2)
        grown = disk(folder) - before
        print(json.dumps({"members": args.members, "groups": args.groups, "disk_growth_bytes": grown,
                          "create_seconds": round(elapsed, 2), "per_group_ms": round(elapsed * 1000 / args.groups, 1)}))
    finally:
        server.terminate()
        server.wait(timeout=30)
        for f in os.listdir(folder):
            os.remove(os.path.join(folder, f))
        os.rmdir(folder)


if __name__ == "__main__":
    main()

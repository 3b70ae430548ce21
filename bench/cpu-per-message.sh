#!/usr/bin/env bash
# CPU time per delivered message for one direct run, of the server and of the load generator:
# robust on a shared machine, where delivered/s depends on what else runs. The load generator's
# figure moves with the machine's speed (its code is the same in every run), so server over
# bench CPU compares runs taken at different times.
#
# Usage: bench/cpu-per-message.sh [BENCH ARGS]      e.g. --pairs 20 --duration 8 --window 5 --rate 7600
#   SCHED=1  also prints, per thread group of both processes, the share of wall time each spent
#            running and runnable but waiting for a core (/proc/…/schedstat), sampled for
#            SCHED_SECONDS (default 4) from 3 s into the run: run the bench for at least 8 s.
#   SERVER=path, BENCH=path  other binaries than .build/release's (A/B runs of two builds).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
ulimit -n "$(ulimit -Hn)"
# A port the kernel says is free (a random one could be a client's ephemeral port).
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${SERVER:-$root/.build/release/webchat}" --port $port --auth open --store "sqlite:$dir/webchat.sqlite" \
  --rate-burst 1000000 --rate-per-second 1000000 --log-level warning > "$dir/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/healthz" > /dev/null || { echo "webchat did not start:" >&2; cat "$dir/server.log" >&2; exit 1; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# One line per thread: process, thread id, name, then schedstat (ns running, ns waiting, slices).
snapshot() {
  for p in "$@"; do
    for t in /proc/$p/task/*; do
      echo "$p:${t##*/} $(tr ' ' '_' < "$t/comm") $(cat "$t/schedstat" 2>/dev/null || echo 0 0 0)"
    done
  done
}
before=$(ticks $pid)
# The bench runs under a small parent that records its pid and, from wait4, its CPU time.
python3 -c '
import os, sys
child = os.fork()
if child == 0:
    os.execv(sys.argv[3], sys.argv[3:])
open(sys.argv[1], "w").write(str(child))
_, status, usage = os.wait4(child, 0)
open(sys.argv[2], "w").write(str(usage.ru_utime + usage.ru_stime))
sys.exit(os.waitstatus_to_exitcode(status))
' "$dir/bench.pid" "$dir/bench.cpu" "${BENCH:-$root/.build/release/webchat-bench}" direct --url "http://127.0.0.1:$port" \
  --json "$dir/out.json" "$@" > /dev/null 2>"$dir/bench.err" &
runner=$!
if [ "${SCHED:-0}" = 1 ]; then
  seconds=${SCHED_SECONDS:-4}
  sleep 3; bench=$(cat "$dir/bench.pid"); snapshot $pid $bench > "$dir/sched.a"
  sleep "$seconds"; snapshot $pid $bench > "$dir/sched.b"
fi
wait $runner || { echo "webchat-bench failed:" >&2; cat "$dir/bench.err" >&2; exit 1; }
after=$(ticks $pid)
python3 - "$dir/out.json" "$before" "$after" "$(getconf CLK_TCK)" "$(cat "$dir/bench.cpu")" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
tck = int(sys.argv[4])
cpu_ms = (int(sys.argv[3]) - int(sys.argv[2])) * 1000 / tck
bench_ms = float(sys.argv[5]) * 1000
delivered = max(report["delivered"], 1)
print(json.dumps({"delivered": report["delivered"], "delivered_per_s": report["delivered_per_s"],
                  "p50_ms": report["latency_ms"]["p50"], "p99_ms": report["latency_ms"]["p99"], "server_cpu_ms": cpu_ms,
                  "server_cpu_us_per_message": round(cpu_ms * 1000 / delivered, 1),
                  "bench_cpu_us_per_message": round(bench_ms * 1000 / delivered, 1)}))
PY
if [ "${SCHED:-0}" = 1 ]; then
  python3 - "$dir/sched.a" "$dir/sched.b" "$pid" "${SCHED_SECONDS:-4}" <<'PY'
import collections, sys
def read(path):
    rows = {}
    for line in open(path):
        key, name, run, wait, slices = line.split()
        rows[key] = (name, int(run), int(wait), int(slices))
    return rows
a, b, server, seconds = read(sys.argv[1]), read(sys.argv[2]), sys.argv[3], float(sys.argv[4])
groups = collections.defaultdict(lambda: [0, 0, 0])
for key, (name, run, wait, slices) in b.items():
    _, run0, wait0, slices0 = a.get(key, (name, 0, 0, 0))
    group = groups[("server" if key.startswith(server + ":") else "bench", name)]
    group[0] += run - run0; group[1] += wait - wait0; group[2] += slices - slices0
print(f"{'process':7} {'threads':22} {'running':>8} {'waiting':>8} {'slices/s':>9} {'wait/slice':>11}")
for (process, name), (run, wait, slices) in sorted(groups.items(), key=lambda item: -item[1][0]):
    if slices == 0: continue
    print(f"{process:7} {name:22} {run / seconds / 1e7:7.1f}% {wait / seconds / 1e7:7.1f}% {slices / seconds:9.0f} {wait / slices / 1e3:8.0f} µs")
PY
fi

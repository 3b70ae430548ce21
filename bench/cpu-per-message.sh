#!/usr/bin/env bash
# Server CPU time per delivered message for one direct run: robust on a shared machine,
# where delivered/s depends on what else runs. Usage: bench/cpu-per-message.sh [BENCH ARGS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
ulimit -n "$(ulimit -Hn)"
# A port the kernel says is free (a random one could be a client's ephemeral port).
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$root/.build/release/webchat" --port $port --auth open --store "sqlite:$dir/webchat.sqlite" \
  --rate-burst 1000000 --rate-per-second 1000000 --log-level warning > "$dir/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/healthz" > /dev/null || { echo "webchat did not start:" >&2; cat "$dir/server.log" >&2; exit 1; }
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
before=$(ticks)
"$root/.build/release/webchat-bench" direct --url "http://127.0.0.1:$port" --json "$dir/out.json" "$@" > /dev/null 2>&1
after=$(ticks)
python3 - "$dir/out.json" "$before" "$after" "$(getconf CLK_TCK)" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
cpu_ms = (int(sys.argv[3]) - int(sys.argv[2])) * 1000 / int(sys.argv[4])
print(json.dumps({"delivered": report["delivered"], "delivered_per_s": report["delivered_per_s"],
                  "p99_ms": report["latency_ms"]["p99"], "server_cpu_ms": cpu_ms,
                  "server_cpu_us_per_message": round(cpu_ms * 1000 / max(report["delivered"], 1), 1)}))
PY

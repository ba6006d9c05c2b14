#!/usr/bin/env bash
# Time to the first token through nginx and 2 workers (scripts/run.sh, SQLite): LangGraph's /runs/stream next to
# /v1/chat/completions and /v1/responses. Prints a table (bench/first_delta.py).
#
#   bench/first_delta.sh        # AGENTFCGI_BIN=prebuilt binary (default: swift build -c release); ROUNDS=30
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
out=$here/out/first_delta
mkdir -p "$out"
source "$here/service.sh"
bench_binary
state=$out/state
rm -rf "$state"
https=$(bash "$repo/scripts/free-port.sh")
RATE=100000r/s KEY_RATE=100000r/s BURST=100000 MAX_CONNS=0 AGENTFCGI_STATE=$state WORKERS=2 CONFIG=$repo/bench/agents.yaml \
    HTTPS_PORT=$https HTTP_PORT=$(bash "$repo/scripts/free-port.sh") \
    setsid bash "$repo/scripts/run.sh" >"$out/run.log" 2>&1 </dev/null &
service=$!
trap 'kill -TERM "$service" 2>/dev/null || true; wait "$service" 2>/dev/null || true' EXIT
url=https://127.0.0.1:$https
bench_wait_ok "$url" "$state/certs/ca.crt" "$service" "$out/run.log"
python3 "$here/first_delta.py" "$url" "$state/certs/ca.crt" "$(cat "$state/api-key")" --rounds "${ROUNDS:-30}"

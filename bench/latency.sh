#!/usr/bin/env bash
# How soon runs stop: after their client leaves, and after a cancel sent through another worker. The live tests
# check these by order (the run stopped, and before its end); this measures them, beside the lease tick that
# bounds the second. nginx and 2 workers from scripts/run.sh, on SQLite.
#
#   bench/latency.sh            # AGENTFCGI_BIN=prebuilt binary (default: swift build -c release); ROUNDS=10
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
out=$here/out/latency
mkdir -p "$out"
source "$here/service.sh"
bench_binary
state=$out/state
rm -rf "$state"
config=$out/agents.yaml
cat >"$config" <<'YAML'
agents:
  - id: ticker
    model: {provider: builtin, token_delay_ms: 100}
  - id: slow
    model: {provider: builtin, token_delay_ms: 700}
YAML
https=$(bash "$repo/scripts/free-port.sh")
RATE=100000r/s KEY_RATE=100000r/s BURST=100000 MAX_CONNS=0 AGENTFCGI_STATE=$state WORKERS=2 CONFIG=$config \
    HTTPS_PORT=$https HTTP_PORT=$(bash "$repo/scripts/free-port.sh") \
    setsid bash "$repo/scripts/run.sh" >"$out/run.log" 2>&1 </dev/null &
service=$!
trap 'kill -TERM "$service" 2>/dev/null || true; wait "$service" 2>/dev/null || true' EXIT
bench_wait_ok "https://127.0.0.1:$https" "$state/certs/ca.crt" "$service" "$out/run.log"
python3 "$here/latency.py" "https://127.0.0.1:$https" "$state/certs/ca.crt" "$(cat "$state/api-key")" "$state/logs" \
    --rounds "${ROUNDS:-10}" | tee "$out/results.json"

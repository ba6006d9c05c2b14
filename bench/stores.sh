#!/usr/bin/env bash
# The stores side by side: runs on threads and background runs through nginx, with 1, 2 and 3 workers, on SQLite
# and on PostgreSQL (a throw-away server from scripts/pg-server.sh), each served by scripts/run.sh; then the anchor,
# LangGraph's own dev server (PyPI langgraph-cli[inmem], in memory, HTTPS with the same certificate) running the same
# echo agent as a graph (bench/langgraph_echo), with the same client.
#
#   bench/stores.sh            # AGENTFCGI_BIN=prebuilt binary (default: swift build -c release); SECONDS_EACH=8
#                              # CLIENTS=16 BACKGROUND=200 WORKER_COUNTS="1 2 3" STORES="sqlite postgres"
#                              # LANGGRAPH=0 leaves the anchor out (it installs langgraph-cli[inmem] in a venv
#                              # under bench/out/stores the first time)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
out=$here/out/stores
mkdir -p "$out"
source "$here/service.sh"
bench_binary
pg_env=$(bash "$repo/scripts/pg-server.sh" start)
eval "$pg_env"
service=""
langgraph=""
cleanup() {
    [[ -n $service ]] && { kill -TERM "$service" 2>/dev/null || true; wait "$service" 2>/dev/null || true; }
    [[ -n $langgraph ]] && { kill -TERM -- "-$langgraph" 2>/dev/null || true; wait "$langgraph" 2>/dev/null || true; }
    PG_DIR=$PG_DIR bash "$repo/scripts/pg-server.sh" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

free_port() { bash "$repo/scripts/free-port.sh"; }
results=$out/results.jsonl
: >"$results"
for store in ${STORES:-sqlite postgres}; do
    for workers in ${WORKER_COUNTS:-1 2 3}; do
        state=$out/state-$store-$workers
        rm -rf "$state"
        database=""
        if [[ $store == postgres ]]; then
            name=bench_$workers
            createdb -h 127.0.0.1 -p "$(sed 's|.*:\([0-9]*\)/.*|\1|' <<<"$POSTGRES_URL")" -U postgres "$name"
            database=${POSTGRES_URL%/*}/$name?sslmode=disable
        fi
        https=$(free_port)
        RATE=100000r/s KEY_RATE=100000r/s BURST=100000 MAX_CONNS=0 AGENTFCGI_STATE=$state WORKERS=$workers \
            AGENTFCGI_DATABASE=$database HTTPS_PORT=$https HTTP_PORT=$(free_port) CONFIG=$here/agents.yaml \
            setsid bash "$repo/scripts/run.sh" >"$out/run-$store-$workers.log" 2>&1 </dev/null &
        service=$!
        bench_wait_ok "https://127.0.0.1:$https" "$state/certs/ca.crt" "$service" "$out/run-$store-$workers.log"
        echo "bench: $store, $workers worker(s)" >&2
        line=$(python3 "$here/stores.py" "https://127.0.0.1:$https" "$state/certs/ca.crt" "$(cat "$state/api-key")" \
            --seconds "${SECONDS_EACH:-8}" --clients "${CLIENTS:-16}" --background "${BACKGROUND:-200}")
        echo "{\"store\":\"$store\",\"workers\":$workers,${line#\{}" >>"$results"
        kill -TERM "$service"
        wait "$service" 2>/dev/null || true
        service=""
    done
done

if [[ ${LANGGRAPH:-1} != 0 ]]; then
    venv=$out/langgraph-venv
    if [[ ! -x $venv/bin/langgraph ]]; then
        echo "bench: installing langgraph-cli[inmem] in $venv" >&2
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q "langgraph-cli[inmem]"
    fi
    certs=$state/certs
    port=$(free_port)
    # Its in-memory state is saved here between runs: each run starts empty, as the stores do.
    rm -rf "$here/langgraph_echo/.langgraph_api"
    (cd "$here/langgraph_echo" && LANGSMITH_TRACING=false LANGGRAPH_CLI_NO_ANALYTICS=1 exec setsid "$venv/bin/langgraph" dev \
        --no-browser --no-reload --server-log-level warning --port "$port" --config langgraph.json \
        --ssl-keyfile "$certs/server.key" --ssl-certfile "$certs/server.crt") >"$out/langgraph.log" 2>&1 </dev/null &
    langgraph=$!
    bench_wait_ok "https://127.0.0.1:$port" "$certs/ca.crt" "$langgraph" "$out/langgraph.log"
    echo "bench: LangGraph dev server (in memory)" >&2
    # Background runs are left out: LangGraph reads a thread's runs under the thread, not GET /runs/{run_id}.
    line=$(python3 "$here/stores.py" "https://127.0.0.1:$port" "$certs/ca.crt" unused \
        --seconds "${SECONDS_EACH:-8}" --clients "${CLIENTS:-16}" --background 0)
    echo "{\"store\":\"langgraph\",\"workers\":1,${line#\{}" >>"$results"
fi

python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
print(f"{'store':<10}{'workers':>8}{'runs/wait /s':>14}{'p50 ms':>9}{'p99 ms':>9}{'background done /s':>20}{'submit /s':>11}{'errors':>8}")
for r in rows:
    print(f"{r['store']:<10}{r['workers']:>8}{r['runs_wait_per_s']:>14}{r['runs_wait_p50_ms']:>9}{r['runs_wait_p99_ms']:>9}"
          f"{r['background_done_per_s'] if r['background_runs'] else '-':>20}{r['background_submit_per_s'] if r['background_runs'] else '-':>11}"
          f"{r['runs_wait_errors'] + r['background_unfinished']:>8}")
PY

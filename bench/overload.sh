#!/usr/bin/env bash
# Overload: POST /runs/wait offered at twice the rate this host sustains. Does the excess get 429 (or 503) with
# Retry-After, and do the requests let through keep their latency? A bench that prints numbers, not a test: it
# exits 0 whenever it ran, and marks each configuration PASS or FAIL.
#
#   bench/overload.sh      # AGENTFCGI_BIN=prebuilt binary (default: swift build -c release); WORKERS=2 DURATION=15
#                          # CONNECTIONS=256 (wrk connections at twice the rate); out: bench/out/overload/
#
# 1. capacity: wrk closed loop (64 connections, 10 s, limits off) through nginx: its req/s is the sustainable rate,
#    its p99 the latency at that rate.
# 2. the same cluster, limits still off, offered 2x capacity at a fixed rate (bench/fixed_rate.lua);
# 3. nginx's limit_req at RATE_PERCENT (80) % of capacity (RATE = KEY_RATE, BURST a tenth of it): how agentfcgi
#    sheds load;
# 4. nginx's limit_conn (MAX_CONNS=32 requests in progress per address) and no rate limit.
# One client address and one API key offer all the load here, so the per-address and per-key limits act as the
# host's. Latency of the requests let through is nginx's $request_time from the access log (1 ms resolution). The
# bound: their p99 no higher than the capacity run's p99, the latency of a host that is full and sheds nothing.
# Here wrk, nginx and the workers share the machine's cores, so shedding costs the workers CPU too.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
out=$here/out/overload
rm -rf "$out"
mkdir -p "$out"
source "$here/service.sh"
bench_binary
WORKERS=${WORKERS:-2}
DURATION=${DURATION:-15}
CONNECTIONS=${CONNECTIONS:-256}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
command -v wrk >/dev/null || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null; }

service=""
stop_service() {
    [[ -n $service ]] || return 0
    kill -TERM "$service" 2>/dev/null || true
    wait "$service" 2>/dev/null || true
    service=""
}
trap stop_service EXIT

# start_service NAME [VAR=VALUE...]: scripts/run.sh with these nginx limits; sets url, ca, key, state.
start_service() {
    local name=$1
    shift
    state=$out/state-$name
    local https
    https=$(bash "$repo/scripts/free-port.sh")
    env -u AGENTFCGI_DATABASE RATE=1000000r/s KEY_RATE=1000000r/s BURST=1000000 MAX_CONNS=0 MAX_STREAMS=0 "$@" \
        AGENTFCGI_STATE="$state" WORKERS="$WORKERS" HTTPS_PORT="$https" HTTP_PORT="$(bash "$repo/scripts/free-port.sh")" \
        CONFIG="$here/agents.yaml" setsid bash "$repo/scripts/run.sh" >"$out/run-$name.log" 2>&1 </dev/null &
    service=$!
    url=https://127.0.0.1:$https
    ca=$state/certs/ca.crt
    bench_wait_ok "$url" "$ca" "$service" "$out/run-$name.log"
    key=$(cat "$state/api-key")
}

# load NAME RATE SECONDS CONNECTIONS: wrk at that fixed rate; its RESULT line, and nginx's view of the same window.
load() {
    local name=$1 rate=$2 seconds=$3 connections=$4 log=$state/nginx/logs/access.log
    : >"$log"
    RATE=$rate THREADS=2 API_KEY=$key wrk -t2 -c"$connections" -d"${seconds}s" --latency -s "$here/fixed_rate.lua" \
        "$url/runs/wait" >"$out/wrk-$name.txt" 2>&1 || true
    python3 - "$log" "$name" "$rate" "$out/wrk-$name.txt" >>"$out/results.jsonl" <<'PY'
import json, re, sys
log, name, rate = sys.argv[1], sys.argv[2], float(sys.argv[3])
text = open(sys.argv[4]).read()
result = json.loads(re.search(r"^RESULT (.*)$", text, re.M).group(1))
times, statuses = [], {}
for line in open(log):
    m = re.search(r'"POST /runs/wait \S+" (\d+) \d+ rt=([\d.]+)', line)
    if not m:
        continue
    statuses[m.group(1)] = statuses.get(m.group(1), 0) + 1
    if m.group(1) == "200":
        times.append(float(m.group(2)) * 1000)
times.sort()
pct = lambda p: times[min(len(times) - 1, int(p / 100 * len(times)))] if times else None
duration = result["duration_s"]
result.update(name=name, offered_per_s=rate, nginx_statuses=statuses,
              admitted_per_s=round(len(times) / duration, 1),
              shed_per_s=round(sum(n for s, n in statuses.items() if s in ("429", "503")) / duration, 1),
              admitted_p50_ms=pct(50), admitted_p99_ms=pct(99), admitted_max_ms=times[-1] if times else None)
print(json.dumps(result))
PY
}

echo "bench: capacity (limits off, wrk closed loop, 64 connections)" >&2
start_service open
RATE=100000000 THREADS=2 API_KEY=$key wrk -t2 -c64 -d2s -s "$here/fixed_rate.lua" "$url/runs/wait" >/dev/null 2>&1 || true
load capacity 100000000 10 64
capacity=$(python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])][-1]; print(int(r["admitted_per_s"]))' "$out/results.jsonl")
offered=$((2 * capacity))
echo "bench: capacity $capacity req/s; offering $offered req/s" >&2

echo "bench: 2x, limits off" >&2
load "2x-no-limit" "$offered" "$DURATION" "$CONNECTIONS"
stop_service

limit=$((capacity * ${RATE_PERCENT:-80} / 100))
echo "bench: 2x, limit_req at $limit r/s" >&2
start_service rate RATE="${limit}r/s" KEY_RATE="${limit}r/s" BURST="$((limit / 10))"
RATE=$limit THREADS=2 API_KEY=$key wrk -t2 -c64 -d2s -s "$here/fixed_rate.lua" "$url/runs/wait" >/dev/null 2>&1 || true
load "2x-limit_req" "$offered" "$DURATION" "$CONNECTIONS"
stop_service

echo "bench: 2x, limit_conn 32" >&2
start_service conns MAX_CONNS=32
RATE=$capacity THREADS=2 API_KEY=$key wrk -t2 -c64 -d2s -s "$here/fixed_rate.lua" "$url/runs/wait" >/dev/null 2>&1 || true
load "2x-limit_conn" "$offered" "$DURATION" "$CONNECTIONS"
stop_service

python3 - "$out/results.jsonl" <<'PY' | tee "$out/results.txt"
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
base = rows[0]
bound = base["admitted_p99_ms"]
print(f"POST /runs/wait: capacity {base['admitted_per_s']:.0f} req/s (p99 {base['admitted_p99_ms']:.0f} ms); "
      f"bound for the admitted p99 at 2x: {bound:.0f} ms")
print(f"{'run':<16}{'offered/s':>10}{'sent/s':>9}{'200/s':>8}{'shed/s':>8}{'Retry-After':>12}{'other':>7}"
      f"{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'late':>8}  result")
for r in rows:
    sent = sum(r["statuses"].values()) / r["duration_s"]
    shed = sum(n for s, n in r["statuses"].items() if s in ("429", "503"))
    other = sum(n for s, n in r["statuses"].items() if s not in ("200", "429", "503")) + r["socket_errors"]
    retry = f"{r['shed_with_retry_after']}/{shed}"
    if r is base:
        verdict = "-"
    else:
        ok = r["admitted_p99_ms"] <= bound and r["shed_with_retry_after"] == shed and shed > 0 and other == 0
        verdict = "PASS" if ok else "FAIL"
    offered = "max" if r is base else f"{r['offered_per_s']:.0f}"
    print(f"{r['name']:<16}{offered:>10}{sent:>9.0f}{r['admitted_per_s']:>8.0f}{r['shed_per_s']:>8.0f}{retry:>12}{other:>7}"
          f"{r['admitted_p50_ms']:>8.0f}{r['admitted_p99_ms']:>8.0f}{r['admitted_max_ms']:>8.0f}{'-' if r is base else r['late']:>8}  {verdict}")
print("p50/p99/max: nginx's $request_time of the 200s (1 ms steps); late: sends more than 10 ms behind the schedule "
      "(the generator fell behind: the rate offered was lower than asked)")
PY

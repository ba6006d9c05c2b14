#!/usr/bin/env bash
# Paired A/B of two worker configurations (of one binary, or of two: A_BIN, B_BIN): short wrk runs of
# POST /runs/wait against A and B in turn (the order swapped every pair), so that drift of this shared machine hits
# both alike. Prints each side's median req/s and the median of the pairs' ratios (A/B). A bench that prints
# numbers, not a test. Made for #23's "metrics cost at most 3%": bench/run.sh's few long rounds spread by about 15%
# here.
#
#   A_ARGS="--metrics-dir /tmp/m" B_ARGS="--metrics off" bench/pairs.sh
#   A_BIN=new/agentfcgi B_BIN=old/agentfcgi bench/pairs.sh        # two builds, same options
#   # AGENTFCGI_BIN=prebuilt binary (default: swift build -c release); WORKERS=2 PAIRS=20 SECONDS_EACH=4
#   # (wrk -t2 -c64 per run); out: bench/out/pairs/
#
# Each side is scripts/run.sh with its nginx limits off and `--auth off --log-level warning` added to its args.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
out=$here/out/pairs
rm -rf "$out"
mkdir -p "$out"
source "$here/service.sh"
bench_binary
WORKERS=${WORKERS:-2}
PAIRS=${PAIRS:-20}
SECONDS_EACH=${SECONDS_EACH:-4}
for n in WORKERS PAIRS SECONDS_EACH; do [[ ${!n} =~ ^[1-9][0-9]*$ ]] || { echo "pairs.sh: $n must be a positive number" >&2; exit 2; }; done
command -v wrk >/dev/null || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null; }

services=()
stop_services() {
    for pid in "${services[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${services[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_services EXIT

# start NAME ARGS BIN: a service on free ports; sets url_NAME.
start() {
    local name=$1 args=$2 bin=$3 https state=$out/state-$1
    https=$(bash "$repo/scripts/free-port.sh")
    env -u AGENTFCGI_DATABASE RATE=1000000r/s KEY_RATE=1000000r/s BURST=1000000 MAX_CONNS=0 MAX_STREAMS=0 KEY_STREAMS=0 \
        AGENTFCGI_STATE="$state" WORKERS="$WORKERS" HTTPS_PORT="$https" HTTP_PORT="$(bash "$repo/scripts/free-port.sh")" \
        CONFIG="$here/agents.yaml" WORKER_ARGS="--auth off --log-level warning $args" AGENTFCGI_BIN="$bin" \
        setsid bash "$repo/scripts/run.sh" >"$out/run-$name.log" 2>&1 </dev/null &
    services+=($!)
    bench_wait_ok "https://127.0.0.1:$https" "$state/certs/ca.crt" "$!" "$out/run-$name.log"
    printf -v "url_$name" '%s' "https://127.0.0.1:$https"
}

start a "${A_ARGS:-}" "${A_BIN:-$AGENTFCGI_BIN}"
start b "${B_ARGS:-}" "${B_BIN:-$AGENTFCGI_BIN}"

# rate NAME: req/s of one wrk run against NAME; a run with errors or non-2xx answers stops the bench.
rate() {
    local url_var=url_$1 text
    text=$(wrk -t2 -c64 -d"${SECONDS_EACH}s" -s "$here/post_runs_wait.lua" "${!url_var}/runs/wait" 2>&1)
    echo "$text" >>"$out/wrk-$1.txt"
    if grep -qE "Non-2xx|Socket errors" <<<"$text"; then echo "pairs.sh: $1 answered with errors (see $out/wrk-$1.txt)" >&2; exit 1; fi
    awk '/^Requests\/sec:/ { print $2 }' <<<"$text"
}

echo "== warm-up" >&2
rate a >/dev/null
rate b >/dev/null
: >"$out/pairs.txt"
for ((i = 1; i <= PAIRS; i++)); do
    if ((i % 2)); then a=$(rate a); b=$(rate b); else b=$(rate b); a=$(rate a); fi
    echo "$a $b" >>"$out/pairs.txt"
    echo "pair $i: A $a B $b req/s" >&2
done

python3 - "$out/pairs.txt" "$SECONDS_EACH" "${A_BIN:-$AGENTFCGI_BIN} ${A_ARGS:-}" "${B_BIN:-$AGENTFCGI_BIN} ${B_ARGS:-}" <<'PY' | tee "$out/results.txt"
import statistics, sys
pairs = [tuple(map(float, line.split())) for line in open(sys.argv[1]) if line.strip()]
a = [p[0] for p in pairs]
b = [p[1] for p in pairs]
ratios = sorted(x / y for x, y in zip(a, b))
print(f"A: {sys.argv[3] or '(defaults)'}\nB: {sys.argv[4] or '(defaults)'}")
print(f"POST /runs/wait, wrk -t2 -c64 -d{sys.argv[2]}s a run, {len(pairs)} pairs")
print(f"  A req/s median {statistics.median(a):8.0f}  (min {min(a):.0f}, max {max(a):.0f})")
print(f"  B req/s median {statistics.median(b):8.0f}  (min {min(b):.0f}, max {max(b):.0f})")
print(f"  A/B by pair: median {statistics.median(ratios):.3f}  (quartiles {ratios[len(ratios) // 4]:.3f} to {ratios[(3 * len(ratios)) // 4]:.3f})")
PY

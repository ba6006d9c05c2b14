#!/usr/bin/env bash
# Soak: mixed traffic for DURATION seconds (default 1800) through nginx and 2 workers (scripts/run.sh), sampling each
# worker's RSS and open descriptors every 10 s. Prints, per worker, the first, last and largest figures and the slope
# after the warm-up; flat is a pass. A bench that prints numbers: it exits 0 whenever it ran.
#
#   bench/soak.sh          # DURATION=1800 CLIENTS=4 WARMUP=300 WORKERS=2; AGENTFCGI_BIN=prebuilt binary
#                          # (default: swift build -c release); out: bench/out/soak/ (samples.csv, the logs)
#
# The traffic (bench/soak.py), each of CLIENTS clients in a loop: stateless /runs/wait, a run on a new thread, a
# stateless and a stored stream read to `end`, and a background run with a webhook to a receiver in the script.
# Flat means: from WARMUP seconds on, RSS grows by less than MAX_RSS_SLOPE (default 100) KiB per minute (6 MiB an
# hour) and open descriptors by less than 0.5 per minute (in-flight connections make them jitter by a few), by a
# least-squares line through the samples.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
out=$here/out/soak
rm -rf "$out"
mkdir -p "$out"
source "$here/service.sh"
bench_binary
DURATION=${DURATION:-1800}
CLIENTS=${CLIENTS:-4}
WARMUP=${WARMUP:-300}
WORKERS=${WORKERS:-2}
MAX_RSS_SLOPE=${MAX_RSS_SLOPE:-100}

cat >"$out/agents.yaml" <<'YAML'
agents:
  - id: echo
    model: {provider: builtin, token_delay_ms: 20}
  - id: echo-fast
    model: {provider: builtin, token_delay_ms: 0}
webhooks:
  secret_env: AGENTFCGI_WEBHOOK_SECRET
  allow_hosts: ["127.0.0.1"]
  retry_base_seconds: 1
YAML

state=$out/state
https=$(bash "$repo/scripts/free-port.sh")
env -u AGENTFCGI_DATABASE RATE=100000r/s KEY_RATE=100000r/s BURST=100000 MAX_CONNS=0 MAX_STREAMS=0 \
    AGENTFCGI_STATE="$state" WORKERS="$WORKERS" HTTPS_PORT="$https" HTTP_PORT="$(bash "$repo/scripts/free-port.sh")" \
    CONFIG="$out/agents.yaml" setsid bash "$repo/scripts/run.sh" >"$out/run.log" 2>&1 </dev/null &
service=$!
trap 'kill -TERM "$service" 2>/dev/null || true; wait "$service" 2>/dev/null || true' EXIT
url=https://127.0.0.1:$https
bench_wait_ok "$url" "$state/certs/ca.crt" "$service" "$out/run.log"

echo "bench: soak for $DURATION s, $CLIENTS clients, $WORKERS workers ($AGENTFCGI_BIN)" >&2
python3 "$here/soak.py" "$url" "$state/certs/ca.crt" "$(cat "$state/api-key")" "$state" --seconds "$DURATION" \
    --clients "$CLIENTS" --samples "$out/samples.csv" >"$out/load.json"

python3 - "$out/samples.csv" "$out/load.json" "$WARMUP" "$MAX_RSS_SLOPE" <<'PY' | tee "$out/results.txt"
import csv, json, sys
samples, load, warmup, max_rss_slope = sys.argv[1], json.load(open(sys.argv[2])), float(sys.argv[3]), float(sys.argv[4])
rows = list(csv.DictReader(open(samples)))


def slope(points):
    """Least squares, per minute."""
    if len(points) < 3:
        return float("nan")
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var * 60 if var else float("nan")


print(f"soak: {load['seconds']} s, {load['requests']} requests ({load['errors']} not 200), {load['streams']} streams, "
      f"{load['background']} background runs, {load['webhooks_received']} webhooks received")
for example in load["error_examples"][:5]:
    print("  error:", example)
print(f"{'worker':<8}{'pid':>8}{'samples':>8}{'RSS first':>11}{'last':>9}{'max':>9}{'KiB/min':>9}"
      f"{'fds first':>11}{'last':>6}{'max':>6}{'fds/min':>9}  result")
verdicts = []
for worker in sorted({r["worker"] for r in rows}):
    mine = [r for r in rows if r["worker"] == worker]
    pids = {r["pid"] for r in mine}
    after = [r for r in mine if float(r["seconds"]) >= warmup]
    rss_slope = slope([(float(r["seconds"]), int(r["rss_kib"])) for r in after])
    fd_slope = slope([(float(r["seconds"]), int(r["fds"])) for r in after])
    rss = [int(r["rss_kib"]) for r in mine]
    fds = [int(r["fds"]) for r in mine]
    flat = len(pids) == 1 and rss_slope < max_rss_slope and fd_slope < 0.5
    verdicts.append(flat)
    print(f"{worker:<8}{'/'.join(sorted(pids)):>8}{len(mine):>8}{rss[0]:>11}{rss[-1]:>9}{max(rss):>9}{rss_slope:>9.1f}"
          f"{fds[0]:>11}{fds[-1]:>6}{max(fds):>6}{fd_slope:>9.2f}  {'PASS' if flat else 'FAIL'}")
print(f"RSS in KiB; slopes by least squares over the samples from {warmup:.0f} s on; flat: RSS < {max_rss_slope:.0f} KiB/min "
      f"and descriptors < 0.5/min, one process throughout. Overall: {'PASS' if all(verdicts) else 'FAIL'}")
PY

#!/usr/bin/env bash
# What an idle worker costs: one worker started the way scripts/run.sh starts it (metrics on, tracing off, a SQLite
# database, no traffic), measured after WAIT seconds: RSS (and how much of it is file-backed, i.e. shared code),
# threads, CPU over SPAN seconds (time on a CPU from /proc/PID/task/*/schedstat) and, when strace is installed, the system calls
# of the next SPAN seconds (its wake-ups). With AGENTFCGI_BASELINE_BIN, a second binary is measured the same way after the first,
# and the two are printed side by side (bench/README.md, "Idle worker").
#
#   bench/idle.sh
#
# Environment:
#   AGENTFCGI_BIN            the binary to measure (default .build/release/agentfcgi)
#   AGENTFCGI_BASELINE_BIN   optional: an anchor binary, measured the same way
#   CONFIG=<repo>/agents.yaml   WAIT=20   SPAN=10   AGENTFCGI_ARGS (more worker options, space-separated)
# It works in a temporary folder, stops only the workers it started, and exits 0 once both were measured.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
BIN=${AGENTFCGI_BIN:-$root/.build/release/agentfcgi}
BASE=${AGENTFCGI_BASELINE_BIN:-}
CONFIG=${CONFIG:-$root/agents.yaml}
WAIT=${WAIT:-20}
SPAN=${SPAN:-10}
# The configuration names a webhook secret in the environment, as scripts/run.sh sets it.
export AGENTFCGI_WEBHOOK_SECRET=${AGENTFCGI_WEBHOOK_SECRET:-whsec_$(head -c 24 /dev/urandom | base64)}

work=$(mktemp -d /tmp/agentfcgi-idle.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# measure NAME BIN: prints "key value" lines into $work/NAME.txt
measure() {
    local name=$1 bin=$2 dir=$work/$1
    [[ -x $bin ]] || { echo "idle: $bin is not an executable" >&2; exit 2; }
    mkdir -p "$dir/metrics"
    # Started as scripts/run.sh starts it (scripts/launch.sh: umask 077, exec in place, so $! is the worker).
    # shellcheck disable=SC2086 # split on spaces, as documented
    "$root/scripts/launch.sh" worker --log "$dir/log" -- "$bin" serve --listen "unix:$dir/w.sock" --worker-name 1 \
        --config "$CONFIG" --database "$dir/db.sqlite" --metrics-dir "$dir/metrics" ${AGENTFCGI_ARGS:-} </dev/null &
    local pid=$!
    pids+=("$pid")
    sleep "$WAIT"
    kill -0 "$pid" 2>/dev/null || { echo "idle: $name exited:" >&2; cat "$dir/log" >&2; exit 1; }
    local t0 t1 a b
    # CPU first, without strace attached (it slows every system call down): nanoseconds on a CPU, summed over the
    # threads (/proc/PID/task/*/schedstat), since utime+stime count 10 ms ticks, 0.1 % of 10 s each.
    a=$(cat /proc/"$pid"/task/*/schedstat | awk '{s += $1} END {print s}'); t0=$(date +%s.%N)
    sleep "$SPAN"
    b=$(cat /proc/"$pid"/task/*/schedstat | awk '{s += $1} END {print s}'); t1=$(date +%s.%N)
    if command -v strace >/dev/null 2>&1; then
        timeout -s INT "$SPAN" strace -f -c -p "$pid" -o "$dir/strace" >/dev/null 2>&1 || true
    fi
    {
        awk '/^VmRSS/ {print "rss_kib", $2} /^RssAnon/ {print "rss_anon_kib", $2} /^RssFile/ {print "rss_file_kib", $2}
             /^Threads/ {print "threads", $2}' "/proc/$pid/status"
        awk '/^Pss:/ {print "pss_kib", $2}' "/proc/$pid/smaps_rollup"
        echo "cpu_percent $(awk -v d="$((b - a))" -v s="$(echo "$t1 - $t0" | bc)" 'BEGIN {printf "%.3f", d / 1e9 / s * 100}')"
        if [[ -s $dir/strace ]]; then
            awk '$NF == "total" {print "syscalls", $4}' "$dir/strace"
            for call in futex epoll_wait timerfd_settime openat rename write; do
                echo "$call $(awk -v c="$call" '$NF == c {print $4; found = 1} END {if (!found) print 0}' "$dir/strace")"
            done
        fi
    } >"$work/$name.txt"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

measure new "$BIN"
[[ -n $BASE ]] && measure baseline "$BASE"

echo "idle worker after ${WAIT} s, CPU and system calls over ${SPAN} s"
if [[ -n $BASE ]]; then
    printf '%-16s %12s %12s\n' "" "new" "baseline"
    join <(sort "$work/new.txt") <(sort "$work/baseline.txt") | while read -r key new old; do
        printf '%-16s %12s %12s\n' "$key" "$new" "$old"
    done
else
    while read -r key value; do printf '%-16s %12s\n' "$key" "$value"; done <"$work/new.txt"
fi

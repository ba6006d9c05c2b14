#!/usr/bin/env bash
# Benchmark agentfcgi against nginx alone, a minimal C libfcgi responder and FastAPI/uvicorn,
# all over HTTPS through the same nginx; then open STREAMS concurrent SSE streams on one
# agentfcgi worker and measure its memory per stream. Prints one table (bench/README.md).
#
#   bench/run.sh            (as root: it installs what is missing, runs nginx as www-data)
#
# Environment:
#   WORKERS=2        processes of each backend: agentfcgi workers, C responders, uvicorn workers
#   THREADS=4        threads per C responder process (agentfcgi's default --acceptors is 4 too)
#   DURATION=10s     each measured wrk run       WARMUP=2s   the wrk warm-up run before each
#   CONNECTIONS=64   wrk connections             WRK_THREADS=2
#   ROUNDS=2         rounds over all targets (interleaved); the table shows the medians
#   STREAMS=10000    concurrent SSE streams in the last run (0 skips it)
#   HTTPS_PORT=18443 HTTP_PORT=18080 BENCH_PORT=18444   nginx's ports (127.0.0.1)
#   AGENTFCGI_BIN    another agentfcgi binary to measure (default .build/release/agentfcgi,
#                    built with `swift build -c release --product agentfcgi` when missing)
#   AGENTFCGI_BASELINE_BIN  optional: a second agentfcgi binary, measured the same way in every round
#                    (its own WORKERS workers and database, the rendered agentfcgi server copied onto
#                    BASELINE_PORT=18445); the streams run is then done once per round for each binary,
#                    and the table adds the ratios new/baseline (A/B of two builds)
#
#   AGENTFCGI_ARGS, AGENTFCGI_BASELINE_ARGS   more options for the measured workers and for the baseline's
#                    (space-separated), e.g. "--metrics-dir /tmp/m --otlp-endpoint http://127.0.0.1:18446/v1/traces"
#   OTLP_SINK_PORT   optional: a trace collector stand-in on this port (bench/otlp_sink.py) that takes every
#                    OTLP/HTTP POST and answers 200, for workers given --otlp-endpoint (bench/README.md, Tracing;
#                    the binary must be built with --traits OTLP, e.g. TRAITS=OTLP when this script builds it)
#
# Everything it writes goes to bench/out/ (git-ignored): raw wrk outputs in out/wrk/, logs in
# out/logs/, the table in out/results.txt. It stops all it started when it ends, and exits 0
# when the benchmark ran, whether or not the targets were met (the table says PASS/FAIL).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
out=$here/out

WORKERS=${WORKERS:-2}
THREADS=${THREADS:-4}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${WRK_THREADS:-2}
ROUNDS=${ROUNDS:-2}
STREAMS=${STREAMS:-10000}
HTTPS_PORT=${HTTPS_PORT:-18443}
HTTP_PORT=${HTTP_PORT:-18080}
BENCH_PORT=${BENCH_PORT:-18444}
BASELINE_PORT=${BASELINE_PORT:-18445}

# Pinned versions of the Python baseline (newest on PyPI when this was written).
PY_CORE="fastapi==0.165.0 pydantic==2.14.4 uvicorn==0.54.0"
PY_FAST="uvloop==0.23.0 httptools==0.9.0"

log() { printf '\n== %s\n' "$*" >&2; }
die() { echo "run.sh: $*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "run as root (it installs packages and runs nginx with user www-data)"
for n in WORKERS THREADS CONNECTIONS WRK_THREADS ROUNDS STREAMS HTTPS_PORT HTTP_PORT BENCH_PORT BASELINE_PORT; do
    [[ ${!n} =~ ^[0-9]+$ ]] || die "$n must be a whole number: '${!n}'"
done
((WORKERS >= 1 && ROUNDS >= 1)) || die "WORKERS and ROUNDS must be at least 1"

# ---------------------------------------------------------------------------
# Install what is missing
# ---------------------------------------------------------------------------
apt_missing=()
command -v wrk >/dev/null || apt_missing+=(wrk)
command -v gcc >/dev/null || apt_missing+=(gcc libc6-dev)
command -v nginx >/dev/null || apt_missing+=(nginx)
command -v openssl >/dev/null || apt_missing+=(openssl)
command -v curl >/dev/null || apt_missing+=(curl ca-certificates)
command -v pkg-config >/dev/null || apt_missing+=(pkg-config)
[[ -f /usr/include/fcgiapp.h ]] || apt_missing+=(libfcgi-dev)
command -v python3 >/dev/null || apt_missing+=(python3 python3-venv)
command -v pgrep >/dev/null || apt_missing+=(procps)
command -v ss >/dev/null || apt_missing+=(iproute2)
apt_updated=0
apt_install() {
    log "apt-get install $*"
    export DEBIAN_FRONTEND=noninteractive
    ((apt_updated)) || apt-get update -qq
    apt_updated=1
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
((${#apt_missing[@]} == 0)) || apt_install "${apt_missing[@]}"
id www-data >/dev/null 2>&1 || die "user www-data is missing (nginx runs its workers as www-data)"

mkdir -p "$out"
venv=$out/venv
stamp="$PY_CORE $PY_FAST"
if [[ ! -x $venv/bin/python || $(cat "$venv/.bench-pins" 2>/dev/null) != "$stamp" ]]; then
    log "Python venv $venv: $PY_CORE $PY_FAST"
    rm -rf "$venv"
    if ! python3 -m venv "$venv" 2>/dev/null; then
        # Debian's python3 makes venvs only with python3-venv (ensurepip).
        rm -rf "$venv"
        apt_install python3-venv
        python3 -m venv "$venv"
    fi
    # shellcheck disable=SC2086
    "$venv/bin/pip" install --quiet --disable-pip-version-check $PY_CORE
    # shellcheck disable=SC2086
    "$venv/bin/pip" install --quiet --disable-pip-version-check $PY_FAST ||
        echo "run.sh: uvloop/httptools did not install; uvicorn runs with its defaults" >&2
    echo "$stamp" >"$venv/.bench-pins"
fi
uvicorn_opts=(--no-access-log --log-level warning)
if "$venv/bin/python" -c 'import uvloop, httptools' 2>/dev/null; then
    uvicorn_opts+=(--loop uvloop --http httptools)
fi

bin=${AGENTFCGI_BIN:-$root/.build/release/agentfcgi}
if [[ ! -x $bin && -z ${AGENTFCGI_BIN:-} ]]; then
    log "swift build -c release --product agentfcgi"
    command -v swift >/dev/null || die "$bin is missing and swift is not installed"
    (cd "$root" && swift build -c release --product agentfcgi ${TRAITS:+--traits "$TRAITS"})
fi
[[ -x $bin ]] || die "no agentfcgi binary at $bin"
# A/B: the baseline binary is never built here; it must exist.
baseline_bin=${AGENTFCGI_BASELINE_BIN:-}
# shellcheck disable=SC2206 # split on spaces, as documented
agent_args=(${AGENTFCGI_ARGS:-})
# shellcheck disable=SC2206
baseline_args=(${AGENTFCGI_BASELINE_ARGS:-})
if [[ -n $baseline_bin ]]; then
    [[ -x $baseline_bin ]] || die "no agentfcgi binary at AGENTFCGI_BASELINE_BIN=$baseline_bin"
    [[ $BASELINE_PORT != "$HTTPS_PORT" && $BASELINE_PORT != "$HTTP_PORT" && $BASELINE_PORT != "$BENCH_PORT" ]] ||
        die "BASELINE_PORT=$BASELINE_PORT collides with another port"
fi

log "gcc bench/fcgi_minimal.c"
# shellcheck disable=SC2046
gcc -O2 -Wall -pthread -o "$out/fcgi_minimal" "$here/fcgi_minimal.c" $(pkg-config --cflags --libs fcgi)

"$root/scripts/certs.sh" "$out/certs" >/dev/null

# ---------------------------------------------------------------------------
# Limits, folders, cleanup
# ---------------------------------------------------------------------------
# Open files: every open stream is a socket in the worker, two in nginx and one in the client.
hard_nofile=$(ulimit -Hn)
[[ $hard_nofile != unlimited ]] || hard_nofile=65536
ulimit -n "$hard_nofile" 2>/dev/null || true
nofile=$(ulimit -n)
[[ $nofile =~ ^[0-9]+$ ]] || nofile=65536
if ((STREAMS > 0 && nofile < STREAMS + 200)); then
    echo "run.sh: open-file limit $nofile is below STREAMS+200; the streams run will fall short" >&2
fi
nginx_connections=$((2 * STREAMS + 2048))
((nginx_connections >= 4096)) || nginx_connections=4096
((nginx_connections <= nofile - 100)) || nginx_connections=$((nofile - 100))

ports=("$HTTPS_PORT" "$HTTP_PORT" "$BENCH_PORT")
[[ -z $baseline_bin ]] || ports+=("$BASELINE_PORT")
for port in "${ports[@]}"; do
    if ss -Hltn "sport = :$port" | grep -q .; then die "port $port is in use; set HTTPS_PORT/HTTP_PORT/BENCH_PORT/BASELINE_PORT"; fi
done

rm -rf "$out/wrk" "$out/logs" "$out/nginx" "$out/streams.json" "$out/streams" "$out/results.txt"
mkdir -p "$out/wrk" "$out/logs"
# The databases of the agentfcgi workers. In an A/B run each binary has its own (a newer build may
# migrate the schema) and both start empty, so neither inherits the other's or an earlier run's rows.
db=$out/bench.sqlite
baseline_db=$out/bench-baseline.sqlite
if [[ -n $baseline_bin ]]; then
    rm -f "$db" "$db-wal" "$db-shm" "$baseline_db" "$baseline_db-wal" "$baseline_db-shm"
fi
# Sockets live in a folder that nginx's www-data workers can reach wherever the repository is.
run=$(mktemp -d /tmp/agentfcgi-bench.XXXXXX)
chmod 0755 "$run"

pids=() agent_pids=() c_pids=() baseline_pids=()
nginx_pid=""
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n $nginx_pid ]] && kill -0 "$nginx_pid" 2>/dev/null; then
        kill -TERM "$nginx_pid" 2>/dev/null || true
    fi
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 50); do
        local alive=0
        for pid in "${pids[@]}" $nginx_pid; do kill -0 "$pid" 2>/dev/null && alive=1; done
        ((alive)) || break
        sleep 0.1
    done
    for pid in "${pids[@]}" $nginx_pid; do kill -KILL "$pid" 2>/dev/null || true; done
    rm -rf "$run"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for_socket() { # path pid
    for _ in $(seq 100); do
        [[ -S $1 ]] && return 0
        kill -0 "$2" 2>/dev/null || die "the process for $1 exited; see $out/logs/"
        sleep 0.1
    done
    die "no socket at $1 after 10 s"
}

# ---------------------------------------------------------------------------
# nginx: the project's config (render.sh) plus a bench server for the other targets
# ---------------------------------------------------------------------------
launch=$root/scripts/launch.sh
# The project's configuration, rendered and checked by scripts/launch.sh, with EXTRA_SITE appended (or nothing).
# Connections raised for the streams run (2 per stream).
render_site() { # extra site file, or ""
    PREFIX=$out/nginx UPSTREAMS=$site_upstreams EXTRA_SITE=$1 \
        TLS_CERT=$out/certs/server.crt TLS_KEY=$out/certs/server.key \
        LISTEN_ADDR=127.0.0.1 HTTPS_PORT=$HTTPS_PORT HTTP_PORT=$HTTP_PORT \
        NGINX_USER=www-data RATE=1000000r/s KEY_RATE=1000000r/s BURST=1000000 MAX_STREAMS=0 KEY_STREAMS=0 MAX_CONNS=0 \
        READ_TIMEOUT=600s WORKER_CONNECTIONS=$nginx_connections RLIMIT_NOFILE=$nofile \
        "$launch" nginx-config || die "nginx rejects the rendered config"
}
render_nginx() { # upstreams of the agentfcgi server [upstreams of the baseline server]
    site_upstreams=$1
    render_site ""
    local conf=$out/nginx/conf extra=$out/nginx-extra.conf
    : >"$extra"
    # A/B: the rendered agentfcgi HTTPS server, copied unchanged but for its port (BASELINE_PORT) and
    # its upstream (the baseline workers), so both binaries pay the same nginx path per request.
    if [[ -n ${2:-} ]]; then
        local site baseline_server baseline_upstream="" u
        site=$(cat "$conf/agentfcgi.conf")
        for u in $2; do baseline_upstream+="    server $u max_fails=1 fail_timeout=5s;"$'\n'; done
        baseline_server=$(printf '%s\n' "$site" | awk -v listen="listen 127.0.0.1:$HTTPS_PORT ssl" '
            /^server \{/ { block = $0 "\n"; inside = 1; keep = 0; next }
            inside {
                block = block $0 "\n"
                if (index($0, listen)) keep = 1
                if ($0 ~ /^\}/) { if (keep) printf "%s", block; inside = 0 }
            }' | sed -E -e "s/^([[:space:]]*listen 127\.0\.0\.1:)$HTTPS_PORT ssl/\1$BASELINE_PORT ssl/" \
            -e 's/fastcgi_pass agentfcgi;/fastcgi_pass agentfcgi_baseline;/')
        if ! grep -q "listen 127.0.0.1:$BASELINE_PORT ssl" <<<"$baseline_server" ||
            ! grep -q 'fastcgi_pass agentfcgi_baseline;' <<<"$baseline_server" ||
            grep -q 'fastcgi_pass agentfcgi;' <<<"$baseline_server"; then
            die "could not copy the agentfcgi server of $conf/agentfcgi.conf for the baseline (template changed?)"
        fi
        {
            printf '\n# Added by bench/run.sh (AGENTFCGI_BASELINE_BIN): the server above on port %s, passing to the\n' "$BASELINE_PORT"
            printf '# baseline binary'"'"'s workers.\nupstream agentfcgi_baseline {\n    zone agentfcgi_baseline_upstream 64k;\n%s}\n\n%s\n' "$baseline_upstream" "$baseline_server"
        } >>"$extra"
    fi
    # The comparison targets: servers of their own beside the project's, in the http-level site.
    local servers="" i
    for ((i = 1; i <= WORKERS; i++)); do
        servers+="    server unix:$run/fcgi-c-$i.sock max_fails=1 fail_timeout=5s;"$'\n'
    done
    servers=${servers%$'\n'}
    local escaped
    escaped=$(printf '%s' "$servers" | sed -e 's/[\\&|]/\\&/g' -e '$!s/$/\\/')
    sed -e "s|@FCGI_SERVERS@|$escaped|" \
        -e "s|@FASTAPI_SOCKET@|$run/uvicorn.sock|" \
        -e "s|@LISTEN_ADDR@|127.0.0.1|" \
        -e "s|@BENCH_PORT@|$BENCH_PORT|" \
        -e "s|@ACCESS_LOG@|$out/nginx/logs/access.log|" \
        -e "s|@TLS_CERT@|$out/certs/server.crt|" \
        -e "s|@TLS_KEY@|$out/certs/server.key|" \
        -e "s|@BURST@|1000000|" \
        "$here/nginx-bench.conf.in" >>"$extra"
    ! grep -n '@[A-Z_]*@' "$extra" || die "placeholder left in $extra"
    render_site "$extra"
}

agent_upstreams="" baseline_upstreams=""
for ((i = 1; i <= WORKERS; i++)); do agent_upstreams+="unix:$run/agentfcgi-$i.sock "; done
if [[ -n $baseline_bin ]]; then
    for ((i = 1; i <= WORKERS; i++)); do baseline_upstreams+="unix:$run/agentfcgi-baseline-$i.sock "; done
fi

log "nginx (rendered by deploy/nginx/render.sh into $out/nginx) and the backends"
render_nginx "${agent_upstreams% }" "${baseline_upstreams% }"
"$launch" nginx "$out/nginx" >"$out/logs/nginx.log" 2>&1 &
nginx_pid=$!

if [[ -n ${OTLP_SINK_PORT:-} ]]; then
    python3 "$here/otlp_sink.py" "$OTLP_SINK_PORT" "$out/otlp-sink.json" >"$out/logs/otlp-sink.log" 2>&1 &
    pids+=($!)
fi
for ((i = 1; i <= WORKERS; i++)); do
    "$launch" worker --log "$out/logs/agentfcgi-$i.log" -- \
        "$bin" serve --listen "unix:$run/agentfcgi-$i.sock" --config "$here/agents.yaml" \
        --socket-mode 0660 --socket-group www-data --log-level warning --worker-name "bench-$i" \
        --database "$db" --auth off "${agent_args[@]}" &
    pids+=($!)
    agent_pids+=($!)
    if [[ -n $baseline_bin ]]; then
        "$launch" worker --log "$out/logs/agentfcgi-baseline-$i.log" -- \
            "$baseline_bin" serve --listen "unix:$run/agentfcgi-baseline-$i.sock" --config "$here/agents.yaml" \
            --socket-mode 0660 --socket-group www-data --log-level warning --worker-name "bench-baseline-$i" \
            --database "$baseline_db" --auth off "${baseline_args[@]}" &
        pids+=($!)
        baseline_pids+=($!)
    fi
    "$out/fcgi_minimal" "$run/fcgi-c-$i.sock" "$THREADS" www-data >"$out/logs/fcgi-c-$i.log" 2>&1 &
    pids+=($!)
    c_pids+=($!)
done
(cd "$here" && exec "$venv/bin/uvicorn" fastapi_app:app --uds "$run/uvicorn.sock" --workers "$WORKERS" \
    "${uvicorn_opts[@]}" >"$out/logs/uvicorn.log" 2>&1) &
pids+=($!)
uvicorn_pid=$!
for ((i = 1; i <= WORKERS; i++)); do
    "$launch" await-worker "$run/agentfcgi-$i.sock" "${agent_pids[$((i - 1))]}" 30 || die "see $out/logs/"
    wait_for_socket "$run/fcgi-c-$i.sock" "${c_pids[$((i - 1))]}"
    [[ -z $baseline_bin ]] ||
        "$launch" await-worker "$run/agentfcgi-baseline-$i.sock" "${baseline_pids[$((i - 1))]}" 30 || die "see $out/logs/"
done
wait_for_socket "$run/uvicorn.sock" "$uvicorn_pid"

# ---------------------------------------------------------------------------
# The targets, checked once with curl before wrk measures them
# ---------------------------------------------------------------------------
main=https://localhost:$HTTPS_PORT
bench=https://localhost:$BENCH_PORT
body='{"assistant_id":"echo-fast","input":{"messages":[{"role":"user","content":"Hello there, how are you today?"}]}}'
chat_body='{"model":"echo-fast","messages":[{"role":"user","content":"Hello there, how are you today?"}]}'
targets=(
    "nginx-ok|nginx return 200 (upper bound)|$bench/nginx/ok|"
    "fcgi-c-ok|C libfcgi responder (floor)|$bench/fcgi/ok|"
    "fastapi-ok|FastAPI/uvicorn GET /ok|$bench/fastapi/ok|"
    "fastapi-runs-wait|FastAPI/uvicorn POST /runs/wait|$bench/fastapi/runs/wait|post"
    "agentfcgi-ok|agentfcgi GET /ok|$main/ok|"
    "agentfcgi-runs-wait|agentfcgi POST /runs/wait|$main/runs/wait|post"
)
if [[ -n $baseline_bin ]]; then
    # Each baseline target right after its counterpart (the rounds swap the two every other round).
    baseline=https://localhost:$BASELINE_PORT
    targets=(
        "${targets[@]:0:5}"
        "agentfcgi-baseline-ok|agentfcgi (baseline) GET /ok|$baseline/ok|"
        "${targets[5]}"
        "agentfcgi-baseline-runs-wait|agentfcgi (baseline) POST /runs/wait|$baseline/runs/wait|post"
    )
    log "A/B: agentfcgi $bin against baseline $baseline_bin (port $BASELINE_PORT)"
fi
# The same run through the OpenAI dialect, next to /runs/wait.
targets+=("agentfcgi-chat|agentfcgi POST /v1/chat/completions|$main/v1/chat/completions|chat")

log "checking each target once"
curl_target() { # url post|chat
    local args=(-sS --max-time 10 --cacert "$out/certs/ca.crt" -o "$out/logs/check.body" -w '%{http_code}')
    [[ $2 != post ]] || args+=(-X POST -H 'Content-Type: application/json' --data "$body")
    [[ $2 != chat ]] || args+=(-X POST -H 'Content-Type: application/json' --data "$chat_body")
    curl "${args[@]}" "$1" 2>&1 || true
}
wait_ready() { # url: uvicorn binds its socket before its workers accept, so poll until 200
    for _ in $(seq 100); do [[ $(curl_target "$1" "") == 200 ]] && return 0; sleep 0.2; done
    echo "run.sh: WARNING: $1 did not answer 200 within 20 s" >&2
}
ready_urls=("$bench/nginx/ok" "$bench/fcgi/ok" "$bench/fastapi/ok" "$main/ok")
[[ -z $baseline_bin ]] || ready_urls+=("$baseline/ok")
for url in "${ready_urls[@]}"; do wait_ready "$url"; done
for t in "${targets[@]}"; do
    IFS='|' read -r key label url post <<<"$t"
    code=$(curl_target "$url" "$post")
    printf '  %-34s %s  %s\n' "$label" "$code" "$(head -c 300 "$out/logs/check.body" 2>/dev/null | tr "\n" " ")" >&2
    [[ $code == 200 ]] || echo "run.sh: WARNING: $label answered $code" >&2
done
# Unknown agent: both (all three in an A/B run) should say 404.
unknown_urls=("$main/runs/wait" "$bench/fastapi/runs/wait")
[[ -z $baseline_bin ]] || unknown_urls+=("$baseline/runs/wait")
for url in "${unknown_urls[@]}"; do
    code=$(curl -sS --max-time 10 --cacert "$out/certs/ca.crt" -o /dev/null -w '%{http_code}' -X POST \
        -H 'Content-Type: application/json' --data '{"assistant_id":"nope","input":{"messages":[{"role":"user","content":"x"}]}}' "$url" || true)
    [[ $code == 404 ]] || echo "run.sh: WARNING: unknown assistant at $url answered $code, not 404" >&2
done

# nginx's error log from here on (the readiness polls above may have logged refused connects).
errlog=$out/nginx/logs/error.log
errlog_from=$(($(stat -c %s "$errlog" 2>/dev/null || echo 0) + 1))

# ---------------------------------------------------------------------------
# wrk, side by side
# ---------------------------------------------------------------------------
log "wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION --latency (after a $WARMUP warm-up), $ROUNDS round(s), $WORKERS worker process(es) per backend"
# CPU time (user+system clock ticks) of processes, to split each run's cost between nginx and the backend.
cpu_ticks() { # pid...: prints "pid=ticks" for each
    local pid
    for pid in "$@"; do
        # Fields after the ") " that ends the command name: utime and stime are the 12th and 13th.
        local stat
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        stat=${stat##*) }
        # shellcheck disable=SC2086
        set -- $stat
        echo "$pid=$((${12} + ${13}))"
    done
}
backend_pids() { # target key
    case $1 in
        fcgi-c-*) echo "${c_pids[*]}" ;;
        fastapi-*) pgrep -P "$uvicorn_pid" | tr '\n' ' ' ;;
        agentfcgi-baseline-*) echo "${baseline_pids[*]}" ;;
        agentfcgi-*) echo "${agent_pids[*]}" ;;
    esac
}
for ((r = 1; r <= ROUNDS; r++)); do
    round_targets=("${targets[@]}")
    if [[ -n $baseline_bin ]] && ((r % 2 == 0)); then
        # A/B: every other round the baseline goes first, so neither binary always follows the other.
        for ((j = 0; j + 1 < ${#round_targets[@]}; j++)); do
            if [[ ${round_targets[j + 1]} == agentfcgi-baseline-* ]]; then
                t=${round_targets[j]}
                round_targets[j]=${round_targets[j + 1]}
                round_targets[j + 1]=$t
                j=$((j + 1))
            fi
        done
    fi
    for t in "${round_targets[@]}"; do
        IFS='|' read -r key label url post <<<"$t"
        script=()
        [[ $post != post ]] || script=(-s "$here/post_runs_wait.lua")
        [[ $post != chat ]] || script=(-s "$here/post_chat_completions.lua")
        wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$WARMUP" "${script[@]}" "$url" >"$out/wrk/$key.warmup.txt" 2>&1 || true
        nginx_workers=$(pgrep -P "$nginx_pid" | tr '\n' ' ')
        backends=$(backend_pids "$key")
        # shellcheck disable=SC2086
        {
            echo "nginx_before $(cpu_ticks $nginx_workers | tr '\n' ' ')"
            echo "backend_before $(cpu_ticks $backends | tr '\n' ' ')"
        } >"$out/wrk/$key.r$r.cpu"
        wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "${script[@]}" "$url" >"$out/wrk/$key.r$r.txt" 2>&1 || true
        # shellcheck disable=SC2086
        {
            echo "nginx_after $(cpu_ticks $nginx_workers | tr '\n' ' ')"
            echo "backend_after $(cpu_ticks $backends | tr '\n' ' ')"
            echo "clk_tck $(getconf CLK_TCK)"
        } >>"$out/wrk/$key.r$r.cpu"
        printf '  %-34s %s req/s\n' "$label" "$(awk '/Requests\/sec/ {print $2}' "$out/wrk/$key.r$r.txt")" >&2
    done
done

# ---------------------------------------------------------------------------
# Concurrent SSE streams on ONE agentfcgi worker, through the same nginx
# ---------------------------------------------------------------------------
# One worker of BINARY, the only agentfcgi upstream of the same nginx (reloaded), STREAMS streams on it.
# Leaves the worker running (its pid in stream_pid and pids).
streams_run() { # binary socket worker-name database worker-log json client-log
    local binary=$1 socket=$2 name=$3 database=$4 stream_log=$5 json=$6 client_log=$7
    "$launch" worker --log "$stream_log" -- \
        "$binary" serve --listen "unix:$socket" --config "$here/agents.yaml" \
        --socket-mode 0660 --socket-group www-data --log-level info --worker-name "$name" \
        --database "$database" --auth off &
    stream_pid=$!
    pids+=("$stream_pid")
    "$launch" await-worker "$socket" "$stream_pid" 30 || die "see $stream_log"
    # Same nginx master, reloaded with this one worker as the agentfcgi upstream.
    render_nginx "unix:$socket"
    kill -HUP "$nginx_pid"
    sleep 1
    wait_ready "$main/ok"
    timeout 240 "$venv/bin/python" "$here/streams.py" --port "$HTTPS_PORT" --cafile "$out/certs/ca.crt" \
        --pid "$stream_pid" --streams "$STREAMS" --agent echo-slow --json "$json" \
        >"$client_log" 2>&1 || echo "run.sh: streams.py failed; see $client_log" >&2
    # Did the worker notice the clients leave? Every closed stream should log run.cancelled.
    if [[ -s $json ]]; then
        local started=0 cancelled=0
        for _ in $(seq 30); do
            started=$(grep -c ' run.started ' "$stream_log" || true)
            cancelled=$(grep -c ' run.cancelled .*reason=client_disconnected' "$stream_log" || true)
            ((cancelled < started)) || break
            sleep 0.5
        done
        "$venv/bin/python" - "$json" "$started" "$cancelled" <<'EOF'
import json, sys
path, started, cancelled = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path) as f:
    data = json.load(f)
data["started_logged"], data["cancelled_logged"] = started, cancelled
with open(path, "w") as f:
    json.dump(data, f, indent=2)
EOF
    fi
}
stop_pid() { # pid: TERM, up to 10 s, then KILL
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
if ((STREAMS > 0)); then
    log "$STREAMS concurrent SSE streams on one agentfcgi worker"
    # The wrk-phase backends are done: stop them so only the streams worker remains.
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
    if [[ -z $baseline_bin ]]; then
        streams_run "$bin" "$run/agentfcgi-streams.sock" streams "$db" "$out/logs/agentfcgi-streams.log" \
            "$out/streams.json" "$out/logs/streams.out"
    else
        # A/B: one streams run per round for each binary, each on a fresh worker, the baseline first every
        # other round: out/streams/{agentfcgi,agentfcgi-baseline}.rN.json.
        mkdir -p "$out/streams"
        for ((r = 1; r <= ROUNDS; r++)); do
            order=(agentfcgi agentfcgi-baseline)
            ((r % 2)) || order=(agentfcgi-baseline agentfcgi)
            for which in "${order[@]}"; do
                json=$out/streams/$which.r$r.json
                if [[ $which == agentfcgi ]]; then
                    streams_run "$bin" "$run/agentfcgi-streams-r$r.sock" "streams-r$r" "$db" \
                        "$out/logs/agentfcgi-streams.r$r.log" "$json" "$out/logs/streams.r$r.out"
                else
                    streams_run "$baseline_bin" "$run/agentfcgi-baseline-streams-r$r.sock" "streams-baseline-r$r" \
                        "$baseline_db" "$out/logs/agentfcgi-baseline-streams.r$r.log" "$json" \
                        "$out/logs/streams-baseline.r$r.out"
                fi
                stop_pid "$stream_pid"
                pids=()
                printf '  %-34s %s KiB per stream, %s streams open\n' "$which r$r" \
                    "$(sed -n 's/^ *"kib_per_stream": \([-0-9.]*\).*/\1/p' "$json" 2>/dev/null)" \
                    "$(sed -n 's/^ *"open_at_measure": \([0-9]*\).*/\1/p' "$json" 2>/dev/null | head -1)" >&2
            done
        done
    fi
fi

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
log "problems logged during the measurements (agentfcgi at warning or above, nginx at warn or above)"
problems=$( {
    grep -hE ' (warning|error|critical) ' "$out"/logs/agentfcgi-*.log 2>/dev/null || true
    tail -c +"$errlog_from" "$errlog" 2>/dev/null | grep -vE '\[notice\]' || true
} | head -20)
echo "${problems:-  (none)}" >&2
log "results ($(nproc) cores; wrk, nginx and the workers share them)"
pairs=()
for t in "${targets[@]}"; do
    IFS='|' read -r key label _ _ <<<"$t"
    pairs+=("$key=$label")
done
AB_NEW_BIN=$bin AB_BASELINE_BIN=$baseline_bin "$venv/bin/python" "$here/report.py" "$out" "$ROUNDS" "${pairs[@]}"

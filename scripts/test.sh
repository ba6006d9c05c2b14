#!/usr/bin/env bash
# The test command: installs what the tests need, builds, and runs every test.
#
#   scripts/test.sh            # as root on a fresh Debian 12 machine, or as a user with the packages present
#
# Unit and in-process tests call the handlers directly; the live tests start real nginx and real
# agentfcgi worker processes on 127.0.0.1 (HTTPS on free ports) and stop them again.
# Extra arguments go to `swift test` (e.g. --filter LiveServiceTests).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
if ! command -v swift >/dev/null 2>&1 && [[ -x /opt/swift/usr/bin/swift ]]; then
    export PATH=/opt/swift/usr/bin:$PATH
fi
command -v swift >/dev/null || { echo "test: swift is not installed (expected on PATH or in /opt/swift)" >&2; exit 1; }

step() { printf '\n== %s\n' "$*"; }

step "dependencies"
bash scripts/deps.sh

step "shell scripts parse"
for script in scripts/*.sh deploy/nginx/render.sh bench/*.sh; do
    [[ -f $script ]] && bash -n "$script"
done
echo "ok"

step "systemd units"
bash scripts/check-units.sh

step "config check"
swift build --product agentfcgi
.build/debug/agentfcgi check-config agents.yaml

step "build tests"
swift build --build-tests

step "local model server (llama.cpp + SmolLM2) for the openai provider's live test"
# An assignment, so that set -e stops here if the server cannot start.
llm_env=$(bash scripts/llm-server.sh start)
eval "$llm_env"
export LLM_BASE_URL
trap 'bash scripts/llm-server.sh stop >/dev/null 2>&1 || true' EXIT
echo "LLM_BASE_URL=$LLM_BASE_URL"

step "PostgreSQL (throw-away cluster) for the PostgreSQL store's tests"
pg_env=$(bash scripts/pg-server.sh start)
eval "$pg_env"
export POSTGRES_URL PG_DIR
trap 'bash scripts/llm-server.sh stop >/dev/null 2>&1 || true; PG_DIR=$PG_DIR bash scripts/pg-server.sh stop >/dev/null 2>&1 || true' EXIT
echo "POSTGRES_URL=$POSTGRES_URL"

step "swift test"
# One suite at a time: the live suites start nginx and workers, and the latency checks in them should
# not compete with other suites for the two cores.
swift test --skip-build --no-parallel "$@"

step "Python clients against the live service (langgraph_sdk)"
bash scripts/pytest-live.sh

#!/usr/bin/env bash
# The Python tests (Tests/Python: LangGraph's and OpenAI's clients, the OpenAPI spec, the docs page and the
# playground in headless chromium) against the live service: nginx and 3 workers started by
# scripts/run.sh on free loopback ports, with their own state folder, stopped again at the end.
#
#   scripts/pytest-live.sh [pytest args]     # AGENTFCGI_BIN=path to use a prebuilt worker binary
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
venv=$repo/.state/pyvenv
state=$repo/.state/pytest-run
# Pinned: the tests check these clients' wire behaviour. Their dependencies are pinned too, resolved together once
# (Tests/Python/constraints.txt is `pip freeze` of a venv built from these).
requirements=(langgraph-sdk==0.4.14 langgraph==1.2.22 openai==3.57.0 openai-agents==0.24.0 langchain-openai==1.7.4
              openapi-spec-validator==0.9.0 selenium==4.51.0 schemathesis==4.32.5 pytest==9.2.0
              prometheus-client==0.26.0 opentelemetry-proto==1.45.2)
constraints=$repo/Tests/Python/constraints.txt
# Debian's own Python where there is one: the workers (an unprivileged user) run this venv's interpreter for the stdio
# MCP test server, and an interpreter under /root (pyenv) is not theirs to run.
python=python3
[[ -x /usr/bin/python3 ]] && python=/usr/bin/python3
stamp="${requirements[*]} $(sha256sum "$constraints" | cut -c1-16) $python"

# Installed once per set of pins: the stamp names them, so a changed pin reinstalls.
if [[ ! -x $venv/bin/pytest || "$(cat "$venv/.requirements" 2>/dev/null)" != "$stamp" ]]; then
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -c "$constraints" "${requirements[@]}"
    echo "$stamp" >"$venv/.requirements"
fi

# The browser tests drive Debian's chromium through its chromedriver.
for pkg in chromium chromium-driver; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
        echo "pytest-live: installing $pkg (apt)"
        apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null
        break
    fi
done

free_port() { bash scripts/free-port.sh; }
https_port=$(free_port)
http_port=$(free_port)
log=$repo/.state/pytest-run.log
mkdir -p "$repo/.state" "$state"
rm -rf "$state/data" "$state/api-key" "$state/pets-hits.jsonl"   # a fresh database (and key) each time
bin=${AGENTFCGI_BIN:-$repo/.build/debug/agentfcgi}

# The tool sources' servers (test_tool_sources.py): an MCP server on the official Python SDK over Streamable HTTP,
# and a small REST service described by its own OpenAPI document, each wanting a token the workers read from their
# environment. The stdio MCP servers are the workers' own children.
fixtures=$repo/Tests/Fixtures
mcp_port=$(free_port)
pets_port=$(free_port)
mcp_token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
pets_token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
"$venv/bin/python" "$fixtures/mcp_tool_server.py" http --port "$mcp_port" --require-header "X-Token=$mcp_token" \
    >"$repo/.state/mcp-fixture.log" 2>&1 </dev/null &
mcp_fixture=$!
python3 "$fixtures/openapi_service.py" "$pets_port" "$state/pets-hits.jsonl" --require-header "X-Api-Token=$pets_token" \
    >"$repo/.state/pets-fixture.log" 2>&1 </dev/null &
pets_fixture=$!
trap 'kill -TERM "$mcp_fixture" "$pets_fixture" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    grep -q ready "$repo/.state/mcp-fixture.log" && grep -q ready "$repo/.state/pets-fixture.log" && break
    sleep 0.1
done
# The example agents, a slow echo (a stream that a browser test can catch in the middle however busy the machine
# is), an agent with memory per thread user, and webhooks that may reach this machine's test receivers, retried quickly.
config=$state/agents-pytest.yaml
{
    # The docs agent answers at length (some 700 tokens): at 5 ms a token each of the thousands of runs schemathesis
    # makes of it would take seconds.
    sed -e '/^webhooks:/,$d' -e '/- id: docs$/,/- id:/ s/token_delay_ms: 5$/token_delay_ms: 0/' "$repo/agents.yaml"
    printf '%s\n' "  - id: echo-slow" "    model: {provider: builtin, token_delay_ms: 150}"
    printf '%s\n' "  - id: metrics-probe" "    description: only test_metrics.py runs it, so its series are that test's alone" "    model: {provider: builtin}"
    printf '%s\n' "  - id: memory-user" "    model: {provider: builtin}" "    memory: {namespace_from: thread_metadata, field: user_id}"
    cat <<AGENTS
  - id: tools-mcp
    description: MCP servers as tool sources, over stdio and Streamable HTTP
    model: {provider: builtin}
    tools:
      - mcp: {name: local, command: ["$venv/bin/python", "$fixtures/mcp_tool_server.py", stdio], env: {FIXTURE_FLAG: configured}, timeout_ms: 3000}
      - mcp: {name: remote, url: "http://127.0.0.1:$mcp_port/mcp", headers: {X-Token: MCP_FIXTURE_TOKEN}, timeout_ms: 3000}
  - id: tools-bad
    description: MCP servers that misbehave
    model: {provider: builtin}
    tools:
      - mcp: {name: garbled, command: [python3, "$fixtures/mcp_bad_server.py", malformed], timeout_ms: 1500}
      - mcp: {name: silent, command: [python3, "$fixtures/mcp_bad_server.py", silent], timeout_ms: 1500}
      - mcp: {name: flooded, command: [python3, "$fixtures/mcp_bad_server.py", flood-line], timeout_ms: 10000}
  - id: tools-openapi
    description: operations of an OpenAPI document as tools
    model: {provider: builtin}
    tools:
      - openapi: {name: pets, spec: "$fixtures/openapi_service.json", base_url: "http://127.0.0.1:$pets_port/v1", operations: [listPets, getPet, createPet, deletePet, getBig, getSlow], headers: {X-Api-Token: PETS_TOKEN}, timeout_ms: 2000, max_bytes: 65536}
AGENTS
    printf '%s\n' "" "webhooks:" "  secret_env: AGENTFCGI_WEBHOOK_SECRET" '  allow_hosts: ["127.0.0.1"]' "  retry_base_seconds: 0.2"
} | sed "s|folder: docs|folder: $repo/docs|" >"$config"
secret=$("$bin" webhook-secret)
# nginx's rate limits are raised: schemathesis sends thousands of requests (the limits have their own live test).
# CORS for an example origin and for the page that test_cors.py serves on another loopback port.
cors_page_port=$(free_port)
CORS_ORIGINS="https://chat.example.com http://127.0.0.1:$cors_page_port" \
RATE=5000r/s KEY_RATE=5000r/s BURST=5000 \
AGENTFCGI_BIN=$bin AGENTFCGI_STATE=$state WORKERS=3 CONFIG=$config AGENTFCGI_WEBHOOK_SECRET=$secret \
    MCP_FIXTURE_TOKEN=$mcp_token PETS_TOKEN=$pets_token \
    HTTPS_PORT=$https_port HTTP_PORT=$http_port setsid bash scripts/run.sh >"$log" 2>&1 </dev/null &
service=$!
stop() {
    kill -TERM "$service" 2>/dev/null || true
    wait "$service" 2>/dev/null || true
    kill -TERM "$mcp_fixture" "$pets_fixture" 2>/dev/null || true
    wait "$mcp_fixture" "$pets_fixture" 2>/dev/null || true
}
trap stop EXIT

url=https://127.0.0.1:$https_port
for _ in $(seq 1 300); do
    curl -fsS --cacert "$state/certs/ca.crt" --max-time 2 -o /dev/null "$url/ok" 2>/dev/null && break
    kill -0 "$service" 2>/dev/null || { echo "pytest-live: the service did not start:" >&2; tail -n 30 "$log" >&2; exit 1; }
    sleep 0.2
done
echo "service at $url (log: $log)"
AGENTFCGI_URL=$url AGENTFCGI_CA=$state/certs/ca.crt AGENTFCGI_WEBHOOK_SECRET=$secret \
    AGENTFCGI_CORS_PAGE_PORT=$cors_page_port AGENTFCGI_ACCESS_LOG=$state/nginx/logs/access.log AGENTFCGI_WORKER_LOGS=$state/logs \
    AGENTFCGI_API_KEY=$(cat "$state/api-key") AGENTFCGI_BIN=$bin AGENTFCGI_DATABASE=$state/data/agentfcgi.sqlite \
    PETS_HITS=$state/pets-hits.jsonl PETS_TOKEN=$pets_token \
    "$venv/bin/pytest" -q Tests/Python "$@"

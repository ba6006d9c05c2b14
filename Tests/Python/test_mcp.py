"""POST /mcp with MCP's own Python client (mcp 2.3.0, both protocol eras) and the OpenAI Agents SDK's MCP client,
against the live service (nginx and three workers): every agent is a tool, a call is an ordinary stored run, progress
and cancels reach the run whichever worker gets them, and bad requests get JSON-RPC errors and store nothing."""
import contextlib
import json
import os
import pathlib
import re
import sqlite3
import ssl
import subprocess
import time
import uuid

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

MODERN = "2026-07-28"
AGENTS = {"echo", "echo-slow", "assistant", "docs", "echo-fast"}
# echo-slow writes a token every 150 ms: twelve words take a few seconds, eighty words far longer than a test waits.
TWELVE = " ".join(f"step{i}" for i in range(12))
LONG = " ".join(f"word{i}" for i in range(80))


def _ssl():
    return ssl.create_default_context(cafile=os.environ["AGENTFCGI_CA"])


class Wire:
    """What one client sent to /mcp, as the server answered it: the JSON-RPC method and id of each POST, the status,
    the content type and nginx's X-Request-Id (the id the worker that answered logs)."""

    def __init__(self):
        self.exchanges = []

    async def hook(self, response):
        try:
            body = json.loads(response.request.content or b"null")
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        self.exchanges.append({"method": body.get("method"), "id": body.get("id"), "status": response.status_code,
                               "type": response.headers.get("content-type", ""),
                               "request_id": response.headers.get("x-request-id")})

    def methods(self):
        return [e["method"] for e in self.exchanges]

    def only(self, method):
        found = [e for e in self.exchanges if e["method"] == method]
        assert len(found) == 1, (method, self.exchanges)
        return found[0]


def http_client(wire=None, headers=None, timeout=None, auth=None):
    return httpx2.AsyncClient(headers=headers, timeout=timeout or httpx2.Timeout(30.0, read=300.0), auth=auth,
                              verify=_ssl(), event_hooks={"response": [wire.hook]} if wire else None)


@contextlib.asynccontextmanager
async def mcp_session(base_url, key, mode, wire):
    async with http_client(wire, headers={"Authorization": f"Bearer {key}"}) as http:
        async with Client(streamable_http_client(base_url + "/mcp", http_client=http), mode=mode) as client:
            yield client


def log_lines(request_ids, timeout=5.0):
    """Every `mcp.*` log line of each nginx request id, with the worker (worker-N) that wrote it, once each id has its
    `mcp.request` line. Workers write their logs as they go; a line may take a moment to appear."""
    folder = pathlib.Path(os.environ["AGENTFCGI_WORKER_LOGS"])
    patterns = {rid: re.compile(rf" request\.id={re.escape(rid)}\b") for rid in request_ids}
    deadline = time.monotonic() + timeout
    while True:
        found = {rid: [] for rid in request_ids}
        for path in sorted(folder.glob("worker-*.log")):
            for line in path.read_text(errors="replace").splitlines():
                if " mcp." in line:
                    for rid, pattern in patterns.items():
                        if pattern.search(line):
                            found[rid].append((path.stem, line))
        missing = [rid for rid, lines in found.items() if not any(" mcp.request " in line for _, line in lines)]
        if not missing:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"no mcp.request line in {folder} for request ids {missing}")
        time.sleep(0.1)


def served_by(exchanges):
    """The worker that answered each exchange, checked against what its log line says of the request."""
    lines = log_lines([e["request_id"] for e in exchanges])
    workers = []
    for e in exchanges:
        worker, line = next((w, l) for w, l in lines[e["request_id"]] if " mcp.request " in l)
        assert f" mcp.method={e['method']} " in line + " ", line
        if e["id"] is not None:
            assert f" mcp.id={e['id']} " in line + " ", line
        else:
            assert " mcp.id=" not in line, line
        workers.append(worker)
    return workers, lines


def database():
    return sqlite3.connect(f"file:{os.environ['AGENTFCGI_DATABASE']}?mode=ro", uri=True)


def last_run_seq():
    with contextlib.closing(database()) as db:
        return db.execute("SELECT COALESCE(MAX(queue_seq), 0) FROM runs").fetchone()[0]


def mcp_run_after(seq, agent):
    """The newest run an MCP call started after `seq` (its metadata has an `mcp` object): run id, thread id, status."""
    with contextlib.closing(database()) as db:
        run = db.execute("SELECT run_id, thread_id, status FROM runs WHERE queue_seq > ? AND assistant_id = ? "
                         "AND metadata LIKE '%\"mcp\"%' ORDER BY queue_seq DESC LIMIT 1", (seq, agent)).fetchone()
    # The store prefixes a thread id with its tenant and U+001F; the API shows the rest.
    return run and (run[0], run[1].rpartition("\x1f")[2], run[2])


async def wait_for_status(seq, agent, status, timeout=15.0):
    deadline = time.monotonic() + timeout
    run = None
    while time.monotonic() < deadline:
        run = mcp_run_after(seq, agent)
        if run and run[2] == status:
            return run
        await anyio.sleep(0.1)
    raise AssertionError(f"the MCP run of {agent} is {run}, not {status}, {timeout} s after the cancel")


def counts():
    with contextlib.closing(database()) as db:
        return {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("threads", "runs", "messages")}


def create_key(tenant, scopes):
    return subprocess.run([os.environ["AGENTFCGI_BIN"], "keys", "create", "--database", os.environ["AGENTFCGI_DATABASE"],
                           "--name", "mcp-test", "--tenant", tenant, "--scopes", scopes, "--quiet"],
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.parametrize("mode", ["legacy", MODERN, "auto"])
def test_every_agent_is_a_tool_and_a_call_is_a_stored_run(client, base_url, api_key, mode):
    wire = Wire()
    asks = [f"hello over {mode}", "and once more"]

    async def session():
        async with mcp_session(base_url, api_key, mode, wire) as mcp:
            tools = await mcp.list_tools()
            first = await mcp.call_tool("echo", {"message": asks[0]})
            second = await mcp.call_tool("echo", {"message": asks[1], "thread_id": first.structured_content["thread_id"]})
            return mcp.protocol_version, tools, first, second

    version, tools, first, second = anyio.run(session)
    assert version == {"legacy": "2025-11-25"}.get(mode, MODERN)
    assert AGENTS <= {t.name for t in tools.tools}
    echo = next(t for t in tools.tools if t.name == "echo")
    schema = echo.input_schema
    assert schema["type"] == "object" and schema["required"] == ["message"] and schema["additionalProperties"] is False
    assert {name: p["type"] for name, p in schema["properties"].items()} == {"message": "string", "thread_id": "string"}
    output = echo.output_schema
    assert output["type"] == "object" and set(output["required"]) == {"run_id", "thread_id", "usage"}
    assert set(output["properties"]["usage"]["properties"]) == {"input_tokens", "output_tokens", "total_tokens"}

    for result, ask in zip((first, second), asks):
        assert not result.is_error
        assert [(c.type, c.text) for c in result.content] == [("text", f"You said: {ask}")]
        structured = result.structured_content
        assert set(structured) == {"run_id", "thread_id", "usage"}
        usage = structured["usage"]
        assert usage["output_tokens"] > 0 and usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    thread_id = first.structured_content["thread_id"]
    assert second.structured_content["thread_id"] == thread_id
    assert first.structured_content["run_id"] != second.structured_content["run_id"]

    # Ordinary runs on an ordinary thread: LangGraph's client sees both exchanges.
    messages = client.threads.get_state(thread_id)["values"]["messages"]
    assert [m["content"] for m in messages] == [asks[0], f"You said: {asks[0]}", asks[1], f"You said: {asks[1]}"]
    for result in (first, second):
        run = client.runs.get(thread_id, result.structured_content["run_id"])
        assert run["status"] == "success" and run["assistant_id"] == "echo"

    # Stateless: no session id, every request its own, and nginx spreads them over the workers.
    handshake = {"legacy": ["initialize", "notifications/initialized"], "auto": ["server/discover"]}.get(mode, [])
    assert wire.methods() == handshake + ["tools/list", "tools/call", "tools/call"], wire.exchanges
    assert all(e["status"] == (202 if e["id"] is None else 200) for e in wire.exchanges), wire.exchanges
    workers, _ = served_by(wire.exchanges)
    assert len(set(workers)) >= 2, workers
    # One client connection, one nginx worker, round-robin over three workers: never the same worker twice running.
    assert all(a != b for a, b in zip(workers, workers[1:])), workers


@pytest.mark.parametrize("mode", ["legacy", MODERN])
def test_progress_while_the_agent_writes(base_url, api_key, mode):
    wire = Wire()
    notes = []

    async def on_progress(progress, total, message):
        notes.append(progress)

    async def session():
        async with mcp_session(base_url, api_key, mode, wire) as mcp:
            return await mcp.call_tool("echo-slow", {"message": TWELVE}, progress_callback=on_progress)

    result = anyio.run(session)
    assert not result.is_error and result.content[0].text == f"You said: {TWELVE}"
    assert len(notes) >= 2, notes
    assert all(b > a for a, b in zip(notes, notes[1:])), notes
    call = next(e for e in wire.exchanges if e["method"] == "tools/call")
    assert call["type"].startswith("text/event-stream"), call


def test_cancel_in_the_handshake_era_reaches_the_run_on_another_worker(client, base_url, api_key):
    """The client POSTs notifications/cancelled on its own connection; nginx gives it to any worker, which finds the
    run through the store. The call's own POST stays open meanwhile, so only the notification can stop the run. Two
    nginx processes keep round-robin counts of their own, so the cancel may land on the call's worker: then the call
    is tried again (up to three times) until a cancel has crossed workers."""
    for _ in range(3):
        wire = Wire()
        mark = last_run_seq()

        async def session():
            async with mcp_session(base_url, api_key, "legacy", wire) as mcp:
                with anyio.move_on_after(2):
                    await mcp.call_tool("echo-slow", {"message": LONG})
                run = await wait_for_status(mark, "echo-slow", "interrupted")
                # The interrupted run answers the call's POST at last (a late reply the client drops): its head
                # names the worker that ran the call.
                with anyio.fail_after(10):
                    while "tools/call" not in wire.methods():
                        await anyio.sleep(0.1)
                # Time for the client to read and drop that reply: mcp 2.3.0 raises BrokenResourceError when a late
                # reply is still on its way in as the client closes.
                await anyio.sleep(1)
                return run

        run_id, thread_id, _ = anyio.run(session)
        assert client.runs.get(thread_id, run_id)["status"] == "interrupted"
        call, cancel = wire.only("tools/call"), wire.only("notifications/cancelled")
        assert cancel["status"] == 202
        (call_worker, cancel_worker), lines = served_by([call, cancel])
        if call_worker == cancel_worker:
            continue
        cancelled = [line for _, line in lines[cancel["request_id"]] if " mcp.cancelled " in line]
        assert len(cancelled) == 1 and f" run.id={run_id} " in cancelled[0] + " ", lines[cancel["request_id"]]
        break
    else:
        pytest.fail("each of three cancels was served by the worker that ran the call: the cross-worker path went untested")


def test_cancel_in_the_stateless_era_closes_the_request(client, base_url, api_key):
    wire = Wire()
    mark = last_run_seq()

    async def session():
        async with mcp_session(base_url, api_key, MODERN, wire) as mcp:
            with anyio.move_on_after(2):
                await mcp.call_tool("echo-slow", {"message": LONG})
            return await wait_for_status(mark, "echo-slow", "interrupted")

    run_id, thread_id, _ = anyio.run(session)
    assert client.runs.get(thread_id, run_id)["status"] == "interrupted"
    assert "notifications/cancelled" not in wire.methods()  # the 2026 client only closes the POST


def test_openai_agents_sdk_mcp_server(base_url, api_key):
    from agents.mcp import MCPServerStreamableHttp
    wire = Wire()

    def factory(headers=None, timeout=None, auth=None):
        return http_client(wire, headers=headers, timeout=timeout, auth=auth)

    async def run():
        async with MCPServerStreamableHttp(params={"url": base_url + "/mcp", "headers": {"Authorization": f"Bearer {api_key}"},
                                                  "httpx_client_factory": factory},
                                          client_session_timeout_seconds=30) as server:
            tools = await server.list_tools()
            result = await server.call_tool("echo", {"message": "hello from the agents sdk"})
            return tools, result

    tools, result = anyio.run(run)
    assert AGENTS <= {t.name for t in tools}
    assert not result.is_error and result.content[0].text == "You said: hello from the agents sdk"
    assert wire.methods()[0] == "server/discover" and "initialize" not in wire.methods()  # the 2026 era, no fallback


def test_initialize_answers_the_version_asked(base_url, api_key):
    with httpx2.Client(verify=_ssl(), timeout=30) as http:
        for version in ("2025-03-26", "2025-06-18", "2025-11-25"):
            body = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                    "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
            response = http.post(base_url + "/mcp", json=body, headers={"Authorization": f"Bearer {api_key}",
                                                                        "Accept": "application/json, text/event-stream"})
            assert response.status_code == 200 and "mcp-session-id" not in response.headers, response.headers
            result = response.json()["result"]
            assert result["protocolVersion"] == version and result["serverInfo"]["name"], result


def modern(method, params=None, name=None, **changes):
    """A 2026-07-28 request: the version and capabilities in _meta, the routing headers as the client sends them
    (`name` for Mcp-Name), and `changes` to the headers."""
    meta = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
    body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": dict(params or {}, _meta=meta)}
    headers = {"mcp-protocol-version": MODERN, "mcp-method": method} | ({"mcp-name": name} if name else {})
    return body, headers | {k.replace("_", "-"): v for k, v in changes.items()}


def legacy_call(arguments, name="echo"):
    return {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": name, "arguments": arguments}}


def test_bad_requests_get_json_rpc_errors_and_store_nothing(base_url, api_key):
    tenant_a, tenant_b = f"mcp-a-{uuid.uuid4().hex[:8]}", f"mcp-b-{uuid.uuid4().hex[:8]}"
    key_a, key_b = create_key(tenant_a, "agents:read,runs:write"), create_key(tenant_b, "agents:read,runs:write")
    reader = create_key(f"mcp-r-{uuid.uuid4().hex[:8]}", "agents:read")
    accept = {"Accept": "application/json, text/event-stream"}

    with httpx2.Client(base_url=base_url, verify=_ssl(), timeout=30, headers=accept) as http:
        def post(body, headers=None, key=api_key, raw=None):
            headers = ({"Authorization": f"Bearer {key}"} if key else {}) | (headers or {})
            if raw is not None:
                return http.post("/mcp", content=raw, headers=headers | {"Content-Type": "application/json"})
            return http.post("/mcp", json=body, headers=headers)

        # Tenant A's thread, which A may continue.
        made = post(legacy_call({"message": "tenant a"}), key=key_a).json()["result"]["structuredContent"]["thread_id"]
        again = post(legacy_call({"message": "a again", "thread_id": made}), key=key_a).json()["result"]
        assert again["structuredContent"]["thread_id"] == made and not again["isError"]

        before = counts()
        tools_list = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        # (what, response, HTTP status, JSON-RPC code, data.code or None, expected id or ids)
        cases = [
            ("malformed JSON", post(None, raw=b'{"jsonrpc": "2.0", "id": 1,'), 400, -32700, None, None),
            ("a batch", post([tools_list]), 400, -32600, None, None),
            ("not JSON-RPC 2.0", post({"jsonrpc": "1.0", "id": 2, "method": "tools/list"}), 400, -32600, None, 2),
            ("unknown method, handshake era", post({"jsonrpc": "2.0", "id": 4, "method": "foo/bar"}), 200, -32601, None, 4),
            ("unknown method, 2026", post(*modern("foo/bar")), 404, -32601, None, 7),
            ("Mcp-Method differs", post(*modern("tools/list", mcp_method="prompts/list")), 400, -32020, None, 7),
            ("Mcp-Name differs", post(*modern("tools/call", {"name": "echo", "arguments": {"message": "x"}}, name="docs")),
             400, -32020, None, 7),
            ("unsupported version header", post(tools_list, {"MCP-Protocol-Version": "2099-01-01"}), 400, -32022, None, 2),
            # The key is checked before the body is read: the id may be null (the client puts its own back).
            ("no key", post(tools_list, key=None), 401, -32600, None, (None, 2)),
            ("no runs:write", post(legacy_call({"message": "x"}), key=reader), 403, None, None, 3),
            ("another tenant's thread", post(legacy_call({"message": "b", "thread_id": made}), key=key_b),
             200, -32602, "thread_not_found", 3),
            ("unknown tool", post(legacy_call({"message": "x"}, name="nobody")), 200, -32602, None, 3),
            ("no message", post(legacy_call({})), 200, -32602, None, 3),
            ("an extra argument", post(legacy_call({"message": "x", "model": "gpt"})), 200, -32602, None, 3),
            ("thread_id not a string", post(legacy_call({"message": "x", "thread_id": 12})), 200, -32602, None, 3),
            ("bad arguments, 2026", post(*modern("tools/call", {"name": "echo", "arguments": {"message": "x", "extra": 1}}, name="echo")),
             400, -32602, None, 7),
            ("a browser page elsewhere", post(tools_list, {"Origin": "https://evil.example"}), 403, -32600, "origin_not_allowed", None),
        ]
        failures = []
        for what, response, status, code, data_code, rpc_id in cases:
            try:
                assert response.status_code == status, response.status_code
                assert response.headers.get("content-type", "").startswith("application/json"), response.headers
                message = response.json()
                assert message["jsonrpc"] == "2.0" and "result" not in message, message
                assert message["id"] in (rpc_id if isinstance(rpc_id, tuple) else (rpc_id,)), message
                error = message["error"]
                assert isinstance(error["code"], int) and error["message"], error
                if code is not None:
                    assert error["code"] == code, error
                if data_code is not None:
                    assert error["data"]["code"] == data_code, error
                if status in (401, 403) and data_code is None:
                    assert error["data"]["status"] == status and error["data"]["code"] and error["data"]["detail"], error
            except (AssertionError, ValueError, KeyError, TypeError) as failure:
                failures.append((what, response.status_code, response.text[:300], repr(failure)[:300]))

        # What passes: a listed origin, the reader key listing tools (sent as X-Api-Key), and GET is not a method.
        listed = post(tools_list, {"Origin": "https://chat.example.com"})
        reading = post(tools_list, {"X-Api-Key": reader}, key=None)
        for what, response in (("listed origin", listed), ("reader lists tools", reading)):
            if response.status_code != 200 or "echo" not in {t["name"] for t in response.json().get("result", {}).get("tools", [])}:
                failures.append((what, response.status_code, response.text[:300]))
        # A trailing slash is the same endpoint, with the same checks: nginx's origin check and the JSON-RPC errors.
        auth = {"Authorization": f"Bearer {api_key}"}
        for path in ("/mcp/", "/mcp//"):
            slashed = http.post(path, json=tools_list, headers=auth | {"Origin": "https://evil.example"})
            if slashed.status_code != 403 or slashed.json().get("error", {}).get("data", {}).get("code") != "origin_not_allowed":
                failures.append((f"{path} from a browser page elsewhere", slashed.status_code, slashed.text[:300]))
            unknown = http.post(path, json={"jsonrpc": "2.0", "id": 9, "method": "foo/bar"}, headers=auth)
            if unknown.status_code != 200 or unknown.json().get("error", {}).get("code") != -32601:
                failures.append((f"{path} unknown method", unknown.status_code, unknown.text[:300]))
            malformed = http.post(path, content=b"{", headers=auth | {"Content-Type": "application/json"})
            if malformed.status_code != 400 or malformed.json().get("error", {}).get("code") != -32700:
                failures.append((f"{path} malformed JSON", malformed.status_code, malformed.text[:300]))
        got = http.get("/mcp", headers={"Authorization": f"Bearer {api_key}"})
        if got.status_code != 405:
            failures.append(("GET /mcp", got.status_code, got.text[:300]))

    assert not failures, "\n".join(map(repr, failures))
    assert counts() == before


@pytest.mark.parametrize("mode", ["legacy", MODERN])
def test_a_client_answers_an_approval_through_its_elicitation_callback(base_url, api_key, mode):
    """The `careful` agent's calculator call waits for a person; MCP's own client, with an elicitation callback, shows
    the form and its answer reaches whichever worker nginx picks. 2026-07-28: an input_required result, and the call
    sent again with the answer and the signed request state. Handshake era: an elicitation/create request on the call's
    event stream (the session id from initialize says the client can show forms), answered by a POST of its own, which
    the worker holding the stream finds in the store. Either way the call's result is the approved run's, and a
    declined form rejects."""
    from mcp import types
    forms = []

    def answering(result):
        async def callback(context, params):
            forms.append(params)
            return result
        return callback

    async def call(callback, wire):
        async with http_client(wire, headers={"Authorization": f"Bearer {api_key}"}) as http:
            async with Client(streamable_http_client(base_url + "/mcp", http_client=http), mode=mode,
                              elicitation_callback=callback) as mcp:
                return await mcp.call_tool("careful", {"message": "what is 12*(3+4)?"})

    wire = Wire()
    approved = anyio.run(call, answering(types.ElicitResult(action="accept", content={"decision": "approve"})), wire)
    assert not approved.is_error and "84" in approved.content[0].text, approved
    assert len(forms) == 1 and "calculator" in forms[0].message and "12*(3+4)" in forms[0].message, forms
    schema = forms[0].requested_schema  # a dict in the handshake era's types, a model in 2026-07-28's
    properties = schema["properties"] if isinstance(schema, dict) else schema.properties
    assert properties["decision"]["enum"] == ["approve", "edit", "reject"]
    calls = [e for e in wire.exchanges if e["method"] == "tools/call"]
    if mode == MODERN:
        assert [e["status"] for e in calls] == [200, 200], wire.exchanges  # asked, then answered
        served_by(calls)  # each worker logged its own part
    else:
        # One call, answered on its stream; the answer went as a POST of its own.
        assert [e["status"] for e in calls] == [200] and calls[0]["type"].startswith("text/event-stream"), wire.exchanges
        answers = [e for e in wire.exchanges if e["method"] is None and str(e["id"]).startswith("decision-1@")]
        assert [e["status"] for e in answers] == [202], wire.exchanges
    thread = approved.structured_content["thread_id"]
    with httpx2.Client(base_url=base_url, verify=_ssl(), timeout=30, headers={"X-Api-Key": api_key}) as http:
        assert http.get(f"/threads/{thread}").json()["status"] == "idle"
        tools = [m for m in http.get(f"/threads/{thread}/state").json()["values"]["messages"] if m["type"] == "tool"]
        assert [m["content"] for m in tools] == ["84"]  # ran once, as asked
        decision = http.get(f"/threads/{thread}/runs").json()[0]["metadata"]["approval"]
        assert decision["decided_by"] and decision["answers"]

    declined = anyio.run(call, answering(types.ElicitResult(action="decline")), Wire())
    assert "84" not in declined.content[0].text and "rejected" in declined.content[0].text, declined

"""Agents with the user's own tools, through nginx and three workers: an MCP server written with the official Python
SDK (PyPI `mcp`) over stdio (each worker's child) and over Streamable HTTP (started by pytest-live.sh, wanting a token
the workers read from their environment), MCP servers that misbehave, and a REST service described by its OpenAPI
document. The built-in model calls a tool named in the message with the JSON object after it."""
import json
import os
import ssl
import time

import httpx
import pytest
from langgraph_sdk import get_sync_client


@pytest.fixture
def http(base_url, api_key):
    ca = os.environ["AGENTFCGI_CA"]
    with httpx.Client(base_url=base_url, headers={"X-Api-Key": api_key}, verify=ssl.create_default_context(cafile=ca),
                      timeout=60) as client:
        yield client


def ask(client, agent, text):
    """A run on a new thread; the final messages."""
    thread = client.threads.create()
    state = client.runs.wait(thread["thread_id"], agent, input={"messages": [{"role": "user", "content": text}]})
    return state["messages"]


def tool_answers(messages):
    return [m["content"] for m in messages if m["type"] == "tool"]


def invoke(http, agent, tool, arguments):
    return http.post(f"/agents/{agent}/tools/{tool}/invoke", json={"arguments": arguments})


def test_mcp_tools_are_listed_and_called_over_stdio_and_http(client, http):
    listed = http.get("/agents/tools-mcp/tools").json()
    names = {t["name"] for t in listed}
    assert {"local__add", "local__echo_env", "local__list_fds", "remote__add", "remote__pid"} <= names, names
    add = next(t for t in listed if t["name"] == "local__add")
    assert add["parameters"]["properties"].keys() >= {"a", "b"} and add["timeout_ms"] == 3000
    assert all(len(n) <= 64 for n in names)
    for source in ("local", "remote"):
        messages = ask(client, "tools-mcp", f'{source}__add {{"a": 2, "b": 3}}')
        assert tool_answers(messages) == ["5"], messages
        assert messages[-1]["content"] == f"{source}__add returned 5.", messages
    # Arguments are checked against the server's inputSchema before the server sees them.
    refused = invoke(http, "tools-mcp", "local__add", {"a": "two", "b": 3})
    assert refused.status_code == 422 and refused.json()["field"].startswith("arguments.a"), refused.text
    assert invoke(http, "tools-mcp", "remote__add", {"a": 1.5, "b": 1}).json()["result"] == "2.5"


def test_a_tool_result_reaches_the_stream(client):
    thread = client.threads.create()
    parts = list(client.runs.stream(thread["thread_id"], "tools-mcp", stream_mode=["custom", "updates"],
                                    input={"messages": [{"role": "user", "content": 'remote__add {"a": 40, "b": 2}'}]}))
    finished = [p.data for p in parts if p.event == "custom" and p.data.get("type") == "tool_call_finished"]
    assert finished and finished[0]["result"] == "42", [p.event for p in parts]
    tools_steps = [p.data["tools"] for p in parts if p.event == "updates" and "tools" in p.data]
    assert tools_steps and tools_steps[0]["messages"][0]["content"] == "42"


def test_the_stdio_child_has_nothing_of_the_worker(http):
    def call(tool, arguments=None):
        answer = invoke(http, "tools-mcp", tool, arguments or {})
        assert answer.status_code == 200, answer.text
        return answer.json()["result"]

    assert call("local__echo_env", {"name": "FIXTURE_FLAG"}) == "configured"
    for name in ("AGENTFCGI_WEBHOOK_SECRET", "PETS_TOKEN", "MCP_FIXTURE_TOKEN", "PATH", "HOME", "USER"):
        assert call("local__echo_env", {"name": name}) == "<unset>", name
    info = json.loads(call("local__pid"))
    pid, pgid = int(info["pid"]), int(info["pgid"])
    assert pid == pgid, "a process group of its own"
    # From outside: its environment is what the configuration gave (Python adds nothing of the worker's), and every
    # descriptor but 0-2 is one Python or the SDK made (asyncio's selector and self-pipe, the SDK's stdio copies).
    environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
    assert [e for e in environ if e] == [b"FIXTURE_FLAG=configured"], environ
    targets = {int(fd): os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    inherited = {fd: t for fd, t in targets.items() if fd > 7}
    assert not inherited, targets
    sockets = [fd for fd, t in targets.items() if t.startswith("socket:")]
    assert len(sockets) <= 2, targets  # asyncio's self-pipe pair; the worker's FastCGI socket would be a third
    parent = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    worker_cmdline = open(f"/proc/{parent}/cmdline", "rb").read()
    assert b"agentfcgi" in worker_cmdline and b"serve" in worker_cmdline


def test_openapi_operations_are_tools_with_safe_requests(client, http):
    hits = os.environ["PETS_HITS"]

    def recorded():
        if not os.path.exists(hits):
            return []
        with open(hits) as f:
            return [json.loads(line) for line in f if line.strip()]

    before = len(recorded())
    listed = invoke(http, "tools-openapi", "pets__listPets", {"tag": "cat", "limit": 5})
    assert listed.status_code == 200 and [p["name"] for p in json.loads(listed.json()["result"])] == ["Tom"], listed.text
    hit = recorded()[-1]
    assert hit["method"] == "GET" and hit["path"] == "/v1/pets" and hit["args"] == {"tag": ["cat"], "limit": ["5"]}
    assert hit["headers"]["x-api-token"] == os.environ["PETS_TOKEN"]

    # A path parameter cannot climb out of its segment; a header value cannot start another header.
    for arguments in ({"id": ".."}, {"id": "../admin"}, {"id": "%2E%2E"}):
        refused = invoke(http, "tools-openapi", "pets__getPet", arguments)
        assert refused.status_code == 422 and refused.json()["code"] == "tool_error", refused.text
    refused = invoke(http, "tools-openapi", "pets__getPet", {"id": "2", "X-Trace": "a\r\nX-Injected: 1"})
    assert refused.status_code == 422, refused.text
    assert len(recorded()) == before + 1, "nothing refused reached the service"
    odd = invoke(http, "tools-openapi", "pets__getPet", {"id": "a/b?c", "X-Trace": "t-1"})
    assert odd.status_code == 422 and "HTTP 404" in odd.json()["detail"]
    assert recorded()[-1]["path"] == "/v1/pets/a%2Fb%3Fc" and recorded()[-1]["headers"]["x-trace"] == "t-1"

    # Through a run: the model calls it, the answer is the service's.
    messages = ask(client, "tools-openapi", 'pets__createPet {"body": {"name": "Bo", "tag": "dog"}}')
    created = json.loads(tool_answers(messages)[0])
    assert created["name"] == "Bo" and recorded()[-1]["method"] == "POST" and json.loads(recorded()[-1]["body"]) == {"name": "Bo", "tag": "dog"}
    big = invoke(http, "tools-openapi", "pets__getBig", {}).json()["result"]
    assert big.endswith("[truncated at 64 KiB]") and len(big) < 70 * 1024
    started = time.monotonic()
    slow = invoke(http, "tools-openapi", "pets__getSlow", {})
    assert slow.status_code == 422 and time.monotonic() - started < 6, slow.text


def test_bad_tool_servers_end_their_calls_and_the_runs_go_on(client, http):
    cases = [("garbled__x {}", "timed out"), ("silent__x {}", "timed out"), ("flooded__x {}", "over 4 MiB")]
    for text, words in cases:
        started = time.monotonic()
        messages = ask(client, "tools-bad", text)
        answers = tool_answers(messages)
        assert len(answers) == 1 and answers[0].startswith("error: ") and words in answers[0], (text, answers)
        assert messages[-1]["type"] == "ai", "the run went on to the model's answer"
        assert time.monotonic() - started < 15
    # The SDK server: a call that hangs, one whose server dies in the middle, one whose answer is too big.
    for text, words in [("local__hang {}", "timed out"), ("local__die {}", "exited"), ("local__flood {}", "over 4 MiB")]:
        answers = tool_answers(ask(client, "tools-mcp", text))
        assert answers and words in answers[0], (text, answers)
    # The worker is well, and the server that died is started again for the next call.
    assert http.get("/ok").status_code == 200
    assert tool_answers(ask(client, "tools-mcp", 'local__add {"a": 1, "b": 1}')) == ["2"]
    failed = tool_answers(ask(client, "tools-mcp", "local__fail {}"))
    assert failed == ["error: it failed on purpose"], failed

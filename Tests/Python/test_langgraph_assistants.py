"""Assistants you make, through nginx and several workers, with the real clients: langgraph-sdk creates, changes,
versions, lists and deletes them; its runs, OpenAI's client (a model) and MCP's client (a tool) use them; another
tenant can neither see nor use them. Each test has a tenant of its own, so the other suites' listings stay as they are."""
import os
import ssl
import uuid

import httpx
import httpx2
import openai
import pytest
from keys import create_key
from langgraph_sdk import get_sync_client
from langgraph_sdk.errors import ConflictError, NotFoundError, PermissionDeniedError, UnprocessableEntityError
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

SCOPES = "agents:read,assistants:write,threads:read,threads:write,runs:read,runs:write"
ASK = "what is 12*3?"


def make_key(tenant, scopes=SCOPES):
    return create_key(tenant, scopes, name="assistants-test")


@pytest.fixture
def tenant(base_url):
    name = f"asst-{uuid.uuid4().hex[:10]}"
    key = make_key(name)
    return name, key, get_sync_client(url=base_url, api_key=key, timeout=60)


def user(text):
    return {"messages": [{"role": "user", "content": text}]}


def kinds(values):
    return [m["type"] for m in values["messages"]]


def test_create_update_versions_and_delete(tenant, base_url):
    _, _, client = tenant
    made = client.assistants.create("assistant", context={"tools": ["current_time"], "temperature": 0.2}, name="Clock only",
                                    description="Tells the time", metadata={"team": "blue"})
    aid = made["assistant_id"]
    assert uuid.UUID(aid) and made["graph_id"] == "assistant" and made["version"] == 1
    assert made["tools"] == ["current_time"] and made["context"]["temperature"] == 0.2
    assert client.assistants.get(aid)["name"] == "Clock only"
    assert client.assistants.get_schemas(aid)["graph_id"] == "assistant"
    graph = client.assistants.get_graph(aid)
    assert next(n for n in graph["nodes"] if n["id"] == "tools")["data"]["tools"] == ["current_time"]
    assert client.assistants.get_subgraphs(aid) == {}

    # An id of the caller's choosing; do_nothing gives back what is there, a second create is a conflict.
    named = client.assistants.create("echo", assistant_id="my-echo", if_exists="raise", name="Mine")
    assert named["assistant_id"] == "my-echo"
    assert client.assistants.create("assistant", assistant_id="my-echo", if_exists="do_nothing")["graph_id"] == "echo"
    with pytest.raises(ConflictError):
        client.assistants.create("assistant", assistant_id="my-echo")

    updated = client.assistants.update(aid, context={"instructions": "Only the time.", "tools": ["current_time"]},
                                       metadata={"tier": "gold"}, name="Clock")
    assert updated["version"] == 2 and updated["name"] == "Clock"
    assert updated["metadata"] == {"team": "blue", "tier": "gold"}
    versions = client.assistants.get_versions(aid)
    assert [v["version"] for v in versions] == [2, 1]
    assert [v["name"] for v in versions] == ["Clock", "Clock only"]
    assert [v["version"] for v in client.assistants.get_versions(aid, metadata={"tier": "gold"})] == [2]
    back = client.assistants.set_latest(aid, 1)
    assert back["version"] == 1 and back["name"] == "Clock only" and back["context"] == {"tools": ["current_time"], "temperature": 0.2}
    assert client.assistants.get(aid)["version"] == 1
    with pytest.raises(NotFoundError):
        client.assistants.set_latest(aid, 7)

    # Listed after the configured agents; filters, sorting, select and the pagination cursor.
    everyone = client.assistants.search(limit=100)
    configured = [a["assistant_id"] for a in everyone if a["metadata"].get("created_by") == "system"]
    assert {"echo", "assistant"} <= set(configured)
    assert [a["assistant_id"] for a in everyone][len(configured):] == ["my-echo", aid]
    assert client.assistants.count() == len(everyone)
    assert client.assistants.count(graph_id="assistant") == 2
    assert [a["assistant_id"] for a in client.assistants.search(metadata={"team": "blue"})] == [aid]
    assert [a["assistant_id"] for a in client.assistants.search(name="clock")] == [aid]
    picked = client.assistants.search(graph_id="echo", select=["assistant_id", "version"], sort_by="assistant_id", sort_order="desc")
    assert picked == [{"assistant_id": "my-echo", "version": 1}, {"assistant_id": "echo", "version": 1}]
    page = client.assistants.search(limit=2, response_format="object")
    assert len(page["assistants"]) == 2 and page["next"] == "2"

    # The configured agents are read-only.
    with pytest.raises(ConflictError):
        client.assistants.update("echo", name="renamed")
    with pytest.raises(ConflictError):
        client.assistants.delete("echo")

    client.assistants.delete("my-echo")
    with pytest.raises(NotFoundError):
        client.assistants.get("my-echo")
    with pytest.raises(NotFoundError):
        client.assistants.delete("my-echo")


def test_bad_settings_are_refused_with_the_field(tenant):
    _, _, client = tenant
    for context, field in [({"model": "gpt-4o"}, "context.model"), ({"base_url": "http://169.254.169.254/"}, "context.base_url"),
                           ({"tools": ["http_get"]}, "context.tools[0]"), ({"temperature": 5}, "context.temperature"),
                           ({"mood": "cheerful"}, "context.mood")]:
        with pytest.raises(UnprocessableEntityError) as refused:
            client.assistants.create("assistant", context=context)
        assert refused.value.response.json()["field"] == field
    with pytest.raises(UnprocessableEntityError):
        client.assistants.create("assistant", config={"configurable": {"api_key": "sk-stolen"}})
    with pytest.raises(NotFoundError):
        client.assistants.create("nobody")
    assert client.assistants.count(graph_id="assistant") == 1, "nothing was stored"


def test_an_override_takes_effect_in_every_dialect_and_stays_in_its_tenant(tenant, base_url):
    name, key, client = tenant
    clock = client.assistants.create("assistant", assistant_id=f"clock-{name}", context={"tools": ["current_time"]})["assistant_id"]

    # langgraph-sdk runs: the configured agent calls its calculator; the assistant, without it, cannot.
    thread = client.threads.create()["thread_id"]
    with_tools = client.runs.wait(thread, "assistant", input=user(ASK))
    assert "tool" in kinds(with_tools)
    thread = client.threads.create()["thread_id"]
    without = client.runs.wait(thread, clock, input=user(ASK))
    assert kinds(without) == ["human", "ai"] and without["messages"][-1]["content"] == f"You said: {ASK}"
    assert client.runs.list(thread)[0]["assistant_id"] == clock
    assert client.threads.get(thread)["metadata"]["assistant_id"] == clock
    streamed = [part.event for part in client.runs.stream(None, clock, input=user(ASK), stream_mode="updates")]
    assert streamed[0] == "metadata" and "updates" in streamed

    # OpenAI's client: the assistant is a model.
    verify = ssl.create_default_context(cafile=os.environ["AGENTFCGI_CA"])
    oa = openai.OpenAI(base_url=base_url + "/v1", api_key=key, max_retries=0, http_client=httpx.Client(verify=verify, timeout=60))
    assert clock in [m.id for m in oa.models.list()]
    answer = oa.chat.completions.create(model=clock, messages=[{"role": "user", "content": ASK}])
    assert answer.model == clock and answer.choices[0].message.content == f"You said: {ASK}"

    # MCP's client: the assistant is a tool.
    async def over_mcp():
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, verify=verify, timeout=60) as http:
            async with Client(streamable_http_client(base_url + "/mcp", http_client=http)) as mcp:
                tools = [t.name for t in (await mcp.list_tools()).tools]
                called = await mcp.call_tool(clock, {"message": ASK})
                return tools, called.content[0].text
    import anyio
    tools, text = anyio.run(over_mcp)
    assert clock in tools and text == f"You said: {ASK}"

    # Another tenant: not listed, not found, not runnable, not a model.
    other_key = make_key(f"other-{name}")
    other = get_sync_client(url=base_url, api_key=other_key, timeout=60)
    assert clock not in [a["assistant_id"] for a in other.assistants.search(limit=1000)]
    with pytest.raises(NotFoundError):
        other.assistants.get(clock)
    # runs.wait reports errors as httpx's (it reconnects), the other calls as the SDK's own.
    with pytest.raises(httpx.HTTPStatusError) as refused:
        other.runs.wait(None, clock, input=user("hi"))
    assert refused.value.response.status_code == 404 and refused.value.response.json()["code"] == "agent_not_found"
    with pytest.raises(NotFoundError):
        other.assistants.update(clock, name="mine now")
    other_oa = openai.OpenAI(base_url=base_url + "/v1", api_key=other_key, max_retries=0, http_client=httpx.Client(verify=verify, timeout=60))
    with pytest.raises(openai.NotFoundError):
        other_oa.chat.completions.create(model=clock, messages=[{"role": "user", "content": "hi"}])

    # A key without assistants:write reads them but cannot change them.
    reader = get_sync_client(url=base_url, api_key=make_key(name, "agents:read,runs:write"), timeout=60)
    assert reader.assistants.get(clock)["assistant_id"] == clock
    with pytest.raises(PermissionDeniedError):
        reader.assistants.create("echo")

    # delete_threads: the threads its runs stamped go with it.
    client.assistants.delete(clock, delete_threads=True)
    with pytest.raises(NotFoundError):
        client.threads.get(thread)
    with pytest.raises(httpx.HTTPStatusError) as gone:
        client.runs.wait(None, clock, input=user("hi"))
    assert gone.value.response.status_code == 404

"""The official LangGraph client (PyPI langgraph-sdk), unchanged, against the live service through nginx."""
import asyncio
import threading
import uuid

import httpx
import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.errors import ConflictError, NotFoundError, UnprocessableEntityError

LONG = " ".join(f"word{i}" for i in range(40))  # the echo agent streams it in about a second


def user(text):
    return {"messages": [{"role": "user", "content": text}]}


def test_thread_lifecycle(client):
    tag = uuid.uuid4().hex
    thread = client.threads.create(metadata={"suite": tag, "user": "ann"})
    assert thread["status"] == "idle"
    assert thread["metadata"] == {"suite": tag, "user": "ann"}
    assert thread["values"] == {"messages": []}
    with pytest.raises(ConflictError):
        client.threads.create(thread_id=thread["thread_id"])
    same = client.threads.create(thread_id=thread["thread_id"], if_exists="do_nothing")
    assert same["thread_id"] == thread["thread_id"]

    other = client.threads.create(metadata={"suite": tag, "user": "bob"})
    found = client.threads.search(metadata={"suite": tag, "user": "ann"})
    assert [t["thread_id"] for t in found] == [thread["thread_id"]]
    assert {t["thread_id"] for t in client.threads.search(metadata={"suite": tag})} == {thread["thread_id"], other["thread_id"]}

    updated = client.threads.update(thread["thread_id"], metadata={"stage": "two"})
    assert updated["metadata"] == {"suite": tag, "user": "ann", "stage": "two"}
    client.threads.delete(other["thread_id"])
    with pytest.raises(NotFoundError):
        client.threads.get(other["thread_id"])


def test_stream_wait_state_and_history(client):
    thread = client.threads.create()
    tid = thread["thread_id"]
    created = {}
    parts = list(client.runs.stream(
        tid, "assistant", input=user("what is 12*(3+4)?"), stream_mode=["values", "messages-tuple", "custom"],
        on_run_created=lambda meta: created.update(meta)))
    events = [p.event for p in parts]
    assert events[0] == "metadata" and events[-1] == "end"
    run_id = parts[0].data["run_id"]
    assert created == {"run_id": run_id, "thread_id": tid}
    # Ids are the log's sequence numbers: 1, 2, 3 ... with no gap.
    assert [int(p.id) for p in parts] == list(range(1, len(parts) + 1))
    tool_events = [p.data for p in parts if p.event == "custom" and p.data["type"] == "tool_call_finished"]
    assert tool_events and tool_events[0]["result"] == "84"
    final = [p.data for p in parts if p.event == "values"][-1]
    assert final["messages"][-1]["type"] == "ai" and "84" in final["messages"][-1]["content"]

    # A second run on the thread sees the first: the state grows.
    values = client.runs.wait(tid, "echo", input=user("remember this"))
    assert [m["type"] for m in values["messages"]] == ["human", "ai", "tool", "ai", "human", "ai"]
    assert values["messages"][-1]["content"] == "You said: remember this"

    state = client.threads.get_state(tid)
    assert state["values"] == values
    history = client.threads.get_history(tid)
    assert [len(s["values"]["messages"]) for s in history] == [6, 4]
    assert history[0]["parent_checkpoint"]["checkpoint_id"] == history[1]["checkpoint"]["checkpoint_id"]
    assert client.threads.get(tid)["status"] == "idle"

    runs = client.runs.list(tid)
    assert [r["status"] for r in runs] == ["success", "success"]
    assert runs[1]["run_id"] == run_id
    assert client.runs.get(tid, run_id)["assistant_id"] == "assistant"


def test_join_a_running_run_and_resume_its_stream(client, base_url):
    tid = client.threads.create()["thread_id"]
    stream = client.runs.stream(tid, "echo", input=user(LONG), stream_mode="messages-tuple")
    first = next(stream)
    assert first.event == "metadata"
    run_id = first.data["run_id"]
    # A second client joins while the run goes on, and gets the final state.
    joined = client.runs.join(tid, run_id)
    assert joined["messages"][-1]["content"] == "You said: " + LONG
    rest = list(stream)
    assert rest[-1].event == "end"

    # Replaying from an event id gives exactly the events after it.
    everything = list(client.runs.join_stream(tid, run_id))
    assert [int(p.id) for p in everything] == list(range(1, len(everything) + 1))
    resumed = list(client.runs.join_stream(tid, run_id, last_event_id="5"))
    assert [(p.event, p.data) for p in resumed] == [(p.event, p.data) for p in everything[5:]]
    tokens = "".join(p.data[0]["content"] for p in everything if p.event == "messages")
    assert tokens == "You said: " + LONG


def test_busy_thread_reject_and_enqueue(client):
    tid = client.threads.create()["thread_id"]
    stream = client.runs.stream(tid, "echo", input=user(LONG), stream_mode="values")
    run_id = next(stream).data["run_id"]
    with pytest.raises(httpx.HTTPStatusError) as rejected:
        client.runs.wait(tid, "echo", input=user("second"), multitask_strategy="reject")
    assert rejected.value.response.status_code == 409
    assert rejected.value.response.headers["x-should-retry"] == "false"
    assert client.threads.get(tid)["status"] == "busy"
    # enqueue: runs after the first, and sees its answer.
    values = client.runs.wait(tid, "echo", input=user("second"), multitask_strategy="enqueue")
    assert [m["content"] for m in values["messages"]] == [LONG, "You said: " + LONG, "second", "You said: second"]
    list(stream)
    assert client.runs.get(tid, run_id)["status"] == "success"


def test_interrupt_keeps_partial_output(client):
    tid = client.threads.create()["thread_id"]
    stream = client.runs.stream(tid, "echo", input=user(LONG), stream_mode="messages-tuple")
    run_id = next(stream).data["run_id"]
    next(stream)  # a token has been produced
    client.runs.cancel(tid, run_id, wait=True)
    run = client.runs.get(tid, run_id)
    assert run["status"] == "interrupted"
    rest = list(stream)
    assert rest[-1].event == "end"
    assert any(p.event == "error" and p.data["error"] == "run_interrupted" for p in rest)
    # Cancelled, not waiting for a decision: the thread is idle (a run paused for approval leaves it interrupted).
    assert client.threads.get(tid)["status"] == "idle"
    # The user's message is kept on the thread.
    assert client.threads.get_state(tid)["values"]["messages"][0]["content"] == LONG


def test_async_client_streams_too(async_client):
    async def go():
        thread = await async_client.threads.create()
        parts = [p async for p in async_client.runs.stream(thread["thread_id"], "echo", input=user("hello async"),
                                                            stream_mode="values")]
        return parts

    parts = asyncio.run(go())
    assert parts[-1].event == "end"
    assert parts[-2].data["messages"][-1]["content"] == "You said: hello async"


def test_a_run_from_an_earlier_checkpoint_replaces_what_followed(client):
    """Edit and resend from an earlier turn (Agent Chat UI's edit): the run starts from that checkpoint's state."""
    thread = client.threads.create()
    tid = thread["thread_id"]
    client.runs.wait(tid, "echo", input=user("first"))
    after_first = client.threads.get_state(tid)["checkpoint"]["checkpoint_id"]
    client.runs.wait(tid, "echo", input=user("second"))
    assert len(client.threads.get_state(tid)["values"]["messages"]) == 4
    client.runs.wait(tid, "echo", input=user("second, edited"), checkpoint_id=after_first)
    contents = [m["content"] for m in client.threads.get_state(tid)["values"]["messages"]]
    assert contents == ["first", "You said: first", "second, edited", "You said: second, edited"]
    # The branch replaced what followed: the history restarts at the state it went back to.
    history = client.threads.get_history(tid, limit=10)
    assert [len(state["values"]["messages"]) for state in history] == [4, 2]
    # The same through LangGraph's checkpoint object, on a background run.
    back = history[-1]["checkpoint"]["checkpoint_id"]
    run = client.runs.create(tid, "echo", input=user("third"), checkpoint={"thread_id": tid, "checkpoint_ns": "", "checkpoint_id": back})
    client.runs.join(tid, run["run_id"])
    assert [m["content"] for m in client.threads.get_state(tid)["values"]["messages"]][2:] == ["third", "You said: third"]
    # A checkpoint the thread never had is a 404, and nothing ran; a stateless run has no thread to go back on.
    with pytest.raises(httpx.HTTPStatusError) as lost:
        client.runs.wait(tid, "echo", input=user("lost"), checkpoint_id=str(uuid.uuid4()))
    assert lost.value.response.status_code == 404
    assert len(client.threads.get_state(tid)["values"]["messages"]) == 4
    with pytest.raises(httpx.HTTPStatusError) as stateless:
        client.runs.wait(None, "echo", input=user("x"), checkpoint_id=after_first)
    assert stateless.value.response.status_code == 422


def test_update_state_adds_replaces_and_removes_messages(client):
    """threads.update_state through add_messages: a known id replaces in place, remove removes, others append;
    other keys are state; a run then sees the updated thread."""
    tid = client.threads.create()["thread_id"]
    client.runs.wait(tid, "echo", input=user("hello"))
    first, answer = client.threads.get_state(tid)["values"]["messages"]
    updated = client.threads.update_state(tid, {"messages": [{"type": "human", "content": "hello, edited", "id": first["id"]},
                                                            {"type": "ai", "content": "added by hand"}], "mood": "calm"}, as_node="agent")
    state = client.threads.get_state(tid)
    assert state["checkpoint"]["checkpoint_id"] == updated["checkpoint"]["checkpoint_id"]
    assert [m["content"] for m in state["values"]["messages"]] == ["hello, edited", "You said: hello", "added by hand"]
    assert state["values"]["messages"][0]["id"] == first["id"] and state["values"]["mood"] == "calm"

    client.threads.update_state(tid, {"messages": [{"type": "remove", "id": answer["id"]}]})
    latest = client.threads.get_state(tid)
    assert [m["content"] for m in latest["values"]["messages"]] == ["hello, edited", "added by hand"]
    # Read back at that checkpoint, named by LangGraph's checkpoint object.
    at = client.threads.get_state(tid, checkpoint={"thread_id": tid, "checkpoint_ns": "", "checkpoint_id": latest["checkpoint"]["checkpoint_id"]})
    assert [m["content"] for m in at["values"]["messages"]] == ["hello, edited", "added by hand"]
    client.runs.wait(tid, "echo", input=user("next"))
    assert [m["content"] for m in client.threads.get_state(tid)["values"]["messages"]][-2:] == ["next", "You said: next"]

    # Refused, and nothing changed: an unknown message to remove, an unknown node, an update of an earlier checkpoint.
    before = client.threads.get_state(tid)["values"]["messages"]
    with pytest.raises(NotFoundError):
        client.threads.update_state(tid, {"messages": [{"type": "remove", "id": "no-such-message"}]})
    with pytest.raises(UnprocessableEntityError):
        client.threads.update_state(tid, {"mood": "x"}, as_node="nowhere")
    with pytest.raises(ConflictError):
        client.threads.update_state(tid, {"mood": "x"}, checkpoint={"thread_id": tid, "checkpoint_ns": "", "checkpoint_id": updated["checkpoint"]["checkpoint_id"]})
    after = client.threads.get_state(tid)
    assert after["values"]["messages"] == before and after["values"]["mood"] == "calm"


def test_remote_graph(base_url, api_key):
    """langgraph's RemoteGraph (PyPI langgraph) drives an agent as a graph: invoke, stream updates, read, update and
    list the state."""
    from langgraph.pregel.remote import RemoteGraph

    graph = RemoteGraph("echo", url=base_url, api_key=api_key)
    thread = get_sync_client(url=base_url, api_key=api_key).threads.create()
    config = {"configurable": {"thread_id": thread["thread_id"]}}
    result = graph.invoke({"messages": [{"role": "user", "content": "hi"}]}, config)
    assert [m["content"] for m in result["messages"]] == ["hi", "You said: hi"]
    updates = list(graph.stream({"messages": [{"role": "user", "content": "again"}]}, config, stream_mode="updates"))
    assert any(u.get("agent", {}).get("messages", [{}])[-1].get("content") == "You said: again" for u in updates), updates
    state = graph.get_state(config)
    assert len(state.values["messages"]) == 4 and state.next == ()
    updated = graph.update_state(config, {"messages": [{"type": "ai", "content": "by hand"}]}, as_node="agent")
    assert updated["configurable"]["checkpoint_id"] == graph.get_state(config).config["configurable"]["checkpoint_id"]
    history = list(graph.get_state_history(config))
    assert [len(h.values["messages"]) for h in history] == [5, 4, 2]
    assert history[0].parent_config["configurable"]["checkpoint_id"] == history[1].config["configurable"]["checkpoint_id"]


def test_assistant_count_graph_and_subgraphs(client):
    """assistants.count, get_graph and get_subgraphs for the configured agents."""
    everyone = client.assistants.search(limit=1000)
    assert client.assistants.count() == len(everyone) >= 2
    assert client.assistants.count(graph_id="assistant") == 1
    assert client.assistants.count(graph_id="nobody") == 0
    graph = client.assistants.get_graph("assistant")
    assert [n["id"] for n in graph["nodes"]] == ["__start__", "agent", "tools", "__end__"]
    tools = next(n for n in graph["nodes"] if n["id"] == "tools")["data"]["tools"]
    assert "calculator" in tools
    assert {"source": "tools", "target": "agent"} in graph["edges"]
    assert {"source": "agent", "target": "tools", "conditional": True} in graph["edges"]
    # echo has no tools: the model step goes straight to the end.
    assert [n["id"] for n in client.assistants.get_graph("echo", xray=True)["nodes"]] == ["__start__", "agent", "__end__"]
    assert client.assistants.get_subgraphs("assistant") == {}
    assert client.assistants.get_subgraphs("assistant", namespace="tools", recurse=True) == {}
    with pytest.raises(NotFoundError):
        client.assistants.get_graph("nobody")

"""langgraph-sdk's thread-centric stream (`client.threads.stream()`, `threads.join_stream`) and `runs.join_stream`
with `last_event_id="-1"`, unchanged, against the live service through nginx (two workers)."""
import json
import uuid

import httpx
import pytest


def user(text):
    return {"messages": [{"role": "user", "content": text}]}


def test_thread_stream_runs_an_agent(client):
    tid = str(uuid.uuid4())
    # An explicit id names a thread that does not exist yet: run.start creates it.
    with client.threads.stream(tid, assistant_id="assistant") as thread:
        started = thread.run.start(input=user("what is 12*(3+4)?"))
        assert started["run_id"]
        # Each projection follows the run to its end: one per run here (the SDK's own advice).
        texts = [str(message.text) for message in thread.messages]
        output = thread.output
    assert texts == ["", "calculator returned 84."], texts
    assert [m["type"] for m in output["messages"]] == ["human", "ai", "tool", "ai"]
    assert "84" in output["messages"][-1]["content"]
    # The thread is LangGraph's: stamped with the assistant, found by Agent Chat UI's search.
    found = client.threads.search(metadata={"graph_id": "assistant"}, limit=1000)
    assert tid in [t["thread_id"] for t in found]
    assert client.threads.get(tid)["metadata"] == {"graph_id": "assistant", "assistant_id": "assistant"}


def test_thread_stream_tool_calls(client):
    with client.threads.stream(assistant_id="assistant") as thread:
        thread.run.start(input=user("what is 6*7?"))
        calls = list(thread.tool_calls)
        assert [c.name for c in calls] == ["calculator"]
        assert calls[0].input == {"expression": "6*7"}
        assert calls[0].output["content"] == "42" and calls[0].output["status"] == "success"
        assert "42" in thread.output["messages"][-1]["content"]


def test_thread_stream_values_follow_the_runs(client):
    with client.threads.stream(assistant_id="echo") as thread:
        thread.run.start(input=user("first"))
        snapshots = list(thread.values)
        # The state as the run starts (input in), then as it ends.
        assert [[m["content"] for m in snap["messages"]] for snap in snapshots][-2:] == [["first"], ["first", "You said: first"]]
        assert [m["content"] for m in snapshots[-1]["messages"]] == ["first", "You said: first"]
        assert snapshots[-1] == thread.output


def raw_events(base_url, api_key, tid, body, stop):
    """The stream's events as sent (envelopes), until `stop(event)` says enough."""
    seen = []
    headers = {"x-api-key": api_key, "accept": "text/event-stream"}
    with httpx.Client(base_url=base_url, timeout=30) as http:
        with http.stream("POST", f"/threads/{tid}/stream/events", json=body, headers=headers) as response:
            assert response.status_code == 200, response.read()
            for line in response.iter_lines():
                if line.startswith("data: "):
                    event = json.loads(line[6:])
                    seen.append(event)
                    if stop(event):
                        break
    return seen


def terminal(event):
    return event["method"] == "lifecycle" and event["params"]["data"]["event"] in ("completed", "failed")


def test_resume_by_since_has_no_gap_and_no_repeat(client, base_url, api_key):
    thread = client.threads.create()
    tid = thread["thread_id"]
    client.runs.wait(tid, "echo", input=user(" ".join(f"w{i}" for i in range(12))))
    everything = ["lifecycle", "messages", "values", "updates", "tools", "tasks", "checkpoints"]
    full = raw_events(base_url, api_key, tid, {"channels": everything, "since": 0}, terminal)
    assert full[0]["params"]["data"] == {"event": "running", "graph_name": "echo"}
    assert terminal(full[-1])
    methods = [e["method"] for e in full]
    assert {"messages", "values", "updates", "tasks", "checkpoints"} <= set(methods)
    checkpoints = [e["params"]["data"] for e in full if e["method"] == "checkpoints"]
    assert [c["source"] for c in checkpoints][:2] == ["input", "loop"] and checkpoints[0]["step"] == -1
    assert all(c["parent_id"] == p["id"] for p, c in zip(checkpoints, checkpoints[1:]))
    tasks = [e["params"]["data"] for e in full if e["method"] == "tasks"]
    assert tasks[0]["name"] == "agent" and "result" in tasks[-1] and tasks[-1]["id"] == tasks[0]["id"]
    seqs = [e["seq"] for e in full]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # A client that dropped after the fifth event asks from there: the rest, exactly.
    cut = full[4]["seq"]
    rest = raw_events(base_url, api_key, tid, {"channels": everything, "since": cut}, terminal)
    assert [e["event_id"] for e in full[5:]] == [e["event_id"] for e in rest]
    assert full[5:] == [dict(e, params=dict(e["params"], timestamp=f["params"]["timestamp"])) for e, f in zip(rest, full[5:])]
    # Channels filter; the numbers stay those of the whole stream.
    only = raw_events(base_url, api_key, tid, {"channels": ["lifecycle"], "since": 0}, terminal)
    assert [e["seq"] for e in only] == [e["seq"] for e in full if e["method"] == "lifecycle"]
    # A second run's events come after the first's.
    client.runs.wait(tid, "echo", input=user("again"))
    second = raw_events(base_url, api_key, tid, {"channels": ["lifecycle"], "since": full[-1]["seq"]}, terminal)
    assert second[0]["seq"] > full[-1]["seq"] and terminal(second[-1])


def test_bad_subscriptions_and_commands(base_url, api_key):
    headers = {"x-api-key": api_key}
    with httpx.Client(base_url=base_url, timeout=30) as http:
        tid = http.post("/threads", json={}, headers=headers).json()["thread_id"]
        bad = http.post(f"/threads/{tid}/stream/events", json={"channels": ["nope"]}, headers=headers)
        assert bad.status_code == 422 and bad.json()["field"] == "channels"
        missing = http.post(f"/threads/{uuid.uuid4()}/stream/events", json={"channels": ["values"]}, headers=headers)
        assert missing.status_code == 404
        ws = http.get(f"/threads/{tid}/stream/events", headers=headers)
        assert ws.status_code == 400 and ws.json()["code"] == "websocket_not_supported"
        unknown = http.post(f"/threads/{tid}/commands", json={"id": 7, "method": "run.fly", "params": {}}, headers=headers)
        assert unknown.status_code == 200
        assert unknown.json() == {"type": "error", "id": 7, "error": "unknown_command",
                                  "message": "Unknown method 'run.fly'; expected run.start or input.respond."}
        no_agent = http.post(f"/threads/{tid}/commands", json={"id": 8, "method": "run.start", "params": {"assistant_id": "nobody",
                                                                                                        "input": user("x")}}, headers=headers)
        assert no_agent.json()["type"] == "error" and no_agent.json()["id"] == 8 and "nobody" in no_agent.json()["message"]
        garbage = http.post(f"/threads/{tid}/commands", content=b'{"id": "x"}', headers=headers | {"content-type": "application/json"})
        assert garbage.status_code == 400 and garbage.json()["type"] == "error" and garbage.json()["id"] is None


def test_join_streams_replay_from_the_start(client):
    thread = client.threads.create()
    tid = thread["thread_id"]
    run = client.runs.create(tid, "echo", input=user("hello there"))
    client.runs.join(tid, run["run_id"])
    # runs.join_stream(last_event_id="-1") replays the run from its first event.
    parts = list(client.runs.join_stream(tid, run["run_id"], last_event_id="-1"))
    assert parts[0].event == "metadata" and parts[0].data["run_id"] == run["run_id"]
    assert parts[-1].event == "end"
    # threads.join_stream(-1): every run of the thread, each ended by run_done; the stream stays open.
    seen = []
    for part in client.threads.join_stream(tid, last_event_id="-1", stream_mode=["run_modes", "lifecycle"]):
        seen.append(part)
        if part.event == "metadata" and part.data.get("status") == "run_done":
            break
    assert seen[0].event == "metadata" and seen[0].data["run_id"] == run["run_id"]
    assert seen[-1].data == {"status": "run_done", "run_id": run["run_id"]}
    assert all(p.id for p in seen)
    lifecycle = []
    for part in client.threads.join_stream(tid, last_event_id="-1", stream_mode="lifecycle"):
        lifecycle.append(part)
        if part.data.get("status") == "run_done":
            break
    assert [p.event for p in lifecycle] == ["metadata", "metadata"]
    # Resuming after the first frame gives the rest with the same ids.
    rest = []
    for part in client.threads.join_stream(tid, last_event_id=seen[0].id, stream_mode="run_modes"):
        rest.append(part)
        if part.data == {"status": "run_done", "run_id": run["run_id"]}:
            break
    assert [p.id for p in rest] == [p.id for p in seen[1:]]
    with pytest.raises(httpx.HTTPStatusError):
        list(client.threads.join_stream(tid, stream_mode="everything"))

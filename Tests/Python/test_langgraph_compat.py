"""What LangGraph's UIs send that used to be refused: open state beside the messages (CopilotKit), images in
messages, `command`, the new stream modes, and Agent Chat UI's request sequence; with langgraph-sdk, through nginx."""
import base64
import uuid

import httpx
import pytest

# A 1x1 transparent PNG.
PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")).decode()


def user(text, **state):
    return {"messages": [{"role": "user", "content": text}], **state}


def test_open_state_is_kept_on_the_thread(client):
    tid = client.threads.create()["thread_id"]
    copilot = {"actions": [{"name": "setTheme", "parameters": []}], "context": "dashboard"}
    values = client.runs.wait(tid, "echo", input=user("hello", copilotkit=copilot, counter=3))
    assert values["copilotkit"] == copilot and values["counter"] == 3
    assert [m["content"] for m in values["messages"]] == ["hello", "You said: hello"]
    state = client.threads.get_state(tid)
    assert state["values"]["copilotkit"] == copilot and state["values"]["counter"] == 3
    assert client.threads.get(tid)["values"]["counter"] == 3
    history = client.threads.get_history(tid)
    assert history and all(h["values"]["counter"] == 3 for h in history)
    # A later run replaces the keys it names and keeps the others.
    parts = list(client.runs.stream(tid, "echo", input=user("again", counter=4), stream_mode=["values", "updates", "events"]))
    values_frames = [p.data for p in parts if p.event == "values"]
    assert values_frames[0]["counter"] == 4 and values_frames[0]["copilotkit"] == copilot
    assert values_frames[-1]["counter"] == 4 and values_frames[-1]["messages"][-1]["content"] == "You said: again"
    assert any(p.event == "updates" for p in parts)
    kinds = [p.data["event"] for p in parts if p.event == "events"]
    assert kinds[0] == "on_chain_start" and "on_chat_model_stream" in kinds and kinds[-1] == "on_chain_end"
    assert client.threads.get_state(tid)["values"]["counter"] == 4
    # A stateless run shows its state keys back too.
    assert client.runs.wait(None, "echo", input=user("hi", mode="dark"))["mode"] == "dark"


def test_open_state_limits(client):
    tid = client.threads.create()["thread_id"]
    with pytest.raises(httpx.HTTPStatusError) as reserved:
        client.runs.wait(tid, "echo", input=user("x", __interrupt__=1))
    assert reserved.value.response.status_code == 422
    with pytest.raises(httpx.HTTPStatusError) as big:
        client.runs.wait(tid, "echo", input=user("x", blob="y" * 70_000))
    assert big.value.response.status_code == 413
    assert big.value.response.json()["code"] == "thread_state_too_large"
    # Across runs the thread's whole state is bounded: the run that would pass it is refused, nothing changes.
    client.runs.wait(tid, "echo", input=user("x", a="y" * 40_000))
    with pytest.raises(httpx.HTTPStatusError) as over:
        client.runs.wait(tid, "echo", input=user("x", b="y" * 40_000))
    assert over.value.response.status_code == 413
    state = client.threads.get_state(tid)["values"]
    assert "b" not in state and len(state["a"]) == 40_000
    assert [m["content"] for m in state["messages"]] == ["x", "You said: x"]


def test_images_in_messages(client):
    tid = client.threads.create()["thread_id"]
    content = [{"type": "text", "text": "what is this?"},
               {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "low"}},
               {"type": "image", "base64": PNG, "mime_type": "image/png"},
               {"type": "image", "url": "https://example.com/cat.png"}]
    values = client.runs.wait(tid, "echo", input={"messages": [{"role": "user", "content": content}]})
    assert values["messages"][-1]["content"] == \
        "You said: what is this? (3 images ignored: the built-in model does not look at images)"
    stored = client.threads.get_state(tid)["values"]["messages"][0]["content"]
    assert stored[0] == {"type": "text", "text": "what is this?"}
    assert [b["image_url"]["url"][:22] for b in stored[1:]] == ["data:image/png;base64,"] * 2 + ["https://example.com/ca"]


@pytest.mark.parametrize("part, field", [
    ({"type": "image_url", "image_url": {"url": "data:text/html;base64,PGI+"}}, "data:"),
    ({"type": "image_url", "image_url": {"url": "http://127.0.0.1/admin.png"}}, "internal"),
    ({"type": "image", "base64": PNG}, "mime_type"),
    ({"type": "file", "file": {"file_id": "file-abc"}}, "keeps none"),
    ({"type": "file", "url": "https://example.com/a.pdf"}, "fetches no URLs"),
    ({"type": "file", "file": {"file_data": "data:application/x-msdownload;base64,TVo="}}, "a file must be a data: URL"),
    ({"type": "audio", "data": "AAAA"}, "not supported"),
])
def test_bad_content_parts_are_clear(client, part, field):
    with pytest.raises(httpx.HTTPStatusError) as error:
        client.runs.wait(None, "echo", input={"messages": [{"role": "user", "content": [part]}]})
    assert error.value.response.status_code == 422
    assert field in error.value.response.json()["detail"]


def test_files_in_messages(client):
    tid = client.threads.create()["thread_id"]
    pdf = base64.b64encode(b"%PDF-1.4 a tiny document").decode()
    content = [{"type": "text", "text": "summarize"},
               {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{pdf}", "filename": "notes.pdf"}},
               {"type": "file", "base64": pdf, "mime_type": "application/pdf", "filename": "more.pdf"},
               {"type": "image_url", "image_url": f"data:image/png;base64,{PNG}"}]
    values = client.runs.wait(tid, "echo", input={"messages": [{"role": "user", "content": content}]})
    assert values["messages"][-1]["content"] == \
        "You said: summarize (1 image and 2 files ignored: the built-in model does not look at attachments)"
    stored = client.threads.get_state(tid)["values"]["messages"][0]["content"]
    # Kept as LangChain's blocks in OpenAI's shape, which langchain-openai sends on as they are.
    assert [b["type"] for b in stored] == ["text", "file", "file", "image_url"]
    assert stored[1]["file"] == {"file_data": f"data:application/pdf;base64,{pdf}", "filename": "notes.pdf"}
    assert stored[2]["file"]["filename"] == "more.pdf"


def test_a_large_image_fits_the_raised_body_limit(base_url, api_key):
    # 6 MiB of base64: over the 1 MiB of other routes, within the 20 MiB of the run routes.
    big = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * (4_500_000)).decode()
    body = {"assistant_id": "echo", "input": {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "big"}, {"type": "image_url", "image_url": f"data:image/png;base64,{big}"}]}]}}
    with httpx.Client(base_url=base_url, timeout=60) as http:
        answer = http.post("/runs/wait", json=body, headers={"x-api-key": api_key})
        assert answer.status_code == 200, answer.text[:300]
        assert "1 image ignored" in answer.json()["messages"][-1]["content"]
        # A thread's state is elsewhere: still 1 MiB.
        tid = http.post("/threads", json={}, headers={"x-api-key": api_key}).json()["thread_id"]
        too_big = http.post(f"/threads/{tid}/state", json={"values": {"x": "y" * 2_000_000}}, headers={"x-api-key": api_key})
        assert too_big.status_code == 413


def test_command_is_refused_not_ignored(client):
    tid = client.threads.create()["thread_id"]
    # A command answers an approval (test_approvals.py); beside input, or one this server has no use for, it is refused.
    with pytest.raises(httpx.HTTPStatusError) as error:
        client.runs.wait(tid, "echo", input=user("x"), command={"resume": "yes"})
    assert error.value.response.status_code == 422
    assert error.value.response.json()["field"] == "command"
    with pytest.raises(httpx.HTTPStatusError) as error:
        client.runs.wait(tid, "echo", command={"goto": "agent"})
    assert error.value.response.status_code == 422
    assert error.value.response.json()["field"] == "command.goto"
    # stream_subgraphs is accepted (there are no subgraphs to stream).
    parts = list(client.runs.stream(tid, "echo", input=user("y"), stream_mode="values", stream_subgraphs=True))
    assert parts[-1].event == "end"


def test_agent_chat_ui_sequence(client):
    """Agent Chat UI: a run streamed on a new thread, the thread list by graph_id, then history and a values stream."""
    tag = uuid.uuid4().hex
    thread = client.threads.create(metadata={"tag": tag})
    tid = thread["thread_id"]
    parts = list(client.runs.stream(tid, "assistant", input=user("what is 12*(3+4)?"), stream_mode=["values", "messages-tuple"],
                                    stream_resumable=True, on_disconnect="continue"))
    assert parts[-1].event == "end"
    listed = client.threads.search(metadata={"graph_id": "assistant", "tag": tag}, limit=10)
    assert [t["thread_id"] for t in listed] == [tid]
    assert listed[0]["metadata"]["assistant_id"] == "assistant"
    history = client.threads.get_history(tid, limit=10)
    assert history[0]["values"]["messages"][-1]["content"] == "calculator returned 84."
    run_id = parts[0].data["run_id"]
    replay = list(client.runs.join_stream(tid, run_id, stream_mode="values", last_event_id="-1"))
    assert [p.event for p in replay][-1] == "end"
    assert replay[-2].data == history[0]["values"] | {"usage": replay[-2].data["usage"]}

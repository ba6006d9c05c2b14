"""langgraph-sdk's calls over many threads and runs, unchanged, through nginx: threads.count, threads.copy,
threads.prune (both strategies), runs.create_batch and runs.cancel_many; each within the caller's tenant."""
import os
import subprocess
import time
import uuid

import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.errors import NotFoundError, UnprocessableEntityError

LONG = " ".join(f"word{i}" for i in range(60))  # echo-slow takes about 9 s over it: time to cancel


def user(text):
    return {"messages": [{"role": "user", "content": text}]}


def tenant_client(base_url, tenant):
    key = subprocess.run([os.environ["AGENTFCGI_BIN"], "keys", "create", "--database", os.environ["AGENTFCGI_DATABASE"],
                          "--name", "bulk-test", "--tenant", tenant, "--scopes", "threads:read,threads:write,runs:read,runs:write",
                          "--quiet"], check=True, capture_output=True, text=True).stdout.strip()
    return get_sync_client(url=base_url, api_key=key, timeout=60)


def wait_for(predicate, what, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def test_count_copy_and_prune(client, base_url):
    tag = uuid.uuid4().hex
    first = client.threads.create(metadata={"suite": tag, "kind": "a"})
    second = client.threads.create(metadata={"suite": tag, "kind": "b"})
    assert client.threads.count(metadata={"suite": tag}) == 2
    assert client.threads.count(metadata={"suite": tag, "kind": "a"}) == 1
    assert client.threads.count(metadata={"suite": tag}, status="busy") == 0
    # Another tenant counts none of them.
    other = tenant_client(base_url, f"bulk-{tag[:8]}")
    assert other.threads.count(metadata={"suite": tag}) == 0

    client.runs.wait(first["thread_id"], "echo", input=user("one"))
    client.runs.wait(first["thread_id"], "echo", input={**user("two"), "topic": "cats"})
    copied = client.threads.copy(first["thread_id"])
    # State keys beside the messages come along.
    assert client.threads.get_state(copied["thread_id"])["values"]["topic"] == "cats"
    assert copied["thread_id"] != first["thread_id"]
    assert copied["metadata"]["suite"] == tag
    original = [m["content"] for m in client.threads.get_state(first["thread_id"])["values"]["messages"]]
    assert [m["content"] for m in client.threads.get_state(copied["thread_id"])["values"]["messages"]] == original
    assert len(original) == 4
    # The copy goes on by itself: the source does not change.
    client.runs.wait(copied["thread_id"], "echo", input=user("three"))
    assert len(client.threads.get_state(first["thread_id"])["values"]["messages"]) == 4
    with pytest.raises(NotFoundError):
        other.threads.copy(first["thread_id"])

    # keep_latest: the thread and its state stay, its history is one checkpoint.
    assert len(client.threads.get_history(first["thread_id"], limit=10)) >= 2
    assert client.threads.prune([first["thread_id"]], strategy="keep_latest") == {"pruned_count": 1}
    history = client.threads.get_history(first["thread_id"], limit=10)
    assert len(history) == 1 and history[0].get("parent_checkpoint") is None
    assert [m["content"] for m in client.threads.get_state(first["thread_id"])["values"]["messages"]] == original

    # delete: gone with its runs; unknown ids and another tenant's are not counted.
    assert other.threads.prune([second["thread_id"]]) == {"pruned_count": 0}
    assert client.threads.prune([second["thread_id"], copied["thread_id"], str(uuid.uuid4())]) == {"pruned_count": 2}
    for gone in (second, copied):
        with pytest.raises(NotFoundError):
            client.threads.get(gone["thread_id"])
    assert client.threads.count(metadata={"suite": tag}) == 1
    with pytest.raises(UnprocessableEntityError):
        client.threads.prune([first["thread_id"]], strategy="everything")


def test_create_batch_then_cancel_many(client, base_url):
    tag = uuid.uuid4().hex
    runs = client.runs.create_batch([
        {"assistant_id": "echo", "input": user("batch one"), "metadata": {"suite": tag}},
        {"assistant_id": "echo-slow", "input": user(LONG), "metadata": {"suite": tag}},
        {"assistant_id": "echo-slow", "input": user(LONG), "metadata": {"suite": tag}},
    ])
    assert len(runs) == 3 and len({r["thread_id"] for r in runs}) == 3
    assert all(r["metadata"]["suite"] == tag for r in runs)
    quick, slow, slower = runs
    client.runs.join(quick["thread_id"], quick["run_id"])
    assert client.runs.get(quick["thread_id"], quick["run_id"])["status"] == "success"

    # One bad body refuses the whole batch: nothing is queued.
    before = client.threads.count()
    with pytest.raises(UnprocessableEntityError) as refused:
        client.runs.create_batch([{"assistant_id": "echo", "input": user("fine")}, {"assistant_id": "echo", "input": user("x"), "multitask_strategy": "sideways"}])
    assert "[1]" in str(refused.value.body)
    assert client.threads.count() == before

    # By ids on a thread: that run stops, the other goes on.
    wait_for(lambda: client.runs.get(slow["thread_id"], slow["run_id"])["status"] == "running", "the slow run to start")
    client.runs.cancel_many(thread_id=slow["thread_id"], run_ids=[slow["run_id"]])
    wait_for(lambda: client.runs.get(slow["thread_id"], slow["run_id"])["status"] == "interrupted", "the cancel by id")
    assert client.runs.get(slower["thread_id"], slower["run_id"])["status"] in ("pending", "running")

    # Another tenant's cancel by status reaches none of ours; ours by status reaches the rest.
    other = tenant_client(base_url, f"bulk-{tag[:8]}")
    other.runs.cancel_many(status="all")
    time.sleep(0.5)
    assert client.runs.get(slower["thread_id"], slower["run_id"])["status"] in ("pending", "running")
    client.runs.cancel_many(status="all")
    wait_for(lambda: client.runs.get(slower["thread_id"], slower["run_id"])["status"] == "interrupted", "the cancel by status")
    with pytest.raises(UnprocessableEntityError):
        client.runs.cancel_many(status="all", thread_id=slow["thread_id"])
    with pytest.raises(NotFoundError):
        other.runs.cancel_many(thread_id=slow["thread_id"], run_ids=[slow["run_id"]])

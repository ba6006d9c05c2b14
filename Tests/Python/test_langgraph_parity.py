"""Parity with langgraph-sdk 0.4.14: every public method of its assistants, threads and runs clients, with the test
that calls it through nginx, or why it is not served yet. A method the SDK gains, or a test that stops calling its
method, fails here."""
import inspect
import pathlib
import re

import pytest
from langgraph_sdk.client import SyncAssistantsClient, SyncRunsClient, SyncThreadsClient
from langgraph_sdk.errors import NotFoundError

HERE = pathlib.Path(__file__).parent
ASSISTANTS = "test_langgraph_assistants.py::test_create_update_versions_and_delete"

PARITY = {
    "assistants.count": "test_langgraph_sdk.py::test_assistant_count_graph_and_subgraphs",
    "assistants.create": ASSISTANTS,
    "assistants.delete": ASSISTANTS,
    "assistants.get": "test_langgraph_parity.py::test_assistant_get_schemas_and_run_delete",
    "assistants.get_graph": "test_langgraph_sdk.py::test_assistant_count_graph_and_subgraphs",
    "assistants.get_schemas": "test_langgraph_parity.py::test_assistant_get_schemas_and_run_delete",
    "assistants.get_subgraphs": "test_langgraph_sdk.py::test_assistant_count_graph_and_subgraphs",
    "assistants.get_versions": ASSISTANTS,
    "assistants.search": "test_langgraph_sdk.py::test_assistant_count_graph_and_subgraphs",
    "assistants.set_latest": ASSISTANTS,
    "assistants.update": ASSISTANTS,
    "threads.copy": "test_langgraph_bulk.py::test_count_copy_and_prune",
    "threads.count": "test_langgraph_bulk.py::test_count_copy_and_prune",
    "threads.create": "test_langgraph_sdk.py::test_thread_lifecycle",
    "threads.delete": "test_langgraph_sdk.py::test_thread_lifecycle",
    "threads.get": "test_langgraph_sdk.py::test_thread_lifecycle",
    "threads.get_history": "test_langgraph_bulk.py::test_count_copy_and_prune",
    "threads.get_state": "test_langgraph_sdk.py::test_update_state_adds_replaces_and_removes_messages",
    "threads.join_stream": "test_thread_stream.py::test_join_streams_replay_from_the_start",
    "threads.prune": "test_langgraph_bulk.py::test_count_copy_and_prune",
    "threads.search": "test_langgraph_sdk.py::test_thread_lifecycle",
    "threads.stream": "test_thread_stream.py::test_thread_stream_runs_an_agent",
    "threads.update": "test_langgraph_sdk.py::test_thread_lifecycle",
    "threads.update_state": "test_langgraph_sdk.py::test_update_state_adds_replaces_and_removes_messages",
    "runs.cancel": "test_langgraph_sdk.py::test_interrupt_keeps_partial_output",
    "runs.cancel_many": "test_langgraph_bulk.py::test_create_batch_then_cancel_many",
    "runs.create": "test_langgraph_sdk.py::test_a_run_from_an_earlier_checkpoint_replaces_what_followed",
    "runs.create_batch": "test_langgraph_bulk.py::test_create_batch_then_cancel_many",
    "runs.delete": "test_langgraph_parity.py::test_assistant_get_schemas_and_run_delete",
    "runs.get": "test_langgraph_bulk.py::test_create_batch_then_cancel_many",
    "runs.join": "test_langgraph_bulk.py::test_create_batch_then_cancel_many",
    "runs.join_stream": "test_langgraph_sdk.py::test_join_a_running_run_and_resume_its_stream",
    "runs.list": "test_langgraph_sdk.py::test_stream_wait_state_and_history",
    "runs.stream": "test_langgraph_sdk.py::test_stream_wait_state_and_history",
    "runs.wait": "test_langgraph_sdk.py::test_stream_wait_state_and_history",
}


def public_methods():
    return {f"{prefix}.{name}" for prefix, cls in (("assistants", SyncAssistantsClient), ("threads", SyncThreadsClient),
                                                   ("runs", SyncRunsClient))
            for name, _ in inspect.getmembers(cls, inspect.isfunction) if not name.startswith("_")}


def test_the_table_names_every_method_of_the_sdk():
    assert set(PARITY) == public_methods()
    assert all(PARITY.values()), "every method is served"


@pytest.mark.parametrize("method", sorted(m for m, test in PARITY.items() if test))
def test_each_served_method_is_called_by_its_test(method):
    file, name = PARITY[method].split("::")
    source = (HERE / file).read_text()
    found = re.search(rf"^def {name}\(.*?(?=^def |\Z)", source, re.S | re.M)
    assert found, f"{file} has no {name}"
    group, call = method.split(".")
    assert re.search(rf"\.{group}\.{call}\(", found.group(0)), f"{name} does not call {method}"


def test_assistant_get_schemas_and_run_delete(client):
    """The calls no other test makes: an assistant and its schemas, and deleting a finished run."""
    assistant = client.assistants.get("echo")
    assert assistant["assistant_id"] == assistant["graph_id"] == "echo"
    schemas = client.assistants.get_schemas("echo")
    assert schemas["graph_id"] == "echo" and "messages" in schemas["input_schema"]["properties"]
    with pytest.raises(NotFoundError):
        client.assistants.get("nobody")
    thread = client.threads.create()
    run = client.runs.create(thread["thread_id"], "echo", input={"messages": [{"role": "user", "content": "bye"}]})
    client.runs.join(thread["thread_id"], run["run_id"])
    client.runs.delete(thread["thread_id"], run["run_id"])
    with pytest.raises(NotFoundError):
        client.runs.get(thread["thread_id"], run["run_id"])

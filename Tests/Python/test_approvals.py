"""Tool calls a person approves first (the `careful` agent of agents.yaml: calculator waits for a decision), through
langgraph-sdk and LangGraph's own RemoteGraph, unchanged, against the live service: the pause in the stream, the state
and the thread; approve, edit and reject with command.resume; answers that do not fit; one answer wins."""
import concurrent.futures
import uuid

import httpx
import pytest
from langgraph.pregel.remote import RemoteGraph
from langgraph.types import Command

ASK = {"messages": [{"role": "user", "content": "what is 12*(3+4)?"}]}


def refused(status, call):
    """langgraph-sdk's runs.wait raises httpx's own error for a 4xx: its status is the answer."""
    with pytest.raises(httpx.HTTPStatusError) as error:
        call()
    assert error.value.response.status_code == status, error.value.response.text
    return error.value.response.json()


def tool_messages(values):
    return [m for m in values["messages"] if m["type"] == "tool"]


def pause(client):
    """A new thread whose run waits for a decision on calculator {"expression": "12*(3+4)"}."""
    thread = client.threads.create()["thread_id"]
    values = client.runs.wait(thread, "careful", input=ASK)
    return thread, values


def test_the_stream_shows_the_pause_and_the_state_keeps_it(client):
    thread = client.threads.create()["thread_id"]
    parts = list(client.runs.stream(thread, "careful", input=ASK, stream_mode=["values", "updates"]))
    assert parts[-1].event == "end"
    interrupts = [p.data["__interrupt__"] for p in parts if p.event in ("values", "updates") and "__interrupt__" in p.data]
    assert len(interrupts) == 2, [p.event for p in parts]  # one values chunk, one updates chunk
    interrupt = interrupts[0][0]
    request = interrupt["value"]["action_requests"]
    assert request == [{"name": "calculator", "args": {"expression": "12*(3+4)"}, "description": request[0]["description"]}]
    assert interrupt["value"]["review_configs"] == [{"action_name": "calculator", "allowed_decisions": ["approve", "edit", "reject"]}]
    # The state it paused in came first: the request, no result.
    values = [p.data for p in parts if p.event == "values" and "messages" in p.data][-1]
    assert values["messages"][-1]["tool_calls"][0]["name"] == "calculator"
    assert not tool_messages(values)

    state = client.threads.get_state(thread)
    assert state["next"] == ["tools"]
    assert state["interrupts"] == [interrupt]
    assert state["tasks"][0]["name"] == "tools" and state["tasks"][0]["interrupts"] == [interrupt]
    got = client.threads.get(thread)
    assert got["status"] == "interrupted"
    assert list(got["interrupts"].values()) == [[interrupt]]
    run = client.runs.list(thread)[0]
    assert run["status"] == "interrupted"
    # New input waits until the approval is answered.
    problem = refused(409, lambda: client.runs.wait(thread, "careful", input={"messages": [{"role": "user", "content": "hello"}]}))
    assert problem["code"] == "approval_pending"


def test_approve_edit_and_reject_each_have_their_effect(client):
    thread, _ = pause(client)
    approved = client.runs.wait(thread, "careful", command={"resume": {"decisions": [{"type": "approve"}]}})
    assert [m["content"] for m in tool_messages(approved)] == ["84"]
    assert "84" in approved["messages"][-1]["content"]
    assert client.threads.get(thread)["status"] == "idle"
    assert client.threads.get_state(thread)["next"] == []

    thread, _ = pause(client)
    edited = client.runs.wait(thread, "careful", command={"resume": {"decisions": [
        {"type": "edit", "edited_action": {"name": "calculator", "args": {"expression": "2+2"}}}]}})
    assert [m["content"] for m in tool_messages(edited)] == ["4"]

    thread, _ = pause(client)
    rejected = client.runs.wait(thread, "careful", command={"resume": {"decisions": [{"type": "reject", "message": "use mental arithmetic"}]}})
    results = tool_messages(rejected)
    assert len(results) == 1 and "rejected" in results[0]["content"] and "use mental arithmetic" in results[0]["content"]
    assert "84" not in rejected["messages"][-1]["content"]


def test_answers_that_do_not_fit_are_refused_and_the_approval_still_waits(client):
    thread, values = pause(client)
    interrupt_id = values["__interrupt__"][0]["id"]
    for command in [
        {"resume": {"decisions": [{"type": "approve"}, {"type": "approve"}]}},
        {"resume": {"decisions": [{"type": "edit", "edited_action": {"name": "calculator", "args": {"expression": 12}}}]}},
        {"resume": {"decisions": [{"type": "maybe"}]}},
        {"goto": "tools"},
    ]:
        refused(422, lambda: client.runs.wait(thread, "careful", command=command))
    refused(409, lambda: client.runs.wait(thread, "careful", command={"resume": {str(uuid.uuid4()): {"decisions": [{"type": "approve"}]}}}))
    assert client.threads.get_state(thread)["next"] == ["tools"]
    # The interrupt's own id names it too.
    done = client.runs.wait(thread, "careful", command={"resume": {interrupt_id: {"decisions": [{"type": "approve"}]}}})
    assert [m["content"] for m in tool_messages(done)] == ["84"]
    problem = refused(409, lambda: client.runs.wait(thread, "careful", command={"resume": {"decisions": [{"type": "approve"}]}}))
    assert problem["code"] == "nothing_to_resume"


def test_racing_answers_through_the_workers_make_one_run(client, base_url, api_key):
    thread, _ = pause(client)
    body = {"assistant_id": "careful", "command": {"resume": {"decisions": [{"type": "approve"}]}}}

    def answer(_):
        # A connection each, so nginx spreads them over the workers.
        with httpx.Client(base_url=base_url, headers={"X-Api-Key": api_key}, timeout=30) as http:
            return http.post(f"/threads/{thread}/runs", json=body).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(answer, range(6)))
    assert statuses == [200] + [409] * 5
    client.runs.join(thread, client.runs.list(thread)[0]["run_id"])
    values = client.threads.get_state(thread)["values"]
    assert [m["content"] for m in tool_messages(values)] == ["84"]


def test_remote_graph_raises_the_interrupt_and_resumes_with_a_command(base_url, api_key):
    graph = RemoteGraph("careful", url=base_url, api_key=api_key)
    thread = {"configurable": {"thread_id": str(uuid.uuid4())}}
    # RemoteGraph creates the thread itself (if_not_exists) only for stream; make it first, as apps do.
    from langgraph_sdk import get_sync_client
    get_sync_client(url=base_url, api_key=api_key).threads.create(thread_id=thread["configurable"]["thread_id"])
    first = graph.invoke(ASK, config=thread)
    # RemoteGraph's invoke passes the server's interrupt on as the JSON it is.
    assert first["__interrupt__"][0]["value"]["action_requests"][0]["name"] == "calculator"
    snapshot = graph.get_state(thread)
    assert snapshot.next == ("tools",)
    assert snapshot.interrupts[0].value["review_configs"][0]["action_name"] == "calculator"
    done = graph.invoke(Command(resume={"decisions": [{"type": "approve"}]}), config=thread)
    assert [m["content"] for m in tool_messages(done)] == ["84"]
    assert graph.get_state(thread).next == ()


def test_the_thread_stream_asks_for_input_and_respond_answers_it(client):
    with client.threads.stream(assistant_id="careful") as thread:
        thread.run.start(input=ASK)
        # The values projection ends when the run pauses (the SDK's own signal), with the interrupt recorded.
        list(thread.values)
        assert thread.interrupted
        [pending] = thread.interrupts
        assert pending["value"]["action_requests"][0]["args"] == {"expression": "12*(3+4)"}
        thread.run.respond({"decisions": [{"type": "edit", "edited_action": {"name": "calculator", "args": {"expression": "6*7"}}}]})
        output = thread.output
    assert [m["content"] for m in tool_messages(output)] == ["42"]
    assert "42" in output["messages"][-1]["content"]


def _openai(base_url, api_key):
    import os
    import ssl

    import openai
    context = ssl.create_default_context(cafile=os.environ["AGENTFCGI_CA"])
    return openai.OpenAI(base_url=base_url + "/v1", api_key=api_key, max_retries=0, http_client=httpx.Client(verify=context, timeout=60))


def test_openai_responses_ask_for_approval_and_take_the_answer(base_url, api_key):
    oa = _openai(base_url, api_key)
    first = oa.responses.create(model="careful", input="what is 12*(3+4)?")
    assert first.status == "completed"
    [request] = [item for item in first.output if item.type == "mcp_approval_request"]
    assert request.server_label == "agentfcgi" and request.name == "calculator"
    assert request.arguments == '{"expression":"12*(3+4)"}'
    answered = oa.responses.create(model="careful", previous_response_id=first.id, input=[
        {"type": "mcp_approval_response", "approval_request_id": request.id, "approve": True}])
    [call] = [item for item in answered.output if item.type == "mcp_call"]
    assert call.output == "84"
    assert "84" in answered.output_text

    # Streamed: the completed response asks; a rejection with a reason reaches the model and runs nothing.
    with oa.responses.stream(model="careful", input="what is 12*(3+4)?") as stream:
        final = stream.get_final_response()
    [request] = [item for item in final.output if item.type == "mcp_approval_request"]
    rejected = oa.responses.create(model="careful", previous_response_id=final.id, input=[
        {"type": "mcp_approval_response", "approval_request_id": request.id, "approve": False, "reason": "not now"}])
    assert "84" not in rejected.output_text
    assert any("not now" in (item.error or "") for item in rejected.output if item.type == "mcp_call")


def test_the_agents_sdk_answers_an_approval_with_its_callback(base_url, api_key):
    import asyncio
    import os
    import ssl

    import openai
    from agents import Agent, HostedMCPTool, OpenAIResponsesModel, Runner, set_tracing_disabled
    set_tracing_disabled(True)
    context = ssl.create_default_context(cafile=os.environ["AGENTFCGI_CA"])
    client = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key=api_key, max_retries=0,
                                http_client=httpx.AsyncClient(verify=context, timeout=60))
    asked = []

    def decide(request):
        asked.append(request.data.name)
        return {"approve": True}

    # The server's own tools, declared as the MCP server they appear as; the SDK's callback answers the request.
    tool = HostedMCPTool(tool_config={"type": "mcp", "server_label": "agentfcgi", "server_url": "https://agentfcgi.invalid/mcp",
                                      "require_approval": "always"}, on_approval_request=decide)
    agent = Agent(name="careful", model=OpenAIResponsesModel(model="careful", openai_client=client), tools=[tool])
    result = asyncio.run(Runner.run(agent, "what is 12*(3+4)?", auto_previous_response_id=True))
    assert asked == ["calculator"]
    assert "84" in result.final_output


def test_breakpoints_through_langgraph_sdk_and_remote_graph(client, base_url, api_key):
    thread = client.threads.create()["thread_id"]
    stopped = client.runs.wait(thread, "assistant", input=ASK, interrupt_before=["tools"])
    assert not tool_messages(stopped)
    state = client.threads.get_state(thread)
    assert state["next"] == ["tools"] and state["interrupts"] == []
    # input=None: on from the breakpoint (the SDK leaves the field out).
    done = client.runs.wait(thread, "assistant", input=None)
    assert [m["content"] for m in tool_messages(done)] == ["84"]

    graph = RemoteGraph("assistant", url=base_url, api_key=api_key)
    config = {"configurable": {"thread_id": client.threads.create()["thread_id"]}}
    graph.invoke(ASK, config=config, interrupt_after=["tools"])
    snapshot = graph.get_state(config)
    assert snapshot.next == ("agent",)
    assert snapshot.values["messages"][-1]["content"] == "84"
    final = graph.invoke(None, config=config)
    assert "calculator returned 84" in final["messages"][-1]["content"]
    assert graph.get_state(config).next == ()

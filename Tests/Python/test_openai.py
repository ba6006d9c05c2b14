"""The official `openai` client against /v1, through nginx and two workers: models, chat completions (streamed and
not), responses (streamed, background, resumed on any worker, cancelled, continued), and errors."""
import json
import os
import ssl

import httpx
import openai
import pytest


def _http():
    return httpx.Client(verify=ssl.create_default_context(cafile=os.environ["AGENTFCGI_CA"]), timeout=60)


@pytest.fixture
def oa(base_url, api_key):
    # The client retries some failures by default; here a failure must show.
    return openai.OpenAI(base_url=base_url + "/v1", api_key=api_key, max_retries=0, timeout=60,
                         http_client=_http())


def test_models_are_the_agents(oa):
    ids = [model.id for model in oa.models.list()]
    assert {"echo", "assistant", "echo-slow"} <= set(ids)
    assert oa.models.retrieve("assistant").owned_by == "agentfcgi"


def test_chat_completion_and_its_stream(oa):
    messages = [{"role": "developer", "content": "Be exact."}, {"role": "user", "content": "what is 12*(3+4)?"}]
    completion = oa.chat.completions.create(model="assistant", messages=messages)
    answer = completion.choices[0].message.content
    assert "84" in answer and completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens > 0

    chunks = list(oa.chat.completions.create(model="assistant", messages=messages, stream=True,
                                             stream_options={"include_usage": True}))
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == answer
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_responses_stream_and_background_resume_through_any_worker(oa):
    events = list(oa.responses.create(model="assistant", input="what is 12*(3+4)?", stream=True))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final = events[-1].response
    assert final.output_text.strip().endswith("84.") and final.usage.total_tokens > 0
    assert [item.type for item in final.output] == ["mcp_call", "message"]

    stream = oa.responses.create(model="echo-slow", input="one two three four five six", background=True, stream=True)
    seen = []
    for event in stream:
        seen.append(event)
        if event.type == "response.output_text.delta":
            break
    stream.close()
    response_id = seen[0].response.id
    assert seen[0].type == "response.queued"
    # The rest, from whichever worker nginx picks: no gap, no repeat.
    rest = list(oa.responses.retrieve(response_id, stream=True, starting_after=seen[-1].sequence_number))
    numbers = [e.sequence_number for e in seen + rest]
    assert numbers == list(range(len(numbers)))
    assert rest[-1].type == "response.completed"
    text = "".join(e.delta for e in seen + rest if e.type == "response.output_text.delta")
    assert text == "You said: one two three four five six"
    assert oa.responses.retrieve(response_id).status == "completed"


def test_background_cancel_and_previous_response(oa, client):
    slow = oa.responses.create(model="echo-slow", input=" ".join(f"w{i}" for i in range(40)), background=True)
    assert slow.status == "queued"
    cancelled = oa.responses.cancel(slow.id)
    assert cancelled.status == "cancelled"

    first = oa.responses.create(model="echo", input="remember Ada")
    second = oa.responses.create(model="echo", input="who?", previous_response_id=first.id)
    assert second.previous_response_id == first.id
    assert second.usage.input_tokens > first.usage.input_tokens
    # The conversation is a thread: LangGraph's client sees the same four messages.
    state = client.threads.get_state(first.conversation.id)
    assert [m["content"] for m in state["values"]["messages"]] == ["remember Ada", "You said: remember Ada", "who?", "You said: who?"]
    items = oa.responses.input_items.list(second.id)
    assert [item.content[0].text for item in items.data] == ["who?"]
    oa.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        oa.responses.retrieve(first.id)


def test_errors_are_openai_errors(oa, base_url):
    with pytest.raises(openai.BadRequestError) as bad:
        oa.chat.completions.create(model="echo", messages=[{"role": "user", "content": "x"}], n=2)
    assert bad.value.body["param"] == "n"
    with pytest.raises(openai.BadRequestError) as bad:
        oa.responses.create(model="echo", input="x", tools=[{"type": "web_search"}])
    assert bad.value.body["param"] == "tools[0].type"
    with pytest.raises(openai.NotFoundError) as missing:
        oa.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert missing.value.code == "model_not_found"
    anonymous = openai.OpenAI(base_url=base_url + "/v1", api_key="afk_wrong", max_retries=0,
                              http_client=_http())
    with pytest.raises(openai.AuthenticationError):
        anonymous.models.list()


WEATHER_CHAT = {"type": "function", "function": {"name": "get_weather", "description": "The weather in a city",
                                                  "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
ASK = 'get_weather {"city": "Paris"} calculator {"expression": "2+2"}'


def test_a_client_function_tool_round_trip(oa):
    messages = [{"role": "user", "content": ASK}]
    first = oa.chat.completions.create(model="assistant", messages=messages, tools=[WEATHER_CHAT])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    messages += [choice.message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    second = oa.chat.completions.create(model="assistant", messages=messages, tools=[WEATHER_CHAT])
    assert second.choices[0].message.content == "get_weather returned sunny."

    # Responses: a function_call item, answered with a function_call_output on the next response.
    tool = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
    created = oa.responses.create(model="assistant", input=ASK, tools=[tool])
    calls = [item for item in created.output if item.type == "function_call"]
    assert [c.name for c in calls] == ["get_weather"] and [i.type for i in created.output] == ["function_call", "mcp_call"]
    follow = oa.responses.create(model="assistant", previous_response_id=created.id, tools=[tool],
                                 input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny"}])
    assert follow.output_text == "calculator returned 4. get_weather returned sunny."


def test_conversation_items(oa):
    conversation = oa.conversations.create(metadata={"topic": "demo"}, items=[{"role": "user", "content": "hello"}])
    assert conversation.id.startswith("conv_")
    response = oa.responses.create(model="echo", conversation=conversation.id, input="again")
    assert response.output_text == "You said: again"
    added = oa.conversations.items.create(conversation.id, items=[{"role": "user", "content": "more"}])
    listed = oa.conversations.items.list(conversation.id, order="asc")
    texts = [item.content[0].text for item in listed.data]
    assert texts == ["hello", "again", "You said: again", "more"]
    oa.conversations.items.delete(added.data[0].id, conversation_id=conversation.id)
    assert len(oa.conversations.items.list(conversation.id).data) == 3
    assert oa.conversations.delete(conversation.id).deleted
    with pytest.raises(openai.NotFoundError):
        oa.conversations.retrieve(conversation.id)

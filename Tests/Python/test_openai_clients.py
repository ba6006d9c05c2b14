"""Clients built on the OpenAI API, pointed at agentfcgi: the OpenAI Agents SDK (Responses and Chat Completions models,
a function tool of the client's beside the agent's own calculator, a conversations session) and LangChain's ChatOpenAI
(Chat Completions and the Responses API, invoked and streamed)."""
import asyncio
import os
import ssl

import httpx
import openai
import pytest


def _ssl():
    return ssl.create_default_context(cafile=os.environ["AGENTFCGI_CA"])


@pytest.fixture
def async_oa(base_url, api_key):
    return openai.AsyncOpenAI(base_url=base_url + "/v1", api_key=api_key, max_retries=0,
                              http_client=httpx.AsyncClient(verify=_ssl(), timeout=60))


ASK = 'get_weather {"city": "Paris"} calculator {"expression": "2+2"}'


def _agent(model):
    from agents import Agent, function_tool

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    return Agent(name="weather", instructions="Use the tools.", model=model, tools=[get_weather])


def test_agents_sdk_with_responses_and_chat_completions(async_oa):
    from agents import OpenAIChatCompletionsModel, OpenAIResponsesModel, Runner, set_tracing_disabled
    set_tracing_disabled(True)

    async def run():
        responses = await Runner.run(_agent(OpenAIResponsesModel(model="assistant", openai_client=async_oa)), ASK)
        chat = await Runner.run(_agent(OpenAIChatCompletionsModel(model="assistant", openai_client=async_oa)), ASK)
        return responses, chat

    responses, chat = asyncio.run(run())
    # The server ran its calculator; the SDK ran get_weather; the agent answered with both (chat completions shows
    # the client only its own call's result).
    assert responses.final_output == "calculator returned 4. get_weather returned sunny in Paris."
    assert chat.final_output == "get_weather returned sunny in Paris."
    kinds = [item.type for item in responses.new_items]
    assert "tool_call_item" in kinds and "tool_call_output_item" in kinds


def test_agents_sdk_conversation_session(async_oa):
    from agents import OpenAIResponsesModel, Runner, set_tracing_disabled
    from agents.memory import OpenAIConversationsSession
    set_tracing_disabled(True)

    async def run():
        session = OpenAIConversationsSession(openai_client=async_oa)
        agent = _agent(OpenAIResponsesModel(model="echo", openai_client=async_oa))
        first = await Runner.run(agent, "hello there", session=session)
        second = await Runner.run(agent, "again", session=session)
        items = await session.get_items()
        return first, second, items

    first, second, items = asyncio.run(run())
    assert first.final_output == "You said: hello there" and second.final_output == "You said: again"
    texts = [part["text"] for item in items for part in (item.get("content") or []) if isinstance(part, dict) and "text" in part]
    assert texts[:2] == ["hello there", "You said: hello there"] and texts[-1] == "You said: again"


@pytest.mark.parametrize("responses_api", [False, True])
def test_langchain_chat_openai(base_url, api_key, responses_api):
    from langchain_openai import ChatOpenAI
    llm = ChatOpenAI(model="echo", base_url=base_url + "/v1", api_key=api_key, max_retries=0, use_responses_api=responses_api,
                     http_client=httpx.Client(verify=_ssl(), timeout=60))
    answer = llm.invoke("hello langchain")
    assert "You said: hello langchain" in (answer.content if isinstance(answer.content, str) else str(answer.content))
    assert answer.usage_metadata["total_tokens"] > 0
    pieces = list(llm.stream("stream me"))
    streamed = "".join(p.content if isinstance(p.content, str) else "".join(c.get("text", "") for c in p.content) for p in pieces)
    assert streamed == "You said: stream me"
    calc = ChatOpenAI(model="assistant", base_url=base_url + "/v1", api_key=api_key, max_retries=0, use_responses_api=responses_api,
                      http_client=httpx.Client(verify=_ssl(), timeout=60))
    assert "84" in str(calc.invoke("what is 12*(3+4)?").content)

"""The FastAPI/uvicorn baseline for bench/run.sh: the same two routes as agentfcgi, doing the same work.

GET  /ok         -> {"ok": true}
POST /runs/wait  -> validate the run body with pydantic, 404 for an unknown assistant, then answer the
                    final state of the zero-delay echo agent: the human message and
                    the AI reply "You said: <content>" with usage counted in whitespace-separated words.

Run: uvicorn fastapi_app:app --uds SOCK --workers N --no-access-log --loop uvloop --http httptools
"""

import uuid
from typing import Literal

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

# The agents of bench/agents.yaml that /runs/wait can run.
AGENTS = {"echo-fast": "builtin", "echo-slow": "builtin"}

ROLES = {"user": "human", "human": "human", "assistant": "ai", "ai": "ai", "system": "system", "developer": "system"}

app = FastAPI(title="agentfcgi bench baseline", docs_url=None, redoc_url=None, openapi_url=None)


class InputMessage(BaseModel):
    role: Literal["user", "human", "assistant", "ai", "system", "developer"]
    content: str
    id: str | None = None
    name: str | None = None


class RunInput(BaseModel):
    messages: list[InputMessage] = Field(min_length=1, max_length=1000)


class RunCreate(BaseModel):
    assistant_id: str
    input: RunInput


def count_tokens(text: str) -> int:
    return len(text.split())


def new_id() -> str:
    return str(uuid.uuid4())


@app.get("/ok")
async def ok():
    return {"ok": True}


@app.post("/runs/wait")
async def runs_wait(body: RunCreate, response: Response):
    model_name = AGENTS.get(body.assistant_id)
    if model_name is None:
        detail = f"No agent with id '{body.assistant_id[:100]}'."
        return JSONResponse(
            status_code=404,
            media_type="application/problem+json",
            content={
                "type": "urn:agentfcgi:problem:agent_not_found",
                "title": "Not Found",
                "status": 404,
                "detail": detail,
                "code": "agent_not_found",
                "message": detail,
                "field": "assistant_id",
            },
        )
    messages = []
    for message in body.input.messages:
        item = {"type": ROLES[message.role], "content": message.content, "id": message.id or new_id()}
        if message.name is not None:
            item["name"] = message.name
        messages.append(item)
    last_user = next((m.content for m in reversed(body.input.messages) if ROLES[m.role] == "human"), "")
    reply = "You said: " + last_user
    input_tokens = sum(count_tokens(m.content) for m in body.input.messages)
    output_tokens = count_tokens(reply)
    messages.append({
        "type": "ai",
        "content": reply,
        "id": new_id(),
        "tool_calls": [],
        "usage_metadata": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        },
        "response_metadata": {"finish_reason": "stop", "model_name": model_name},
    })
    run_id = new_id()
    response.headers["Content-Location"] = f"/runs/{run_id}"
    return {"messages": messages}

"""What schemathesis cannot read from a schema, for test_schemathesis.py (loaded through SCHEMATHESIS_HOOKS).

Some rules are not a property of one request's shape, so no schema states them; these hooks make the
generated requests meet them, and nothing else:
- a name looked up in a list (an IANA time zone, a cron expression the scheduler reads): the spec names the value's
  `format`, and valid values of it are drawn from a few known ones;
- a run's `after_seconds` is kept short, so that a join of it ends within the checks' request timeout;
- an `Idempotency-Key` is a fresh key per request: a key used again with another request is a 422 (the IETF
  Idempotency-Key draft), a rule across requests. A valid key gets a digest of its request (method, path, query,
  body) appended, so two different requests never share one; a key generated invalid is left as it is.

And a few answers are by design what these checks read otherwise, or follow a rule no schema states:
`filter_failure` below lets exactly those pass, each with why.
"""
import hashlib
import json
import re

import schemathesis
from hypothesis import strategies as st
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.openapi.checks import RejectedPositiveData

schemathesis.openapi.format("iana-time-zone", st.sampled_from(
    ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "America/Sao_Paulo"]))
schemathesis.openapi.format("cron", st.sampled_from(
    ["0 9 * * 1-5", "*/15 * * * *", "@daily", "@hourly", "0 0 1 1 *", "30 2 * * 0", "0 */6 * * *", "5,35 8-17 * * mon-fri"]))


@schemathesis.hook
def before_call(context, case, kwargs):
    # A run may wait up to a day to start (`after_seconds`), and a join waits for it: past the checks' 30 s request
    # timeout. Valid delays are kept short; invalid ones are left for the server to refuse.
    for run in case.body if isinstance(case.body, list) else [case.body]:
        delay = run.get("after_seconds") if isinstance(run, dict) else None
        if isinstance(delay, (int, float)) and not isinstance(delay, bool) and 2 < delay <= 86400:
            run["after_seconds"] = 2
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    # A key generated invalid (empty, too long, not printable ASCII) is left for the server to refuse.
    if not isinstance(key, str) or not re.fullmatch(r"[ -~]{1,255}", key):
        return
    request = json.dumps([case.method, case.formatted_path, case.query, case.body], sort_keys=True, default=str)
    headers["Idempotency-Key"] = key[:200] + "." + hashlib.sha256(request.encode()).hexdigest()[:16]


# Operations whose answer is not the status these checks read, and why:
EXCEPTIONS = {
    # GET on the thread stream is where langgraph-sdk opens its WebSocket, which FastCGI cannot carry: it is always a
    # 400 that says so, whatever the request, so no request of it is accepted.
    "thread_stream_events_websocket": RejectedPositiveData,
    # The thread commands answer a refused command with 200 and `{"type": "error"}`, as langgraph-sdk reads it: an
    # invalid command is refused in the body, not by the status.
    "thread_command": AcceptedNegativeData,
}


def refused_field(response):
    try:
        return response.json().get("field") or ""
    except Exception:
        return ""


@schemathesis.hook
def filter_failure(context, failure, case, response):
    operation = case.operation.definition.raw.get("operationId")
    excepted = EXCEPTIONS.get(operation)
    if excepted and isinstance(failure, excepted):
        return False
    # A tool's arguments follow that tool's own JSON Schema (GET /agents/{agent_id}/tools), chosen by the path: one
    # operation for every tool, so the spec can only say "an object". Only a refusal of the arguments is let pass.
    if operation == "invoke_agent_tool" and isinstance(failure, RejectedPositiveData):
        return not refused_field(response).startswith("arguments")
    # checkpoint_id and checkpoint.checkpoint_id, when a run names both, must be the same id: equality of two free
    # strings, which no schema states (the links fill both from different responses).
    if isinstance(failure, RejectedPositiveData) and "differs from checkpoint.checkpoint_id" in response.text:
        return False
    # A resume's decisions answer the calls the thread waits for, one each and of a kind each allows (a 422 otherwise,
    # as #21 asks): what fits depends on the thread's pending approval, which no schema of the request can know.
    if isinstance(failure, RejectedPositiveData) and refused_field(response).startswith("command.resume"):
        return False
    # A cron made on a thread keeps its thread, so an update that sets what becomes of each firing's own thread is
    # refused (422) for it alone: which cron the path names decides, not the request.
    if isinstance(failure, RejectedPositiveData) and "applies to crons without a thread" in response.text:
        return False
    # `after` is a cursor: the id of an item the list holds (a 400 otherwise), which only a listing can supply.
    if operation in ("openai_conversation_items", "openai_response_input_items") and isinstance(failure, RejectedPositiveData):
        return '"param":"after"' not in response.text
    return True

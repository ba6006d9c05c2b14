"""Traces, end to end: nginx and two workers of their own (scripts/run.sh) exporting over OTLP/HTTP to a receiver on
opentelemetry-proto. One background run with a tool call on the openai provider, against the scripted model server,
with a webhook: the spans come with the right parents and GenAI attributes, in the client's trace; the model server
and the webhook receiver get the traceparent; the run and the log lines carry the trace id. Then the collector stops:
requests go on as before and the drop counter rises."""
import json
import os
import pathlib
import signal
import ssl
import subprocess
import sys
import time
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from local_ports import free_port, wait_for

REPO = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = REPO / "Tests" / "Fixtures"
CLIENT_TRACE = uuid.uuid4().hex
CLIENT_PARENT = uuid.uuid4().hex[:16]


def start(command, log):
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=open(log, "w"), text=True)
    line = process.stdout.readline()
    assert line.strip() == "ready", f"{command[1]} did not start: {line!r} {open(log).read()}"
    return process


@pytest.fixture(scope="module")
def cluster():
    state = REPO / ".state" / "pytest-traces"
    subprocess.run(["rm", "-rf", str(state)], check=True)
    state.mkdir(parents=True)
    spans = state / "spans.jsonl"
    otlp_port, model_port = free_port(), free_port()
    receiver = start([sys.executable, str(FIXTURES / "otlp_receiver.py"), str(otlp_port), str(spans)], state / "otlp.log")
    model = start([sys.executable, str(FIXTURES / "scripted_openai_server.py"), str(model_port)], state / "model.log")
    webhook_log = state / "webhooks.jsonl"
    hook = subprocess.Popen([sys.executable, str(FIXTURES / "webhook_receiver.py"), str(webhook_log), "0"],
                            stdout=subprocess.PIPE, text=True)
    hook_port = int(hook.stdout.readline())
    config = state / "agents.yaml"
    config.write_text(f"""agents:
  - id: traced
    model: {{provider: openai, name: tools, base_url: "http://127.0.0.1:{model_port}/v1"}}
    tools:
      - calculator
webhooks:
  secret_env: AGENTFCGI_WEBHOOK_SECRET
  allow_hosts: ["127.0.0.1"]
  retry_base_seconds: 0.2
""")
    https_port = free_port()
    binary = os.environ["AGENTFCGI_BIN"]
    # A store of its own: the suite's service (whose database AGENTFCGI_DATABASE names) must not take these runs.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTFCGI_")}
    env = {**env, "AGENTFCGI_BIN": binary, "AGENTFCGI_STATE": str(state / "run"), "WORKERS": "2",
           "CONFIG": str(config), "HTTPS_PORT": str(https_port), "HTTP_PORT": str(free_port()),
           "WORKER_ARGS": f"--otlp-endpoint http://127.0.0.1:{otlp_port}/v1/traces --trace-sample-ratio 1"}
    service = subprocess.Popen(["setsid", "bash", str(REPO / "scripts" / "run.sh")], env=env, stdout=open(state / "run.log", "w"),
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"https://127.0.0.1:{https_port}"
    ca = state / "run" / "certs" / "ca.crt"

    def up():
        if service.poll() is not None:
            pytest.fail("run.sh exited: " + (state / "run.log").read_text()[-3000:])
        try:
            return ca.exists() and httpx.get(f"{url}/ok", verify=ssl.create_default_context(cafile=str(ca)), timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for("the traced service", up, timeout=120)
        yield {"url": url, "ca": str(ca), "key": (state / "run" / "api-key").read_text().strip(), "spans": spans,
               "receiver": receiver, "model_port": model_port, "webhooks": webhook_log, "hook_port": hook_port,
               "logs": state / "run" / "logs"}
    finally:
        service.send_signal(signal.SIGTERM)
        try:
            service.wait(timeout=30)
        except subprocess.TimeoutExpired:
            service.kill()
        for process in (receiver, model, hook):
            process.kill()
            process.wait()


def read_spans(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_run_is_one_trace_from_the_client_to_the_model_the_tool_and_the_webhook(cluster):
    tls = ssl.create_default_context(cafile=cluster["ca"])
    headers = {"X-Api-Key": cluster["key"], "traceparent": f"00-{CLIENT_TRACE}-{CLIENT_PARENT}-01"}
    with httpx.Client(base_url=cluster["url"], verify=tls, timeout=60) as http:
        thread = http.post("/threads", json={}, headers={"X-Api-Key": cluster["key"]}).json()["thread_id"]
        hook = f"http://127.0.0.1:{cluster['hook_port']}/hook"
        created = http.post(f"/threads/{thread}/runs", headers=headers, json={
            "assistant_id": "traced", "input": {"messages": [{"role": "user", "content": "what is 6*7?"}]}, "webhook": hook})
        assert created.status_code == 200, created.text
        run = created.json()
        assert run["trace_id"] == CLIENT_TRACE
        joined = http.get(f"/threads/{thread}/runs/{run['run_id']}/join", headers={"X-Api-Key": cluster["key"]})
        assert joined.status_code == 200, joined.text
        assert "42" in json.dumps(joined.json())
        assert http.get(f"/threads/{thread}/runs/{run['run_id']}", headers={"X-Api-Key": cluster["key"]}).json()["trace_id"] == CLIENT_TRACE

    def complete():
        spans = [s for s in read_spans(cluster["spans"]) if s["trace_id"] == CLIENT_TRACE]
        names = [s["name"] for s in spans]
        return spans if {"invoke_agent traced", "execute_tool calculator", "webhook run.completed"} <= set(names) \
            and names.count("chat tools") == 2 else None

    spans = wait_for("the run's spans at the receiver", complete)
    by_name = {}
    for span in spans:
        by_name.setdefault(span["name"], []).append(span)
    server = by_name["POST /threads/{thread_id}/runs"][0]
    assert server["parent_span_id"] == CLIENT_PARENT
    assert server["kind"] == 2  # SERVER
    assert server["attributes"]["http.route"] == "/threads/{thread_id}/runs"
    assert server["attributes"]["http.response.status_code"] == 200
    assert server["resource"]["service.name"] == "agentfcgi"

    agent = by_name["invoke_agent traced"][0]
    assert agent["parent_span_id"] == server["span_id"]
    assert agent["attributes"]["gen_ai.operation.name"] == "invoke_agent"
    assert agent["attributes"]["gen_ai.agent.name"] == "traced"
    assert agent["attributes"]["gen_ai.conversation.id"] == thread
    assert agent["attributes"]["gen_ai.provider.name"] == "openai"
    assert agent["attributes"]["gen_ai.request.model"] == "tools"
    assert agent["attributes"]["gen_ai.usage.input_tokens"] == 20 + 30
    assert agent["attributes"]["gen_ai.usage.output_tokens"] == 9 + 4

    chats = by_name["chat tools"]
    assert all(c["parent_span_id"] == agent["span_id"] and c["kind"] == 3 for c in chats)  # CLIENT
    assert sorted((c["attributes"]["gen_ai.usage.input_tokens"], c["attributes"]["gen_ai.usage.output_tokens"]) for c in chats) \
        == [(20, 9), (30, 4)]
    assert all(c["attributes"]["gen_ai.operation.name"] == "chat" and c["attributes"]["gen_ai.provider.name"] == "openai" for c in chats)

    tool = by_name["execute_tool calculator"][0]
    assert tool["parent_span_id"] == agent["span_id"]
    assert tool["attributes"]["gen_ai.tool.name"] == "calculator"
    assert tool["attributes"]["gen_ai.tool.call.id"] == "call_a"
    assert tool["attributes"]["gen_ai.operation.name"] == "execute_tool"
    # No content unless the operator opted in (--trace-content).
    for span in spans:
        assert not any(key in span["attributes"] for key in ("gen_ai.tool.call.arguments", "gen_ai.tool.call.result", "gen_ai.output.text"))

    webhook = by_name["webhook run.completed"][0]
    # A delivery continues the trace of the request that made its run (maybe on another worker, later).
    assert webhook["parent_span_id"] == server["span_id"]

    # The model server and the webhook receiver joined the trace: their parent is the HTTP client's span (made by
    # AsyncHTTPClient) under the model call's and the delivery's span.
    def parent_of_client_span(traceparent):
        version, trace, span_id, flags = traceparent.split("-")
        assert trace == CLIENT_TRACE and flags == "01"
        client = [s for s in spans if s["span_id"] == span_id]
        assert client and client[0]["kind"] == 3, traceparent
        return client[0]["parent_span_id"]

    def with_client_spans():
        ours = [s for s in read_spans(cluster["spans"]) if s["trace_id"] == CLIENT_TRACE]
        return ours if sum(s["name"] == "POST" and s["kind"] == 3 for s in ours) >= 3 else None

    spans = wait_for("the HTTP client spans", with_client_spans)
    seen = httpx.get(f"http://127.0.0.1:{cluster['model_port']}/traceparents").json()
    assert sorted(parent_of_client_span(tp) for tp in seen[-2:]) == sorted(c["span_id"] for c in chats)
    hooks = [json.loads(line) for line in cluster["webhooks"].read_text().splitlines()]
    assert [parent_of_client_span(h["headers"]["traceparent"]) for h in hooks] == [webhook["span_id"]], hooks

    # The workers' log lines of the run carry its trace id.
    logs = "".join(p.read_text() for p in cluster["logs"].glob("worker-*.log"))
    run_lines = [line for line in logs.splitlines() if "run.completed" in line and f"trace_id={CLIENT_TRACE}" in line]
    assert run_lines, "no run.completed line with the trace id"


def test_a_malformed_traceparent_starts_a_trace_of_our_own(cluster):
    tls = ssl.create_default_context(cafile=cluster["ca"])
    bogus_trace = "ab" * 16
    with httpx.Client(base_url=cluster["url"], verify=tls, timeout=60) as http:
        for header in (f"00-{bogus_trace}-{'0' * 16}-01", f"00-{bogus_trace.upper()}-{CLIENT_PARENT}-01", "garbage" * 100):
            response = http.post("/agents/search", json={}, headers={"X-Api-Key": cluster["key"], "traceparent": header,
                                                                   "tracestate": "k=" + "v" * 5000})
            assert response.status_code == 200, response.text
        response = http.post("/agents/search", json={}, headers={"X-Api-Key": cluster["key"], "traceparent": "garbage"})
        assert response.status_code == 200, response.text

    def searches():
        found = [s for s in read_spans(cluster["spans"]) if s["name"] == "POST /agents/search"]
        return found if len(found) >= 4 else None

    for span in wait_for("the searches' spans", searches):
        assert span["parent_span_id"] == "" and span["trace_id"] not in (bogus_trace, CLIENT_TRACE), span


def test_with_the_collector_down_requests_go_on_and_drops_are_counted(cluster):
    tls = ssl.create_default_context(cafile=cluster["ca"])
    cluster["receiver"].kill()
    cluster["receiver"].wait()

    def dropped(http):
        families = text_string_to_metric_families(http.get("/metrics").text)
        return sum(s.value for f in families if f.name == "agentfcgi_trace_spans_dropped" for s in f.samples)

    with httpx.Client(base_url=cluster["url"], verify=tls, timeout=60) as http:
        before = dropped(http)
        slowest = 0.0
        for _ in range(30):
            started = time.monotonic()
            assert http.get("/info").status_code == 200
            slowest = max(slowest, time.monotonic() - started)
        # The exporter's timeout is 3 s per batch: a request that waited on it would show it.
        assert slowest < 2.5, slowest
        wait_for("the drop counter to rise", lambda: dropped(http) > before, timeout=30)


def test_a_killed_workers_series_leave_the_scrape(cluster):
    tls = ssl.create_default_context(cafile=cluster["ca"])
    state = pathlib.Path(cluster["ca"]).parents[1]

    def workers(http):
        families = text_string_to_metric_families(http.get("/metrics").text)
        return {s.labels["worker"] for f in families if f.name == "agentfcgi_worker_info" for s in f.samples}

    with httpx.Client(base_url=cluster["url"], verify=tls, timeout=60) as http:
        assert wait_for("both workers in a scrape", lambda: workers(http) == {"1", "2"})
        os.kill(int((state / "run" / "worker-2.pid").read_text()), signal.SIGKILL)
        # nginx passes the scrape to the worker left; the dead one's file is still there, its lock is not.
        assert wait_for("the dead worker to leave the scrape", lambda: workers(http) == {"1"}, timeout=20)
        assert (state / "data" / "metrics" / "2.prom").exists()

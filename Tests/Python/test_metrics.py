"""/metrics through nginx: one scrape shows every worker's series, each with its worker label, and they add up to
exactly the traffic sent, parsed with prometheus-client's own parser. The runs go to the agent `metrics-probe`, which
no other test runs, as a tenant of this test's own, so its totals are this test's alone."""
import os
import re
import ssl
import time
import uuid

import httpx
import openai
from prometheus_client.parser import text_string_to_metric_families

from keys import create_key

AGENT = "metrics-probe"


def tls():
    return ssl.create_default_context(cafile=os.environ["AGENTFCGI_CA"])


def scrape(base_url):
    response = httpx.get(f"{base_url}/metrics", verify=tls(), timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return list(text_string_to_metric_families(response.text))


def samples(families, name):
    """Every sample of a family, by the family's name as the parser gives it (counters lose `_total`)."""
    return [s for family in families if family.name == name for s in family.samples]


def total(families, name, sample_name=None, **labels):
    return sum(s.value for s in samples(families, name)
               if (sample_name is None or s.name == sample_name) and all(s.labels.get(k) == v for k, v in labels.items()))


def settle(base_url, ready, timeout=15):
    """Scrapes until `ready(families)`: the other workers write their series every second."""
    deadline = time.time() + timeout
    while True:
        families = scrape(base_url)
        if ready(families) or time.time() > deadline:
            return families
        time.sleep(0.3)


def test_one_scrape_adds_up_to_the_traffic_sent_over_the_workers(base_url):
    tenant = f"metrics-{uuid.uuid4().hex[:8]}"
    key = create_key(tenant, "runs:write,runs:read,threads:write,threads:read,agents:read")
    headers = {"X-Api-Key": key}
    verify = tls()
    # Other workers' files are up to a second old: earlier tests' last requests must be in them before counting.
    before = scrape(base_url)
    while True:
        time.sleep(1.2)
        again = scrape(base_url)
        if all(total(again, n, n + "_total", **l) == total(before, n, n + "_total", **l) for n, l in (
                ("agentfcgi_http_requests", {"route": "/runs/wait", "method": "POST", "status": "200"}),
                ("agentfcgi_http_requests", {"route": "unmatched", "status": "404"}))):
            break
        before = again
    waits_before = total(before, "agentfcgi_http_requests", "agentfcgi_http_requests_total", route="/runs/wait", method="POST", status="200")
    unmatched_before = total(before, "agentfcgi_http_requests", "agentfcgi_http_requests_total", route="unmatched", status="404")

    tokens_in = tokens_out = 0
    waits = 9
    with httpx.Client(base_url=base_url, verify=verify, headers=headers, timeout=60) as http:
        for i in range(waits):
            response = http.post("/runs/wait", json={"assistant_id": AGENT, "input": {"messages": [{"role": "user", "content": f"count me {i}"}]}})
            assert response.status_code == 200, response.text
            usage = response.json()["usage"]
            tokens_in += usage["input_tokens"]
            tokens_out += usage["output_tokens"]
        # Ids in paths must never become labels: these are answered 404 under the route "unmatched".
        for _ in range(4):
            assert http.get(f"/no-such-route/{uuid.uuid4()}").status_code == 404
    chats = 5
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, http_client=httpx.Client(verify=verify))
    for i in range(chats):
        completion = client.chat.completions.create(model=AGENT, messages=[{"role": "user", "content": f"and me {i}"}])
        tokens_in += completion.usage.prompt_tokens
        tokens_out += completion.usage.completion_tokens

    runs = waits + chats
    # A worker's file can be written between two records of one run's end (the counter, then the histogram), so
    # settle on every series counted below, not just the first.
    after = settle(base_url, lambda f: total(f, "agentfcgi_runs_finished", "agentfcgi_runs_finished_total", agent=AGENT) >= runs
                   and total(f, "agentfcgi_run_duration_seconds", "agentfcgi_run_duration_seconds_count", agent=AGENT) >= runs
                   and total(f, "agentfcgi_run_first_token_seconds", "agentfcgi_run_first_token_seconds_count",
                             agent=AGENT) >= runs
                   and total(f, "agentfcgi_tokens", "agentfcgi_tokens_total", agent=AGENT, tenant=tenant,
                             type="output") >= tokens_out
                   and total(f, "agentfcgi_http_requests", "agentfcgi_http_requests_total", route="/runs/wait", method="POST",
                             status="200") - waits_before >= waits
                   and total(f, "agentfcgi_http_requests", "agentfcgi_http_requests_total", route="unmatched",
                             status="404") - unmatched_before >= 4)

    def counter(name, **labels):
        return total(after, name, name + "_total", **labels)

    assert counter("agentfcgi_runs_started", agent=AGENT) == runs
    assert counter("agentfcgi_runs_started", agent=AGENT, protocol="langgraph") == waits
    assert counter("agentfcgi_runs_started", agent=AGENT, protocol="openai") == chats
    assert counter("agentfcgi_runs_finished", agent=AGENT, status="success") == runs
    assert counter("agentfcgi_tokens", agent=AGENT, tenant=tenant, type="input") == tokens_in
    assert counter("agentfcgi_tokens", agent=AGENT, tenant=tenant, type="output") == tokens_out
    assert counter("agentfcgi_http_requests", route="/runs/wait", method="POST", status="200") - waits_before == waits
    assert counter("agentfcgi_http_requests", route="unmatched", status="404") - unmatched_before == 4
    assert total(after, "agentfcgi_run_duration_seconds", "agentfcgi_run_duration_seconds_count", agent=AGENT) == runs
    assert total(after, "agentfcgi_run_first_token_seconds", "agentfcgi_run_first_token_seconds_count", agent=AGENT) == runs
    assert counter("agentfcgi_model_calls", provider="builtin", outcome="ok") >= runs

    # The runs were spread over the workers, and every worker's series came in this one scrape.
    ran_on = {s.labels["worker"] for s in samples(after, "agentfcgi_runs_started") if s.labels.get("agent") == AGENT and s.value > 0}
    assert len(ran_on) >= 2, ran_on
    live = {s.labels["worker"] for s in samples(after, "agentfcgi_worker_info")}
    assert live == {"1", "2", "3"}, live
    assert {s.labels["worker"] for s in samples(after, "process_resident_memory_bytes")} == live

    # Bounded labels: route templates (no ids), no label value that looks like a uuid or a run id.
    uuid_like = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-|[0-9a-f]{24,}")
    for family in after:
        for sample in family.samples:
            for name, value in sample.labels.items():
                assert not uuid_like.search(value), (sample.name, name, value)
    routes = {s.labels["route"] for s in samples(after, "agentfcgi_http_requests")}
    assert all(r == "unmatched" or r.startswith("/") for r in routes), routes
    assert "/threads/{thread_id}/runs" in routes or "/runs/wait" in routes


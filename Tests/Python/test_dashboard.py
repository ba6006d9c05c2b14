"""The alert rules (deploy/prometheus/alerts.yml) and the Grafana dashboard (deploy/grafana/agentfcgi-dashboard.json)
name only series the workers export: every name in their PromQL is a family of Sources/Telemetry/Metrics.swift's
catalog, and those that any traffic makes are in a live scrape of /metrics. The rest (tool calls, webhooks, store
errors, dropped spans, queue wait, open streams) appear at their first event, so the catalog vouches for them."""
import json
import os
import re
import ssl
import time
from pathlib import Path

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
ALERTS = REPO / "deploy/prometheus/alerts.yml"
DASHBOARD = REPO / "deploy/grafana/agentfcgi-dashboard.json"
CATALOG_SOURCE = REPO / "Sources/Telemetry/Metrics.swift"

# Families that two runs through /runs/wait and any scrape make on every worker that served them.
ALWAYS = {
    "agentfcgi_http_requests_total", "agentfcgi_http_request_duration_seconds",
    "agentfcgi_runs_started_total", "agentfcgi_runs_finished_total", "agentfcgi_run_duration_seconds",
    "agentfcgi_runs_running", "agentfcgi_run_first_token_seconds", "agentfcgi_tokens_total",
    "agentfcgi_model_calls_total", "agentfcgi_model_call_duration_seconds",
    "agentfcgi_worker_info", "agentfcgi_runs_queued", "agentfcgi_store_operation_duration_seconds",
    "process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds", "process_max_fds",
    "process_threads", "process_start_time_seconds",
}
NAME = re.compile(r"\b(?:agentfcgi|process)_[a-z0-9_]+\b")


def catalog():
    """Family name -> type, from the `catalog` dictionary's entries: "name": ("type", "help")."""
    source = CATALOG_SOURCE.read_text()
    body = source[source.index("static let catalog"):]
    entries = dict(re.findall(r'"((?:agentfcgi|process)_[a-z0-9_]+)":\s*\("(counter|gauge|histogram)"', body))
    assert len(entries) >= 20, entries
    return entries


def alert_rules():
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard_exprs():
    dashboard = json.loads(DASHBOARD.read_text())
    panels = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # a collapsed row holds its panels
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def families_used(exprs, known):
    """Every family the expressions name: a histogram's _bucket, _sum and _count series count as the histogram."""
    used = {}
    for expr in exprs:
        for name in NAME.findall(expr):
            family = name
            if name not in known:
                base = re.sub(r"_(bucket|sum|count)$", "", name)
                if known.get(base) == "histogram":
                    family = base
            used.setdefault(family, expr)
    return used


def scraped(text):
    """Family names as exposed: prometheus-client's parser drops a counter's `_total`, so put it back."""
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
    return names


def test_alerts_and_dashboard_use_only_exported_series(base_url):
    known = catalog()
    exprs = [rule["expr"] for rule in alert_rules()] + dashboard_exprs()
    assert len(exprs) > 30
    used = families_used(exprs, known)
    unknown = {name: expr for name, expr in used.items() if name not in known}
    assert not unknown, f"not in Metrics.catalog: {unknown}"
    assert set(known) <= set(used), f"exported but neither alerted on nor graphed: {set(known) - set(used)}"

    verify = ssl.create_default_context(cafile=os.environ["AGENTFCGI_CA"])
    with httpx.Client(base_url=base_url, verify=verify, timeout=60) as http:
        for i in range(2):
            response = http.post("/runs/wait", headers={"X-Api-Key": os.environ["AGENTFCGI_API_KEY"]},
                                 json={"assistant_id": "echo", "input": {"messages": [{"role": "user", "content": "hi"}]}})
            assert response.status_code == 200, response.text
        # The other workers write their series every second: poll until the families are in.
        deadline = time.time() + 10
        while True:
            response = http.get("/metrics")
            assert response.status_code == 200, response.text
            missing = ALWAYS - scraped(response.text)
            if not missing or time.time() > deadline:
                break
            time.sleep(0.5)
    assert not missing, f"not in the scrape after traffic: {missing}"
    assert ALWAYS <= set(known)


def test_every_alert_has_expr_for_severity_and_summary():
    rules = alert_rules()
    assert len(rules) >= 12
    names = [rule.get("alert") for rule in rules]
    assert all(names) and len(set(names)) == len(names), names
    for rule in rules:
        assert rule.get("expr", "").strip(), rule["alert"]
        assert re.fullmatch(r"\d+[smh]", str(rule.get("for", ""))), rule["alert"]
        assert rule.get("labels", {}).get("severity") in {"critical", "warning", "info"}, rule["alert"]
        assert rule.get("annotations", {}).get("summary"), rule["alert"]
        assert rule.get("annotations", {}).get("description"), rule["alert"]


def test_the_queue_gauge_is_never_filtered_or_summed_by_worker():
    """agentfcgi_runs_queued has no worker label and is the same on every host of a store: max() across hosts, and a
    worker matcher would drop it whenever the worker variable is not All."""
    for expr in [rule["expr"] for rule in alert_rules()] + dashboard_exprs():
        for selector in re.findall(r"agentfcgi_runs_queued(\{[^}]*\})?", expr):
            assert "worker" not in selector, expr
        if "agentfcgi_runs_queued" in expr:
            assert re.search(r"\bmax\b", expr) and not re.search(r"\bsum\b", expr), expr


def test_dashboard_has_its_variables_and_one_datasource():
    dashboard = json.loads(DASHBOARD.read_text())
    assert 36 <= dashboard["schemaVersion"] <= 41
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert {"instance", "worker"} <= set(variables)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(set(ids)) == len(ids)
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
            assert "instance=~\"$instance\"" in target["expr"], panel["title"]

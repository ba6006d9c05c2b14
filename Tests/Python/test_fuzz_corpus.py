"""A corpus of bad requests sent raw over TLS through nginx: every answer is a 4xx problem+json, the workers stay
up, and nothing is written to the store."""
import json
import os
import socket
import sqlite3
import ssl
import urllib.parse

KEY_PLACEHOLDER = "{key}"
RUN_BODY = '{"assistant_id":"echo","input":{"messages":[{"role":"user","content":"hi"}]}}'

CORPUS = [
    # (method, target, headers, body)
    ("POST", "/threads", {"Content-Type": "application/json"}, "{"),
    ("POST", "/threads", {"Content-Type": "application/json"}, '{"thread_id": "a'),
    ("POST", "/threads", {"Content-Type": "application/json"}, "[" * 5000 + "]" * 5000),
    ("POST", "/threads", {"Content-Type": "application/json"}, '{"thread_id": "x", "metadata": ' + "[" * 40 + "]" * 40 + "}"),
    ("POST", "/threads", {"Content-Type": "application/json"}, '{"ttl": 1e999999}'),
    ("POST", "/threads", {"Content-Type": "application/json"}, '{"ttl": -0.0}'),
    ("POST", "/threads", {"Content-Type": "application/json"}, '{"thread_id": "../../etc/passwd"}'),
    ("POST", "/threads", {"Content-Type": "application/json"}, '{"thread_id": "a\\u0000b"}'),
    ("POST", "/threads", {"Content-Type": "application/json"}, '{"thread_id": 12}'),
    ("POST", "/threads", {"Content-Type": "application/json"}, b'{"thread_id": "\xff\xfe"}'),
    ("POST", "/threads", {"Content-Type": "text/plain"}, "{}"),
    ("POST", "/threads", {"Content-Type": "application/x-www-form-urlencoded"}, "thread_id=x"),
    ("POST", "/threads", {}, "{}"),
    ("POST", "/threads/search", {"Content-Type": "application/json"}, '{"limit": 99999999999999999999999}'),
    ("POST", "/threads/search", {"Content-Type": "application/json"}, '{"status": "sleeping"}'),
    ("POST", "/threads/search", {"Content-Type": "application/json"}, '{"limit": "10"}'),
    ("POST", "/runs", {"Content-Type": "application/json"}, '{"assistant_id": "echo"}'),
    ("POST", "/runs", {"Content-Type": "application/json"}, '{"assistant_id": "nope", "input": {"messages": [{"role": "user", "content": "x"}]}}'),
    ("POST", "/runs", {"Content-Type": "application/json"}, '{"assistant_id": "echo", "input": {"messages": [{"role": "wizard", "content": "x"}]}}'),
    ("POST", "/runs", {"Content-Type": "application/json"}, '{"assistant_id": "echo", "input": {"messages": []}}'),
    ("POST", "/runs", {"Content-Type": "application/json"}, '{"assistant_id": "echo", "input": {"messages": [{"role": "user", "content": "x"}]}, "multitask_strategy": "yolo"}'),
    ("POST", "/runs", {"Content-Type": "application/json"}, '{"assistant_id": "echo", "input": {"messages": [{"role": "user", "content": "x"}]}, "webhook": "http://169.254.169.254/latest"}'),
    ("POST", "/runs", {"Content-Type": "application/json"}, '{"assistant_id": "echo", "input": {"messages": [{"role": "user", "content": "x"}]}, "after_seconds": 1e308}'),
    ("POST", "/runs", {"Content-Type": "application/json", "Idempotency-Key": "k\x01"}, RUN_BODY),
    ("POST", "/runs/wait", {"Content-Type": "application/json"}, '{"assistant_id": "echo", "input": {"messages": [{"role": "user", "content": "' + "x" * 600000 + '"}]}}'),
    ("POST", "/runs/wait", {"Content-Type": "application/json"}, "x" * (2 * 1024 * 1024)),
    ("POST", "/runs/wait", {"Content-Type": "application/json"}, ""),
    ("GET", "/threads/..%2F..%2Fetc%2Fpasswd", {}, None),
    ("GET", "/threads/%00", {}, None),
    ("GET", "/threads/" + "a" * 300, {}, None),
    ("GET", "/threads/x/runs?limit=abc", {}, None),
    ("GET", "/threads/x/runs?status=flying", {}, None),
    ("GET", "/runs/" + "%ff" * 10, {}, None),
    ("GET", "/runs/x/stream", {"Last-Event-ID": "-5"}, None),
    ("GET", "/agents/nope", {}, None),
    ("DELETE", "/threads/does-not-exist", {}, None),
    ("PUT", "/threads", {"Content-Type": "application/json"}, "{}"),
    ("TRACE", "/threads", {}, None),
    ("GET", "/nope/../../etc/passwd", {}, None),
    ("GET", "/threads", {"X-Injected": "a\r\nX-Evil: 1"}, None),
    ("GET", "/threads/search", {"X-Big": "v" * 9000}, None),
    ("POST", "/threads", {"Content-Type": "application/json", "X-Api-Key": "afk_000000000000_forged"}, "{}"),
    ("POST", "/threads", {"Content-Type": "application/json", "Authorization": "Basic YWRtaW46YWRtaW4="}, "{}"),
    ("POST", "/threads", {"Content-Type": "application/json", "X-Api-Key": ""}, "{}"),
]


def raw_request(base_url, method, target, headers, body, version="HTTP/1.1"):
    url = urllib.parse.urlsplit(base_url)
    context = ssl.create_default_context(cafile=os.environ["AGENTFCGI_CA"])
    with socket.create_connection((url.hostname, url.port), timeout=30) as plain:
        with context.wrap_socket(plain, server_hostname=url.hostname) as tls:
            payload = body.encode() if isinstance(body, str) else (body or b"")
            lines = [f"{method} {target} {version}", f"Host: {url.hostname}", "Connection: close"]
            lines += [f"{name}: {value}" for name, value in headers.items()]
            if body is not None:
                lines.append(f"Content-Length: {len(payload)}")
            tls.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)
            data = b""
            while True:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                data += chunk
    head, _, content = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split()[1])
    response_headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        response_headers[name.strip().lower()] = value.strip()
    if response_headers.get("transfer-encoding") == "chunked":
        decoded, rest = b"", content
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0] or b"0", 16)
            if size == 0:
                break
            decoded, rest = decoded + rest[:size], rest[size + 2:]
        content = decoded
    return status, response_headers, content


def counts(database):
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        return {table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("threads", "runs", "run_events", "messages", "idempotency_keys", "webhook_deliveries")}


def test_bad_inputs_get_problems_and_change_nothing(base_url, api_key):
    database = os.environ["AGENTFCGI_DATABASE"]
    before = counts(database)
    failures = []
    for method, target, headers, body in CORPUS:
        headers = dict(headers)
        headers.setdefault("X-Api-Key", api_key)
        if headers["X-Api-Key"] == "" or "Authorization" in headers:
            headers.pop("X-Api-Key") if headers["X-Api-Key"] == api_key or headers["X-Api-Key"] == "" else None
        try:
            status, response_headers, content = raw_request(base_url, method, target, headers, body)
        except Exception as error:  # a connection the server dropped counts as a failure too
            failures.append((method, target[:60], repr(error)))
            continue
        problem_json = response_headers.get("content-type", "").startswith("application/problem+json")
        parsed = json.loads(content) if problem_json and content else None
        if not (400 <= status < 500 and problem_json and parsed and parsed.get("status") == status and parsed.get("code")):
            failures.append((method, target[:60], status, response_headers.get("content-type"), content[:200]))
    assert not failures, failures
    # The workers are all still up, and nothing was stored.
    status, _, content = raw_request(base_url, "GET", "/ok", {}, None)
    assert status == 200 and json.loads(content) == {"ok": True}
    assert counts(database) == before


def test_nginx_answers_what_it_does_not_implement_as_problems(base_url, api_key):
    """nginx's own 501 (a transfer encoding it does not know), 505 (an HTTP version it does not speak) and 414 (a
    request line over 8 KB) are problem+json like every other error, not nginx's HTML pages."""
    cases = [
        ("GET", "/store/items?namespace=a&key=" + "k" * 9000, {"X-Api-Key": api_key}, None, "HTTP/1.1", 414, "uri_too_long"),
        ("POST", "/runs/wait", {"Transfer-Encoding": "gzip", "X-Api-Key": api_key}, None, "HTTP/1.1", 501, "not_implemented"),
        ("GET", "/ok", {}, None, "HTTP/2.0", 505, "http_version_not_supported"),
        ("GET", "/ok", {}, None, "HTTP/3.1", 505, "http_version_not_supported"),
    ]
    for method, target, headers, body, version, expected, code in cases:
        status, response_headers, content = raw_request(base_url, method, target, headers, body, version=version)
        assert status == expected, (version, headers, status, content[:200])
        assert response_headers.get("content-type", "").startswith("application/problem+json"), response_headers
        problem = json.loads(content)
        assert problem["status"] == expected and problem["code"] == code and problem["detail"]

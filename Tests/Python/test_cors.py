"""CORS for browser apps on other origins, set up in nginx (deploy/nginx, CORS_ORIGINS).

scripts/pytest-live.sh starts the service with CORS_ORIGINS="https://chat.example.com http://127.0.0.1:<port>", the
second being the page this file serves to headless chromium. For those origins nginx answers preflights itself and
every answer (JSON, streams, the app's and nginx's own errors, static files) carries Access-Control-Allow-Origin and
exposes Location, Content-Location and X-Request-Id; every other origin gets no CORS header at all. nginx's own error
pages that the shared service cannot be made to produce (502, 429, in both dialects) are checked on a private nginx
rendered from the same templates with no worker behind it, once with CORS on and once off.
"""
import http.client
import http.server
import os
import pathlib
import re
import signal
import ssl
import subprocess
import threading
import time

import httpx
import pytest

import nginx_conf
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

REPO = pathlib.Path(__file__).resolve().parents[2]
ALLOWED = "https://chat.example.com"
METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
EXPOSED = "Location, Content-Location, X-Request-Id, Retry-After, Idempotent-Replayed, X-Should-Retry"
PREFLIGHT_VARY = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
# What a preflight is allowed when it names no headers, or names something that is not a list of header names.
DEFAULT_HEADERS = ("Authorization, Content-Type, Accept, X-Api-Key, Last-Event-ID, Idempotency-Key, X-Request-Id, "
                   "Cache-Control, OpenAI-Organization, OpenAI-Project, OpenAI-Beta, X-Stainless-Arch, X-Stainless-Async, "
                   "X-Stainless-Lang, X-Stainless-OS, X-Stainless-Package-Version, X-Stainless-Retry-Count, "
                   "X-Stainless-Runtime, X-Stainless-Runtime-Version, X-Stainless-Timeout, X-OpenWebUI-Chat-Id")
RUN = {"assistant_id": "echo", "input": {"messages": [{"role": "user", "content": "hello from another origin"}]}}


def cors(response) -> dict:
    """The response's Access-Control-* headers (of an httpx or an http.client response); a repeated one fails."""
    pairs = response.getheaders() if isinstance(response, http.client.HTTPResponse) else response.headers.multi_items()
    found = [(name.lower(), value) for name, value in pairs if name.lower().startswith("access-control-")]
    assert len(found) == len({name for name, _ in found}), f"a CORS header appears twice: {found}"
    return dict(found)


def vary(response) -> str:
    return ", ".join(response.headers.get_list("vary"))


def answered_for(origin: str) -> dict:
    return {"access-control-allow-origin": origin, "access-control-expose-headers": EXPOSED}


@pytest.fixture(scope="module")
def tls() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=os.environ["AGENTFCGI_CA"])


@pytest.fixture(scope="module")
def api(base_url, tls):
    with httpx.Client(base_url=base_url, verify=tls, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def page_origin() -> str:
    """The origin of the page served to chromium, one of the service's CORS_ORIGINS."""
    port = os.environ.get("AGENTFCGI_CORS_PAGE_PORT")
    if not port:
        pytest.fail("AGENTFCGI_CORS_PAGE_PORT is not set: run these tests through scripts/pytest-live.sh")
    return f"http://127.0.0.1:{port}"


def access_log_line(request_id: str) -> str:
    """nginx's access log line of a request (format agentfcgi: ... upstream=<worker or -> ... id=<request id>)."""
    path = pathlib.Path(os.environ["AGENTFCGI_ACCESS_LOG"])
    for _ in range(50):
        for line in path.read_text().splitlines():
            if f" id={request_id} " in line:
                return line
        time.sleep(0.1)
    raise AssertionError(f"no access log line for request {request_id}")


def upstream(request_id: str) -> str:
    return re.search(r" upstream=(\S+) ", access_log_line(request_id)).group(1)


# ---- preflights ----

def test_preflight_from_an_allowed_origin_is_answered_by_nginx(api, page_origin):
    asked = "authorization,content-type,x-api-key,last-event-id,idempotency-key,x-request-id,x-stainless-retry-count"
    for origin in (ALLOWED, page_origin):
        response = api.options("/threads/t1/runs/stream", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": asked})
        assert response.status_code == 204 and response.content == b""
        assert cors(response) == {"access-control-allow-origin": origin, "access-control-allow-methods": METHODS,
                                  "access-control-allow-headers": asked, "access-control-max-age": "7200"}
        assert vary(response) == PREFLIGHT_VARY
        assert upstream(response.headers["X-Request-Id"]) == "-", "a preflight never reaches a worker"
    # Without requested headers, or with something that is not a list of header names: the API's own list.
    for asked in (None, "x-a,(x)", "x" * 65):
        headers = {"Origin": ALLOWED, "Access-Control-Request-Method": "DELETE"}
        if asked:
            headers["Access-Control-Request-Headers"] = asked
        response = api.options("/threads/t1", headers=headers)
        assert response.status_code == 204
        assert response.headers["Access-Control-Allow-Headers"] == DEFAULT_HEADERS


def test_other_origins_and_plain_options_reach_the_workers_without_cors_headers(api):
    plain = api.options("/runs/stream")
    assert not cors(plain) and upstream(plain.headers["X-Request-Id"]) != "-"
    # A near miss is a miss: another scheme, a longer host, a port, a path, "null", another case.
    for origin in ("https://evil.example.com", "http://chat.example.com", "https://chat.example.com.evil.example.com",
                   "https://chat.example.com:8443", "https://chat.example.com/", "null", "HTTPS://CHAT.EXAMPLE.COM"):
        for headers in ({"Origin": origin, "Access-Control-Request-Method": "POST"}, {"Origin": origin}):
            response = api.options("/runs/stream", headers=headers)
            assert response.status_code == plain.status_code, (origin, headers)
            assert not cors(response), (origin, cors(response))
            assert vary(response) == "Origin"
            assert upstream(response.headers["X-Request-Id"]) != "-"
    # Without an Origin, a request that looks like a preflight is an ordinary OPTIONS.
    response = api.options("/runs/stream", headers={"Access-Control-Request-Method": "POST"})
    assert response.status_code == plain.status_code and not cors(response)


# ---- actual responses ----

def test_json_answers_carry_cors_headers_for_allowed_origins_only(api, api_key):
    response = api.post("/runs/wait", json=RUN, headers={"X-Api-Key": api_key, "Origin": ALLOWED})
    assert response.status_code == 200
    assert cors(response) == answered_for(ALLOWED)
    assert vary(response) == "Origin"
    assert response.headers["Content-Location"].startswith("/runs/")
    for headers in ({}, {"Origin": "https://evil.example.com"}):
        response = api.post("/runs/wait", json=RUN, headers={"X-Api-Key": api_key, **headers})
        assert response.status_code == 200 and not cors(response)
        # Vary: Origin even without one, so that no cache serves this answer to an allowed origin.
        assert vary(response) == "Origin"


def test_a_stream_carries_cors_headers(api, api_key):
    with api.stream("POST", "/runs/stream", json=RUN, headers={"X-Api-Key": api_key, "Origin": ALLOWED}) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert cors(response) == answered_for(ALLOWED)
        assert vary(response) == "Origin"
        body = response.read().decode()
    assert "event: metadata" in body and "event: end" in body


def test_errors_and_static_files_carry_cors_headers(api, api_key, base_url, tls):
    origin = {"Origin": ALLOWED}
    cases = {
        "no key (401)": api.post("/runs/wait", json=RUN, headers=origin),
        "unknown thread (404 problem)": api.get("/threads/no-such-thread", headers={"X-Api-Key": api_key, **origin}),
        "unknown route (404)": api.get("/no/such/route", headers={"X-Api-Key": api_key, **origin}),
        "invalid body (422)": api.post("/runs/wait", json={"assistant_id": "echo", "input": {"messages": 5}},
                                        headers={"X-Api-Key": api_key, **origin}),
        "nginx's 405 (a location with add_header of its own)": api.post("/docs/index.html", content=b"{}", headers=origin),
        "nginx's 405 for TRACE": api.request("TRACE", "/ok", headers=origin),
        "static docs": api.get("/docs/", headers=origin),
        "static spec": api.get("/openapi.json", headers=origin),
    }
    statuses = {name: response.status_code for name, response in cases.items()}
    assert statuses == {"no key (401)": 401, "unknown thread (404 problem)": 404, "unknown route (404)": 404,
                        "invalid body (422)": 422, "nginx's 405 (a location with add_header of its own)": 405,
                        "nginx's 405 for TRACE": 405, "static docs": 200, "static spec": 200}
    for name, response in cases.items():
        assert cors(response) == answered_for(ALLOWED), name
        assert vary(response) == "Origin", name
    assert cases["no key (401)"].headers["Content-Type"] == "application/problem+json"
    # nginx's 413s, in both dialects: the Content-Length alone decides, so no body is sent.
    # (/threads keeps 1 MiB; the run routes, like /v1, take 20 MiB for images and files.)
    for path, limit in (("/threads", 1 << 20), ("/v1/chat/completions", 20 << 20)):
        response = raw_post(base_url, tls, path, limit + 1, origin)
        assert response.status == 413, path
        assert cors(response) == answered_for(ALLOWED)


def raw_post(base_url: str, tls: ssl.SSLContext, path: str, length: int, headers: dict, port: int = 0):
    """A POST that announces a body it never sends: nginx answers 413 from the Content-Length."""
    host, _, url_port = base_url.removeprefix("https://").partition(":")
    connection = http.client.HTTPSConnection(host, port or int(url_port), context=tls, timeout=10)
    connection.putrequest("POST", path)
    for name, value in {**headers, "Content-Type": "application/json", "Content-Length": str(length)}.items():
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


# ---- nginx's own error pages, on a private nginx with no worker ----

def free_port() -> int:
    return int(subprocess.check_output(["bash", str(REPO / "scripts/free-port.sh")], text=True))


@pytest.mark.parametrize("cors_on", [True, False], ids=["cors-on", "cors-off"])
def test_nginx_error_pages_with_cors_on_and_off(tmp_path, tls, cors_on):
    certs = pathlib.Path(os.environ["AGENTFCGI_CA"]).parent
    port = free_port()
    prefix = tmp_path / "nginx"
    environment = {**os.environ, "PREFIX": str(prefix), "UPSTREAMS": f"unix:{tmp_path}/nobody.sock",
                   "TLS_CERT": str(certs / "server.crt"), "TLS_KEY": str(certs / "server.key"),
                   "HTTPS_PORT": str(port), "HTTP_PORT": str(free_port()), "DOCS_ROOT": str(tmp_path / "docs"),
                   # A key may send 2 requests a minute (1 + burst 1); the address is not limited.
                   "RATE": "10000r/s", "KEY_RATE": "1r/m", "BURST": "1", "METRICS_ALLOW": "",
                   "CORS_ORIGINS": ALLOWED if cors_on else ""}
    environment.pop("NGINX_USER", None)
    # Rendered, checked and started the way scripts/run.sh does it.
    subprocess.run([str(REPO / "scripts/launch.sh"), "nginx-config"], env=environment, check=True, capture_output=True)
    check_every_location_repeats_the_cors_headers((prefix / "conf/agentfcgi.conf").read_text())
    nginx = subprocess.Popen([str(REPO / "scripts/launch.sh"), "nginx", str(prefix)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=tls, timeout=10) as client:
            for _ in range(100):
                try:
                    client.get("/favicon.ico")
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            origin = {"Origin": ALLOWED}
            key_a = {"X-Api-Key": "afk_aaaaaaaaaaaa_test", **origin}
            key_b = {"Authorization": "Bearer afk_bbbbbbbbbbbb_test", **origin}
            answers = [
                ("/ok: 502", 502, client.get("/ok", headers=origin)),
                ("/v1: 502", 502, client.get("/v1/models", headers=origin)),
                ("key a, 1st", 502, client.post("/runs/wait", json=RUN, headers=key_a)),
                ("key a, 2nd", 502, client.post("/runs/wait", json=RUN, headers=key_a)),
                ("key a: 429", 429, client.post("/runs/wait", json=RUN, headers=key_a)),
                ("key b, 1st", 502, client.post("/v1/chat/completions", json={}, headers=key_b)),
                ("key b, 2nd", 502, client.post("/v1/chat/completions", json={}, headers=key_b)),
                ("key b: /v1 429", 429, client.post("/v1/chat/completions", json={}, headers=key_b)),
                ("/metrics: nginx's 404", 404, client.get("/metrics", headers=origin)),
                ("TRACE: nginx's 405", 405, client.request("TRACE", "/ok", headers=origin)),
                # A header line above 8 KB (large_client_header_buffers) after the Origin.
                ("431", 431, client.get("/ok", headers={**origin, "X-Large": "x" * 9000})),
            ]
            # A preflight, even one sent with key a's exhausted key, is answered without counting (with CORS on).
            preflight = client.options("/runs/wait", headers={**key_a, "Access-Control-Request-Method": "POST"})
        too_large = [raw_post(f"https://127.0.0.1:{port}", tls, path, size, origin)
                     for path, size in (("/threads", 2 << 20), ("/v1/chat/completions", 21 << 20))]
    finally:
        nginx.send_signal(signal.SIGTERM)
        nginx.wait(timeout=10)

    assert [(name, response.status_code) for name, _, response in answers] == [(name, status) for name, status, _ in answers]
    assert answers[4][2].headers["Retry-After"] == "1" and answers[7][2].headers["Retry-After"] == "1"
    assert answers[1][2].json()["error"]["code"] == "upstream_unavailable"
    assert [response.status for response in too_large] == [413, 413]
    for name, _, response in answers:
        assert cors(response) == (answered_for(ALLOWED) if cors_on else {}), name
        assert vary(response) == ("Origin" if cors_on else ""), name
    for response in too_large:
        assert cors(response) == (answered_for(ALLOWED) if cors_on else {})
        assert (response.getheader("Vary") or "") == ("Origin" if cors_on else "")
    if cors_on:
        assert preflight.status_code == 204
        assert preflight.headers["Access-Control-Allow-Origin"] == ALLOWED
    else:
        assert preflight.status_code == 429 and not cors(preflight), "without CORS an OPTIONS is an ordinary request"


def check_every_location_repeats_the_cors_headers(site: str):
    """add_header in a location drops every add_header of the server: each such location must repeat the CORS ones."""
    cors_lines = {"add_header Access-Control-Allow-Origin $agentfcgi_cors_origin always;",
                  "add_header Access-Control-Expose-Headers $agentfcgi_cors_expose always;",
                  "add_header Vary $agentfcgi_cors_vary always;"}
    blocks = nginx_conf.blocks(site)
    checked = 0
    for head, lines in blocks:
        if (head.startswith("location") or head.startswith("server")) and any(l.startswith("add_header") for l in lines):
            assert cors_lines <= set(lines), f"{head} has add_header but not every CORS one"
            checked += 1
    assert checked >= 4  # the HTTPS server, @too_many, @v1_too_many, @not_allowed


# ---- a real browser on another origin ----

PAGE = b"<!doctype html><meta charset=utf-8><title>another origin</title><p>a page that calls the API</p>"


class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args):
        pass


@pytest.fixture
def serve_page():
    servers = []

    def serve(port: int) -> str:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Page)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--ignore-certificate-errors", "--disable-gpu"):
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


# Runs in the page: the calls a browser client makes (LangGraph's with X-Api-Key, OpenAI's with a bearer key and
# its X-Stainless-* headers), and what the page can read of each answer.
CALLS = """
const [base, key, done] = arguments;
const json = {"Content-Type": "application/json", "X-Api-Key": key};
const run = JSON.stringify({assistant_id: "echo", input: {messages: [{role: "user", content: "hello from another origin"}]}});
const seen = r => ({status: r.status, contentLocation: r.headers.get("Content-Location"), location: r.headers.get("Location"),
                    requestId: r.headers.get("X-Request-Id"), hsts: r.headers.get("Strict-Transport-Security"),
                    contentType: r.headers.get("Content-Type")});
const call = async (name, path, init, body) => {
    try { const r = await fetch(base + path, init); out[name] = {...seen(r), body: await r[body]()}; }
    catch (e) { out[name] = {failed: String(e)}; }
};
const out = {};
(async () => {
    await call("ok", "/ok", {}, "json");
    await call("wait", "/runs/wait", {method: "POST", headers: json, body: run}, "json");
    await call("thread", "/threads", {method: "POST", headers: json, body: "{}"}, "json");
    const thread = out.thread.body ? out.thread.body.thread_id : "none";
    await call("stream", `/threads/${thread}/runs/stream`,
               {method: "POST", headers: {...json, "Idempotency-Key": "cors-" + Date.now()}, body: run}, "text");
    await call("openai", "/v1/chat/completions", {method: "POST", headers: {
        "Content-Type": "application/json", "Authorization": "Bearer " + key, "X-Stainless-Lang": "js",
        "X-Stainless-Retry-Count": "0", "X-Stainless-Timeout": "600"},
        body: JSON.stringify({model: "echo", messages: [{role: "user", content: "hi"}]})}, "json");
    await call("unauthorized", "/runs/wait", {method: "POST", headers: {...json, "X-Api-Key": "afk_000000000000_wrong"}, body: run}, "json");
    done(out);
})();
"""


def test_a_page_on_an_allowed_origin_calls_the_api_and_reads_the_exposed_headers(browser, serve_page, page_origin,
                                                                                 base_url, api_key):
    page = serve_page(int(page_origin.rsplit(":", 1)[1]))
    assert page == page_origin
    browser.get(page + "/")
    log = pathlib.Path(os.environ["AGENTFCGI_ACCESS_LOG"])
    logged_before = log.stat().st_size
    out = browser.execute_async_script(CALLS, base_url, api_key)
    assert {name: result.get("status", result.get("failed")) for name, result in out.items()} == {
        "ok": 200, "wait": 200, "thread": 200, "stream": 200, "openai": 200, "unauthorized": 401}
    request_id = re.compile(r"^[0-9a-f]{32}$")
    for name, result in out.items():
        assert request_id.match(result["requestId"] or ""), (name, result["requestId"])
        # Only what nginx exposes is readable: the page cannot see HSTS, which it has no use for.
        assert result["hsts"] is None, name
    assert out["wait"]["contentLocation"].startswith("/runs/")
    assert out["wait"]["body"]["messages"][-1]["content"] == "You said: hello from another origin"
    thread = out["thread"]["body"]["thread_id"]
    assert re.fullmatch(rf"/threads/{thread}/runs/[^/]+/stream", out["stream"]["location"]), out["stream"]["location"]
    assert out["stream"]["contentLocation"] == out["stream"]["location"].removesuffix("/stream")
    assert out["stream"]["contentType"].startswith("text/event-stream") and "event: end" in out["stream"]["body"]
    assert out["openai"]["body"]["choices"][0]["message"]["content"] == "You said: hi"
    assert out["unauthorized"]["contentType"] == "application/problem+json"
    # The browser's preflights were answered by nginx: none reached a worker.
    with log.open("rb") as file:
        file.seek(logged_before)
        preflights = [line for line in file.read().decode().splitlines() if '"OPTIONS ' in line]
    # One per call with a non-simple header (all but GET /ok), unless chromium reused a cached answer for a path.
    assert len(preflights) >= 4 and all(" 204 " in line and " upstream=- " in line for line in preflights), preflights
    assert any(f'"OPTIONS /threads/{thread}/runs/stream ' in line for line in preflights), preflights


def test_a_page_on_another_origin_cannot_read_anything(browser, serve_page, base_url, api_key):
    page = serve_page(0)  # any free port: an origin that is not configured
    browser.get(page + "/")
    out = browser.execute_async_script(CALLS, base_url, api_key)
    # Simple requests (GET /ok) reach the server but the page may not read them; the rest fail at the preflight.
    assert set(out) == {"ok", "wait", "thread", "stream", "openai", "unauthorized"}
    for name, result in out.items():
        assert result.get("failed", "").startswith("TypeError: Failed to fetch"), (name, result)

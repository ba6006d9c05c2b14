"""nginx against slow and greedy clients, and what its logs keep (#24 items 10 and 14).

- Logs: the error log is not world-readable (0640), and neither log holds a query string, not even for the requests
  that a limit rejects (nginx writes those with their request line unless their log level is below the error log's).
- Slow clients: a header or a body that does not arrive within HEADER_TIMEOUT / BODY_TIMEOUT loses its connection.
- Greedy clients: one address has at most MAX_CONNS requests in progress, on every route (the stream locations, which
  have a limit_conn of their own and so inherit none, repeat it); the next is a 429 problem.

Limits and timeouts small enough to test would disturb the shared service, so each test renders a private nginx from
the same templates (deploy/nginx/render.sh) in front of the shared service's workers.
"""
import contextlib
import json
import os
import pathlib
import re
import signal
import socket
import ssl
import subprocess
import time

import nginx_conf

REPO = pathlib.Path(__file__).resolve().parents[2]
SECRET = "afk_secret123"
QUERY = "?api_key=" + SECRET


def shared_prefix() -> pathlib.Path:
    """The shared service's nginx prefix (conf/, logs/): its access log is in logs/."""
    return pathlib.Path(os.environ["AGENTFCGI_ACCESS_LOG"]).parent.parent


def free_port() -> int:
    return int(subprocess.check_output(["bash", str(REPO / "scripts/free-port.sh")], text=True))


@contextlib.contextmanager
def private_nginx(tmp_path: pathlib.Path, **knobs):
    """nginx rendered with these render.sh variables, passing to the shared service's workers; yields (port, prefix)."""
    site = (shared_prefix() / "conf/agentfcgi.conf").read_text()
    upstreams = re.findall(r"^\s*server (\S+) max_fails", site, re.M)
    assert upstreams, "no worker in the shared service's nginx configuration"
    certs = pathlib.Path(os.environ["AGENTFCGI_CA"]).parent
    port = free_port()
    prefix = tmp_path / "nginx"
    environment = {**os.environ, "PREFIX": str(prefix), "UPSTREAMS": " ".join(upstreams),
                   "TLS_CERT": str(certs / "server.crt"), "TLS_KEY": str(certs / "server.key"),
                   "HTTPS_PORT": str(port), "HTTP_PORT": str(free_port()), "DOCS_ROOT": str(tmp_path / "docs"),
                   "METRICS_ALLOW": "", **knobs}
    # As root, nginx's workers run as the user that may connect to the workers' sockets, as scripts/run.sh has them.
    environment.pop("NGINX_USER", None)
    if os.geteuid() == 0:
        environment["NGINX_USER"] = "www-data"
    # Rendered, checked and started the way scripts/run.sh does it.
    subprocess.run([str(REPO / "scripts/launch.sh"), "nginx-config"], env=environment, check=True, capture_output=True)
    nginx = subprocess.Popen([str(REPO / "scripts/launch.sh"), "nginx", str(prefix)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                if request(port, "GET", "/favicon.ico")[0] == 204:
                    break
            except OSError:
                time.sleep(0.05)
        yield port, prefix
    finally:
        nginx.send_signal(signal.SIGTERM)
        nginx.wait(timeout=10)


def connect(port: int, timeout: float = 10) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=os.environ["AGENTFCGI_CA"])
    plain = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return context.wrap_socket(plain, server_hostname="127.0.0.1")


def head(method: str, target: str, headers: dict | None = None, length: int | None = None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if length is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {length}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_all(tls: ssl.SSLSocket) -> bytes:
    data = b""
    while chunk := tls.recv(65536):
        data += chunk
    return data


def parse(data: bytes):
    """(status, lower-cased headers, body) of a whole HTTP/1.1 answer."""
    head_, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head_.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def request(port: int, method: str, target: str, headers: dict | None = None, body: str | None = None):
    with connect(port) as tls:
        payload = (body or "").encode()
        tls.sendall(head(method, target, headers, len(payload) if body is not None else None) + payload)
        return parse(read_all(tls))


def hold(port: int, method: str, target: str, headers: dict | None = None) -> ssl.SSLSocket:
    """A request whose header is complete and whose body never comes: nginx counts it until the body times out."""
    tls = connect(port)
    tls.sendall(head(method, target, headers, length=10))
    return tls


def open_stream(port: int, target: str, api_key: str) -> ssl.SSLSocket:
    """A run's event stream, open until the socket is closed (echo-slow says 40 words over 6 s)."""
    body = json.dumps({"assistant_id": "echo-slow",
                       "input": {"messages": [{"role": "user", "content": " ".join(f"w{i}" for i in range(40))}]}})
    tls = connect(port)
    tls.sendall(head("POST", target, {"X-Api-Key": api_key}, len(body.encode())) + body.encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = tls.recv(65536)
        assert chunk, f"the stream closed before its head: {data!r}"
        data += chunk
    assert data.startswith(b"HTTP/1.1 200 "), data[:300]
    return tls


def problem_429(answer) -> dict:
    status, headers, body = answer
    assert status == 429, (status, body[:300])
    assert headers.get("content-type", "").startswith("application/problem+json"), headers
    assert headers.get("retry-after") == "1", headers
    problem = json.loads(body)
    assert problem["status"] == 429 and problem["code"] == "rate_limited", problem
    return problem


# ---- logs ----

def test_logs_hold_no_query_string_and_the_error_log_is_private(tmp_path, base_url, api_key):
    """Requests with a key in the query string, some of them rejected by each limit (per key, open streams, requests
    in progress): the key is in neither log, and the error log is 0640, on a private nginx and on the shared one."""
    with private_nginx(tmp_path, RATE="10000r/s", KEY_RATE="1r/m", BURST="2", MAX_STREAMS="1",
                       MAX_CONNS="2") as (port, prefix):
        ok = request(port, "GET", "/ok" + QUERY)
        # limit_req: a key may send 3 requests a minute (1 + burst 2); the 4th is refused.
        fake = {"X-Api-Key": "afk_aaaaaaaaaaaa_notakey"}
        by_key = [request(port, "GET", "/info" + QUERY, fake) for _ in range(4)]
        stream = open_stream(port, "/runs/stream" + QUERY, api_key)
        try:
            # limit_conn, open streams: one per address.
            second = request(port, "POST", "/runs/stream" + QUERY, {"X-Api-Key": api_key}, "{}")
            # limit_conn, requests in progress: the stream and a held request are two; a third is refused.
            held = hold(port, "POST", "/threads" + QUERY)
            try:
                third = poll_until_429(port, "/ok" + QUERY)
            finally:
                held.close()
        finally:
            stream.close()
        private_logs = prefix / "logs"

    assert ok[0] == 200, ok
    assert [status == 429 for status, _, _ in by_key] == [False, False, False, True], [a[0] for a in by_key]
    problem_429(by_key[3])
    assert "open streams" in problem_429(second)["detail"]
    assert "open streams" in problem_429(third)["detail"]

    # The shared service too: its error log was made by render.sh under scripts/run.sh.
    with connect(int(base_url.rsplit(":", 1)[1])) as tls:
        tls.sendall(head("GET", "/ok" + QUERY))
        assert parse(read_all(tls))[0] == 200
    for logs in (private_logs, shared_prefix() / "logs"):
        assert oct((logs / "error.log").stat().st_mode & 0o777) == "0o640", logs / "error.log"
        # access.log: `$uri`, the path without its query; error.log: no request line at the limits' level.
        for name in ("access.log", "error.log"):
            text = read_settled(logs / name)
            assert SECRET not in text, f"{logs / name}: " + "\n".join(l for l in text.splitlines() if SECRET in l)
    access = read_settled(private_logs / "access.log")
    assert '"GET /ok HTTP/1.1" 200 ' in access and '"GET /info HTTP/1.1" 429 ' in access, access
    assert '"POST /runs/stream HTTP/1.1" 429 ' in access and '"GET /ok HTTP/1.1" 429 ' in access, access


def poll_until_429(port: int, target: str, seconds: float = 5):
    """The held request counts once nginx has read its header: ask until it does (at most `seconds`)."""
    deadline = time.monotonic() + seconds
    while True:
        answer = request(port, "GET", target)
        if answer[0] == 429 or time.monotonic() > deadline:
            return answer
        time.sleep(0.05)


def read_settled(path: pathlib.Path) -> str:
    """A log's text once nginx has written its last line (lines of requests just closed may trail by a moment)."""
    time.sleep(0.3)
    return path.read_text(errors="replace")


# ---- slow clients ----

def test_a_header_or_body_sent_too_slowly_loses_its_connection(tmp_path):
    """Slow-loris: a client that opens TLS, sends part of a header and stops is disconnected after HEADER_TIMEOUT;
    one that sends a header and stops in the middle of its body after BODY_TIMEOUT. nginx's defaults are 60 s each."""
    with private_nginx(tmp_path, HEADER_TIMEOUT="2s", BODY_TIMEOUT="2s") as (port, _):
        closed_after = {}
        for name, sent in (("header", b"GET /ok HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a"),
                           ("body", head("POST", "/threads", length=100) + b'{"thread_i')):
            with connect(port, timeout=12) as tls:
                tls.sendall(sent)
                start = time.monotonic()
                try:
                    answer = read_all(tls)
                except (ConnectionResetError, ssl.SSLError):
                    answer = b""
                except TimeoutError:
                    answer = b"(still open after 12 s)"
                closed_after[name] = (round(time.monotonic() - start, 1), answer[:60])
    for name, (seconds, answer) in closed_after.items():
        assert 1.5 <= seconds <= 6, (name, seconds, answer)
        # nginx closes without an answer, or with a 408 for a body.
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408 "), (name, answer)


# ---- requests in progress per address ----

def test_requests_in_progress_per_address_are_capped(tmp_path, api_key):
    """MAX_CONNS=2: with two requests in progress from one address (one on a stream route, which has a limit_conn of
    its own), the next request on any route is a 429 problem (OpenAI's error under /v1); once they end, it passes."""
    check_every_limit_conn_location_repeats_the_cap((shared_prefix() / "conf/agentfcgi.conf").read_text())
    with private_nginx(tmp_path, MAX_CONNS="2") as (port, _):
        held = [hold(port, "POST", "/threads"), hold(port, "POST", "/runs/stream")]
        try:
            first = poll_until_429(port, "/ok")
            stream = request(port, "POST", "/runs/stream", {"X-Api-Key": api_key}, "{}")
            v1 = request(port, "GET", "/v1/models", {"Authorization": "Bearer " + api_key})
        finally:
            for tls in held:
                tls.close()
        time.sleep(0.3)  # nginx sees the held connections close
        after = request(port, "GET", "/ok")
    problem_429(first)
    problem_429(stream)
    assert v1[0] == 429 and json.loads(v1[2])["error"]["code"] == "rate_limited", v1
    assert after[0] == 200, after


def check_every_limit_conn_location_repeats_the_cap(site: str):
    """limit_conn in a location drops the server's: each location with one must name the per-address cap too."""
    blocks = nginx_conf.blocks(site)
    limited = [(head_, lines) for head_, lines in blocks
               if head_.startswith(("location", "server")) and any(l.startswith("limit_conn ") for l in lines)]
    for head_, lines in limited:
        assert any(l.startswith("limit_conn agentfcgi_conns ") for l in lines), f"{head_} drops the per-address cap"
    assert len(limited) >= 4  # the HTTPS server, /v1/, the stream routes, /mcp

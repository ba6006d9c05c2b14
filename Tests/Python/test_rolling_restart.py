"""A rolling restart under load (#24): nginx and three workers of their own (scripts/run.sh). While plain requests and
event streams of stored runs go on, `scripts/run.sh restart` restarts every worker in turn and `scripts/run.sh reload`
reloads nginx. Every plain request gets its answer, none retried. Every stream, resumed with Last-Event-ID whenever it
is cut, holds its run's event list as the log stores it: ids 1..N, each once, in order, ending with `end`; and the run
succeeded with its whole answer. At most 200 requests, about a minute.

What may cut a stream: the worker serving it drains (--drain-timeout, here 6 s), or it went through an nginx worker
that a reload retired (worker_shutdown_timeout, 15 s). A background run whose worker drains goes back to the queue and
another worker runs it again (attempt 2), so its log holds both attempts; the reader sees both.

Plain requests go each on a connection of its own: a kept-alive connection that nginx closes at a reload can race a
request sent on it, which only the client may retry, and only when the request is idempotent (RFC 9110 9.2.2);
these include POSTs, which are not."""
import json
import os
import pathlib
import signal
import ssl
import subprocess
import threading
import time

import httpx
import pytest
from local_ports import free_port

REPO = pathlib.Path(__file__).resolve().parents[2]
WORKERS = 3
TOKEN_MS = 200
LONG = " ".join(f"w{i}" for i in range(90))  # a background run: about 18 s of tokens, more than a worker's drain
SHORT = " ".join(f"s{i}" for i in range(12))  # a streamed run: about 2.5 s, less than the drain
MAX_REQUESTS = 200


@pytest.fixture(scope="module")
def cluster():
    state = REPO / ".state" / "pytest-rolling"
    subprocess.run(["rm", "-rf", str(state)], check=True)
    state.mkdir(parents=True)
    config = state / "agents.yaml"
    config.write_text(f"""agents:
  - id: echo-slow
    model: {{provider: builtin, token_delay_ms: {TOKEN_MS}}}
  - id: echo-fast
    model: {{provider: builtin, token_delay_ms: 0}}
""")
    binary = os.environ.get("AGENTFCGI_BIN") or str(REPO / ".build" / "debug" / "agentfcgi")
    # A store of its own: the suite's service (whose database AGENTFCGI_DATABASE names) must not take these runs.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTFCGI_")}
    https_port = free_port()
    env = {**env, "AGENTFCGI_BIN": binary, "AGENTFCGI_STATE": str(state / "run"), "WORKERS": str(WORKERS),
           "CONFIG": str(config), "HTTPS_PORT": str(https_port), "HTTP_PORT": str(free_port()),
           "WORKER_ARGS": "--drain-timeout 6",
           # The rate limits are not under test here.
           "RATE": "500r/s", "KEY_RATE": "500r/s", "BURST": "500", "MAX_STREAMS": "0"}
    log = state / "run.log"
    service = subprocess.Popen(["setsid", "bash", str(REPO / "scripts" / "run.sh")], env=env, stdout=open(log, "w"),
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"https://127.0.0.1:{https_port}"
    ca = state / "run" / "certs" / "ca.crt"
    deadline = time.monotonic() + 120
    try:
        while True:
            if service.poll() is not None:
                pytest.fail("run.sh exited: " + log.read_text()[-3000:])
            try:
                if ca.exists() and httpx.get(f"{url}/ok", verify=ssl.create_default_context(cafile=str(ca)),
                                             timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the service did not start: " + log.read_text()[-3000:]
            time.sleep(0.3)
        yield {"url": url, "ca": str(ca), "key": (state / "run" / "api-key").read_text().strip(), "env": env,
               "log": log, "state": state / "run"}
    finally:
        service.send_signal(signal.SIGTERM)
        try:
            service.wait(timeout=60)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()


class Counter:
    """Every HTTP request the test makes, against the bound of 200."""

    def __init__(self):
        self.lock = threading.Lock()
        self.count = 0

    def add(self):
        with self.lock:
            self.count += 1


def parse_sse(lines):
    """Frames as (id or None, event, data) from an iterator of lines; comments (pings) skipped."""
    frame = {}
    for line in lines:
        if line == "":
            if "event" in frame or "data" in frame:
                yield frame.get("id"), frame.get("event", "message"), "\n".join(frame.get("data", []))
            frame = {}
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                frame.setdefault("data", []).append(value)
            elif field in ("id", "event"):
                frame[field] = value


class Stream:
    """One run's events as a client reads them: from a POST .../runs/stream, or by joining a background run, and
    resumed with Last-Event-ID each time the stream ends without `end` or the connection breaks."""

    def __init__(self, http, counter, thread, run=None, body=None):
        self.http, self.counter, self.thread, self.run, self.body = http, counter, thread, run, body
        self.frames = []      # (id, event, data) as received
        self.resumes = 0
        self.problems = []    # answers other than 200 (none expected)
        self.ended = False

    def read(self, deadline, resume=True):
        first = True
        while not self.ended and time.monotonic() < deadline:
            headers = {"Connection": "close"}
            if first and self.body is not None:
                request = self.http.build_request("POST", f"/threads/{self.thread}/runs/stream", json=self.body,
                                                  headers=headers)
            else:
                if self.frames:
                    headers["Last-Event-ID"] = self.frames[-1][0]
                request = self.http.build_request("GET", f"/threads/{self.thread}/runs/{self.run}/stream",
                                                  headers=headers)
            creating = first and self.body is not None
            first = False
            self.counter.add()
            try:
                response = self.http.send(request, stream=True)
                try:
                    if response.status_code != 200:
                        self.problems.append(f"{request.method} {request.url.path}: {response.status_code} "
                                             f"{response.read()[:300]!r}")
                        if creating:
                            return  # the run was not made: a failed request, not a stream to resume
                        time.sleep(0.5)
                        continue
                    if creating:
                        self.run = response.headers["Content-Location"].rsplit("/", 1)[1]
                    for frame in parse_sse(response.iter_lines()):
                        self.frames.append(frame)
                        if frame[1] == "end":
                            self.ended = True
                            break
                finally:
                    response.close()
            except httpx.TransportError as error:
                if creating and self.run is None:
                    self.problems.append(f"POST /threads/{self.thread}/runs/stream: {error!r}")
                    return
            if not self.ended:
                if not resume:
                    return
                self.resumes += 1


def test_a_rolling_restart_and_an_nginx_reload_lose_no_request_and_no_event(cluster):
    tls = ssl.create_default_context(cafile=cluster["ca"])
    key = {"X-Api-Key": cluster["key"]}
    counter = Counter()
    resume = os.environ.get("ROLLING_TEST_RESUME", "1") == "1"  # 0: show what a client that does not resume loses
    http = httpx.Client(base_url=cluster["url"], verify=tls, headers=key, timeout=60)
    failures, answered = [], []
    stop = threading.Event()

    def call(method, path, body=None):
        counter.add()
        try:
            response = http.request(method, path, json=body, headers={"Connection": "close"})
        except httpx.TransportError as error:
            failures.append(f"{method} {path}: {error!r}")
            return None
        if response.status_code != 200:
            failures.append(f"{method} {path}: {response.status_code} {response.text[:300]}")
            return None
        answered.append(path)
        return response.json()

    def message(text):
        return {"messages": [{"role": "user", "content": text}]}

    # The background runs, started before the restart: each runs across several workers' drains.
    background = []
    for _ in range(4):
        thread = call("POST", "/threads", {})["thread_id"]
        run = call("POST", f"/threads/{thread}/runs", {"assistant_id": "echo-slow", "input": message(LONG)})
        background.append(Stream(http, counter, thread, run=run["run_id"]))
    deadline = time.monotonic() + 100
    readers = [threading.Thread(target=s.read, args=(deadline, resume)) for s in background]
    for reader in readers:
        reader.start()

    # Plain requests, one every 0.3 s, none retried: stateless runs, threads, stored runs, reads.
    thread_for_reads = call("POST", "/threads", {})["thread_id"]
    streamed = []

    def load():
        n = 0
        while not stop.is_set() and counter.count < MAX_REQUESTS - 60:
            n += 1
            kind = n % 4
            if kind == 0:
                call("POST", "/runs/wait", {"assistant_id": "echo-fast", "input": message(f"plain {n}")})
            elif kind == 1:
                call("POST", f"/threads/{thread_for_reads}/runs/wait", {"assistant_id": "echo-fast",
                                                                        "input": message(f"stored {n}")})
            elif kind == 2:
                call("GET", f"/threads/{thread_for_reads}")
            else:
                call("POST", "/threads", {})
            time.sleep(0.3)

    def streams():
        # A streamed run every 3 s: shorter than a drain, so one that a draining worker runs still ends well.
        while not stop.is_set() and len(streamed) < 10:
            thread = call("POST", "/threads", {})
            if thread is None:
                continue
            s = Stream(http, counter, thread["thread_id"],
                       body={"assistant_id": "echo-slow", "input": message(SHORT), "stream_mode": ["values", "messages"]})
            streamed.append(s)
            reader = threading.Thread(target=s.read, args=(deadline, resume))
            reader.start()
            readers.append(reader)
            stop.wait(3)

    loaders = [threading.Thread(target=load), threading.Thread(target=streams)]
    for loader in loaders:
        loader.start()
    started = time.monotonic()
    try:
        time.sleep(1)
        control = {}
        for command in ("restart", "reload"):
            done = subprocess.run(["bash", str(REPO / "scripts" / "run.sh"), command], env=cluster["env"],
                                  capture_output=True, text=True, timeout=90)
            control[command] = (done.returncode, done.stdout + done.stderr, round(time.monotonic() - started, 1))
        time.sleep(2)
    finally:
        stop.set()
        for loader in loaders:
            loader.join()
        for reader in readers:
            reader.join(timeout=max(1, deadline - time.monotonic()))
    print(f"\nrestart and reload: {control}")
    for command, (code, output, _) in control.items():
        assert code == 0, f"scripts/run.sh {command}: {output}\n" + cluster["log"].read_text()[-3000:]

    # Every plain request answered 200, the first time.
    assert not failures, f"{len(failures)} of {len(failures) + len(answered)} requests failed: {failures[:10]}"

    # Every stream: the run's stored events, each once, in order, and the run succeeded with the whole answer.
    report, handed_back = [], 0
    for s in background + streamed:
        assert not s.problems, s.problems
        assert s.run, "a streamed run without an id"
        counter.add()
        replay = http.get(f"/threads/{s.thread}/runs/{s.run}/stream", headers={"Last-Event-ID": "-1"})
        stored = list(parse_sse(replay.text.split("\n")))
        counter.add()
        record = http.get(f"/threads/{s.thread}/runs/{s.run}").json()
        report.append((s.run[:8], len(s.frames), s.resumes, record["status"], record["attempts"]))
        handed_back += record["attempts"] > 1
        assert s.ended, f"run {s.run}: the stream did not reach `end` ({len(s.frames)} frames, {s.resumes} resumes)"
        ids = [frame[0] for frame in s.frames]
        assert ids == [str(i) for i in range(1, len(ids) + 1)], f"run {s.run}: ids with a gap or a repeat: {ids}"
        assert s.frames == stored, f"run {s.run}: what the client read is not the stored event list"
        assert record["status"] == "success", record
        words = LONG if s in background else SHORT
        final = json.loads([data for _, event, data in stored if event == "values"][-1])
        assert final["messages"][-1]["content"] == f"You said: {words}"
    elapsed = time.monotonic() - started
    print(f"streams (run, frames, resumes, status, attempts): {report}")
    print(f"plain requests answered: {len(answered)}, all requests: {counter.count}, {elapsed:.0f} s, "
          f"runs handed back: {handed_back}")
    assert counter.count <= MAX_REQUESTS
    # The restart did cut streams: otherwise this test proved nothing about resuming.
    assert sum(s.resumes for s in background + streamed) > 0
    http.close()


def test_a_draining_worker_answers_every_connection_it_had_queued(tmp_path):
    """One worker on a socket of its own, without nginx: clients keep sending POST /runs/wait straight to the socket
    (FastCGI) while it gets SIGTERM. Each connection made is answered; after the socket's file is gone, connecting
    fails (nginx then tries another worker, whatever the method). Before the drain removed the file first, closing
    the socket reset the connections still queued: nginx had begun sending those POSTs and answered 502."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("worker_ok", REPO / "scripts" / "worker-ok.py")
    fastcgi = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fastcgi)
    config = tmp_path / "agents.yaml"
    config.write_text("agents:\n  - id: echo-fast\n    model: {provider: builtin, token_delay_ms: 0}\n")
    sock = tmp_path / "worker.sock"
    binary = os.environ.get("AGENTFCGI_BIN") or str(REPO / ".build" / "debug" / "agentfcgi")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTFCGI_")}
    worker = subprocess.Popen([binary, "serve", "--listen", f"unix:{sock}", "--config", str(config), "--auth", "off",
                               "--database", str(tmp_path / "db.sqlite")], env=env, stdout=open(tmp_path / "log", "w"),
                              stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if sock.exists() and fastcgi.status(str(sock), 2) == 200:
                    break
            except OSError:
                pass
            assert worker.poll() is None and time.monotonic() < deadline, (tmp_path / "log").read_text()
            time.sleep(0.1)
        body = json.dumps({"assistant_id": "echo-fast", "input": {"messages": [{"role": "user", "content": "hi"}]}})
        answered, dropped, refused = [], [], []

        def client():
            while True:
                try:
                    status, _ = fastcgi.request(str(sock), "POST", "/runs/wait", body.encode(), "application/json", 10)
                    answered.append(status)
                except (FileNotFoundError, ConnectionRefusedError):
                    refused.append(1)  # no socket any more: nginx would send this request elsewhere
                    return
                except OSError as error:
                    dropped.append(repr(error))  # connected, then cut: nginx answers a POST 502
                    return

        clients = [threading.Thread(target=client) for _ in range(16)]
        for c in clients:
            c.start()
        time.sleep(1.5)
        worker.send_signal(signal.SIGTERM)
        for c in clients:
            c.join(timeout=30)
        assert worker.wait(timeout=30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    print(f"\nanswered {len(answered)}, refused at connect {len(refused)}, dropped {len(dropped)}")
    assert not dropped, f"{len(dropped)} connections cut without an answer ({len(answered)} answered): {dropped[:3]}"
    assert set(answered) == {200} and refused

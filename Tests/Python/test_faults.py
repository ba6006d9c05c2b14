"""Faults, end to end: nginx and workers of their own (scripts/run.sh, as test_traces.py does), each scenario a fault
that a deployment meets sooner or later, and what it must come to: a clear error for the client (status, code,
Retry-After), and no run, message, usage or webhook lost or written twice.

  a. SQLite locked by another process past the busy timeout: 503 store_busy + Retry-After, nothing written, the
     stateless run's usage counted once the lock is gone.
  b. PostgreSQL restarted in the middle of background runs: requests meanwhile are a prompt 503 store_busy; every run
     ends once, successfully, with its messages and its webhook once.
  c. The model server killed in the middle of a stream: the stream ends with an `error` event, the run is `error`,
     the thread takes the next run.
  d. A full disk under the SQLite database: writes are 507 store_full, reads go on, nothing is corrupt, writes work
     again once there is room.
  e. A worker killed with -9 in the middle of a webhook delivery: another worker delivers it, with the same id.
  f. A worker killed with -9 while its run works toward a pause for approval, and another during the pause: the run
     pauses once, and langgraph-sdk's resume through the last worker runs the tool once.

b needs the suite's PostgreSQL (POSTGRES_URL and PG_DIR, which scripts/test.sh exports) and d a loop mount (root):
without them each is skipped, saying why.
"""
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
import urllib.parse
import uuid

import httpx
import pytest
from local_ports import free_port, wait_for

REPO = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = REPO / "Tests" / "Fixtures"
STATE = REPO / ".state" / "pytest-faults"
HOLD_LOCK = """
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
c.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
c.execute("ROLLBACK")
"""


def user(text):
    return {"messages": [{"role": "user", "content": text}]}


class Cluster:
    """scripts/run.sh with a state folder, configuration and store of its own. The suite's AGENTFCGI_* variables are
    left out, so that its service (whose database AGENTFCGI_DATABASE names) takes none of these runs."""

    def __init__(self, name, config, workers=2, worker_args="", database=None):
        self.state = STATE / name
        self.config = config
        self.workers = workers
        self.worker_args = worker_args
        self.database = database
        self.service = None

    def prepare(self):
        if self.state.exists():
            subprocess.run(["rm", "-rf", str(self.state)], check=True)
        (self.state / "run" / "data").mkdir(parents=True)

    def start(self):
        config = self.state / "agents.yaml"
        config.write_text(self.config)
        https_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTFCGI_")}
        env.update({"AGENTFCGI_BIN": os.environ["AGENTFCGI_BIN"], "AGENTFCGI_STATE": str(self.state / "run"),
                    "WORKERS": str(self.workers), "CONFIG": str(config), "HTTPS_PORT": str(https_port),
                    "HTTP_PORT": str(free_port()), "WORKER_ARGS": self.worker_args, "RATE": "1000r/s", "KEY_RATE": "1000r/s",
                    "BURST": "1000"})
        if self.database:
            env["AGENTFCGI_DATABASE"] = self.database
        self.log = self.state / "run.log"
        self.service = subprocess.Popen(["setsid", "bash", str(REPO / "scripts" / "run.sh")], env=env, stdout=open(self.log, "w"),
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.url = f"https://127.0.0.1:{https_port}"
        ca = self.state / "run" / "certs" / "ca.crt"

        def up():
            if self.service.poll() is not None:
                pytest.fail("run.sh exited: " + self.log.read_text()[-3000:])
            try:
                return ca.exists() and httpx.get(f"{self.url}/ok", verify=ssl.create_default_context(cafile=str(ca)),
                                                  timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for("the service", up, timeout=120)
        self.tls = ssl.create_default_context(cafile=str(ca))
        self.key = (self.state / "run" / "api-key").read_text().strip()
        return self

    def stop(self):
        if self.service and self.service.poll() is None:
            self.service.send_signal(signal.SIGTERM)
            try:
                self.service.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.service.kill()
                self.service.wait()

    def client(self, timeout=30):
        return httpx.Client(base_url=self.url, verify=self.tls, timeout=timeout, headers={"X-Api-Key": self.key})

    def worker_pids(self):
        return {int(p.read_text()) for p in (self.state / "run" / "run").glob("worker-*.pid")}

    def worker_logs(self):
        return "".join(p.read_text(errors="replace") for p in (self.state / "run" / "logs").glob("worker-*.log"))


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def read_sse(response):
    """(event, data) pairs of an event stream, as they come."""
    event, data = None, []
    for line in response.iter_lines():
        if line == "":
            if event or data:
                yield event, "\n".join(data)
            event, data = None, []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


def assert_problem(response, status, code):
    assert response.status_code == status, f"{response.status_code} {response.text}"
    body = response.json()
    found = body.get("code") or (body.get("error") or {}).get("code")
    assert found == code, body
    return body


# ---- a, c, e: one SQLite cluster -------------------------------------------------------------------------------

@pytest.fixture(scope="class")
def sqlite_cluster():
    model_port = free_port()
    model_log = STATE / "model.log"
    STATE.mkdir(parents=True, exist_ok=True)
    config = f"""agents:
  - id: echo
    model: {{provider: builtin}}
  - id: scripted-slow
    description: a token every 100 ms from the scripted model server, which the test kills mid-stream
    model: {{provider: openai, name: slow, base_url: "http://127.0.0.1:{model_port}/v1", max_retries: 0}}
webhooks:
  secret_env: AGENTFCGI_WEBHOOK_SECRET
  allow_hosts: ["127.0.0.1"]
  retry_base_seconds: 0.2
  timeout_seconds: 3
"""
    # --busy-timeout 0.5: a write that waits half a second for SQLite's lock is answered, so the test does not wait ten.
    cluster = Cluster("sqlite", config, workers=2, worker_args="--busy-timeout 0.5")
    cluster.prepare()
    try:
        cluster.start()
        cluster.model_port = model_port
        cluster.model_log = model_log
        yield cluster
    finally:
        cluster.stop()


def start_model(port, log):
    process = subprocess.Popen([sys.executable, str(FIXTURES / "scripted_openai_server.py"), str(port)],
                               stdout=subprocess.PIPE, stderr=open(log, "a"), text=True)
    assert process.stdout.readline().strip() == "ready"
    return process


class TestOneSQLiteCluster:
    """a, c and e share a cluster, stopped after the last of them (e kills one of its workers)."""

    def test_a_sqlite_locked_by_another_process_is_a_503_to_retry_and_loses_no_usage(self, sqlite_cluster):
        c = sqlite_cluster
        database = c.state / "run" / "data" / "agentfcgi.sqlite"
        key_id = c.key.split("_")[1]

        def usage():
            with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as db:
                return db.execute("SELECT COALESCE(SUM(tokens), 0) FROM key_usage WHERE key_id = ?", (key_id,)).fetchone()[0]

        before = usage()
        thread = f"locked-{uuid.uuid4().hex[:8]}"
        holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(database), "8"], stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "locked"
            with c.client() as http:
                started = time.time()
                refused = http.post("/threads", json={"thread_id": thread})
                took = time.time() - started
                assert_problem(refused, 503, "store_busy")
                assert refused.headers.get("retry-after") == "1"
                # A worker's writes queue for its one SQLite connection, so a request may wait behind the background's
                # (lease renewal, the queue's claim), each bounded by the timeout: a few timeouts, not a hang.
                assert took < 3, f"the refusal took {took:.1f} s with --busy-timeout 0.5"
                # OpenAI's shape on /v1 (a response is stored: a write).
                openai = http.post("/v1/responses", json={"model": "echo", "input": "hi"})
                assert_problem(openai, 503, "store_busy")
                assert openai.headers.get("retry-after") == "1"
                # A stateless run only reads (the key, WAL lets it): it answers; its tokens wait for the lock.
                answered = http.post("/runs/wait", json={"assistant_id": "echo", "input": user("count me once")})
                assert answered.status_code == 200, answered.text
                tokens = answered.json()["usage"]["total_tokens"]
                assert tokens > 0
                assert holder.poll() is None, "the lock was gone before the requests were made: the machine is too slow"
        finally:
            holder.wait(timeout=30)
        with c.client() as http:
            # Nothing of the refused requests was written.
            assert http.get(f"/threads/{thread}").status_code == 404
            wait_for("the stateless run's usage to be counted", lambda: usage() == before + tokens, timeout=20)
            time.sleep(1.5)
            assert usage() == before + tokens, "the usage was counted twice"
            assert http.post("/threads", json={"thread_id": thread}).status_code == 200


    def test_c_the_model_server_killed_mid_stream_ends_the_run_as_an_error(self, sqlite_cluster):
        c = sqlite_cluster
        model = start_model(c.model_port, c.model_log)
        try:
            with c.client(timeout=60) as http:
                thread = http.post("/threads", json={}).json()["thread_id"]
                events = []
                with http.stream("POST", f"/threads/{thread}/runs/stream", json={
                        "assistant_id": "scripted-slow", "input": user("talk slowly"), "stream_mode": ["messages-tuple"]}) as stream:
                    assert stream.status_code == 200
                    for event, data in read_sse(stream):
                        events.append((event, data))
                        if sum(e == "messages" for e, _ in events) == 3:
                            model.kill()  # SIGKILL, mid-answer
                            model.wait()
                names = [e for e, _ in events]
                run_id = json.loads(events[0][1])["run_id"]
                assert names[0] == "metadata" and names[-1] == "end", names
                errors = [json.loads(d) for e, d in events if e == "error"]
                assert len(errors) == 1 and errors[0]["error"] == "upstream_error", events[-4:]
                assert names.index("error") == len(names) - 2, "the error comes last, before the end"
                run = http.get(f"/threads/{thread}/runs/{run_id}").json()
                assert run["status"] == "error", run
                # The thread takes the next run (the model server is still gone: a builtin agent answers).
                after = http.post(f"/threads/{thread}/runs/wait", json={"assistant_id": "echo", "input": user("still here")})
                assert after.status_code == 200, after.text
                assert "still here" in after.text
                runs = http.get(f"/threads/{thread}/runs").json()
                assert sorted(r["status"] for r in runs) == ["error", "success"], runs
                assert http.get(f"/threads/{thread}").json()["status"] == "idle"
        finally:
            if model.poll() is None:
                model.kill()
            model.wait()


    def test_e_a_worker_killed_during_a_webhook_delivery_is_replaced_by_another(self, sqlite_cluster):
        """Runs last on its cluster: it kills one of the two workers."""
        c = sqlite_cluster
        log = c.state / "webhooks.jsonl"
        # The first attempt of each webhook is held 4 s, longer than the time the worker is given to kill it in.
        hook = subprocess.Popen([sys.executable, str(FIXTURES / "webhook_receiver.py"), str(log), "0", "4"],
                                stdout=subprocess.PIPE, text=True)
        try:
            hook_port = int(hook.stdout.readline())
            workers = c.worker_pids()
            assert len(workers) == 2 and all(alive(p) for p in workers)
            with c.client() as http:
                thread = http.post("/threads", json={}).json()["thread_id"]
                run = http.post(f"/threads/{thread}/runs", json={"assistant_id": "echo", "input": user("hook me"),
                                                                 "webhook": f"http://127.0.0.1:{hook_port}/hook"}).json()

                def attempts():
                    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

                wait_for("the first delivery attempt", attempts, timeout=30, every=0.05)
                # The worker on the other end of the held connection.
                out = subprocess.run(["ss", "-tnpH", "state", "established", f"( dport = :{hook_port} )"], capture_output=True,
                                     text=True).stdout
                sender = {int(p) for p in re.findall(r"pid=(\d+)", out)} & workers
                assert len(sender) == 1, f"no single worker holds the delivery: {out!r} (workers {workers})"
                pid = sender.pop()
                os.kill(pid, signal.SIGKILL)
                wait_for("the killed worker to be gone", lambda: not alive(pid), timeout=10)
                # Its lease (the webhook timeout + 30 s) runs out, and the other worker delivers.
                delivered = wait_for("the delivery by another worker", lambda: len(attempts()) >= 2 and attempts(), timeout=70)
                first, second = delivered[0], delivered[1]
                assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"], "a new id: receivers cannot dedupe"
                assert first["body"] == second["body"] and json.loads(first["body"])["id"].startswith("evt_")
                assert second["status"] == 204
                time.sleep(1)
                assert len(attempts()) == 2, f"delivered more often than needed: {attempts()}"
                record = http.get(f"/threads/{thread}/runs/{run['run_id']}/webhooks").json()
                assert len(record) == 1 and record[0]["status"] == "delivered", record
                assert http.get(f"/threads/{thread}/runs/{run['run_id']}").json()["status"] == "success"
                survivor = (workers - {pid}).pop()
                assert alive(survivor)
        finally:
            hook.kill()
            hook.wait()


# ---- f: a worker killed before a run pauses for approval ------------------------------------------------------

@pytest.fixture
def approval_cluster():
    model_port = free_port()
    STATE.mkdir(parents=True, exist_ok=True)
    config = f"""agents:
  - id: careful-slow
    description: the scripted model thinks for 3 s, then asks for calculator, whose calls wait for a person
    model: {{provider: openai, name: slow-tools, base_url: "http://127.0.0.1:{model_port}/v1", max_retries: 0}}
    tools: [calculator]
    approvals: {{calculator: always}}
"""
    # A short lease: the killed worker's run is taken over in seconds.
    cluster = Cluster("approval", config, workers=3, worker_args="--run-lease-seconds 3")
    cluster.prepare()
    model = start_model(model_port, STATE / "model-approval.log")
    try:
        cluster.start()
        cluster.model_port = model_port
        yield cluster
    finally:
        cluster.stop()
        model.kill()
        model.wait()


def test_f_workers_killed_before_and_during_a_pause_leave_one_pause_that_langgraph_sdk_answers(approval_cluster):
    """The run's worker is killed with -9 while the model still thinks: another worker runs it again and it pauses
    once (one interrupt). Then a second worker is killed during the pause, and langgraph-sdk's resume through the last
    one runs the tool once: the pause is in the store, not in a worker."""
    from langgraph_sdk import get_sync_client
    c = approval_cluster
    # langgraph-sdk's httpx trusts SSL_CERT_FILE when its client is made: this cluster's own CA.
    previous = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = str(c.state / "run" / "certs" / "ca.crt")
    try:
        client = get_sync_client(url=c.url, api_key=c.key, timeout=60)
    finally:
        if previous is None:
            os.environ.pop("SSL_CERT_FILE")
        else:
            os.environ["SSL_CERT_FILE"] = previous
    workers = c.worker_pids()
    assert len(workers) == 3 and all(alive(p) for p in workers)
    thread = client.threads.create()["thread_id"]
    run = client.runs.create(thread, "careful-slow", input=user("what is 6*7?"))

    def thinking_worker():
        out = subprocess.run(["ss", "-tnpH", "state", "established", f"( dport = :{c.model_port} )"], capture_output=True,
                             text=True).stdout
        found = {int(p) for p in re.findall(r"pid=(\d+)", out)} & workers
        return found.pop() if len(found) == 1 else None

    pid = wait_for("the worker streaming from the model", thinking_worker, timeout=30, every=0.05)
    os.kill(pid, signal.SIGKILL)
    wait_for("the killed worker to be gone", lambda: not alive(pid), timeout=10)
    assert client.threads.get(thread)["status"] == "busy", "the run paused before the worker was killed"

    wait_for("the run to pause on the other worker", lambda: client.threads.get(thread)["status"] == "interrupted", timeout=60)
    record = client.runs.get(thread, run["run_id"])
    assert record["status"] == "interrupted" and record["attempts"] == 2, record
    state = client.threads.get_state(thread)
    assert len(state["interrupts"]) == 1, state["interrupts"]
    actions = state["interrupts"][0]["value"]["action_requests"]
    assert [(a["name"], a["args"]) for a in actions] == [("calculator", {"expression": "6*7"})]
    assert state["next"] == ["tools"]
    during = min(workers - {pid})
    os.kill(during, signal.SIGKILL)
    wait_for("the second killed worker to be gone", lambda: not alive(during), timeout=10)
    assert client.threads.get(thread)["status"] == "interrupted"

    done = client.runs.wait(thread, "careful-slow", command={"resume": {"decisions": [{"type": "approve"}]}})
    tools = [m["content"] for m in done["messages"] if m["type"] == "tool"]
    assert tools == ["42"], done["messages"]
    assert done["messages"][-1]["content"] == "It is 42"
    assert client.threads.get(thread)["status"] == "idle"
    assert alive((workers - {pid, during}).pop())


# ---- d: a full disk ------------------------------------------------------------------------------------------

@pytest.fixture
def full_disk_cluster():
    if os.geteuid() != 0:
        pytest.skip("a full disk needs a loop mount, which needs root")
    cluster = Cluster("disk", "agents:\n  - id: echo\n    model: {provider: builtin}\n", workers=2)
    cluster.prepare()
    data = cluster.state / "run" / "data"
    image = cluster.state / "disk.img"
    subprocess.run(["truncate", "-s", "24M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-m", "0", str(image)], check=True)
    mounted = subprocess.run(["mount", "-o", "loop", str(image), str(data)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot loop-mount a small filesystem here: {mounted.stderr.strip()}")
    try:
        cluster.data = data
        yield cluster.start()
    finally:
        cluster.stop()
        for flags in ([], ["-l"]):
            if subprocess.run(["umount", *flags, str(data)], capture_output=True).returncode == 0:
                break
            time.sleep(1)


def test_d_a_full_disk_refuses_writes_clearly_serves_reads_and_recovers(full_disk_cluster):
    c = full_disk_cluster
    # 800 KB in two strings (a string may hold 512 KiB, a value 1 MiB): more than the WAL has spare once the disk is full.
    big = {"a": "x" * 400_000, "b": "y" * 400_000}
    with c.client() as http:
        thread = http.post("/threads", json={}).json()["thread_id"]
        assert http.put("/store/items", json={"namespace": ["faults"], "key": "small", "value": {"v": 1}}).status_code in (200, 204)
        # Fill the filesystem (no blocks are reserved for root: -m 0).
        filler = c.data / "filler"
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * (1 << 20))
                    f.flush()
            except OSError:
                pass
        subprocess.run(["sync"])
        statuses = {}
        for i in range(6):
            response = http.put("/store/items", json={"namespace": ["faults"], "key": f"big{i}", "value": big})
            statuses[f"big{i}"] = response
            if response.status_code == 507:
                break
        codes = [r.status_code for r in statuses.values()]
        assert 507 in codes, f"no write was refused on a full disk: {codes} {[r.text[:200] for r in statuses.values()]}"
        assert all(code in (200, 204, 507) for code in codes), [r.text[:300] for r in statuses.values()]
        refused_key = [k for k, r in statuses.items() if r.status_code == 507][0]
        refused = statuses[refused_key]
        assert_problem(refused, 507, "store_full")
        assert refused.headers.get("retry-after")
        # Reads go on; what was refused is not there, half or whole.
        assert http.get(f"/threads/{thread}").status_code == 200
        assert http.get("/store/items", params={"namespace": "faults", "key": "small", "refresh_ttl": "false"}).status_code == 200
        assert http.get("/store/items", params={"namespace": "faults", "key": refused_key, "refresh_ttl": "false"}).status_code == 404
        assert all(alive(p) for p in c.worker_pids()), "a worker died of the full disk"
        # Room again: the same write succeeds.
        filler.unlink()
        again = http.put("/store/items", json={"namespace": ["faults"], "key": refused_key, "value": big})
        assert again.status_code in (200, 204), again.text
        item = http.get("/store/items", params={"namespace": "faults", "key": refused_key, "refresh_ttl": "false"})
        assert item.status_code == 200 and item.json()["value"] == big
        assert http.post(f"/threads/{thread}/runs/wait", json={"assistant_id": "echo", "input": user("after")}).status_code == 200
    with sqlite3.connect(f"file:{c.data / 'agentfcgi.sqlite'}?mode=ro", uri=True, timeout=10) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# ---- b: PostgreSQL restarted mid-run -------------------------------------------------------------------------

@pytest.fixture
def postgres_cluster():
    base, pg_dir = os.environ.get("POSTGRES_URL"), os.environ.get("PG_DIR")
    if os.geteuid() != 0:
        pytest.skip("restarting the PostgreSQL server (scripts/pg-server.sh, su postgres) needs root")
    if not base or not pg_dir:
        pytest.skip("POSTGRES_URL and PG_DIR are not set (scripts/test.sh starts PostgreSQL; alone: "
                    "eval \"$(bash scripts/pg-server.sh start)\"; export POSTGRES_URL PG_DIR)")
    if not (pathlib.Path(pg_dir) / "port").exists():
        pytest.skip(f"PG_DIR={pg_dir} was not started by this scripts/pg-server.sh (no port file): it cannot restart it")
    url = urllib.parse.urlsplit(base)
    name = "faults_" + uuid.uuid4().hex[:10]
    subprocess.run(["createdb", "-h", url.hostname, "-p", str(url.port), "-U", url.username or "postgres", name], check=True)
    database = urllib.parse.urlunsplit(url._replace(path="/" + name))
    config = """agents:
  - id: echo-slow
    model: {provider: builtin, token_delay_ms: 100}
webhooks:
  secret_env: AGENTFCGI_WEBHOOK_SECRET
  allow_hosts: ["127.0.0.1"]
  retry_base_seconds: 0.2
"""
    # A short lease: a run the outage stopped goes back to the queue within seconds.
    cluster = Cluster("postgres", config, workers=2, worker_args="--busy-timeout 2 --run-lease-seconds 3", database=database)
    cluster.prepare()
    cluster.pg_dir = pg_dir
    cluster.pg_port = url.port
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def pg_up(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def test_b_postgresql_restarted_mid_run_loses_and_repeats_nothing(postgres_cluster):
    c = postgres_cluster
    log = c.state / "webhooks.jsonl"
    hook = subprocess.Popen([sys.executable, str(FIXTURES / "webhook_receiver.py"), str(log), "0"], stdout=subprocess.PIPE, text=True)
    restart = None
    try:
        hook_port = int(hook.stdout.readline())
        words = " ".join(f"w{i}" for i in range(60))  # the slow echo takes about 6 s
        with c.client() as http:
            runs = {}
            for _ in range(4):
                thread = http.post("/threads", json={}).json()["thread_id"]
                created = http.post(f"/threads/{thread}/runs", json={
                    "assistant_id": "echo-slow", "input": user(words), "webhook": f"http://127.0.0.1:{hook_port}/hook"})
                assert created.status_code == 200, created.text
                runs[created.json()["run_id"]] = thread
            wait_for("the runs to be running", lambda: all(
                http.get(f"/threads/{t}/runs/{r}").json()["status"] == "running" for r, t in runs.items()), timeout=30)
            time.sleep(1)
            # The outage: PostgreSQL stops (fast: its sessions are cut), stays down 6 s, starts again.
            restart = subprocess.Popen(["bash", str(REPO / "scripts" / "pg-server.sh"), "restart", "6"],
                                       env={**os.environ, "PG_DIR": c.pg_dir}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            wait_for("PostgreSQL to be down", lambda: not pg_up(c.pg_port), timeout=20, every=0.05)
            # Meanwhile: a prompt 503 to retry (within --busy-timeout 2, not the pool's minute), on a write and on a read.
            for method, path, body in (("POST", "/threads", {}), ("GET", f"/threads/{next(iter(runs.values()))}", None)):
                started = time.time()
                response = http.request(method, path, json=body)
                took = time.time() - started
                assert_problem(response, 503, "store_busy")
                assert response.headers.get("retry-after") == "1"
                assert took < 6, f"{method} {path} took {took:.1f} s while the database was down"
            assert httpx.get(f"{c.url}/ok", verify=c.tls).status_code == 200
            out, _ = restart.communicate(timeout=60)
            assert restart.returncode == 0, out
            # Each run ends once, successfully; each thread has its input and one answer; each webhook goes once.
            def ended():
                states = {r: http.get(f"/threads/{t}/runs/{r}") for r, t in runs.items()}
                return all(s.status_code == 200 and s.json()["status"] not in ("pending", "running") for s in states.values()) and states
            final = wait_for("every run to end", ended, timeout=90, every=0.5)
            assert {r: s.json()["status"] for r, s in final.items()} == {r: "success" for r in runs}, \
                {r: (s.json()["status"], s.json().get("attempt_log")) for r, s in final.items()}
            for run_id, thread in runs.items():
                messages = http.get(f"/threads/{thread}/state").json()["values"]["messages"]
                assert [m["type"] for m in messages] == ["human", "ai"], messages
                assert messages[1]["content"].strip().endswith("w59"), messages[1]["content"][-80:]
                assert len(http.get(f"/threads/{thread}/runs").json()) == 1
            def delivered():
                lines = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
                return len({json.loads(l["body"])["data"]["run_id"] for l in lines}) == len(runs) and lines
            lines = wait_for("a webhook for every run", delivered, timeout=30)
            time.sleep(1)
            lines = [json.loads(line) for line in log.read_text().splitlines()]
            by_run = {}
            for line in lines:
                by_run.setdefault(json.loads(line["body"])["data"]["run_id"], []).append(line["headers"]["webhook-id"])
            assert sorted(by_run) == sorted(runs) and all(len(ids) == 1 for ids in by_run.values()), by_run
            # And the database takes writes again.
            assert http.post("/threads", json={}).status_code == 200
    finally:
        if restart is not None and restart.poll() is None:
            restart.wait(timeout=60)
        hook.kill()
        hook.wait()

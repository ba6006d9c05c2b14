"""Soak load and sampler for bench/soak.sh: mixed traffic through nginx over HTTPS for a while, and every worker's RSS
and open descriptors every 10 s. Standard library only. Prints one JSON line at the end.

    python3 bench/soak.py BASE_URL CA_FILE API_KEY STATE_DIR --seconds 1800 [--clients 4] [--interval 10]

Each client loops over: a stateless /runs/wait, a run on a new thread (/threads/{id}/runs/wait), a stateless
/runs/stream and a stored /threads/{id}/runs/stream read to `end`, and a background run with a webhook to a receiver
here (POST /threads/{id}/runs) that is not waited for. Threads are new for each stored run, so no thread's history
grows without bound (that would be the workload growing, not a leak).
"""
import argparse
import http.client
import http.server
import json
import os
import ssl
import threading
import time
import urllib.parse


def message(text):
    return {"messages": [{"role": "user", "content": text}]}


class Client:
    def __init__(self, base, ca, key):
        url = urllib.parse.urlsplit(base)
        self.host, self.port = url.hostname, url.port
        self.context = ssl.create_default_context(cafile=ca)
        self.headers = {"Content-Type": "application/json", "X-Api-Key": key}
        self.connection = None

    def request(self, method, path, body=None, stream=False):
        """(status, body bytes); a stream is read to its end. One keep-alive connection, opened again after an error."""
        if self.connection is None:
            self.connection = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=60)
        try:
            self.connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=self.headers)
            response = self.connection.getresponse()
            return response.status, response.read()
        except (http.client.HTTPException, OSError):
            self.connection.close()
            self.connection = None
            return None, b""


class Hooks(http.server.BaseHTTPRequestHandler):
    received = 0
    lock = threading.Lock()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with Hooks.lock:
            Hooks.received += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def worker_pids(state):
    pids = {}
    for name in sorted(os.listdir(os.path.join(state, "run"))):
        if name.startswith("worker-") and name.endswith(".pid"):
            with open(os.path.join(state, "run", name)) as f:
                pids[name[7:-4]] = int(f.read().strip())
    return pids


def sample(pid):
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("ca")
    parser.add_argument("key")
    parser.add_argument("state")
    parser.add_argument("--seconds", type=float, default=1800)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--interval", type=float, default=10)
    parser.add_argument("--samples", required=True, help="CSV file for the samples")
    args = parser.parse_args()

    hooks = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
    threading.Thread(target=hooks.serve_forever, daemon=True).start()
    hook_url = f"http://127.0.0.1:{hooks.server_address[1]}/hook"

    stop = threading.Event()
    counts = {"requests": 0, "errors": 0, "background": 0, "streams": 0}
    errors = []
    lock = threading.Lock()

    def count(status, what, body=b""):
        with lock:
            counts["requests"] += 1
            if status != 200:
                counts["errors"] += 1
                if len(errors) < 20:
                    errors.append(f"{what}: {status} {body[:200]!r}")

    def client_loop(n):
        client = Client(args.base, args.ca, args.key)
        i = 0
        while not stop.is_set():
            i += 1
            text = f"soak client {n} round {i}, a few words to echo back"
            status, body = client.request("POST", "/runs/wait", {"assistant_id": "echo-fast", "input": message(text)})
            count(status, "POST /runs/wait", body)
            status, body = client.request("POST", "/threads", {})
            count(status, "POST /threads", body)
            if status != 200:
                continue
            thread = json.loads(body)["thread_id"]
            status, body = client.request("POST", f"/threads/{thread}/runs/wait", {"assistant_id": "echo-fast", "input": message(text)})
            count(status, "POST /threads/{id}/runs/wait", body)
            status, body = client.request("POST", "/runs/stream", {"assistant_id": "echo", "input": message(text)})
            count(status, "POST /runs/stream", body)
            if status == 200 and b"event: end" not in body:
                count(0, "POST /runs/stream without end", body[-200:])
            status, body = client.request("POST", f"/threads/{thread}/runs/stream", {"assistant_id": "echo", "input": message(text)})
            count(status, "POST /threads/{id}/runs/stream", body)
            if status == 200 and b"event: end" not in body:
                count(0, "POST /threads/{id}/runs/stream without end", body[-200:])
            with lock:
                counts["streams"] += 2
            status, body = client.request("POST", "/threads", {})
            count(status, "POST /threads", body)
            if status == 200:
                other = json.loads(body)["thread_id"]
                status, body = client.request("POST", f"/threads/{other}/runs",
                                              {"assistant_id": "echo", "input": message(text), "webhook": hook_url})
                count(status, "POST /threads/{id}/runs", body)
                if status == 200:
                    with lock:
                        counts["background"] += 1
            stop.wait(0.2)

    clients = [threading.Thread(target=client_loop, args=(n,)) for n in range(args.clients)]
    for c in clients:
        c.start()

    start = time.monotonic()
    with open(args.samples, "w") as out:
        out.write("seconds,worker,pid,rss_kib,fds\n")
        while True:
            elapsed = time.monotonic() - start
            for worker, pid in worker_pids(args.state).items():
                try:
                    rss, fds = sample(pid)
                except (OSError, StopIteration):
                    continue
                out.write(f"{elapsed:.1f},{worker},{pid},{rss},{fds}\n")
            out.flush()
            if elapsed >= args.seconds:
                break
            time.sleep(min(args.interval, max(0.0, args.seconds - elapsed)))
    stop.set()
    for c in clients:
        c.join()
    # Background runs still running get their webhooks within a while.
    deadline = time.monotonic() + 60
    while Hooks.received < counts["background"] and time.monotonic() < deadline:
        time.sleep(0.5)
    hooks.shutdown()
    print(json.dumps({**counts, "webhooks_received": Hooks.received, "seconds": round(time.monotonic() - start),
                      "error_examples": errors}))


if __name__ == "__main__":
    main()

"""Store throughput through nginx over HTTPS: runs on threads (POST /threads/{id}/runs/wait, each on a new thread, so
every request writes a thread, a run, its events, messages and a checkpoint) and background runs (POST /runs, then
polled until every one has finished). Standard library only. Prints one JSON line.

    python3 bench/stores.py BASE_URL CA_FILE API_KEY [--seconds 8] [--clients 16] [--background 200]
"""
import argparse
import http.client
import json
import ssl
import statistics
import threading
import time
import urllib.parse
import uuid

BODY = {"assistant_id": "echo-fast", "input": {"messages": [{"role": "user", "content": "Hello there, how are you today?"}]},
        "if_not_exists": "create"}


class Client:
    def __init__(self, base, ca, key):
        url = urllib.parse.urlsplit(base)
        self.host, self.port = url.hostname, url.port
        self.context = ssl.create_default_context(cafile=ca)
        self.headers = {"Content-Type": "application/json", "X-Api-Key": key}
        self.connection = None

    def request(self, method, path, body=None):
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=60)
            try:
                self.connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=self.headers)
                response = self.connection.getresponse()
                data = response.read()
                return response.status, data
            except (http.client.HTTPException, OSError):
                self.connection.close()
                self.connection = None
                if attempt:
                    raise


def runs_wait(args):
    latencies, errors, stop = [], [0], time.monotonic() + args.seconds
    lock = threading.Lock()

    def worker():
        client = Client(args.base, args.ca, args.key)
        while time.monotonic() < stop:
            started = time.monotonic()
            status, _ = client.request("POST", f"/threads/{uuid.uuid4()}/runs/wait", BODY)
            with lock:
                if status == 200:
                    latencies.append(time.monotonic() - started)
                else:
                    errors[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(args.clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    latencies.sort()
    return {"runs_wait_per_s": round(len(latencies) / elapsed, 1),
            "runs_wait_p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
            "runs_wait_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1) if latencies else None,
            "runs_wait_errors": errors[0]}


def background(args):
    ids, lock = [], threading.Lock()
    per_client = args.background // args.clients
    began = time.monotonic()

    def submit():
        client = Client(args.base, args.ca, args.key)
        for _ in range(per_client):
            status, data = client.request("POST", "/runs", {k: v for k, v in BODY.items() if k != "if_not_exists"})
            if status == 200:
                with lock:
                    ids.append(json.loads(data)["run_id"])

    threads = [threading.Thread(target=submit) for _ in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    submitted = time.monotonic() - began
    client, pending = Client(args.base, args.ca, args.key), list(ids)
    deadline = time.monotonic() + 300
    while pending and time.monotonic() < deadline:
        still = []
        for run_id in pending:
            status, data = client.request("GET", f"/runs/{run_id}")
            if status != 200 or json.loads(data)["status"] in ("pending", "running"):
                still.append(run_id)
        pending = still
        if pending:
            time.sleep(0.05)
    elapsed = time.monotonic() - began
    return {"background_runs": len(ids), "background_unfinished": len(pending),
            "background_submit_per_s": round(len(ids) / submitted, 1), "background_done_per_s": round(len(ids) / elapsed, 1)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("ca")
    parser.add_argument("key")
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--background", type=int, default=200)
    args = parser.parse_args()
    client = Client(args.base, args.ca, args.key)
    client.request("POST", f"/threads/{uuid.uuid4()}/runs/wait", BODY)  # warm-up
    result = runs_wait(args)
    result.update(background(args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Latencies the live tests check by order only, measured: how soon a run stops after its client leaves, and how
soon a cancel sent through one worker stops a run on the other. Standard library only. Prints one JSON line.

    python3 bench/latency.py BASE_URL CA_FILE API_KEY LOG_DIR [--rounds 10] [--tick-ms 250]

LOG_DIR holds the workers' logs (worker-N.log), whose `run.cancelled` lines carry the time the run stopped.
"""
import argparse
import datetime
import glob
import http.client
import json
import ssl
import statistics
import time
import urllib.parse


def connect(base, ca):
    url = urllib.parse.urlsplit(base)
    return http.client.HTTPSConnection(url.hostname, url.port, context=ssl.create_default_context(cafile=ca), timeout=60)


def body(agent, words):
    return json.dumps({"assistant_id": agent, "input": {"messages": [{"role": "user", "content": " ".join(words)}]}})


def log_line(log_dir, *needles, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(glob.glob(f"{log_dir}/worker-*.log")):
            with open(path, errors="replace") as log:
                for line in log:
                    if all(needle in line for needle in needles):
                        return path, line
        time.sleep(0.01)
    raise SystemExit(f"latency: no log line with {needles} within {timeout} s")


def stamp(line):
    return datetime.datetime.fromisoformat(line.split(" ", 1)[0].replace("Z", "+00:00")).timestamp()


def disconnect_to_cancel(args, headers):
    """A client reads 3 tokens of a 6 s stream and closes its connection; the worker logs the run cancelled."""
    delays = []
    for _ in range(args.rounds):
        connection = connect(args.base, args.ca)
        connection.request("POST", "/runs/stream", body=body("ticker", [f"w{i}" for i in range(60)]), headers=headers)
        response = connection.getresponse()
        run_id, tokens = None, 0
        while tokens < 3:
            line = response.fp.readline().decode()
            if line.startswith("data: ") and run_id is None:
                run_id = json.loads(line[6:]).get("run_id")
            if line.startswith("event: messages"):
                tokens += 1
        closed = time.time()
        connection.sock.close()
        connection.close()
        _, cancelled = log_line(args.logs, "run.cancelled", run_id)
        delays.append((stamp(cancelled) - closed) * 1000)
    return delays


def cancel_across_workers(args, headers):
    """A background run starts on one worker; the cancel (wait=1) goes through nginx, and counts when another worker
    took it: the run stops on its own worker at its next lease tick."""
    elapsed, tries = [], 0
    while len(elapsed) < args.rounds and tries < args.rounds * 6:
        tries += 1
        connection = connect(args.base, args.ca)
        connection.request("POST", "/runs", body=body("slow", list("abcdefghijkl")), headers=headers)
        run_id = json.loads(connection.getresponse().read())["run_id"]
        runner, _ = log_line(args.logs, "run.started", run_id)
        started = time.monotonic()
        connection.request("POST", f"/runs/{run_id}/cancel?wait=1", headers=headers)
        answer = json.loads(connection.getresponse().read())
        took = (time.monotonic() - started) * 1000
        connection.close()
        via, _ = log_line(args.logs, "run.cancel_requested", run_id)
        if via != runner and answer.get("status") == "interrupted":
            elapsed.append(took)
    return elapsed


def summary(values):
    values = sorted(values)
    if not values:
        return {"n": 0}
    return {"n": len(values), "median_ms": round(statistics.median(values), 1),
            "p95_ms": round(values[min(len(values) - 1, int(len(values) * 0.95))], 1), "max_ms": round(values[-1], 1)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("ca")
    parser.add_argument("key")
    parser.add_argument("logs")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--tick-ms", type=int, default=250)
    args = parser.parse_args()
    headers = {"Content-Type": "application/json", "X-Api-Key": args.key}
    print(json.dumps({
        "disconnect_to_cancel": summary(disconnect_to_cancel(args, headers)),
        "cancel_across_workers": summary(cancel_across_workers(args, headers)),
        # The anchor: a cancel written by another worker is noticed at the runner's next lease tick.
        "lease_tick_ms": args.tick_ms,
    }))


if __name__ == "__main__":
    main()

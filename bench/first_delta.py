"""Time to the first token, through nginx, for the ways to stream a run: LangGraph's /runs/stream (the anchor), a run
on a new thread (stored: its events go through the store's log first), /v1/chat/completions and /v1/responses. Rounds interleave them. Standard library only; prints a table.

    python3 bench/first_delta.py BASE_URL CA_FILE API_KEY [--rounds 30] [--agent echo-fast]
"""
import argparse
import http.client
import json
import ssl
import statistics
import time
import urllib.parse
import uuid


def first_delta(base, ca, key, path, body, is_delta):
    url = urllib.parse.urlsplit(base)
    connection = http.client.HTTPSConnection(url.hostname, url.port, context=ssl.create_default_context(cafile=ca), timeout=60)
    started = time.perf_counter()
    connection.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json", "X-Api-Key": key,
                                                                    "Accept": "text/event-stream"})
    response = connection.getresponse()
    assert response.status == 200, (path, response.status, response.read()[:300])
    event = None
    while True:
        line = response.readline()
        if not line:
            raise SystemExit(f"first_delta: {path} ended without a token")
        line = line.decode().rstrip("\r\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and is_delta(event, line[6:]):
            elapsed = time.perf_counter() - started
            connection.close()
            return elapsed * 1000


def langgraph(event, data):
    return event == "messages" and '"AIMessageChunk"' in data and '"content":""' not in data


def chat(event, data):
    return data != "[DONE]" and '"content":"' in data and '"content":""' not in data


def responses(event, data):
    return event == "response.output_text.delta"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("ca")
    parser.add_argument("key")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--agent", default="echo-fast")
    args = parser.parse_args()
    words = "Hello there, how are you today?"
    targets = [
        ("/runs/stream (anchor)", "/runs/stream",
         {"assistant_id": args.agent, "input": {"messages": [{"role": "user", "content": words}]}, "stream_mode": "messages-tuple"}, langgraph),
        ("/v1/chat/completions", "/v1/chat/completions",
         {"model": args.agent, "stream": True, "messages": [{"role": "user", "content": words}]}, chat),
        ("/threads/{id}/runs/stream (stored)", lambda: f"/threads/{uuid.uuid4()}/runs/stream",
         {"assistant_id": args.agent, "input": {"messages": [{"role": "user", "content": words}]}, "stream_mode": "messages-tuple",
          "if_not_exists": "create"}, langgraph),
        ("/v1/responses (stored)", "/v1/responses", {"model": args.agent, "stream": True, "input": words}, responses),
        ("/v1/responses (store: false)", "/v1/responses", {"model": args.agent, "stream": True, "store": False, "input": words}, responses),
    ]
    times = {name: [] for name, *_ in targets}
    for _ in range(args.rounds):
        for name, path, body, is_delta in targets:
            times[name].append(first_delta(args.base, args.ca, args.key, path() if callable(path) else path, body, is_delta))
    anchor = statistics.median(times[targets[0][0]])
    print(f"{'first token, ms':32} {'min':>7} {'median':>7} {'max':>7} {'vs anchor':>9}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:32} {min(values):7.1f} {median:7.1f} {max(values):7.1f} {median / anchor:8.2f}x")


if __name__ == "__main__":
    main()

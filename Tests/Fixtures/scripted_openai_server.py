#!/usr/bin/env python3
"""A scripted OpenAI-compatible server for the error paths a real one will not produce on demand.

The requested model name picks the script:
  flaky-429   first request of a run: 429 with Retry-After: 1, then a normal answer
  always-500  500 with an OpenAI-style error body, every time
  malformed   a stream whose second chunk is not JSON
  stall       one token, then silence until the client gives up
  tools       a tool call whose name and arguments arrive in fragments, reported usage
  slow-tools  "thinking" for 3 s (a token every 100 ms), then the same tool call; after the tool's result, as tools
  ok          "Hello from the script" in three chunks, no usage (as llama.cpp streams)
  slow        a token every 100 ms for 20 s; GET /stats then tells how many such streams the client dropped
  cut         two tokens, then the connection closes: no finish reason, no [DONE] (a server that died mid-answer)
GET /page, /redirect, /redirect-out, /loop and /big serve the http_get tool's tests; GET /traceparents lists the
traceparent header of every POST so far (null where there was none).
Usage: scripted_openai_server.py PORT   (prints "ready" when listening)
"""
import json
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COUNTS = {}
TRACEPARENTS = []
DROPPED = {"slow": 0}


def chunk(delta=None, finish=None, usage=None):
    body = {"id": "c1", "object": "chat.completion.chunk", "choices": [] if delta is None and finish is None else
            [{"index": 0, "delta": delta or {}, "finish_reason": finish}]}
    if usage:
        body["usage"] = usage
    return ("data: " + json.dumps(body) + "\n\n").encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def start_stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()

    def send_stream(self, parts, stall=False):
        self.start_stream()
        for part in parts:
            self.wfile.write(part)
            self.wfile.flush()
            time.sleep(0.02)
        if stall:
            time.sleep(30)
            return
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def do_GET(self):
        # Pages for the http_get tool's tests, and the dropped-stream count.
        status, headers, body = 200, {"Content-Type": "application/json"}, json.dumps({"dropped": DROPPED["slow"]}).encode()
        if self.path == "/page":
            headers, body = {"Content-Type": "text/plain"}, b"hello from the page"
        elif self.path == "/redirect":
            status, headers, body = 302, {"Location": "/page"}, b""
        elif self.path == "/redirect-out":
            status, headers, body = 302, {"Location": "http://not-allowed.test/"}, b""
        elif self.path == "/loop":
            status, headers, body = 302, {"Location": "/loop"}, b""
        elif self.path == "/big":
            headers, body = {"Content-Type": "text/plain"}, b"x" * 200000
        elif self.path == "/traceparents":
            body = json.dumps(TRACEPARENTS).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        request = json.loads(self.rfile.read(length) or b"{}")
        model = request.get("model", "")
        COUNTS[model] = COUNTS.get(model, 0) + 1
        TRACEPARENTS.append(self.headers.get("traceparent"))
        if model == "flaky-429" and COUNTS[model] % 2 == 1:
            body = json.dumps({"error": {"message": "slow down", "type": "rate_limit"}}).encode()
            self.send_response(429)
            self.send_header("Retry-After", "1")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif model == "always-500":
            body = json.dumps({"error": {"message": "model crashed"}}).encode()
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif model == "malformed":
            self.send_stream([chunk({"content": "Hi"}), b"data: {not json\n\n"])
        elif model == "slow":
            self.start_stream()
            try:
                for _ in range(200):
                    self.wfile.write(chunk({"content": " tick"}))
                    self.wfile.flush()
                    time.sleep(0.1)
            except (BrokenPipeError, ConnectionResetError):
                DROPPED["slow"] += 1
        elif model == "cut":
            self.start_stream()
            self.wfile.write(chunk({"role": "assistant", "content": "Half"}) + chunk({"content": " an"}))
            self.wfile.flush()
            self.close_connection = True
        elif model == "stall":
            self.send_stream([chunk({"content": "Hi"})], stall=True)
        elif model in ("tools", "slow-tools"):
            if model == "slow-tools" and request.get("messages", [{}])[-1].get("role") != "tool":
                self.start_stream()
                try:
                    for _ in range(30):
                        self.wfile.write(chunk({"content": " thinking"}))
                        self.wfile.flush()
                        time.sleep(0.1)
                    self.wfile.write(chunk({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                                                            "function": {"name": "calculator", "arguments": "{\"expression\": \"6*7\"}"}}]}))
                    self.wfile.write(chunk(finish="tool_calls") + b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass
            elif request.get("messages", [{}])[-1].get("role") == "tool":
                self.send_stream([chunk({"content": "It is "}), chunk({"content": request["messages"][-1]["content"]}),
                                  chunk(finish="stop"), chunk(usage={"prompt_tokens": 30, "completion_tokens": 4})])
            else:
                self.send_stream([
                    chunk({"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "calcu", "arguments": ""}}]}),
                    chunk({"tool_calls": [{"index": 0, "function": {"name": "lator", "arguments": "{\"expre"}}]}),
                    chunk({"tool_calls": [{"index": 0, "function": {"arguments": "ssion\": \"6*7\"}"}}]}),
                    chunk(finish="tool_calls"),
                    chunk(usage={"prompt_tokens": 20, "completion_tokens": 9}),
                ])
        else:
            self.send_stream([chunk({"role": "assistant", "content": "Hello"}), chunk({"content": " from"}),
                              chunk({"content": " the script"}), chunk(finish="stop")])


if __name__ == "__main__":
    # A parent may have left signals blocked; SIGTERM must work.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print("ready", flush=True)
    server.serve_forever()

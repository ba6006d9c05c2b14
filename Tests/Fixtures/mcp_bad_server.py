#!/usr/bin/env python3
"""A misbehaving MCP stdio "server" for the client's robustness tests. Deliberately not the SDK: raw JSON-RPC 2.0,
one message per line (the MCP stdio framing: UTF-8 JSON, newline-delimited, no embedded newlines).

    mcp_bad_server.py MODE

Every mode but exit-on-start answers `initialize` properly (the client's protocolVersion if it is a known one,
else "2025-06-18"; capabilities {tools: {listChanged: true}}; serverInfo), answers `ping` with {}, ignores
notifications, lists one tool `x {}` on `tools/list`, and exits 0 on EOF. Then, per MODE, `tools/call`:
  malformed      answered with the line "this is not json {" (not JSON at all)
  flood-line     answered with one 6 MiB line: a JSON-RPC result whose text is "x" * 6 MiB, written without
                 its closing bytes and newline; those follow only after 30 s (so a client without a line cap
                 would eventually accept it; one with a cap must fail before)
  silent         never answered (the server keeps reading and answering nothing)
  noise          answered properly (text "x ok"), but before every answer (initialize and tools/list too)
                 it writes: an empty line, "garbage", a JSON-but-not-JSON-RPC object, a JSON number, a JSON
                 array of numbers and a JSON-RPC response to an id nobody sent
  exit-on-start  (no call at all) writes "boom" to stderr and exits 1 before reading anything
  deaf           answers initialize and tools/list, then stops reading its input for good (a big enough call fills
                 the pipe)
  changes        well behaved: a call of `x` adds a tool `y` to its list and sends notifications/tools/list_changed
                 before answering "x ok"

    mcp_bad_server.py http-keep-open PORT

Streamable HTTP on 127.0.0.1:PORT (0: a free one; prints "ready <port>"): every POST is answered as an SSE stream holding the JSON-RPC
answer (a call of `x` gives "x ok"), which then stays open for 30 s, as the spec allows a server to do.
"""
import json
import os
import sys
import time

MODES = ("malformed", "flood-line", "silent", "exit-on-start", "noise", "changes", "deaf")
KNOWN_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
TOOL_X = {"name": "x", "description": "The only tool.", "inputSchema": {"type": "object", "properties": {}}}
NOISE = [b"", b"garbage", b'{"hello": "not json-rpc"}', b"42", b"[1, 2, 3]",
         b'{"jsonrpc": "2.0", "id": "nobody-asked", "result": {}}']

mode = sys.argv[1] if len(sys.argv) > 1 else ""
if mode == "http-keep-open":
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class KeepOpen(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            msg = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            if "id" not in msg:
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            result = {"tools/list": {"tools": [TOOL_X]}, "tools/call": {"content": [{"type": "text", "text": "x ok"}]},
                      "initialize": {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                                     "serverInfo": {"name": "keep-open", "version": "0"}}}.get(msg["method"], {})
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            event = json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result})
            self.wfile.write(f"event: message\ndata: {event}\n\n".encode())
            self.wfile.flush()
            time.sleep(30)

    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), KeepOpen)
    server.daemon_threads = True
    print("ready", server.server_address[1], flush=True)
    server.serve_forever()
if mode not in MODES:
    sys.exit(f"usage: mcp_bad_server.py {{{'|'.join(MODES)}}}")
if mode == "exit-on-start":
    sys.stderr.write("boom\n")
    sys.exit(1)
out = sys.stdout.buffer


def write_line(data: bytes):
    out.write(data + b"\n")
    out.flush()


def answer(msg_id, result=None, error=None):
    if mode == "noise":
        for line in NOISE:
            write_line(line)
    body = {"jsonrpc": "2.0", "id": msg_id}
    body.update({"error": error} if error else {"result": result})
    write_line(json.dumps(body).encode())


def serve():
    tools = [TOOL_X]
    for raw in sys.stdin.buffer:
        try:
            msg = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(msg, dict) or "id" not in msg or "method" not in msg:
            continue  # notifications and stray responses get no answer
        msg_id, method, params = msg["id"], msg["method"], msg.get("params") or {}
        if method == "initialize":
            asked = params.get("protocolVersion")
            answer(msg_id, {"protocolVersion": asked if asked in KNOWN_VERSIONS else "2025-06-18",
                            "capabilities": {"tools": {"listChanged": True}},
                            "serverInfo": {"name": f"bad-server-{mode}", "version": "0.0.1"}})
        elif method == "ping":
            answer(msg_id, {})
        elif method == "tools/list":
            answer(msg_id, {"tools": tools})
            if mode == "deaf":
                time.sleep(3600)
        elif method != "tools/call":
            answer(msg_id, error={"code": -32601, "message": f"Method not found: {method}"})
        elif mode == "malformed":
            write_line(b"this is not json {")
        elif mode == "flood-line":
            head = json.dumps({"jsonrpc": "2.0", "id": msg_id, "result": {"content": [{"type": "text", "text": ""}]}})
            head = head[: head.rindex('""') + 1].encode()  # ...,"text":"  (the opening quote of the text)
            out.write(head)
            chunk = b"x" * 65536
            for _ in range(96):  # 96 * 64 KiB = 6 MiB
                out.write(chunk)
            out.flush()
            time.sleep(30)
            write_line(b'"}]}}')
        elif mode in ("noise", "changes"):
            if mode == "changes" and len(tools) == 1:
                tools.append({"name": "y", "description": "Added by a call of x.", "inputSchema": {"type": "object"}})
                write_line(json.dumps({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}).encode())
            answer(msg_id, {"content": [{"type": "text", "text": "x ok"}], "isError": False})
        # silent: no answer


try:
    serve()
except BrokenPipeError:  # the client went away mid-write (e.g. it capped flood-line): just leave
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # so the exit-time flush of stdout cannot fail again
    sys.exit(0)

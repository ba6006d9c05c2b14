#!/usr/bin/env python3
"""A trace collector stand-in for bench/run.sh: takes every POST (OTLP/HTTP), answers 200 with an empty body, and
keeps the count of requests and bytes in OUT (JSON), so a bench run with tracing shows the spans left the workers.
Usage: otlp_sink.py PORT OUT"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

totals = {"requests": 0, "bytes": 0}


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        size = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(size)
        totals["requests"] += 1
        totals["bytes"] += size
        with open(sys.argv[2], "w") as out:
            json.dump(totals, out)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()

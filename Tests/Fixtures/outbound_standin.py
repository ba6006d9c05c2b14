#!/usr/bin/env python3
"""Stand-ins for the outbound policy's tests, on loopback only.

    outbound_standin.py ADDRESS PORT HITS_FILE

Listens on ADDRESS:PORT (an address of 127.0.0.0/8 or ::1) and appends one line per request to HITS_FILE:
"<method> <path> host=<Host header>[ authorization]". Prints "ready" once listening. Answers:
  /redirect/<code>?to=<url>   <code> with Location: <url>   (a "public" host that redirects inward)
  /slow/<seconds>             200 "slept", after that long   (a call a worker can die during)
  anything else               200 "reached <ADDRESS>"       (an "internal" service: any hit is a failed test)
"""
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

address, port, hits_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def answer(self):
        with lock, open(hits_path, "a") as hits:
            credential = " authorization" if self.headers.get("Authorization") else ""
            hits.write(f"{self.command} {self.path} host={self.headers.get('Host', '')}{credential}\n")
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        parts = urlsplit(self.path)
        if parts.path.startswith("/redirect/"):
            code = int(parts.path.rsplit("/", 1)[1])
            target = parse_qs(parts.query).get("to", [""])[0]
            self.send_response(code)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if parts.path.startswith("/slow/"):
            time.sleep(float(parts.path.rsplit("/", 1)[1]))
        body = f"reached {address}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = answer

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6 if ":" in address else socket.AF_INET
    daemon_threads = True


server = Server((address, port), Handler)
print("ready", flush=True)
server.serve_forever()

#!/usr/bin/env python3
"""A pets API for the OpenAPI tool tests, on loopback only; its document is openapi_service.json.

    openapi_service.py PORT HITS_FILE [--require-header NAME=VALUE]

Listens on 127.0.0.1:PORT and prints "ready" once listening. Appends one JSON line per request to HITS_FILE,
as soon as the request (and its body) has arrived: {"method", "target": the request target exactly as received,
"path": its part before "?", undecoded, "query": the raw query string, "args": the query decoded {name: [values]},
"headers": {lowercased name: value}, "body": the body as text, or null when empty}.
With --require-header, a request whose NAME header is not exactly VALUE gets 401 (after being logged).
Answers (JSON bodies; pets live in memory, seeded with 1 Rex/dog, 2 Tom/cat, 3 Nemo/fish):
  GET    /v1/pets?tag=..&limit=..   200 the pets, filtered by tag, at most limit of them
  GET    /v1/pets/{id}              200 the pet, or 404 {"error": "pet not found"}
  POST   /v1/pets  {name, tag?}     201 the created pet {id, name, tag?}, or 400 {"error": ...}
  DELETE /v1/pets/{id}              204 (whether or not it existed)
  GET    /v1/big                    200 a 5 MiB JSON object {"data": "xxx..."} (size-cap tests)
  GET    /v1/slow                   sleeps 30 s, then 200 {"slow": true} (timeout tests)
  anything else                     404 {"error": "no such endpoint"} (405 for a known path, wrong method)
"""
import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

parser = argparse.ArgumentParser()
parser.add_argument("port", type=int)
parser.add_argument("hits_file")
parser.add_argument("--require-header", metavar="NAME=VALUE")
opts = parser.parse_args()
required = opts.require_header.split("=", 1) if opts.require_header else None

lock = threading.Lock()
pets = {1: {"id": 1, "name": "Rex", "tag": "dog"}, 2: {"id": 2, "name": "Tom", "tag": "cat"},
        3: {"id": 3, "name": "Nemo", "tag": "fish"}}
next_id = [4]
BIG = json.dumps({"data": "x" * (5 << 20)}).encode()


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, payload=None):
        body = b"" if payload is None else payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 204:
            self.wfile.write(body)

    def answer(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path, _, query = self.path.partition("?")
        with lock, open(opts.hits_file, "a") as hits:
            hits.write(json.dumps({
                "method": self.command, "target": self.path, "path": path, "query": query,
                "args": parse_qs(query, keep_blank_values=True),
                "headers": {name.lower(): value for name, value in self.headers.items()},
                "body": raw.decode("utf-8", "replace") if raw else None}) + "\n")
        if required and self.headers.get(required[0]) != required[1]:
            return self.reply(401, {"error": "unauthorized"})
        args = parse_qs(query)
        parts = path.split("/")  # "/v1/pets/7" -> ["", "v1", "pets", "7"]
        method = self.command
        if path == "/v1/pets":
            if method == "GET":
                with lock:
                    found = [p for p in pets.values() if "tag" not in args or p.get("tag") == args["tag"][0]]
                try:
                    limit = int(args.get("limit", ["100"])[0])
                except ValueError:
                    return self.reply(400, {"error": "limit must be an integer"})
                return self.reply(200, found[:max(limit, 0)])
            if method == "POST":
                try:
                    new = json.loads(raw or b"null")
                    assert isinstance(new, dict) and isinstance(new.get("name"), str)
                    assert isinstance(new.get("tag", ""), str)
                except (ValueError, AssertionError):
                    return self.reply(400, {"error": "body must be {name: string, tag?: string}"})
                with lock:
                    pet = {"id": next_id[0], "name": new["name"], **({"tag": new["tag"]} if "tag" in new else {})}
                    pets[pet["id"]] = pet
                    next_id[0] += 1
                return self.reply(201, pet)
            return self.reply(405, {"error": "method not allowed"})
        if len(parts) == 4 and parts[:3] == ["", "v1", "pets"]:
            pet_id = int(parts[3]) if parts[3].isdigit() else None
            if method == "GET":
                with lock:
                    pet = pets.get(pet_id)
                return self.reply(200, pet) if pet else self.reply(404, {"error": "pet not found"})
            if method == "DELETE":
                with lock:
                    pets.pop(pet_id, None)
                return self.reply(204)
            return self.reply(405, {"error": "method not allowed"})
        if path in ("/v1/big", "/v1/slow"):
            if method != "GET":
                return self.reply(405, {"error": "method not allowed"})
            if path == "/v1/big":
                return self.reply(200, BIG)
            time.sleep(30)
            return self.reply(200, {"slow": True})
        return self.reply(404, {"error": "no such endpoint"})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that hung up (e.g. on /v1/slow) is fine
            super().handle_error(request, client_address)


server = Server(("127.0.0.1", opts.port), Handler)
print("ready", flush=True)
server.serve_forever()

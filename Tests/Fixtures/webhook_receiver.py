"""A webhook receiver for the live tests: answers 500 to the first FAIL attempts of each webhook-id, then 204,
and appends every request (headers and body) as a JSON line to LOG. Prints its port, then serves."""
import http.server
import json
import sys
import threading

log_path, fail = sys.argv[1], int(sys.argv[2])
seen = {}
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        webhook_id = self.headers.get("webhook-id", "")
        with lock:
            seen[webhook_id] = seen.get(webhook_id, 0) + 1
            attempt = seen[webhook_id]
            status = 500 if attempt <= fail else 204
            with open(log_path, "a") as log:
                log.write(json.dumps({"path": self.path, "attempt": attempt, "status": status,
                                      "headers": {k.lower(): v for k, v in self.headers.items()},
                                      "body": body.decode()}) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()

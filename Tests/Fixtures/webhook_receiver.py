"""A webhook receiver for the live tests: answers 500 to the first FAIL attempts of each webhook-id, then 204,
and appends every request (headers and body) as a JSON line to LOG. With HOLD (seconds), the first attempt of each
webhook-id is logged as it arrives and answered only after HOLD: a sender can be killed in the middle of it.
Prints its port, then serves.

Usage: webhook_receiver.py LOG FAIL [HOLD]"""
import http.server
import json
import sys
import threading
import time

log_path, fail = sys.argv[1], int(sys.argv[2])
hold = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
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
                log.write(json.dumps({"path": self.path, "attempt": attempt, "status": status, "at": time.time(),
                                      "headers": {k.lower(): v for k, v in self.headers.items()},
                                      "body": body.decode()}) + "\n")
        if hold and attempt == 1:
            time.sleep(hold)
        try:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the sender went away (killed, or gave up) while the answer was held

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()

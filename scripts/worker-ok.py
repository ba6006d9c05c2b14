#!/usr/bin/env python3
"""Asks one worker for GET /ok over FastCGI on its socket, as nginx would, and exits 0 on a 200.

    scripts/worker-ok.py /run/agentfcgi/worker-2.sock [timeout seconds]

For restarts (scripts/run.sh, docs/deploy.md section 7): `curl https://.../ok` goes through nginx to whichever worker
nginx picks, and says nothing about the one just started; this reaches that worker alone. Standard library only."""
import socket
import struct
import sys

BEGIN_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT = 1, 3, 4, 5, 6
RESPONDER = 1


def record(kind: int, body: bytes, request_id: int = 1) -> bytes:
    return struct.pack(">BBHHBx", 1, kind, request_id, len(body), 0) + body


def pair(name: str, value: str) -> bytes:
    def length(n: int) -> bytes:
        return struct.pack(">B", n) if n < 128 else struct.pack(">I", n | 0x80000000)
    n, v = name.encode(), value.encode()
    return length(len(n)) + length(len(v)) + n + v


def status(path: str, timeout: float) -> int:
    params = {"REQUEST_METHOD": "GET", "REQUEST_URI": "/ok", "DOCUMENT_URI": "/ok", "QUERY_STRING": "",
              "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "CONTENT_LENGTH": "0"}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        body = b"".join(pair(k, v) for k, v in params.items())
        s.sendall(record(BEGIN_REQUEST, struct.pack(">HB5x", RESPONDER, 0)) + record(PARAMS, body)
                  + record(PARAMS, b"") + record(STDIN, b""))
        received, out = b"", b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            received += chunk
            while len(received) >= 8:
                _, kind, _, size, padding = struct.unpack(">BBHHB", received[:7])
                if len(received) < 8 + size + padding:
                    break
                content, received = received[8:8 + size], received[8 + size + padding:]
                if kind == STDOUT:
                    out += content
                elif kind == END_REQUEST:
                    head = out.split(b"\r\n\r\n", 1)[0].decode("latin-1")
                    for line in head.split("\r\n"):
                        if line.lower().startswith("status:"):
                            return int(line.split()[1])
                    return 200  # CGI: no Status header means 200
        return 0


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    try:
        code = status(sys.argv[1], float(sys.argv[2]) if len(sys.argv) == 3 else 2.0)
    except OSError as error:
        print(f"worker-ok: {sys.argv[1]}: {error}", file=sys.stderr)
        sys.exit(1)
    if code != 200:
        print(f"worker-ok: {sys.argv[1]}: GET /ok answered {code}", file=sys.stderr)
    sys.exit(0 if code == 200 else 1)

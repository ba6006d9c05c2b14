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


def request(path: str, method: str, uri: str, body: bytes = b"", content_type: str = "",
            timeout: float = 2.0) -> tuple[int, bytes]:
    """One FastCGI request on the socket at `path`: (HTTP status, response body). OSError when the connection fails
    or breaks before the worker ends the request."""
    params = {"REQUEST_METHOD": method, "REQUEST_URI": uri, "DOCUMENT_URI": uri.split("?", 1)[0],
              "QUERY_STRING": uri.partition("?")[2], "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
              "CONTENT_LENGTH": str(len(body))}
    if content_type:
        params["CONTENT_TYPE"] = content_type
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        pairs = b"".join(pair(k, v) for k, v in params.items())
        stdin = b"".join(record(STDIN, body[i:i + 65535]) for i in range(0, len(body), 65535))
        s.sendall(record(BEGIN_REQUEST, struct.pack(">HB5x", RESPONDER, 0)) + record(PARAMS, pairs)
                  + record(PARAMS, b"") + stdin + record(STDIN, b""))
        received, out = b"", b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionResetError("the worker closed the connection before it ended the request")
            received += chunk
            while len(received) >= 8:
                _, kind, _, size, padding = struct.unpack(">BBHHB", received[:7])
                if len(received) < 8 + size + padding:
                    break
                content, received = received[8:8 + size], received[8 + size + padding:]
                if kind == STDOUT:
                    out += content
                elif kind == END_REQUEST:
                    head, _, rest = out.partition(b"\r\n\r\n")
                    for line in head.decode("latin-1").split("\r\n"):
                        if line.lower().startswith("status:"):
                            return int(line.split()[1]), rest
                    return 200, rest  # CGI: no Status header means 200


def status(path: str, timeout: float) -> int:
    return request(path, "GET", "/ok", timeout=timeout)[0]


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

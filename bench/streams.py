"""Concurrent SSE streams against ONE agentfcgi worker behind nginx: memory per open stream.

Run by bench/run.sh after the wrk runs. Opens K HTTPS connections to nginx, POSTs /runs/stream on
each (a slow agent, so the streams stay open and silent), waits until every stream has received its
first `event: metadata` frame, then reads the worker's VmRSS from /proc/PID/status:

    per stream = (RSS with K streams open - RSS before) / K

Then closes them all and reads VmRSS again; with --waves 2 (the default) it does the same once more,
which shows whether the worker reuses the first wave's memory or keeps growing. Prints one JSON
object (also written to --json).
Standard library only (asyncio + ssl).
"""

import argparse
import asyncio
import json
import os
import resource
import ssl
import sys
import time


def vm_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def threads_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return -1


def fds_of(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


class Stream:
    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer


async def open_stream(args, context, request: bytes) -> Stream:
    reader, writer = await asyncio.open_connection(
        args.host, args.port, ssl=context, server_hostname=args.server_name if context else None)
    try:
        writer.write(request)
        await writer.drain()
        received = b""
        while b"event: metadata" not in received:
            chunk = await reader.read(65536)
            if not chunk:
                raise ConnectionError(f"closed before the metadata frame: {received[:200]!r}")
            received += chunk
            if len(received) > 1 << 20:
                raise ConnectionError("no metadata frame in the first MiB")
        status_line = received.split(b"\r\n", 1)[0]
        if b" 200 " not in status_line + b" ":
            raise ConnectionError(f"status {status_line!r}")
        return Stream(reader, writer)
    except BaseException:
        writer.transport.abort()
        raise


async def open_many(args, context, request: bytes, count: int, streams: list, errors: dict):
    gate = asyncio.Semaphore(args.concurrency)

    async def one():
        async with gate:
            try:
                stream = await asyncio.wait_for(open_stream(args, context, request), args.open_timeout)
                streams.append(stream)
            except Exception as error:  # counted and reported, the run goes on
                key = f"{type(error).__name__}: {str(error)[:120]}"
                errors[key] = errors.get(key, 0) + 1

    await asyncio.gather(*(one() for _ in range(count)))


def close_all(streams: list):
    for stream in streams:
        stream.writer.transport.abort()
    streams.clear()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server-name", default="localhost", help="TLS SNI and Host header")
    parser.add_argument("--cafile", help="CA that signed nginx's certificate (verification is on)")
    parser.add_argument("--plain", action="store_true", help="plain HTTP instead of HTTPS")
    parser.add_argument("--pid", type=int, required=True, help="the agentfcgi worker's process id")
    parser.add_argument("--streams", type=int, default=5000)
    parser.add_argument("--agent", default="echo-slow")
    parser.add_argument("--path", default="/runs/stream")
    parser.add_argument("--concurrency", type=int, default=200, help="streams being opened at once")
    parser.add_argument("--open-timeout", type=float, default=60.0)
    parser.add_argument("--warmup", type=int, default=50, help="streams opened and closed before 'before'")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds to wait before each RSS reading")
    parser.add_argument("--waves", type=int, default=2,
                        help="open and close the streams this many times (later waves show whether memory is reused)")
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.streams + 100:
        print(f"streams.py: RLIMIT_NOFILE is {hard}, too low for {args.streams} streams", file=sys.stderr)

    context = None
    if not args.plain:
        context = ssl.create_default_context(cafile=args.cafile)
    body = json.dumps({
        "assistant_id": args.agent,
        "input": {"messages": [{"role": "user", "content": "Hello there, how are you today?"}]},
    }, separators=(",", ":")).encode()
    request = (
        f"POST {args.path} HTTP/1.1\r\nHost: {args.server_name}\r\nContent-Type: application/json\r\n"
        f"Accept: text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body

    result = {"target_streams": args.streams, "tls": not args.plain, "worker_pid": args.pid}
    streams: list[Stream] = []
    errors: dict[str, int] = {}

    # Warm-up: the worker's first streams allocate pools and caches that stay; they are not per stream.
    if args.warmup:
        await open_many(args, context, request, args.warmup, streams, errors)
        result["warmup_opened"] = len(streams)
        close_all(streams)
        await asyncio.sleep(args.settle)
    errors.clear()

    result["rss_before_kib"] = vm_rss_kib(args.pid)
    result["threads_before"] = threads_of(args.pid)
    for wave in range(1, args.waves + 1):
        started = time.monotonic()
        await open_many(args, context, request, args.streams, streams, errors)
        opened_in = round(time.monotonic() - started, 2)
        await asyncio.sleep(args.settle)
        # Streams that the server closed while we waited are not open any more.
        alive = sum(1 for s in streams if not s.reader.at_eof() and not s.writer.transport.is_closing())
        rss_with = vm_rss_kib(args.pid)
        threads_with, fds_with = threads_of(args.pid), fds_of(args.pid)
        close_all(streams)
        await asyncio.sleep(args.settle * 2)
        rss_after = vm_rss_kib(args.pid)
        if wave == 1:
            result["open_seconds"] = opened_in
            result["open_at_measure"] = alive
            result["rss_with_streams_kib"] = rss_with
            result["threads_with_streams"] = threads_with
            result["worker_fds_with_streams"] = fds_with
            result["kib_per_stream"] = round((rss_with - result["rss_before_kib"]) / max(alive, 1), 2)
            result["rss_after_close_kib"] = rss_after
            result["threads_after_close"] = threads_of(args.pid)
            result["worker_fds_after_close"] = fds_of(args.pid)
        else:
            # The same number again: if the first wave's memory is reused, RSS hardly grows.
            result.setdefault("later_waves", []).append({
                "open_at_measure": alive, "rss_with_streams_kib": rss_with, "rss_after_close_kib": rss_after,
                "worker_fds_after_close": fds_of(args.pid)})
    result["errors"] = errors

    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as out:
            out.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

#!/usr/bin/env python3
"""An MCP tool server for the "bring your own tools" tests, built on the official MCP Python SDK (mcp 2.3.0).

    mcp_tool_server.py stdio
    mcp_tool_server.py http --port PORT [--host 127.0.0.1] [--require-header NAME=VALUE]
                            [--stateless] [--json-response]

stdio: newline-delimited JSON-RPC on stdin/stdout (the SDK's stdio_server; while it serves, the SDK points
fd 0 at /dev/null and fd 1 at stderr and keeps the wire on private CLOEXEC duplicates of them).
http: Streamable HTTP at /mcp (stateful sessions by default; --stateless and --json-response are the SDK's
own switches). PORT 0 picks a free port. Prints "ready <port>" on stdout once listening; nothing else goes
to stdout. With --require-header, any request lacking that exact header gets 401 before the SDK sees it.
The server advertises capabilities.tools.listChanged = true.

Tools:
  add {a, b}         text "<sum>" (e.g. "5"; integral sums print without ".0") + structuredContent {"sum": ...}
  echo_env {name}    text: the variable's value in this process, or "<unset>"
  list_fds {}        content[0] text "0,1,2,..." (fds open in this process), content[1] text: JSON
                     {"<fd>": "<readlink target>"}; structuredContent {"fds": [...], "targets": {...},
                     "owners": {"<fd>": "asyncio-selector" | "asyncio-selfpipe" | "mcp-stdio-wire"}}
                     ("owners" labels the fds this process made itself; the fd used to list is excluded)
  pid {}             text JSON {"pid": N, "pgid": N} (os.getpgid(0)) + the same as structuredContent
  hang {}            never answers (sleeps forever)
  die {}             os._exit(3) in the middle of the call, without answering
  flood {}           text content of 8 MiB ("x" * 8388608)
  add_tool {}        registers tool `late {}` (answers "late"), sends notifications/tools/list_changed on
                     this request's stream (stdio: stdout; HTTP: the POST's SSE stream) and answers "added"
  slow {seconds}     sleeps that long, then "done"
  fail {}            a tool error result: isError true, text "it failed on purpose"

Fds list_fds shows when spawned with only 0-2 open (Popen(close_fds=True), pipes on 0-2; observed):
  0 -> /dev/null and 1 -> same as 2 (the SDK's diversions), 2 -> stderr,
  3 anon_inode:[eventpoll] ("asyncio-selector"), 4 and 5 socket:[..] (asyncio's self-pipe socketpair),
  6 and 7 the real stdin/stdout pipes (the SDK's wire duplicates, "mcp-stdio-wire").
  Anything else was inherited from the parent. http mode adds the listening socket and client sockets.
"""
import argparse
import asyncio
import json
import os
import socket

import anyio
import mcp_types as types
from mcp.server import NotificationOptions, Server, ServerRequestContext
from mcp.server.stdio import stdio_server


def tool(name, description, properties=None, required=(), output_schema=None):
    schema = {"type": "object", "properties": properties or {}, "required": list(required)}
    return types.Tool(name=name, description=description, input_schema=schema, output_schema=output_schema)


NUMBER, STRING = {"type": "number"}, {"type": "string"}
TOOLS = {t.name: t for t in [
    tool("add", "Adds two numbers.", {"a": NUMBER, "b": NUMBER}, ["a", "b"],
         {"type": "object", "properties": {"sum": NUMBER}, "required": ["sum"]}),
    tool("echo_env", "Value of an environment variable in the server process.", {"name": STRING}, ["name"]),
    tool("list_fds", "Open file descriptors of the server process."),
    tool("pid", "Process id and process group id of the server."),
    tool("hang", "Never answers."),
    tool("die", "Exits the server with status 3 mid-call."),
    tool("flood", "Answers with 8 MiB of text."),
    tool("add_tool", "Registers the tool `late` and notifies tools/list_changed."),
    tool("slow", "Sleeps `seconds`, then answers.", {"seconds": NUMBER}, ["seconds"]),
    tool("fail", "Returns a tool error."),
]}
wire_fds: set[int] = set()  # the SDK's private duplicates of stdin/stdout (stdio mode only)


def text(*parts, structured=None, error=False):
    content = [types.TextContent(text=p) for p in parts]
    return types.CallToolResult(content=content, structured_content=structured, is_error=error)


def fd_targets():
    """{fd: readlink target} of this process. The fd that lists /proc/self/fd is closed before the
    readlinks, so it drops out (ENOENT), as does any fd another thread closes meanwhile."""
    targets = {}
    for fd in sorted(map(int, os.listdir("/proc/self/fd"))):
        try:
            targets[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            pass
    return targets


def open_fds():
    loop = asyncio.get_running_loop()
    owners = {loop._selector.fileno(): "asyncio-selector"}  # private but long-stable asyncio attributes
    for sock in (getattr(loop, "_ssock", None), getattr(loop, "_csock", None)):
        if sock is not None:
            owners[sock.fileno()] = "asyncio-selfpipe"
    owners.update({fd: "mcp-stdio-wire" for fd in wire_fds})
    targets = fd_targets()
    labels = {str(fd): owners[fd] for fd in targets if fd in owners}
    return list(targets), {str(fd): t for fd, t in targets.items()}, labels


async def call_tool(ctx: ServerRequestContext, params: types.CallToolRequestParams) -> types.CallToolResult:
    args = params.arguments or {}
    name = params.name
    if name not in TOOLS:
        return text(f"unknown tool {name!r}", error=True)
    if name == "add":
        a, b = args.get("a"), args.get("b")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b)):
            return text("a and b must be numbers", error=True)
        total = a + b
        if isinstance(total, float) and total.is_integer():
            total = int(total)
        return text(str(total), structured={"sum": total})
    if name == "echo_env":
        return text(os.environ.get(str(args.get("name", "")), "<unset>"))
    if name == "list_fds":
        fds, targets, owners = open_fds()
        return text(",".join(map(str, fds)), json.dumps(targets),
                    structured={"fds": fds, "targets": targets, "owners": owners})
    if name == "pid":
        ids = {"pid": os.getpid(), "pgid": os.getpgid(0)}
        return text(json.dumps(ids), structured=ids)
    if name == "hang":
        await anyio.sleep_forever()
    if name == "die":
        os._exit(3)
    if name == "flood":
        return text("x" * (8 << 20))
    if name == "add_tool":
        TOOLS["late"] = tool("late", "Registered at run time by add_tool.")
        # related_request_id: send on this request's stream, which every transport delivers.
        await ctx.session.send_notification(types.ToolListChangedNotification(), related_request_id=ctx.request_id)
        return text("added")
    if name == "late":
        return text("late")
    if name == "slow":
        await anyio.sleep(float(args.get("seconds", 0)))
        return text("done")
    return text("it failed on purpose", error=True)  # fail


async def list_tools(ctx: ServerRequestContext, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
    return types.ListToolsResult(tools=list(TOOLS.values()))


class ToolServer(Server):
    # The SDK derives listChanged from NotificationOptions, which the HTTP path never passes: default it here.
    def create_initialization_options(self, notification_options=None, *args, **kwargs):
        notification_options = notification_options or NotificationOptions(tools_changed=True)
        return super().create_initialization_options(notification_options, *args, **kwargs)


server = ToolServer("agentfcgi-test-tools", version="1.0", on_list_tools=list_tools, on_call_tool=call_tool)


async def run_stdio():
    before = set(fd_targets())
    async with stdio_server() as (read_stream, write_stream):
        wire_fds.update(set(fd_targets()) - before)
        await server.run(read_stream, write_stream, server.create_initialization_options())


def require_header(app, name, value):
    """ASGI wrapper answering 401 to HTTP requests whose `name` header is not exactly `value`."""
    want = (name.lower().encode(), value.encode())

    async def guarded(scope, receive, send):
        if scope["type"] == "http" and want not in scope["headers"]:
            body = b'{"error":"missing required header"}'
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 401, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await app(scope, receive, send)

    return guarded


async def run_http(opts):
    import uvicorn

    app = server.streamable_http_app(stateless_http=opts.stateless, json_response=opts.json_response, host=opts.host)
    if opts.require_header:
        app = require_header(app, *opts.require_header.split("=", 1))
    sock = socket.socket(socket.AF_INET6 if ":" in opts.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((opts.host, opts.port))
    web = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))

    async def announce():
        while not web.started:
            await anyio.sleep(0.01)
        print("ready", sock.getsockname()[1], flush=True)

    async with anyio.create_task_group() as tg:
        tg.start_soon(announce)
        await web.serve(sockets=[sock])
        tg.cancel_scope.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("transport", choices=["stdio", "http"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--require-header", metavar="NAME=VALUE")
    parser.add_argument("--stateless", action="store_true")
    parser.add_argument("--json-response", action="store_true")
    opts = parser.parse_args()
    if opts.transport == "stdio":
        anyio.run(run_stdio)
    else:
        anyio.run(run_http, opts)

"""An MCP client this project did not write: the official Python SDK (`mcp` on PyPI)
drives `orch mcp` over stdio, lists exactly the five tools and calls each of them.

Usage: python tests/mcp_client.py <path to the orch binary>

It runs `orch mcp` in the current directory with the current environment (the Rust test
`cli/tests/cli.rs` gives it a temporary home with the capture's OpenCode setup). `orch mcp`
starts the backend when none runs; the caller stops it. Prints one `ok:` line per check
and exits 0, or prints the failed check to stderr and exits 1.
"""

import asyncio
import json
import os
import sys

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

EXPECTED = {"task_start", "task_await", "task_peek", "task_list", "task_cancel"}
FINISHED = {"succeeded", "failed", "cancelled"}
SECRETS = ("sk-test-123", "gsk-test-env")


class CheckFailed(Exception):
    pass


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        raise CheckFailed(what)
    print(f"ok: {what}")


def field(obj, snake, camel):
    """The SDK's 2.x models use snake_case attributes, 1.x camelCase."""
    return getattr(obj, snake, None) if hasattr(obj, snake) else getattr(obj, camel, None)


def is_error(result):
    return bool(field(result, "is_error", "isError"))


def text(result):
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


def no_secret(what, body):
    for s in SECRETS:
        if s in body:
            raise CheckFailed(f"{what} leaks a secret")


async def call(session, tool, args):
    result = await session.call_tool(tool, args)
    body = text(result)
    no_secret(f"{tool} {args}", body)
    return result, body


async def run(orch):
    params = StdioServerParameters(
        command=orch, args=["mcp"], env=dict(os.environ), cwd=os.getcwd()
    )
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            check(field(init, "server_info", "serverInfo").name == "orch", "the server says it is orch")

            listed = await session.list_tools()
            names = {t.name for t in listed.tools}
            check(names == EXPECTED, f"exactly the five tools: {sorted(names)}")
            for t in listed.tools:
                props = (field(t, "input_schema", "inputSchema") or {}).get("properties") or {}
                check(bool(t.description) and bool(props), f"{t.name} has a description and arguments")

            for view in ["tasks", "workers", "profiles", "models", "status"]:
                r, body = await call(session, "task_list", {"view": view, "format": "json"})
                check(not is_error(r), f"task_list view {view} answers")
                json.loads(body)
            r, body = await call(session, "task_list", {"view": "workers"})
            check(not is_error(r) and "| WORKER |" in body, "task_list answers Markdown by default")

            r, body = await call(
                session,
                "task_list",
                {"view": "resolve", "model": "node:fast", "workerId": "explorer", "format": "json"},
            )
            resolution = json.loads(body)["resolution"]
            check(resolution["resolved_model"] == "fake/fast-mini", "node:fast resolves to small_model")
            check(bool(resolution["reason"]), "the resolution has a reason")

            r, body = await call(
                session,
                "task_start",
                {
                    "kind": "worker",
                    "workerId": "docs",
                    "model": "node:fast",
                    "task": "Summarise the README",
                    "format": "json",
                },
            )
            check(not is_error(r), f"task_start returns a task at once: {body[:200]}")
            row = json.loads(body)
            task_id = row["id"]
            check(row["resolved_model"] == "fake/fast-mini", "task_start shows the resolved model")

            r, body = await call(
                session, "task_await", {"taskId": task_id, "timeoutMs": 10000, "format": "json"}
            )
            awaited = json.loads(body)["tasks"][0]
            check(awaited["status"] in FINISHED, f"task_await returns the finished task ({awaited['status']})")
            check(awaited["reason"], "the awaited task carries the reason for its model")
            if awaited["status"] == "succeeded":
                check(awaited["answered_by"], "a succeeded task names the model that answered")
            else:
                check(awaited["error"]["message"], "a failed task says why")

            r, body = await call(session, "task_peek", {"taskIds": [task_id], "format": "json"})
            check(json.loads(body)["tasks"][0]["id"] == task_id, "task_peek returns the task")

            r, body = await call(session, "task_peek", {"taskIds": [task_id, "t999"], "format": "json"})
            peeked = json.loads(body)
            check(
                [t["id"] for t in peeked["tasks"]] == [task_id] and peeked.get("unknown") == ["t999"],
                "task_peek returns the known tasks and names the unknown ids",
            )

            r, body = await call(session, "task_list", {"view": "tasks", "limit": 1, "format": "json"})
            listed = json.loads(body)
            check(len(listed["tasks"]) == 1 and listed["total"] >= 1, "task_list takes an integer limit")

            r, body = await call(
                session,
                "task_start",
                {
                    "kind": "op",
                    "op": "worker.model.set",
                    "worker": {"workerId": "docs", "model": "node:fast", "modelPolicy": "dynamic"},
                    "format": "json",
                },
            )
            check(not is_error(r), f"task_start takes a worker object for an op: {body[:200]}")
            op = json.loads(body)
            r, body = await call(session, "task_await", {"taskId": op["id"], "timeoutMs": 10000, "format": "json"})
            check(json.loads(body)["tasks"][0]["status"] == "succeeded", "worker.model.set applies")

            r, body = await call(
                session,
                "task_start",
                {"kind": "worker", "workerId": "docs", "task": "Say hi", "timeoutMs": 60000, "format": "json"},
            )
            check(not is_error(r) and json.loads(body)["id"], "task_start takes an integer timeoutMs")

            r, body = await call(session, "task_cancel", {"taskId": task_id, "format": "json"})
            outcome = json.loads(body)["results"][0]["outcome"]
            check(outcome == "already_finished", "task_cancel of a finished task says so")

            r, body = await call(session, "task_start", {"kind": "worker", "workerId": "dcos", "task": "x"})
            check(is_error(r) and "suggestions" in body, "an unknown worker is a tool error with suggestions")
            check(body.split("suggestions: ")[-1].startswith("docs"), "the closest worker is suggested first")

            try:
                r = await session.call_tool("task_peek", {"taskIds": 5})
                bad = is_error(r)
            except Exception:  # noqa: BLE001 - the SDK raises its JSON-RPC error type
                bad = True
            check(bad, "wrong argument types are refused")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        asyncio.run(run(sys.argv[1]))
    except BaseException as e:  # noqa: BLE001 - a check failing inside the SDK's task groups
        print(f"FAILED: {e!r}", file=sys.stderr)
        return 1
    print("ok: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

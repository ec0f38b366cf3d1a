"""The usage figures as an MCP client this project did not write sees them: the official
Python SDK (`mcp` on PyPI) drives `orch mcp` over stdio and reads `task_list` views
`usage` and `workers` in JSON.

Usage: python tests/mcp_usage_view.py <path to the orch binary>

Runs `orch mcp` in the current directory with the current environment (the Rust test
`cli/tests/usage_real.rs` gives it its sandbox). Prints one JSON object
`{"usage": <view usage>, "workers": <view workers>}` on stdout and exits 0, or prints
what failed to stderr and exits 1.
"""

import asyncio
import json
import os
import sys

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client


async def view(session, name):
    result = await session.call_tool("task_list", {"view": name, "format": "json"})
    if getattr(result, "isError", False) or getattr(result, "is_error", False):
        raise RuntimeError(f"task_list view {name} failed: {result.content}")
    text = "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")
    return json.loads(text)


async def main(orch):
    params = StdioServerParameters(
        command=orch, args=["mcp"], env=dict(os.environ), cwd=os.getcwd()
    )
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            out = {"usage": await view(session, "usage"), "workers": await view(session, "workers")}
    print(json.dumps(out))


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv[1]))
    except Exception as e:  # noqa: BLE001 - any failure is the test's to report
        print(f"FAILED: {e!r}", file=sys.stderr)
        sys.exit(1)

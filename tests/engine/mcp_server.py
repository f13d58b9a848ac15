"""A real MCP server built with the official SDK, for the mcp provider's tests.

Run as ``python -m tests.engine.mcp_server`` (stdio) or ``... http PORT`` (streamable HTTP
on 127.0.0.1). Its tools: arithmetic and text for agent steps, an error, a slow one, one
that kills the process (reconnects), one that reads its environment (isolation), and two
workflow validators named as seed 002's multi-provider example names them.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("switchboard-test")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def shout(text: str) -> str:
    """Upper-case a text."""
    return text.upper()


@server.tool()
def fail(reason: str) -> str:
    """Always fails with the given reason."""
    raise ToolError(f"refused: {reason}")


@server.tool()
async def slow(seconds: float) -> str:
    """Sleep, then answer."""
    await asyncio.sleep(seconds)
    return "slept"


@server.tool()
def crash() -> str:
    """End the server process at once."""
    os._exit(3)


@server.tool()
def getenv(name: str) -> str:
    """A variable of the server's environment ('<unset>' if absent)."""
    return os.environ.get(name, "<unset>")


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    steps = workflow.get("steps")
    return [s for s in steps if isinstance(s, dict)] if isinstance(steps, list) else []


@server.tool(name="kubernetes-validator")
def kubernetes_validator(workflow: dict[str, Any]) -> dict[str, Any]:
    """Checks that a deployment workflow has a health check (seed 002's validator name)."""
    ids = " ".join(f"{s.get('id', '')} {s.get('name', '')}".lower() for s in _steps(workflow))
    issues = [] if "health" in ids else [
        {"path": "steps", "message": "no health check step after the deployment"}]
    return {"valid": not issues, "issues": issues,
            "suggestions": ["Pin the image tag"] if "deploy" in ids else []}


@server.tool(name="prometheus-validator")
def prometheus_validator(workflow: dict[str, Any]) -> str:
    """Answers in plain text: a suggestion."""
    return f"{len(_steps(workflow))} steps checked; add a Prometheus alert for the rollout"


if __name__ == "__main__":
    print("switchboard test MCP server starting", file=sys.stderr, flush=True)
    if sys.argv[1:2] == ["http"]:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()

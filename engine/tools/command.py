"""The ``command`` tool: run an allow-listed executable, never through a shell.

Why so strict: definitions (and seed 002's inline ``/execute`` bodies) come from people and
programs other than the operator. Only executables the operator listed in
``orchestrations.tool_commands`` may run; the name must match an entry exactly (a bare name
is looked up on PATH, an absolute path must be given as listed), arguments are passed as a
list with no shell, the environment is reduced to PATH/HOME/LANG (API keys and secrets are
not inherited), output is captured and capped, and the process is killed on timeout.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Sequence
from typing import Any

from switchboard.engine.tools.registry import Tool, ToolContext, ToolError

MAX_OUTPUT_BYTES = 65_536
_ENV_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "TZ")


def resolve_executable(name: str, allowed: Sequence[str]) -> str:
    """The path to run for ``name`` if the allow-list permits it; raises ToolError."""
    if not allowed:
        raise ToolError("the command tool is disabled: list executables in "
                        "orchestrations.tool_commands to enable it")
    if name not in allowed:
        raise ToolError(f"executable {name!r} is not allow-listed "
                        f"(orchestrations.tool_commands: {', '.join(allowed)})")
    if os.path.isabs(name):
        if not (os.path.isfile(name) and os.access(name, os.X_OK)):
            raise ToolError(f"executable {name!r} does not exist or is not executable")
        return name
    if os.sep in name:
        raise ToolError("list executables by bare name or absolute path, not a relative path")
    found = shutil.which(name)
    if found is None:
        raise ToolError(f"executable {name!r} was not found on PATH")
    return found


def _decode(data: bytes) -> tuple[str, bool]:
    return data[:MAX_OUTPUT_BYTES].decode("utf-8", "replace"), len(data) > MAX_OUTPUT_BYTES


def command_tool(allowed: Sequence[str], *, timeout: float = 60.0) -> Tool:
    """A tool running ``argv`` (a list: executable then arguments) from the allow-list."""
    allow = list(allowed)

    async def run(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        argv = args["argv"]
        if not argv or not all(isinstance(part, str) for part in argv):
            raise ToolError("argv must be a non-empty list of strings")
        executable = resolve_executable(argv[0], allow)
        env = {key: os.environ[key] for key in _ENV_KEEP if key in os.environ}
        if ctx.idempotency_key:
            env["SWITCHBOARD_IDEMPOTENCY_KEY"] = ctx.idempotency_key
        stdin = args.get("stdin")
        process = await asyncio.create_subprocess_exec(
            executable, *argv[1:],
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=env, start_new_session=True,
        )
        try:
            stdout, stderr = await process.communicate(
                str(stdin).encode() if stdin is not None else None)
        except BaseException:  # timeout (cancellation) or anything else: never leave it running
            if process.returncode is None:
                process.kill()
                await asyncio.shield(process.wait())
            raise
        out, out_cut = _decode(stdout)
        err, err_cut = _decode(stderr)
        result = {"argv": list(argv), "exit_code": process.returncode, "stdout": out,
                  "stderr": err, "truncated": out_cut or err_cut}
        if process.returncode != 0:
            raise ToolError(f"{argv[0]} exited with code {process.returncode}", output=result)
        return result

    return Tool(
        name="command", kind="command", timeout=timeout, handler=run,
        description=f"Run an allow-listed program ({', '.join(allow) or 'none allowed'}) "
                    "with arguments; no shell.",
        parameters={"type": "object", "required": ["argv"], "properties": {
            "argv": {"type": "array", "items": {"type": "string"}},
            "stdin": {"type": "string"}}},
    )

"""A worker that runs allow-listed commands and returns their output: lint, test, build.

    export SWITCHBOARD_TOKEN=$(switchboard token --sub dev-runner --role agent)
    SHELL_RUNNER_ALLOW="ruff,pytest,git" switchboard worker \\
        examples/workers/shell_runner.py:handle --type dev_agent --url http://127.0.0.1:8000

Task payload::

    {"command": ["ruff", "check", "server/"], "cwd": "/srv/repo", "timeout": 120}

Why an allow-list of executables and no shell: a task payload is input from whoever can
create tasks; with ``exec`` of an allow-listed program (never ``sh -c``), a payload can
choose the arguments but not the program, and cannot chain commands, redirect or expand.
Output is streamed into the task's log (last lines) and returned (tails, capped), the exit
code decides success, and a timeout kills the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections import deque
from typing import Any

from switchboard.server.contract import Task
from switchboard.server.sdk.worker import TaskContext, TaskFailed

DEFAULT_ALLOW = ("echo", "ls", "git", "ruff", "pytest", "python3", "uname", "df", "true", "false")
MAX_TIMEOUT = 3600.0
TAIL_LINES = 50
LOG_EVERY_LINES = 20


def allowed_programs() -> frozenset[str]:
    """``SHELL_RUNNER_ALLOW`` (comma-separated program names) or the default list."""
    raw = os.environ.get("SHELL_RUNNER_ALLOW")
    names = [n.strip() for n in raw.split(",")] if raw else list(DEFAULT_ALLOW)
    return frozenset(n for n in names if n)


def parse_command(payload: dict[str, Any]) -> list[str]:
    """The argv from the payload; refuses anything but a list of strings or a plain string."""
    command = payload.get("command")
    if isinstance(command, str):
        argv = command.split()
    elif isinstance(command, list) and all(isinstance(a, str) for a in command):
        argv = list(command)
    else:
        raise TaskFailed("payload.command must be a list of strings (argv) or a string")
    if not argv:
        raise TaskFailed("payload.command is empty")
    program = argv[0]
    if os.sep in program or program not in allowed_programs():
        allowed = ", ".join(sorted(allowed_programs()))
        raise TaskFailed(f"program {program!r} is not allowed; allowed: {allowed}")
    resolved = shutil.which(program)
    if resolved is None:
        raise TaskFailed(f"program {program!r} is not installed on this worker")
    return [resolved, *argv[1:]]


async def handle(task: Task, ctx: TaskContext) -> dict[str, Any]:
    """Run ``payload.command``; result: exit code, duration and the output tails."""
    argv = parse_command(task.payload)
    timeout = min(float(task.payload.get("timeout", 300)), MAX_TIMEOUT)
    cwd = task.payload.get("cwd")
    if cwd is not None and not await asyncio.to_thread(os.path.isdir, str(cwd)):
        raise TaskFailed(f"payload.cwd {cwd!r} is not a directory")
    await ctx.progress(5, f"running {os.path.basename(argv[0])} {' '.join(argv[1:])}"[:500])
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout: deque[str] = deque(maxlen=TAIL_LINES)
    stderr: deque[str] = deque(maxlen=TAIL_LINES)

    async def pump(stream: asyncio.StreamReader | None, tail: deque[str], level: str) -> None:
        count = 0
        assert stream is not None
        async for raw in stream:
            line = raw.decode(errors="replace").rstrip()
            tail.append(line)
            count += 1
            if count % LOG_EVERY_LINES == 1 and line:
                await ctx.log(line[:2000], level)

    try:
        await asyncio.wait_for(asyncio.gather(pump(proc.stdout, stdout, "info"),
                                              pump(proc.stderr, stderr, "warning"),
                                              proc.wait()), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise TaskFailed(f"timed out after {timeout:.0f} s") from None
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        raise
    result = {"exit_code": proc.returncode, "duration": round(time.monotonic() - started, 3),
              "stdout": "\n".join(stdout), "stderr": "\n".join(stderr)}
    if proc.returncode != 0:
        tail = (result["stderr"] or result["stdout"])[-500:]
        raise TaskFailed(f"exit code {proc.returncode}: {tail}")
    await ctx.progress(100, f"exit 0 in {result['duration']} s")
    return result

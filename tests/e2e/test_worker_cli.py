"""``switchboard worker`` as a real process: runs allow-listed commands for a live server."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from switchboard.engine.tasks import TaskSpec
from tests.server.conftest import start_live_api

ROOT = Path(__file__).resolve().parents[2]


async def test_switchboard_worker_command_runs_shell_runner(tmp_path: Path) -> None:
    api, runner = await start_live_api(tmp_path)
    env = {**os.environ, "SWITCHBOARD_TOKEN": api.token("agent", "runner-1"),
           "SHELL_RUNNER_ALLOW": "echo"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switchboard.console.cli", "worker", "examples/workers/shell_runner.py:handle",
        "--type", "dev_agent", "--url", api.root, "--name", "runner-1", "--http-only",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        ok, _ = await api.engine.tasks.create(TaskSpec(type="bugfix",
                                                       payload={"command": ["echo", "hi"]}))
        bad, _ = await api.engine.tasks.create(TaskSpec(type="bugfix",
                                                        payload={"command": ["rm", "-rf", "/"]}))
        for _ in range(200):
            done = [await api.engine.tasks.get(t.id) for t in (ok, bad)]
            if all(t.status in ("completed", "failed") for t in done):
                break
            await asyncio.sleep(0.05)
        good, refused = done
        assert good.status == "completed", good.error
        assert "hi" in str(good.result)
        assert refused.status == "failed" and "not allowed" in (refused.error or "")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), 30)
        await runner.cleanup()
        await api.engine.stop()
    assert proc.returncode == 0, stderr.decode()[-2000:]
    assert env["SWITCHBOARD_TOKEN"] not in stderr.decode()  # never logged

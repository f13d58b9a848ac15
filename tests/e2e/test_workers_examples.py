"""The example workers doing real work, run through ``worker_main`` in real subprocesses, and
the simulated demo fleet over the real API."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from switchboard.server.auth import Authenticator
from switchboard.server.sdk.client import AsyncClient
from tests.e2e.conftest import ROOT, LiveServer, wait_until
from tests.server.conftest import SECRET

LAUNCH = ("import sys; from switchboard.server.sdk.worker_cli import worker_main; "
          "sys.exit(worker_main(sys.argv[1], agent_type=sys.argv[2], url=sys.argv[3], "
          "concurrency=2, claim_wait=1.0, shutdown_grace=2.0))")


async def start_cli_worker(server: LiveServer, target: str, agent_type: str,
                           extra_env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    """``worker_main`` in a subprocess; the credential comes from ``SWITCHBOARD_TOKEN``."""
    token = Authenticator(server.engine.config.auth).mint("cli-worker", "agent")
    env = {**os.environ, "SWITCHBOARD_TOKEN": token, "PYTHONPATH": str(ROOT), **extra_env}
    env.pop("ORCHESTRATOR_JWT_SECRET", None)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-c", LAUNCH, target, agent_type, server.url, cwd=str(ROOT),
            env=env, stdout=asyncio.subprocess.DEVNULL, stderr=fd)
    finally:
        os.close(fd)


async def stop(proc: asyncio.subprocess.Process) -> int:
    proc.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(proc.wait(), 15)


async def test_shell_runner_and_url_checker_via_worker_cli(server_factory: Any,
                                                           tmp_path: Path) -> None:
    server = await server_factory()
    shell = await start_cli_worker(server, "examples/workers/shell_runner.py:handle",
                                   "dev_agent", {"SHELL_RUNNER_ALLOW": "echo,ls,false"},
                                   tmp_path / "shell.log")
    checker = await start_cli_worker(server, "examples.workers.url_checker:handle",
                                     "ops_agent", {}, tmp_path / "checker.log")
    try:
        async with AsyncClient(server.url, jwt_secret=SECRET, subject="ops",
                               role="agent") as client:
            echo = await client.tasks.create("bugfix", {"command": ["echo", "hello", "world"]})
            listing = await client.tasks.create("refactor", {"command": "ls -1",
                                                             "cwd": str(ROOT / "examples")})
            refused = await client.tasks.create("feature", {"command": ["rm", "-rf", "/tmp/x"]})
            failing = await client.tasks.create("bugfix", {"command": ["false"]})
            health = await client.tasks.create("monitoring", {
                "urls": [f"{server.url}/health", f"{server.url}/api/v1/stats"]})
            missing = await client.tasks.create("monitoring", {
                "urls": [f"{server.url}/nope"], "expect_status": 200})
            outside = await client.tasks.create("incident", {"url": "http://example.com/"})
            ids = [echo, listing, refused, failing, health, missing, outside]
            finals = await asyncio.gather(*(client.tasks.wait(t.id, timeout=30) for t in ids))
            echo_t, listing_t, refused_t, failing_t, health_t, missing_t, outside_t = finals
            codes = [await stop(shell), await stop(checker)]
            workers = await client.agents.list()
    finally:
        for proc in (shell, checker):
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert codes == [0, 0], (tmp_path / "shell.log").read_text()[-2000:]
    assert echo_t.status == "completed" and echo_t.result["stdout"] == "hello world"
    assert echo_t.result["exit_code"] == 0
    assert listing_t.status == "completed" and "workers" in listing_t.result["stdout"]
    assert refused_t.status == "failed" and "not allowed" in (refused_t.error or "")
    assert failing_t.status == "failed" and "exit code 1" in (failing_t.error or "")
    assert health_t.status == "completed" and health_t.result["healthy"] == 2
    assert health_t.result["results"][0]["status"] == 200
    assert health_t.progress == 100 and len(health_t.logs) >= 2
    assert missing_t.status == "failed" and "1 of 1 unhealthy" in (missing_t.error or "")
    assert outside_t.status == "failed" and "not allowed" in (outside_t.error or "")
    assert {a.type for a in workers} == {"dev_agent", "ops_agent"}
    assert {a.status for a in workers} == {"inactive"}  # both stopped gracefully
    log_text = (tmp_path / "shell.log").read_text() + (tmp_path / "checker.log").read_text()
    assert "worker finished" in log_text


async def test_demo_fleet_example_runs_against_a_server(server_factory: Any,
                                                       tmp_path: Path) -> None:
    """``examples/workers/demo_fleet.py`` as a user runs it: seven workers of three types
    over the API, stopped with SIGTERM, every agent saying goodbye."""
    server = await server_factory()
    env = {**os.environ, "ORCHESTRATOR_JWT_SECRET": SECRET, "PYTHONPATH": str(ROOT)}
    fd = os.open(tmp_path / "fleet.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "examples/workers/demo_fleet.py", "--url", server.url,
            "--interval", "0.05", "0.1", "--step-latency", "0.02", "0.05", "--no-run",
            cwd=str(ROOT), env=env, stdout=asyncio.subprocess.PIPE, stderr=fd)
    finally:
        os.close(fd)
    try:
        async with AsyncClient(server.url, jwt_secret=SECRET, subject="t",
                               role="admin") as client:
            await wait_until(lambda: _finished(client, 30), timeout=60, interval=0.2)
            code = await stop(proc)
            agents = list(await client.agents.list(limit=100))
            tasks = [t async for t in client.tasks.iterate()]
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.stdout is not None
    out = (await proc.stdout.read()).decode().splitlines()
    assert code == 0, (tmp_path / "fleet.log").read_text()[-2000:]
    assert out[0].startswith("demo fleet: 7 workers")
    stats = json.loads(out[-1])
    assert set(stats) == {a.id for a in agents} and len(agents) == 7
    assert {a.type for a in agents} == {"dev_agent", "ops_agent", "faq_agent"}
    assert all(a.status == "inactive" for a in agents)
    completed = [t for t in tasks if t.status == "completed"]
    assert sum(s["completed"] for s in stats.values()) == len(completed) >= 20


async def _finished(client: AsyncClient, count: int) -> bool:
    stats = await client.stats()
    by_status = stats.queue.by_status
    return by_status["completed"] + by_status["failed"] >= count

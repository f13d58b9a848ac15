"""The example workers doing real work, run through ``worker_main`` in real subprocesses, and
the simulated demo fleet over the real API."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from examples.workers.demo_fleet import DemoFleet
from server.auth import Authenticator
from server.client import AsyncClient
from tests.e2e.conftest import ROOT, LiveServer, wait_until
from tests.server.conftest import SECRET

LAUNCH = ("import sys; from server.worker_cli import worker_main; "
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


async def test_demo_fleet_runs_three_agent_types_over_the_api(server_factory: Any) -> None:
    server = await server_factory()
    async with AsyncClient(server.url, jwt_secret=SECRET, subject="demo",
                           role="admin") as client:
        fleet = DemoFleet(client, per_type=2, concurrency=2, speed=40.0, task_rate=40.0,
                          seed=7)
        await fleet.start()
        try:
            agents = await client.agents.list(status="active")
            assert len(agents) == 6
            await wait_until(lambda: _finished(client, 30), timeout=30, interval=0.2)
        finally:
            await fleet.stop()
        tasks = [t async for t in client.tasks.iterate()]
        agents = await client.agents.list()
    finished = [t for t in tasks if t.done]
    assert len(finished) >= 30
    assert {t.assigned_agent for t in finished} == {"dev_agent", "ops_agent", "faq_agent"}
    completed = [t for t in finished if t.status == "completed"]
    assert completed and all(t.result["summary"] for t in completed)
    assert sum(s["completed"] for s in fleet.stats().values()) == len(completed)
    assert {a.name.split("-")[1] for a in agents} == {"dev", "ops", "faq"}
    assert all(a.status == "inactive" for a in agents)


async def _finished(client: AsyncClient, count: int) -> bool:
    stats = await client.stats()
    by_status = stats.queue["by_status"]
    return by_status["completed"] + by_status["failed"] >= count

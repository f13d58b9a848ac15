"""End-to-end fixtures: a real server in this process (restartable on the same port and data
folder, maintenance loop on) and worker subprocesses driven through asyncio.

The server shares the test's event loop, so everything here is non-blocking: subprocesses
are ``asyncio.create_subprocess_exec`` and their output is read with timeouts.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import SECRET, make_config

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is a long end-to-end one (real processes, fleets, restarts):
    marked ``slow``: ``make test`` leaves them out, ``make test-slow`` and CI run them."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.slow)


class LiveServer:
    """Engine (with its maintenance loop) + API on 127.0.0.1; ``restart()`` keeps port and data."""

    def __init__(self, data_dir: Path, **sections: dict[str, Any]) -> None:
        sections.setdefault("storage", {})["data_dir"] = str(data_dir)
        sections.setdefault("rate_limits", {}).setdefault("enabled", False)
        self.sections = sections
        self.port = 0
        self.engine: Any = None
        self.runner: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> LiveServer:
        from switchboard.engine.engine import Engine
        from switchboard.server.api import build_api_app
        from switchboard.server.app import start_server

        self.engine = Engine(make_config(**self.sections))
        app = build_api_app(self.engine)
        await self.engine.start()
        self.runner, self.port = await start_server(app, "127.0.0.1", self.port)
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
        if self.engine is not None:
            await self.engine.stop()
            self.engine = None

    async def restart(self, down_for: float = 0.5) -> None:
        await self.stop()
        await asyncio.sleep(down_for)
        await self.start()

    async def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Read the store directly (assertions about what was committed)."""
        return await self.engine.store.read(lambda c: c.fetchall(sql, params))


@pytest.fixture
async def server_factory(tmp_path: Path) -> AsyncIterator[Any]:
    servers: list[LiveServer] = []

    async def make(**sections: dict[str, Any]) -> LiveServer:
        server = await LiveServer(tmp_path / f"data{len(servers)}", **sections).start()
        servers.append(server)
        return server

    try:
        yield make
    finally:
        for server in servers:
            await server.stop()


class WorkerProcess:
    """One ``tests.e2e.workerproc`` subprocess."""

    def __init__(self, proc: asyncio.subprocess.Process, out: Path) -> None:
        self.proc = proc
        self.out = out
        self.agent_ids: list[str] = []
        self.stats: list[dict[str, int]] = []

    async def ready(self, timeout: float = 20.0) -> list[str]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"worker process exited early ({await self.proc.wait()})")
        self.agent_ids = json.loads(line)["ready"]
        return self.agent_ids

    async def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, wait for the graceful exit, read the stats line; returns the exit code."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        assert self.proc.stdout is not None
        rest = await asyncio.wait_for(self.proc.stdout.read(), timeout)
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        for line in rest.decode().splitlines():
            if line.startswith('{"stats"'):
                self.stats = json.loads(line)["stats"]
        return code

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)

    def reports(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines() if line]


@pytest.fixture
async def spawn_workers(tmp_path: Path) -> AsyncIterator[Any]:
    procs: list[WorkerProcess] = []
    numbers = iter(range(1000))

    async def spawn(url: str, *specs: str, concurrency: int = 2, grace: float = 10.0,
                    marker_dir: Path | None = None, agent_id: str | None = None,
                    wait_ready: bool = True) -> WorkerProcess:
        number = next(numbers)  # taken before any await: spawns may run concurrently
        out = tmp_path / f"reports-{number}.jsonl"
        command = [sys.executable, "-m", "tests.e2e.workerproc", "--url", url, "--out",
                   str(out), "--concurrency", str(concurrency), "--grace", str(grace)]
        for spec in specs:
            command += ["--spec", spec]
        if marker_dir is not None:
            command += ["--marker-dir", str(marker_dir)]
        if agent_id is not None:
            command += ["--agent-id", agent_id]
        env = {**os.environ, "ORCHESTRATOR_JWT_SECRET": SECRET, "PYTHONPATH": str(ROOT)}
        stderr = _log_file(tmp_path / f"worker-{number}.log")  # kept for post-mortems
        try:
            proc = await asyncio.create_subprocess_exec(
                *command, cwd=str(ROOT), env=env, stdout=asyncio.subprocess.PIPE,
                stderr=stderr)
        finally:
            os.close(stderr)
        worker = WorkerProcess(proc, out)
        procs.append(worker)
        if wait_ready:
            await worker.ready()
        return worker

    try:
        yield spawn
    finally:
        for worker in procs:
            worker.kill()
            await worker.proc.wait()


def _log_file(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


async def wait_until(predicate: Any, timeout: float, interval: float = 0.05) -> None:
    """Await ``predicate()`` (sync or async) until truthy, else TimeoutError."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if loop.time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(interval)

"""The Worker in-process against a real server: outcomes, lost answers, lost leases, orphans,
HTTP fallback, and the worker CLI's handler loading."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from switchboard.server.sdk.client import AsyncClient, Task
from switchboard.server.sdk.worker import LeaseLost, TaskContext, TaskFailed, Worker
from switchboard.server.sdk.worker_cli import WorkerSetupError, build_client, load_handler
from tests.server.conftest import LiveApi


@pytest.fixture
async def client(api: LiveApi) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(api.base, token=api.token("agent")) as c:
        yield c


class Running:
    """A Worker running in the background of a test."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.job: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Worker:
        self.job = asyncio.create_task(self.worker.run())
        await asyncio.wait_for(self.worker.wait_started(), 10)
        return self.worker

    async def __aexit__(self, *exc: object) -> None:
        self.worker.request_stop(hand_back_now=True)
        assert self.job is not None
        await asyncio.wait_for(self.job, 15)


async def test_outcomes_progress_logs_and_failures(client: AsyncClient) -> None:
    reports: list[tuple[str, str]] = []

    async def handle(task: Task, ctx: TaskContext) -> Any:
        assert ctx.task is task and ctx.lease_id == task.lease_id and ctx.attempt == 1
        await ctx.progress(30, "thinking")
        await ctx.log("a detail", "debug")
        kind = task.payload["kind"]
        if kind == "business":
            raise TaskFailed("invalid input: no issue number")
        if kind == "crash":
            raise RuntimeError("disk full")
        return {"echo": task.payload}

    worker = Worker("dev_agent", handle, concurrency=3, client=client, claim_wait=1,
                    on_report=lambda t, outcome: reports.append((t.id, outcome)))
    async with Running(worker):
        ok = await client.tasks.create("bugfix", {"kind": "ok"})
        business = await client.tasks.create("bugfix", {"kind": "business"})
        crash = await client.tasks.create("bugfix", {"kind": "crash"}, max_attempts=1)
        finals = await asyncio.gather(*(client.tasks.wait(t.id, timeout=10)
                                        for t in (ok, business, crash)))
    done, refused, crashed = finals
    assert done.status == "completed" and done.result == {"echo": {"kind": "ok"}}
    assert [log.message for log in done.logs] == ["thinking", "a detail"]
    assert refused.status == "failed" and refused.error == "invalid input: no issue number"
    assert refused.attempts == 1  # TaskFailed does not ask for a retry by default
    # an unexpected error asks for a retry; with max_attempts=1 it then fails for good
    assert crashed.status == "failed" and "RuntimeError: disk full" in (crashed.error or "")
    assert sorted(outcome for _, outcome in reports) == ["completed", "failed", "failed"]
    assert worker.stats.claimed == 3 and worker.stats.ws_claims >= 3
    agent = await client.agents.get(worker.agent_id)
    assert agent.metrics.tasks_completed == 1 and agent.metrics.cpu_usage is not None


async def test_successes_ride_on_the_next_claim(client: AsyncClient, api: LiveApi) -> None:
    """Over the WebSocket a slot reports its success with its next claim (one round trip,
    one commit); every task completes once and each report is counted once."""
    reports: list[str] = []

    async def handle(task: Task, ctx: TaskContext) -> dict[str, int]:
        return {"n": task.payload["n"]}

    worker = Worker("dev_agent", handle, concurrency=2, client=client, claim_wait=1,
                    on_report=lambda t, outcome: reports.append(t.id))
    async with Running(worker):
        tasks = [await client.tasks.create("bugfix", {"n": n}) for n in range(12)]
        finals = await asyncio.gather(*(client.tasks.wait(t.id, timeout=10) for t in tasks))
    assert [f.result for f in finals] == [{"n": n} for n in range(12)]
    assert sorted(reports) == sorted(t.id for t in tasks)
    assert worker.stats.completed == 12 and worker.stats.pipelined >= 1
    assert worker.stats.http_claims == 0
    events = await api.engine.bus.history(0, None, limit=1000)
    completed = [e.task_id for e in events if e.event_type == "task.completed"]
    assert sorted(completed) == sorted(t.id for t in tasks)
    agent = await client.agents.get(worker.agent_id)
    assert agent.metrics.tasks_completed == 12


async def test_retryable_failure_is_requeued_and_rerun(client: AsyncClient) -> None:
    async def handle(task: Task, ctx: TaskContext) -> str:
        if ctx.attempt == 1:
            raise TaskFailed("flaky upstream", retry=True)
        return "second time lucky"

    async with Running(Worker("ops_agent", handle, client=client, claim_wait=1)):
        task = await client.tasks.create("deployment")
        final = await client.tasks.wait(task.id, timeout=15)
    assert final.status == "completed" and final.attempts == 2
    assert final.result == "second time lucky"


async def test_cancelled_task_loses_its_lease_and_the_handler_stops(client: AsyncClient) -> None:
    started = asyncio.Event()
    outcome: list[str] = []

    async def handle(task: Task, ctx: TaskContext) -> None:
        started.set()
        try:
            for _ in range(100):
                await asyncio.sleep(0.05)
                await ctx.progress(10)
        except LeaseLost:
            outcome.append("lease lost")
            raise

    worker = Worker("faq_agent", handle, client=client, claim_wait=1)
    async with Running(worker):
        task = await client.tasks.create("faq_update")
        await asyncio.wait_for(started.wait(), 10)
        await client.tasks.cancel(task.id, reason="operator changed their mind")
        for _ in range(100):
            if worker.stats.lease_lost:
                break
            await asyncio.sleep(0.05)
    assert outcome == ["lease lost"] and worker.stats.lease_lost == 1
    assert worker.stats.completed == worker.stats.failed == 0
    assert (await client.tasks.get(task.id)).status == "cancelled"


async def test_lost_completion_answer_is_retried_and_counted_once(api: LiveApi,
                                                                client: AsyncClient) -> None:
    """A proxy (plain HTTP, no streams) forwards the first completion to the server, then
    drops the connection before the answer: the worker retries, gets 409, sees the task
    completed by itself on this attempt, and counts one completion."""
    dropped: list[str] = []
    proxy = await _dropping_proxy(api.root, "/complete", dropped)
    try:
        async with AsyncClient(proxy.url, token=api.token("agent")) as via_proxy:
            async def handle(task: Task, ctx: TaskContext) -> dict[str, int]:
                return {"n": task.payload["n"]}

            reports: list[str] = []
            worker = Worker("dev_agent", handle, client=via_proxy, use_websocket=False,
                            claim_wait=1, on_report=lambda t, o: reports.append(o))
            async with Running(worker):
                task = await client.tasks.create("bugfix", {"n": 7})
                final = await client.tasks.wait(task.id, timeout=10)
                for _ in range(100):
                    if reports:
                        break
                    await asyncio.sleep(0.05)
    finally:
        await proxy.close()
    assert dropped == [f"/api/v1/tasks/{task.id}/complete"]
    assert final.status == "completed" and final.result == {"n": 7}
    assert reports == ["completed"]
    assert worker.stats.completed == 1 and worker.stats.already_reported == 1
    assert worker.stats.lease_lost == 0 and worker.stats.http_claims >= 1
    events = await api.engine.bus.history(0, None, limit=1000)
    assert [e.event_type for e in events if e.task_id == task.id].count("task.completed") == 1


async def test_restarted_worker_requeues_tasks_its_previous_run_held(client: AsyncClient
                                                                     ) -> None:
    agent = await client.agents.register("phoenix", "dev_agent")
    task = await client.tasks.create("bugfix", {"n": 1})
    held = await client.tasks.claim(agent.id)  # the previous run claimed it, then died
    assert held is not None
    await client.agents.heartbeat(agent.id)  # heartbeats would keep that lease alive forever

    async def handle(t: Task, ctx: TaskContext) -> str:
        return "redone"

    worker = Worker("dev_agent", handle, client=client, agent_id=agent.id, claim_wait=1)
    async with Running(worker):
        final = await client.tasks.wait(task.id, timeout=15)
    assert worker.stats.orphans_requeued == 1
    assert final.status == "completed" and final.result == "redone" and final.attempts == 2


async def test_http_long_poll_fallback(client: AsyncClient) -> None:
    async def handle(task: Task, ctx: TaskContext) -> str:
        return "polled"

    worker = Worker("dev_agent", handle, client=client, use_websocket=False, claim_wait=1)
    async with Running(worker):
        task = await client.tasks.create("refactor")
        final = await client.tasks.wait(task.id, timeout=10)
    assert final.result == "polled" and worker.stats.ws_claims == 0
    assert worker.stats.http_claims >= 1


def test_load_handler_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    handler = load_handler("examples/workers/shell_runner.py:handle")
    assert handler.__name__ == "handle"
    assert load_handler("examples.workers.url_checker:handle").__name__ == "handle"
    for bad in ("nocolon", "examples/workers/missing.py:handle", "json:nope",
                "no_such_module_xyz:handle"):
        with pytest.raises(WorkerSetupError):
            load_handler(bad)
    monkeypatch.delenv("SWITCHBOARD_TOKEN", raising=False)
    monkeypatch.delenv("ORCHESTRATOR_JWT_SECRET", raising=False)
    with pytest.raises(WorkerSetupError):
        build_client("http://127.0.0.1:1", None, "w")


# -- a proxy that loses one answer -------------------------------------------------------------


class _Proxy:
    def __init__(self, runner: web.AppRunner, session: aiohttp.ClientSession) -> None:
        self.runner = runner
        self.session = session
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"

    async def close(self) -> None:
        await self.session.close()
        await self.runner.cleanup()


async def _dropping_proxy(target: str, suffix: str, dropped: list[str]) -> _Proxy:
    session = aiohttp.ClientSession()

    async def forward(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in ("host", "content-length")}
        async with session.request(request.method, target + request.rel_url.path_qs,
                                   data=body, headers=headers) as upstream:
            payload = await upstream.read()
            status = upstream.status
            content_type = upstream.headers.get("Content-Type")
        if request.path.endswith(suffix) and not dropped:
            dropped.append(request.path)
            assert request.transport is not None
            request.transport.close()  # the server did it; the caller never hears
            raise ConnectionResetError
        response = web.Response(status=status, body=payload)
        if content_type:
            response.headers["Content-Type"] = content_type
        return response

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return _Proxy(runner, session)

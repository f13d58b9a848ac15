"""The seeds' client examples rewritten against ``server.sdk.client``, run against a real server.

Seed 001's "Python SDK" (``Client(api_key=..., base_url=...)``, ``agents.list``,
``tasks.create``, a progress loop on ``tasks.get``, and the JS SDK's ``tasks.watch``) and
seed 003's ``OrchestratorClient`` (a JWT minted from the shared secret; tasks, status
updates, events, approvals, queue stats).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from switchboard.server.sdk.client import AsyncClient, Client, Forbidden, Task
from switchboard.server.sdk.worker import TaskContext, Worker
from tests.server.conftest import KEYS, SECRET, LiveApi


def seed001_sdk_example(base_url: str, api_key: str, agent_id: str) -> dict[str, Any]:
    """Seed 001's Python SDK example; only the status test differs (``task.done``: this API's
    statuses are seed 003's assigned/in_progress, which the seed's list does not name)."""
    out: dict[str, Any] = {"progress": []}
    client = Client(api_key=api_key, base_url=base_url)
    try:
        agents = client.agents.list(status="active")
        out["found"] = f"Found {len(agents)} active agents"
        task = client.tasks.create(
            agent_id=agent_id,
            type="data_processing",
            payload={"source": "database"},
            priority="medium",
        )
        while not task.done:
            task = client.tasks.get(task.id)
            out["progress"].append(task.progress)
            time.sleep(0.02)
        out["result"] = task.result
        # the JS SDK's real-time monitoring, as a generator
        second = client.tasks.create(agent_id=agent_id, type="data_processing",
                                     payload={"source": "warehouse"}, priority="low")
        out["watched"] = [(t.status, t.progress) for t in client.tasks.watch(second.id)]
        out["watched_result"] = client.tasks.get(second.id).result
    finally:
        client.close()
    return out


async def test_seed001_python_sdk(api: LiveApi) -> None:
    async with AsyncClient(api.base, api_key=KEYS["admin"]) as admin:
        agent = await admin.agents.create("Data Processing Agent", "data_processor",
                                          configuration={"max_concurrent_tasks": 10})

        async def process(task: Task, ctx: TaskContext) -> dict[str, Any]:
            for step in (25, 50, 75):
                await ctx.progress(step, f"Processing batch {step // 25} of 4")
                await asyncio.sleep(0.05)
            return {"records_processed": 1000, "success": True}

        worker = Worker("data_processor", process, agent_id=agent.id, client=admin,
                        claim_wait=1.0)
        running = asyncio.create_task(worker.run())
        await worker.wait_started()
        try:
            out = await asyncio.to_thread(seed001_sdk_example, api.base, KEYS["admin"],
                                          agent.id)
        finally:
            worker.request_stop()
            await running
    assert out["found"] == "Found 1 active agents"
    assert out["result"] == {"records_processed": 1000, "success": True}
    assert out["progress"][-1] == 100 and any(0 < p < 100 for p in out["progress"])
    assert out["watched"][-1] == ("completed", 100)
    assert [p for s, p in out["watched"] if s == "in_progress"][-3:] == [25, 50, 75]
    assert out["watched_result"]["success"] is True


class OrchestratorClient:
    """Seed 003's "Python Agent Integration" class, on top of this client."""

    def __init__(self, base_url: str, secret: str, agent_id: str, role: str = "agent") -> None:
        self.agent_id = agent_id
        self.client = AsyncClient(base_url, jwt_secret=secret, subject=agent_id, role=role)

    async def create_task(self, task_type: str, payload: dict[str, Any], priority: str = "P2"
                          ) -> Task:
        return await self.client.tasks.create(task_type, payload, priority=priority)

    async def get_task(self, task_id: str) -> Task:
        return await self.client.tasks.get(task_id)

    async def update_task_status(self, task_id: str, status: str, error: str | None = None
                                 ) -> str | None:
        return (await self.client.tasks.update_status(task_id, status, error=error)).status

    async def publish_event(self, event_type: str, payload: dict[str, Any],
                            task_id: str | None = None) -> int | None:
        return (await self.client.events.publish(event_type, payload, task_id=task_id,
                                                 source_agent=self.agent_id)).seq


async def test_seed003_orchestrator_client(api: LiveApi) -> None:
    client = OrchestratorClient(api.base, SECRET, "dev-agent-1")
    try:
        task = await client.create_task("bugfix", {"issue": "123"}, "P2")
        print(f"Created task: {task.task_id}")
        assert task.status == "assigned" and task.assigned_agent == "dev_agent"
        assert await client.update_task_status(task.task_id, "in_progress") == "in_progress"
        assert (await client.get_task(task.task_id)).status == "in_progress"
        # task.* is the engine's own namespace (it emitted task.started itself just now):
        # the seed's example publish is refused, a namespace of the agent's own is not
        with pytest.raises(Forbidden, match=r"reserved 'task\.' namespace"):
            await client.publish_event("task.started", {"task_id": task.task_id},
                                       task_id=task.task_id)
        seq = await client.publish_event("build.started", {"task_id": task.task_id},
                                         task_id=task.task_id)
        events = await client.client.events.list((seq or 1) - 1, limit=1)
        assert events[0].event_type == "build.started"
        assert events[0].source_agent == "dev-agent-1"
        assert await client.update_task_status(task.task_id, "completed") == "completed"
        # P1 needs a human: pending -> approve -> assigned (approved_by is the JWT's sub)
        p1 = await client.create_task("deployment", {"service": "api-backend"}, "P1")
        assert p1.status == "awaiting_approval"
        pending = await client.client.approvals.pending()
        with pytest.raises(Forbidden):  # its creator cannot approve it (issue 9)
            await client.client.approvals.approve(pending[0].approval_id)
        reviewer = OrchestratorClient(api.base, SECRET, "agent-user")
        try:
            decision = await reviewer.client.approvals.approve(pending[0].approval_id)
        finally:
            await reviewer.client.close()
        assert decision.message == "Approved by agent-user"
        assert (await client.get_task(p1.task_id)).status == "assigned"
        failing = await client.create_task("incident", {"alert": "5xx"}, "P3")
        await client.update_task_status(failing.task_id, "in_progress")
        await client.update_task_status(failing.task_id, "failed", error="pager storm")
        assert (await client.get_task(failing.task_id)).error == "pager storm"
        # "Monitor queue depth" (public stats) and approval history
        async with AsyncClient(api.base) as anonymous:
            stats = await anonymous.stats()
        assert stats.queue.total_tasks == 3 and stats.queue.pending_tasks == 1
        history = await client.client.approvals.history()
        assert [h.approved_by for h in history] == ["agent-user"]
    finally:
        await client.client.close()

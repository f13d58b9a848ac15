"""engine.webhooks against a real HTTP receiver on 127.0.0.1: signatures, order per approval,
retries after 5xx, dead letters, redelivery, the outbound policy, and a SIGKILL between the
commit and the delivery."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from switchboard.engine.actors import Actor
from switchboard.engine.engine import Engine
from switchboard.engine.events import EventFilter
from switchboard.engine.tasks import TaskSpec
from switchboard.engine.webhooks import render_slack
from tests.conftest import make_config

SECRET = "s3cret-for-webhook-tests"
ADMIN = Actor("root", "admin", "jwt")
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Receiver:
    """A webhook receiver: records each request; ``answer`` decides the status."""

    port: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    answer: Callable[[int], int] = lambda n: 200
    delay: Callable[[int], float] = lambda n: 0.0
    runner: web.AppRunner | None = None
    got: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        n = len(self.received)
        body = await request.read()
        self.received.append({"headers": dict(request.headers), "body": body,
                              "json": json.loads(body)})
        await asyncio.sleep(self.delay(n))
        self.got.set()
        return web.Response(status=self.answer(n), text="nope" if self.answer(n) >= 300 else "")

    async def start(self, port: int = 0) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port)
        await site.start()
        self.port = self.runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                self.got.clear()
                await self.got.wait()

    def ok(self) -> list[dict[str, Any]]:
        return [r for n, r in enumerate(self.received) if 200 <= self.answer(n) < 300]


def hook_config(tmp_path: Path, url: str, **extra: Any) -> Any:
    hook = {"name": "ops", "url": url, "secret": SECRET,
            "events": ["approval.requested", "approval.decided"], **extra}
    return make_config(tmp_path, webhooks=[hook],
                       webhook_delivery={"backoff_base_seconds": 0.05,
                                         "backoff_max_seconds": 0.2, "poll_seconds": 0.05},
                       tools={"http": {"allow_hosts": ["127.0.0.1"]}})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    try:
        yield r
    finally:
        await r.stop()


async def p1(engine: Engine, n: int = 0) -> Any:
    task, _ = await engine.tasks.create(TaskSpec(type="bugfix", priority="P1",
                                                 payload={"n": n}), Actor("agent-a", "agent"))
    return task


async def test_signed_delivery_of_an_approval_request(tmp_path: Path, receiver: Receiver) -> None:
    async with Engine(hook_config(tmp_path, receiver.url), run_maintenance=False) as engine:
        task = await p1(engine)
        await receiver.wait_for(1)
    [got] = receiver.received
    headers, body = got["headers"], got["body"]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Switchboard-Signature"], expected)
    assert headers["X-Switchboard-Event"] == "approval.requested"
    assert headers["X-Switchboard-Delivery"].isdigit()
    assert abs(int(headers["X-Switchboard-Timestamp"]) - __import__("time").time()) < 60
    data = got["json"]
    assert data["event"] == "approval.requested" and data["task_id"] == task.id
    assert data["payload"]["approval_id"] == task.approval_id and data["priority"] == "P1"
    assert data["links"]["console"] == f"switchboard://approvals/{task.approval_id}"


async def test_order_is_kept_per_approval_even_when_the_first_is_slow(
        tmp_path: Path, receiver: Receiver) -> None:
    receiver.delay = lambda n: 0.3 if n == 0 else 0.0
    async with Engine(hook_config(tmp_path, receiver.url), run_maintenance=False) as engine:
        tasks = [await p1(engine, n) for n in range(3)]
        for task in tasks:
            await engine.approvals.approve(task.approval_id, ADMIN)
        await receiver.wait_for(6)
    per_approval: dict[str, list[str]] = {}
    for got in receiver.received:
        per_approval.setdefault(got["json"]["payload"]["approval_id"], []).append(
            got["json"]["event"])
    assert all(kinds == ["approval.requested", "approval.decided"]
               for kinds in per_approval.values()), per_approval


async def test_5xx_is_retried_until_delivered(tmp_path: Path, receiver: Receiver) -> None:
    receiver.answer = lambda n: 500 if n < 2 else 200
    async with Engine(hook_config(tmp_path, receiver.url), run_maintenance=False) as engine:
        await p1(engine)
        await receiver.wait_for(3)
        await asyncio.sleep(0.1)
        [row] = await engine.webhooks.deliveries()
    assert (row.status, row.attempts, row.last_status) == ("delivered", 3, 200)
    ids = {r["headers"]["X-Switchboard-Delivery"] for r in receiver.received}
    assert ids == {str(row.id)}  # the same delivery id on every attempt


async def test_dead_letter_then_redeliver(tmp_path: Path, receiver: Receiver) -> None:
    receiver.answer = lambda n: 503 if n < 4 else 200
    config = hook_config(tmp_path, receiver.url)
    config.webhook_delivery.retry_for_seconds = 0.3
    async with Engine(config, run_maintenance=False) as engine:
        sub = await engine.bus.subscribe(None, EventFilter(types=("system.webhook_failed",)))
        await p1(engine)
        failed = await sub.next(timeout=10)
        assert failed is not None and failed.payload["webhook"] == "ops"
        [row] = await engine.webhooks.deliveries(status="dead")
        assert row.last_status == 503 and "retry_for_seconds" in (row.last_error or "")
        dead_attempts = len(receiver.received)
        receiver.answer = lambda n: 200
        again = await engine.webhooks.redeliver(row.id, ADMIN)
        assert again.status == "pending"
        await receiver.wait_for(dead_attempts + 1)
        await asyncio.sleep(0.1)
        [row] = await engine.webhooks.deliveries()
        assert row.status == "delivered"
        rows = await engine.audit.list(__import__("switchboard.engine.audit",
                                                  fromlist=["AuditQuery"]).AuditQuery(
            action="webhook.redeliver"))
        assert [(r.principal, r.object_id) for r in rows] == [("root", str(row.id))]


async def test_a_4xx_is_dead_at_once(tmp_path: Path, receiver: Receiver) -> None:
    receiver.answer = lambda n: 410
    async with Engine(hook_config(tmp_path, receiver.url), run_maintenance=False) as engine:
        await p1(engine)
        await receiver.wait_for(1)
        await asyncio.sleep(0.2)
        [row] = await engine.webhooks.deliveries()
    assert (row.status, row.attempts, row.last_status) == ("dead", 1, 410)
    assert len(receiver.received) == 1


async def test_internal_destinations_obey_the_outbound_policy(
        tmp_path: Path, receiver: Receiver) -> None:
    config = hook_config(tmp_path, receiver.url)
    config.tools.http.allow_hosts = []
    async with Engine(config, run_maintenance=False) as engine:
        sub = await engine.bus.subscribe(None, EventFilter(types=("system.webhook_failed",)))
        await p1(engine)
        assert await sub.next(timeout=10) is not None
        [row] = await engine.webhooks.deliveries()
    assert row.status == "dead" and "allow_hosts" in (row.last_error or "")
    assert receiver.received == []


def test_slack_rendering() -> None:
    from switchboard.engine.models import Event

    event = Event(seq=7, event_type="approval.requested", timestamp=0.0, task_id="task_1",
                  priority="P0", payload={"approval_id": "approval_1", "kind": "task",
                                          "reason": "P0 deployment needs approval",
                                          "task_id": "task_1", "quorum": 2,
                                          "approvals_count": 1})
    data = json.loads(render_slack(event, "https://sb.example"))
    assert data["text"] == "Approval needed: task approval_1 (P0 critical)"
    header, section, reason, context = data["blocks"]
    assert header["type"] == "header" and "Approval needed" in header["text"]["text"]
    texts = [f["text"] for f in section["fields"]]
    assert "*Priority:* P0 critical" in texts and "*Approvals:* 1 of 2" in texts
    assert reason["text"]["text"] == "P0 deployment needs approval"
    assert "https://sb.example/api/v1/approvals/approval_1" in context["elements"][0]["text"]


CHILD = """
import asyncio, sys
from switchboard.engine.actors import Actor
from switchboard.engine.config import load_config
from switchboard.engine.engine import Engine
from switchboard.engine.tasks import TaskSpec


async def main(data_dir, url):
    config = load_config(overrides={
        "storage": {"data_dir": data_dir},
        "webhooks": [{"name": "ops", "url": url, "secret": "SECRET_HERE",
                      "events": ["approval.requested"]}],
        "webhook_delivery": {"backoff_base_seconds": 30, "poll_seconds": 0.05},
        "tools": {"http": {"allow_hosts": ["127.0.0.1"]}}}, env={})
    async with Engine(config, run_maintenance=False) as engine:
        i = 0
        while True:
            i += 1
            task, _ = await engine.tasks.create(
                TaskSpec(type="bugfix", priority="P1", payload={"i": i}),
                Actor("agent-a", "agent"))
            print("A", task.approval_id, flush=True)

asyncio.run(main(sys.argv[1], sys.argv[2]))
""".replace("SECRET_HERE", SECRET)


async def test_sigkill_between_commit_and_delivery_delivers_each_once_after_restart(
        tmp_path: Path) -> None:
    """The child commits approvals while its receiver is down (each delivery fails and is
    rescheduled 30 s out) and is killed with SIGKILL; after a restart with the receiver up,
    every acknowledged approval is delivered exactly once, and nothing else is."""
    down = Receiver()
    await down.start()
    port = down.port
    await down.stop()  # nothing listens on the port now: deliveries fail and are rescheduled
    url = f"http://127.0.0.1:{port}/hook"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ})
    acked: list[str] = []
    assert proc.stdout is not None
    try:
        while len(acked) < 50:
            line = await asyncio.to_thread(proc.stdout.readline)
            assert line, proc.stderr.read() if proc.stderr else ""
            acked.append(line.split()[1])
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    receiver = await Receiver().start(port)
    try:
        config = make_config(tmp_path, webhooks=[{"name": "ops", "url": url, "secret": SECRET,
                                                  "events": ["approval.requested"]}],
                             webhook_delivery={"poll_seconds": 0.05},
                             tools={"http": {"allow_hosts": ["127.0.0.1"]}})
        async with Engine(config, run_maintenance=False) as engine:
            def read(conn: Any) -> tuple[int, int]:
                approvals = conn.fetchone("SELECT COUNT(*) FROM approvals")[0]
                outbox = conn.fetchone("SELECT COUNT(*) FROM webhook_outbox")[0]
                return approvals, outbox
            approvals, outbox = await engine.store.read(read)
            assert outbox == approvals >= len(acked)  # one row per committed event, no more
            # rows the child had already tried wait for their backoff: make them due now
            await engine.store.write(lambda tx: tx.execute(
                "UPDATE webhook_outbox SET next_attempt_at = 0 WHERE status = 'pending'"))
            engine.webhooks._wake.set()
            await receiver.wait_for(approvals, timeout=30)
            await asyncio.sleep(0.3)
        delivered = [r["json"]["payload"]["approval_id"] for r in receiver.received]
        assert len(delivered) == len(set(delivered)) == approvals
        assert set(acked) <= set(delivered)
    finally:
        await receiver.stop()

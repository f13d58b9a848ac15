"""A deterministic console world: a real engine on a temporary SQLite file with a manual
clock, fixed ids, a small orchestration with every kind of gate field, and seeded data."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.app import App
from textual.screen import ModalScreen, Screen
from textual.worker import Worker, WorkerCancelled, WorkerError, WorkerFailed, WorkerState

from switchboard.console.app import SwitchboardApp, build_app
from switchboard.console.backend import CallbackService, InProcessBackend
from switchboard.engine.actors import Actor
from switchboard.engine.clock import ManualClock
from switchboard.engine.config import ConsoleConfig
from switchboard.engine.engine import Engine
from switchboard.engine.models import Approval
from switchboard.engine.tasks import TaskSpec
from tests.conftest import make_config

REVIEW_TOML = """
id = "orch-review"
name = "Change review"
description = "A person reviews a change before it ships"

[state_schema]
change = { type = "string", description = "What to review" }

[[steps]]
id = "step-review"
name = "Review"
type = "human"
prompt = "Review {change} and decide whether it ships."
agent_context = "Diff: 3 files changed, 42 insertions, 7 deletions. Tests pass. Risk: low."

[[steps.fields]]
name = "decision"
type = "select"
label = "Decision"
options = "approve,reject"
required = true

[[steps.fields]]
name = "replicas"
type = "number"
label = "Replicas"
min = 1
max = 10
required = true

[[steps.fields]]
name = "notes"
type = "textarea"
label = "Notes"

[[steps.fields]]
name = "notify"
type = "multiselect"
label = "Notify"
options = "email,slack,pager"

[[steps.fields]]
name = "rollback"
type = "boolean"
label = "Auto rollback"
default = true

[[steps.fields]]
name = "ticket"
type = "text"
label = "Ticket"
placeholder = "OPS-123"
"""

BROKEN_TOML = """
id = "orch-broken"
name = "Broken"
[[steps]]
id = "step-1"
type = "human"
"""

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z


class FixedIds:
    """``engine.ids.new_id`` replacement: ``task_00000001``, ``approval_00000002``..."""

    def __init__(self) -> None:
        self.counter = itertools.count(1)

    def __call__(self, prefix: str) -> str:
        return f"{prefix}_{next(self.counter):08d}"


def patch_ids(monkeypatch: Any) -> FixedIds:
    ids = FixedIds()
    for module in ("switchboard.engine.tasks", "switchboard.engine.approvals", "switchboard.engine.agents",
                   "switchboard.engine.orchestrations.runs"):
        monkeypatch.setattr(f"{module}.new_id", ids)
    return ids


def console_config(tmp_path: Path, *, broken: bool = True) -> Any:
    orch_dir = tmp_path / "orchestrations"
    orch_dir.mkdir(exist_ok=True)
    (orch_dir / "review.toml").write_text(REVIEW_TOML, encoding="utf-8")
    if broken:
        (orch_dir / "broken.toml").write_text(BROKEN_TOML, encoding="utf-8")
    return make_config(tmp_path / "data", orchestrations={"dir": str(orch_dir), "watch": False},
                       storage={"synchronous": "OFF"})


def make_engine(tmp_path: Path, clock: ManualClock | None = None) -> Engine:
    return Engine(console_config(tmp_path), clock=clock or ManualClock(START),
                  run_maintenance=False)


async def seed(engine: Engine) -> dict[str, Any]:
    """Agents with varied health, tasks in every state, two task approvals, one gate."""
    clock: ManualClock = engine.clock  # type: ignore[assignment]
    out: dict[str, Any] = {}
    for agent_id, name, kind in (("agent-dev-1", "dev-1", "dev_agent"),
                                 ("agent-dev-2", "dev-2", "dev_agent"),
                                 ("agent-ops-1", "ops-1", "ops_agent"),
                                 ("agent-faq-1", "faq-1", "faq_agent")):
        await engine.agents.create(name, kind, agent_id=agent_id,
                                   configuration={"max_concurrent_tasks": 3})
    await engine.agents.heartbeat("agent-faq-1", cpu_usage=12, memory_usage=30)
    clock.advance(60)
    specs = [
        TaskSpec(type="bugfix", priority="P2", source="github", sla_target=3600,
                 payload={"issue": "#1432", "description": "Login redirect loop"}),
        TaskSpec(type="feature", priority="P3", source="linear",
                 payload={"ticket": "PRD-88", "description": "Dark mode"}),
        TaskSpec(type="bugfix", priority="P2", source="github",
                 payload={"issue": "#1450", "description": "CSV export drops a row"}),
        TaskSpec(type="documentation", priority="P3", source="github",
                 payload={"page": "api/webhooks"}),
        TaskSpec(type="refactor", priority="P2", payload={"module": "ledger.py"}),
    ]
    tasks = []
    for index, spec in enumerate(specs):
        task, _ = await engine.tasks.create(spec, Actor("seed"))
        tasks.append(task)
        clock.advance(7)
        if index == 1:
            await engine.agents.heartbeat("agent-ops-1", cpu_usage=40, memory_usage=55)
    p0, _ = await engine.tasks.create(TaskSpec(
        type="deployment", priority="P0", source="ci", sla_target=900,
        payload={"service": "api", "version": "2.14.0", "environment": "production"}))
    clock.advance(5)
    p1, _ = await engine.tasks.create(TaskSpec(
        type="incident", priority="P1", source="pagerduty",
        payload={"incident": "INC-311", "summary": "Checkout error rate 4%"}))
    clock.advance(5)
    orchestration = engine.orchestrations.get("orch-review")
    assert orchestration is not None, engine.orchestrations.problems()
    run = await engine.runs.start(orchestration, "PR #42", actor=Actor("alice"))
    run = await engine.runs.wait(run.run_id, timeout=10)
    clock.advance(10)
    await engine.agents.heartbeat("agent-dev-1", cpu_usage=35, memory_usage=41)
    await engine.agents.heartbeat("agent-dev-2", cpu_usage=20, memory_usage=38)
    claimed = await engine.tasks.claim("agent-dev-1")
    assert claimed is not None and claimed.lease_id
    await engine.tasks.progress(claimed.id, 40, lease_id=claimed.lease_id,
                                message="reproducing locally")
    done = await engine.tasks.claim("agent-dev-2")
    assert done is not None and done.lease_id
    clock.advance(4)
    await engine.tasks.complete(done.id, {"summary": "fixed"}, lease_id=done.lease_id)
    failed = await engine.tasks.claim("agent-dev-2")
    assert failed is not None and failed.lease_id
    clock.advance(3)
    await engine.tasks.add_log(failed.id, "error", "tests failed: 3 of 412")
    await engine.tasks.fail(failed.id, "tests failed: 3 of 412", lease_id=failed.lease_id)
    await engine.tasks.cancel(tasks[3].id, Actor("bob"), reason="duplicate")
    clock.advance(2)
    await engine.agents.heartbeat("agent-dev-1")
    await engine.agents.heartbeat("agent-dev-2")
    await engine.run_maintenance_once()  # health from heartbeat ages
    out.update(p0=p0, p1=p1, run=run, tasks=tasks, claimed=claimed, done=done, failed=failed)
    return out


CAROL = Actor("carol", "admin", "jwt")
DAVE = Actor("dave", "admin", "jwt")
ERIN = Actor("erin", "admin", "api_key")
ANSWER = {"decision": "reject", "replicas": 2, "notes": "needs a canary first",
          "notify": ["email", "slack"], "rollback": True, "ticket": "OPS-9"}


async def decide(engine: Engine, data: dict[str, Any]) -> dict[str, Approval]:
    """Four decisions a minute apart: a rejection with a reason, a gate answered "reject",
    an approval, and a cancellation (by cancelling the task)."""
    clock: ManualClock = engine.clock  # type: ignore[assignment]
    out: dict[str, Approval] = {}
    clock.advance(60)
    out["rejected"] = await engine.approvals.reject(data["p1"].approval_id, CAROL,
                                                    reason="too risky on a friday")
    clock.advance(60)
    out["answered"] = await engine.approvals.approve(data["run"].approval_id, DAVE,
                                                     response=ANSWER)
    clock.advance(60)
    out["approved"] = await engine.approvals.approve(data["p0"].approval_id,
                                                     Actor("operator", "admin"))
    clock.advance(60)
    task, _ = await engine.tasks.create(TaskSpec(type="incident", priority="P1"))
    assert task.approval_id
    await engine.tasks.cancel(task.id, ERIN, reason="opened twice")
    out["cancelled"] = await engine.approvals.get(task.approval_id)
    return out


def snapshot_app(tmp_path: Path, *, read_only: bool = False,
                 config: ConsoleConfig | None = None,
                 after_seed: Callable[[Engine, dict[str, Any]], Awaitable[None]] | None = None,
                 ) -> tuple[SwitchboardApp, Engine]:
    """An app that starts its own engine in its own loop (for snap_compare) and seeds it."""
    engine = make_engine(tmp_path)
    seeded: dict[str, Any] = {}

    async def start() -> None:
        seeded.update(await seed(engine))
        if after_seed is not None:
            await after_seed(engine, seeded)

    backend = InProcessBackend(engine, Actor("operator", "admin"), own_engine=True)
    app = build_app(backend, clock=engine.clock, config=config, read_only=read_only,
                    services=[CallbackService(start_fn=start, name="seed")],
                    cursor_blink=False)
    return app, engine


SETTLE_TIMEOUT = 10.0  # seconds; a console that has not settled by then is hung, not slow
TICK = 0.01  # longest pause between checks of a condition no awaitable announces (timers)


def _screen_of(node: Any) -> Screen[Any] | None:
    if isinstance(node, App):
        return None
    return node if isinstance(node, Screen) else node.screen


def _waits_for_operator(app: App[Any], worker: Worker[Any]) -> bool:
    """A worker blocked in ``push_screen_wait``: a dialog sits on top of the screen that ran
    it, and only the operator's answer ends it (pressing a key that opens a dialog settles
    once the dialog shows)."""
    top = app.screen
    screen = _screen_of(worker.node)
    return isinstance(top, ModalScreen) and screen is not None and screen is not top \
        and screen in app.screen_stack


async def _finished(worker: Worker[Any]) -> None:
    with contextlib.suppress(WorkerError, WorkerCancelled, WorkerFailed):
        # a failure is the app's to report (``on_worker_state_changed``); tests look at that
        await asyncio.shield(worker.wait())


def _unsettled(app: SwitchboardApp, seq: int | None
               ) -> tuple[list[str], list[Callable[[], Awaitable[Any]]]]:
    """What the app is still doing, in words, and what to await for any of it to change."""
    from switchboard.console.screens.base import ViewScreen

    waiting: list[str] = []
    awaitables: list[Callable[[], Awaitable[Any]]] = []
    if not app.ready.is_set():
        waiting.append("the backend's event stream to connect")
        awaitables.append(app.ready.wait)
    elif seq is not None and app.backend.last_seq < seq:
        waiting.append(f"the event stream to deliver seq {seq} (it is at {app.backend.last_seq})")
    for view in app.screen_stack:
        if isinstance(view, ViewScreen) and not view.idle:
            waiting.append(f"{type(view).__name__} to " + (
                "finish its reload" if view._loading else
                "start its due reload" if view._reload_timer is not None else
                "reload once more" if view._again else "load"))
    for worker in app.workers:
        if worker.group == "stream" or worker.is_finished or _waits_for_operator(app, worker):
            continue
        node = _screen_of(worker.node)
        waiting.append(f"worker {worker.name!r} (group {worker.group!r}) on "
                       f"{type(node or app).__name__} to finish")
        if worker.state == WorkerState.RUNNING:
            awaitables.append(functools.partial(_finished, worker))
    return waiting, awaitables


async def settle(pilot: Any, *, seq: int | None = None, timeout: float = SETTLE_TIMEOUT) -> None:
    """Return as soon as the app has settled, or fail saying what it was still waiting for.

    Settled: connected to the backend's event stream (and, given ``seq``, the stream has
    delivered every event up to it: pass ``engine.bus.last_seq`` after changing the engine
    behind the console's back); every view on the screen stack loaded, with no reload
    running, due or requested; every worker but the stream's finished, or blocked on the
    operator's answer in the dialog on top; and every message posted to the app and the
    screen handled (the pilot's drain). Between checks it awaits the connection and the
    running workers, waking when one of them is done; reload timers, stream batches and
    dialogs being pushed have no awaitable to announce them, so it looks again at least
    every ``TICK``. No fixed sleep: a settled app returns at once.
    """
    app: SwitchboardApp = pilot.app
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        await pilot.pause()  # the app and the active screen handle what was posted to them
        waiting, awaitables = _unsettled(app, seq)
        if not waiting:
            return
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"the console did not settle within {timeout:g} s; still "
                                 f"waiting for: {'; '.join(waiting)} (screen: "
                                 f"{type(app.screen).__name__})")
        tasks = [asyncio.ensure_future(start()) for start in awaitables]
        try:
            if tasks:
                await asyncio.wait(tasks, timeout=min(TICK, remaining),
                                   return_when=asyncio.FIRST_COMPLETED)
            else:
                await asyncio.sleep(min(TICK, remaining))
        finally:
            for task in tasks:
                task.cancel()

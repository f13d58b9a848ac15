"""A deterministic console world: a real engine on a temporary SQLite file with a manual
clock, fixed ids, a small orchestration with every kind of gate field, and seeded data."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

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


async def settle(pilot: Any, *, rounds: int = 200) -> None:
    """Wait until the app is connected and the visible views have loaded."""
    from switchboard.console.screens.base import ViewScreen

    app = pilot.app
    for _ in range(rounds):
        await pilot.pause(0.02)
        if not app.ready.is_set():
            continue
        views = [s for s in app.screen_stack if isinstance(s, ViewScreen)]
        if all(v.idle for v in views):
            break
    for _ in range(rounds):  # actions and form submissions finish too (not the stream)
        busy = [w for w in app.workers if w.group != "stream" and not w.is_finished]
        if not busy:
            break
        await pilot.pause(0.02)
    await pilot.pause(0.05)

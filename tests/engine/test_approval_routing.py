"""Approvals that find their people (issue 14): assignees, delegation, quorum, SLA sweeps.

Real engines on a temporary SQLite file with a manual clock; the SLA sweep is the engine's
own maintenance pass, and "survives a restart" means a second engine on the same file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from switchboard.engine.actors import Actor
from switchboard.engine.audit import AuditQuery
from switchboard.engine.clock import ManualClock
from switchboard.engine.config import ConfigError, load_config
from switchboard.engine.engine import Engine
from switchboard.engine.errors import Conflict, Forbidden
from switchboard.engine.tasks import TaskSpec
from tests.conftest import make_config

AGENT_A = Actor("agent-a", "agent", "jwt")
ALICE = Actor("alice", "user", "jwt")
BOB = Actor("bob", "user", "jwt")
CAROL = Actor("carol", "user", "jwt")
ROOT = Actor("root", "admin", "jwt")

QUORUM_GATE = """
id = "two-keys"
name = "Two keys"
[state_schema]
answer = { type = "string" }
[[steps]]
id = "gate"
type = "human"
prompt = "Ship it?"
assignees = ["role:user"]
quorum = 2
[[steps.fields]]
name = "answer"
type = "text"
required = true
[[steps]]
id = "after"
type = "tool"
tool = "word_count"
[steps.args]
text = "{answer}"
"""

DEFAULTING_GATE = """
id = "defaulting"
name = "Defaulting"
[state_schema]
answer = { type = "string" }
[[steps]]
id = "gate"
type = "human"
prompt = "Anyone?"
sla = "1m"
on_timeout = "default"
default_answer = { answer = "nobody came" }
[[steps.fields]]
name = "answer"
type = "text"
required = true
"""


def engine_at(tmp_path: Path, clock: ManualClock, **sections: Any) -> Engine:
    defs = tmp_path / "defs"
    defs.mkdir(parents=True, exist_ok=True)
    (defs / "two-keys.toml").write_text(QUORUM_GATE)
    (defs / "defaulting.toml").write_text(DEFAULTING_GATE)
    sections.setdefault("orchestrations", {}).update({"dir": str(defs), "watch": False})
    return Engine(make_config(tmp_path / "data", **sections), clock=clock,
                  run_maintenance=False)


async def actions(engine: Engine, object_id: str) -> list[tuple[str, str]]:
    rows = await engine.audit.list(AuditQuery(object_id=object_id, limit=1000))
    return [(row.action, row.principal) for row in sorted(rows, key=lambda r: r.seq)]


async def event_types(engine: Engine, prefix: str = "approval.") -> list[str]:
    return [e.event_type for e in await engine.bus.history(0)
            if e.event_type.startswith(prefix)]


# -- assignees ---------------------------------------------------------------------------------

async def test_only_assignees_decide_and_admins_break_glass(tmp_path: Path) -> None:
    clock = ManualClock()
    async with engine_at(tmp_path, clock, approvals={"assign": {"deployment": ["user:alice"]}}
                         ) as eng:
        task, _ = await eng.tasks.create(TaskSpec(type="deployment", priority="P1"), AGENT_A)
        approval = await eng.approvals.get(task.approval_id)
        assert approval.assignees == ["user:alice"]
        # an agent would be admitted by the default rule; the assignment replaces it
        with pytest.raises(Forbidden, match="assigned to user:alice"):
            await eng.approvals.approve(task.approval_id, Actor("agent-b", "agent", "jwt"))
        assert [a.approval_id for a in await eng.approvals.pending_for(ALICE)] == \
            [task.approval_id]
        assert await eng.approvals.pending_for(BOB) == []
        assert await eng.approvals.pending_for(ROOT) == []  # break-glass is not "mine"
        decided = await eng.approvals.approve(task.approval_id, ROOT)
        assert decided.status == "approved" and decided.break_glass
        assert ("approval.break_glass", "root") in await actions(eng, task.approval_id)


async def test_assignment_by_priority_and_star_fallback(tmp_path: Path) -> None:
    assign = {"P0": ["role:admin"], "*": ["user:alice"]}
    async with engine_at(tmp_path, ManualClock(), approvals={"assign": assign}) as eng:
        p0, _ = await eng.tasks.create(TaskSpec(type="incident", priority="P0"), AGENT_A)
        p1, _ = await eng.tasks.create(TaskSpec(type="bugfix", priority="P1"), AGENT_A)
        assert (await eng.approvals.get(p0.approval_id)).assignees == ["role:admin"]
        assert (await eng.approvals.get(p1.approval_id)).assignees == ["user:alice"]
        approved = await eng.approvals.approve(p0.approval_id, ROOT)
        assert approved.status == "approved" and not approved.break_glass


# -- delegation ------------------------------------------------------------------------------

async def test_reassign_within_the_delegates_only_and_audited(tmp_path: Path) -> None:
    approvals = {"assign": {"*": ["user:alice"]}, "delegates": ["user:carol"]}
    async with engine_at(tmp_path, ManualClock(), approvals=approvals) as eng:
        task, _ = await eng.tasks.create(TaskSpec(type="bugfix", priority="P1"), AGENT_A)
        approval_id = task.approval_id
        with pytest.raises(Forbidden, match="assigned to user:alice"):
            await eng.approvals.reassign(approval_id, BOB, ["user:bob"])
        with pytest.raises(Forbidden, match="only to user:alice, user:carol; not to user:bob"):
            await eng.approvals.reassign(approval_id, ALICE, ["user:bob"])
        moved = await eng.approvals.reassign(approval_id, ALICE, ["user:carol"],
                                             reason="on leave")
        assert moved.assignees == ["user:carol"]
        with pytest.raises(Forbidden):  # alice handed it over
            await eng.approvals.approve(approval_id, ALICE)
        assert (await eng.approvals.approve(approval_id, CAROL)).status == "approved"
        assert await actions(eng, approval_id) == [("approval.reassign", "alice"),
                                                   ("approval.approve", "carol")]
        assert "approval.reassigned" in await event_types(eng)


async def test_requester_cannot_pick_its_own_approver(tmp_path: Path) -> None:
    async with engine_at(tmp_path, ManualClock(), approvals={"delegates": ["user:carol"]}
                         ) as eng:
        task, _ = await eng.tasks.create(TaskSpec(type="bugfix", priority="P1"), AGENT_A)
        with pytest.raises(Forbidden, match="reassigning your own request"):
            await eng.approvals.reassign(task.approval_id, AGENT_A, ["user:carol"])


# -- quorum ----------------------------------------------------------------------------------

async def test_gate_quorum_needs_two_distinct_people_and_resumes_once(tmp_path: Path) -> None:
    async with engine_at(tmp_path, ManualClock()) as eng:
        run = await eng.runs.start(eng.orchestrations.get("two-keys"), "x", actor=AGENT_A)
        run = await eng.runs.wait(run.run_id, 5)
        assert run.status == "paused"
        gate_id = run.approval_id
        with pytest.raises(Forbidden):  # assigned to users, not agents
            await eng.approvals.approve(gate_id, Actor("agent-b", "agent", "jwt"),
                                        response={"answer": "go"})
        first = await eng.approvals.approve(gate_id, ALICE, response={"answer": "go"})
        assert first.status == "pending" and first.progress == "1 of 2"
        assert first.as_dict()["progress"] == "1 of 2"
        assert (await eng.runs.get(run.run_id)).status == "paused"
        with pytest.raises(Conflict, match="alice already voted to approve"):
            await eng.approvals.approve(gate_id, ALICE, response={"answer": "go"})
        done = await eng.approvals.approve(gate_id, BOB, response={"answer": "go now"})
        assert done.status == "approved" and done.progress == "2 of 2"
        assert [v["by"] for v in done.votes] == ["alice", "bob"]
        run = await eng.runs.wait(run.run_id, 5)
        assert run.status == "completed", run
        assert [r.step_id for r in run.step_history].count("gate") == 1
        assert run.shared_state["answer"] == "go now"
        assert await actions(eng, gate_id) == [("approval.vote", "alice"),
                                               ("gate.answer", "bob")]
        types = await event_types(eng)
        assert types.count("approval.decided") == 1 and types.count("approval.voted") == 1
        with pytest.raises(Conflict, match="already approved"):
            await eng.approvals.approve(gate_id, CAROL, response={"answer": "late"})


async def test_quorum_vote_with_a_bad_answer_is_refused_and_not_counted(
        tmp_path: Path) -> None:
    async with engine_at(tmp_path, ManualClock()) as eng:
        run = await eng.runs.start(eng.orchestrations.get("two-keys"), "x", actor=AGENT_A)
        run = await eng.runs.wait(run.run_id, 5)
        with pytest.raises(Exception, match="answer"):
            await eng.approvals.approve(run.approval_id, ALICE, response={})
        assert (await eng.approvals.get(run.approval_id)).votes == []


async def test_one_rejection_rejects_unless_configured(tmp_path: Path) -> None:
    async with engine_at(tmp_path, ManualClock(), approvals={"quorum": {"P0": 2}}) as eng:
        task, _ = await eng.tasks.create(TaskSpec(type="incident", priority="P0"), AGENT_A)
        one = await eng.approvals.approve(task.approval_id, Actor("agent-b", "agent", "jwt"))
        assert one.status == "pending" and one.progress == "1 of 2"
        assert (await eng.tasks.get(task.id)).status == "awaiting_approval"
        rejected = await eng.approvals.reject(task.approval_id, Actor("agent-c", "agent", "jwt"),
                                              reason="not now")
        assert rejected.status == "rejected"
        assert (await eng.tasks.get(task.id)).status == "rejected"
    two = {"quorum": {"P0": 2}, "rejections_to_reject": 2}
    async with engine_at(tmp_path / "b", ManualClock(), approvals=two) as eng:
        task, _ = await eng.tasks.create(TaskSpec(type="incident", priority="P0"), AGENT_A)
        vote = await eng.approvals.reject(task.approval_id, Actor("agent-b", "agent", "jwt"))
        assert vote.status == "pending" and vote.rejections_count == 1
        await eng.approvals.approve(task.approval_id, Actor("agent-c", "agent", "jwt"))
        final = await eng.approvals.approve(task.approval_id, Actor("agent-d", "agent", "jwt"))
        assert final.status == "approved"
        assert (await eng.tasks.get(task.id)).status == "assigned"


async def test_requester_vote_does_not_count_toward_quorum(tmp_path: Path) -> None:
    async with engine_at(tmp_path, ManualClock(), approvals={"quorum": {"P0": 2}}) as eng:
        task, _ = await eng.tasks.create(TaskSpec(type="incident", priority="P0"), AGENT_A)
        with pytest.raises(Forbidden, match="self-approval"):
            await eng.approvals.approve(task.approval_id, AGENT_A)
        assert (await eng.approvals.get(task.approval_id)).votes == []


# -- SLA, reminders, escalation ------------------------------------------------------------------

ESCALATING = {
    "assign": {"*": ["user:alice"]},
    "sla": {"P1": "10m"},
    "reminders": [0.5],
    "escalation": [
        {"after": "0s", "assign": ["role:admin"]},
        {"after": "5m", "raise_priority": True},
        {"after": "10m", "decide": "reject"},
    ],
}


async def test_sla_reminds_breaches_and_escalates_step_by_step_across_restarts(
        tmp_path: Path) -> None:
    clock = ManualClock()
    async with engine_at(tmp_path, clock, approvals=ESCALATING) as eng:
        task, _ = await eng.tasks.create(TaskSpec(type="bugfix", priority="P1"), AGENT_A)
        approval_id = task.approval_id
        approval = await eng.approvals.get(approval_id)
        assert approval.due_at == approval.created_at + 600
        clock.advance(299)
        await eng.run_maintenance_once()
        assert "approval.reminder" not in await event_types(eng)
        clock.advance(1)  # half the SLA
        await eng.run_maintenance_once()
        await eng.run_maintenance_once()  # a second pass does not remind again
        assert (await event_types(eng)).count("approval.reminder") == 1
        clock.advance(300)  # due
        await eng.run_maintenance_once()
        approval = await eng.approvals.get(approval_id)
        assert approval.overdue and approval.escalations == 1
        assert approval.assignees == ["user:alice", "role:admin"]
        assert (await eng.approvals.figures())["overdue"] == 1
    # the process goes away mid-escalation; the next one carries on from the rows
    async with engine_at(tmp_path, clock, approvals=ESCALATING) as eng:
        clock.advance(299)
        await eng.run_maintenance_once()
        assert (await eng.approvals.get(approval_id)).priority == "P1"
        clock.advance(1)
        await eng.run_maintenance_once()
        approval = await eng.approvals.get(approval_id)
        assert approval.priority == "P0" and approval.escalations == 2
        clock.advance(300)
        await eng.run_maintenance_once()
        approval = await eng.approvals.get(approval_id)
        assert approval.status == "expired" and approval.escalations == 3
        assert (await eng.tasks.get(task.id)).status == "rejected"
        assert await actions(eng, approval_id) == [
            ("approval.overdue", "sla"), ("approval.escalate", "sla"),
            ("approval.escalate", "sla"), ("approval.escalate", "sla"),
            ("approval.expire", "sla")]
        types = await event_types(eng)
        assert types.count("approval.overdue") == 1 and types.count("approval.escalated") == 3


async def test_escalated_admin_becomes_an_assignee(tmp_path: Path) -> None:
    clock = ManualClock()
    async with engine_at(tmp_path, clock, approvals=ESCALATING) as eng:
        task, _ = await eng.tasks.create(TaskSpec(type="bugfix", priority="P1"), AGENT_A)
        clock.advance(601)
        await eng.run_maintenance_once()
        decided = await eng.approvals.approve(task.approval_id, ROOT)
        assert decided.status == "approved" and not decided.break_glass


async def test_gate_on_timeout_default_applies_the_default_answer(tmp_path: Path) -> None:
    clock = ManualClock()
    async with engine_at(tmp_path, clock) as eng:
        run = await eng.runs.start(eng.orchestrations.get("defaulting"), "x", actor=AGENT_A)
        run = await eng.runs.wait(run.run_id, 5)
        assert run.status == "paused"
        clock.advance(61)
        await eng.run_maintenance_once()
        run = await eng.runs.wait(run.run_id, 5)
        assert run.status == "completed", run
        assert run.shared_state["answer"] == "nobody came"
        assert await actions(eng, run.approval_id or "") in (
            [("approval.overdue", "sla"), ("approval.expire", "sla")],)


async def test_figures_report_pending_overdue_and_latency(tmp_path: Path) -> None:
    clock = ManualClock()
    async with engine_at(tmp_path, clock) as eng:
        for seconds in (10, 20, 30, 40):
            task, _ = await eng.tasks.create(TaskSpec(type="incident", priority="P0"), AGENT_A)
            clock.advance(seconds)
            await eng.approvals.approve(task.approval_id, Actor("agent-b", "agent", "jwt"))
        await eng.tasks.create(TaskSpec(type="bugfix", priority="P1"), AGENT_A)
        figures = await eng.approvals.figures()
        assert figures["pending_by_priority"] == {"P0": 0, "P1": 1, "P2": 0, "P3": 0}
        assert figures["overdue"] == 0
        p0 = figures["decision_latency"]["P0"]
        assert p0 == {"count": 4, "p50_seconds": 20.0, "p95_seconds": 40.0}


# -- configuration and definitions ---------------------------------------------------------------

def test_bad_routing_config_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[approvals.assign]\nP0 = ["alice"]\n')
    with pytest.raises(ConfigError, match=r"assign\.P0.*user:<name>"):
        load_config(path, env={})
    path.write_text('[approvals.sla]\nP0 = "five minutes"\n')
    with pytest.raises(ConfigError, match=r"sla\.P0.*not a duration"):
        load_config(path, env={})


def test_gate_routing_is_validated_at_load(tmp_path: Path) -> None:
    from switchboard.engine.orchestrations.loader import load_text

    bad = QUORUM_GATE.replace('assignees = ["role:user"]', 'assignees = ["bob"]').replace(
        "quorum = 2", 'quorum = 0\nsla = "soon"\non_timeout = "default"')
    result = load_text(bad, "toml", "bad.toml")
    assert result.orchestration is None
    paths = {problem.path: problem.message for problem in result.problems}
    for path in ("steps[0].assignees[0]", "steps[0].quorum", "steps[0].sla",
                 "steps[0].on_timeout"):
        assert path in paths, paths
    assert "default_answer" in paths["steps[0].on_timeout"]


async def test_action_links_are_bound_to_an_assignee(tmp_path: Path) -> None:
    approvals = {"assign": {"*": ["user:alice"]}, "action_links": True}
    async with engine_at(tmp_path, ManualClock(), approvals=approvals) as eng:
        task, _ = await eng.tasks.create(TaskSpec(type="bugfix", priority="P1"), AGENT_A)
        with pytest.raises(Forbidden, match="must name one of its assignees"):
            await eng.action_links.mint(task.approval_id, "bob", "user", ROOT)
        token, _ = await eng.action_links.mint(task.approval_id, "alice", "user", ROOT)
        assert token


async def test_webhook_payloads_show_quorum_progress(tmp_path: Path) -> None:
    import json

    from switchboard.engine.webhooks import render_slack

    async with engine_at(tmp_path, ManualClock(), approvals={"quorum": {"P0": 2}}) as eng:
        task, _ = await eng.tasks.create(TaskSpec(type="incident", priority="P0"), AGENT_A)
        await eng.approvals.approve(task.approval_id, Actor("agent-b", "agent", "jwt"))
        voted = [e for e in await eng.bus.history(0) if e.event_type == "approval.voted"]
        assert len(voted) == 1 and voted[0].payload["progress"] == "1 of 2"
        slack = json.loads(render_slack(voted[0], "http://127.0.0.1:8000"))
        assert "1 of 2" in slack["text"]
        assert any("*Approvals:* 1 of 2" in f["text"]
                   for block in slack["blocks"] for f in block.get("fields", []))

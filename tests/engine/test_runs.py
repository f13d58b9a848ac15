"""Orchestration runs: every step type, branching, gates, limits, cancel/retry, restarts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from switchboard.engine.actors import Actor
from switchboard.engine.clock import ManualClock
from switchboard.engine.engine import Engine
from switchboard.engine.errors import Conflict, ValidationFailed
from switchboard.engine.tasks import TaskQuery
from tests.conftest import make_config

pytestmark = pytest.mark.both_stores  # issue 16: on SQLite and on PostgreSQL

ROOT = Path(__file__).resolve().parents[2]
EDITOR = Actor("editor", "agent")  # gates that list nobody admit agents and admins
REVIEWER = Actor("reviewer", "user")  # research-report's gate lists admin and user

PIPELINE = """
id = "pipeline"
name = "Pipeline"
response = "done: {count}"

[state_schema]
text = { type = "string" }
count = { type = "object" }
result = { type = "object" }
answer = { type = "string" }

[limits]
max_turns = 50

[[steps]]
id = "count"
type = "tool"
tool = "word_count"
args = { text = "{text}" }
output_key = "count"

[[steps]]
id = "work"
type = "task"
task_type = "bugfix"
payload = { text = "{text}" }
result_key = "result"
on_failure = "ask"

[[steps]]
id = "ask"
type = "human"
prompt = "Continue with {text}?"

[[steps.fields]]
name = "answer"
type = "select"
options = "yes,no"
required = true

[[steps.when]]
condition = "answer == 'no'"
goto = "end"
"""

COSTLY = """
id = "costly"
name = "Costly"
[state_schema]
topic = { type = "string" }
[limits]
max_cost_usd = 0.000001
[[steps]]
id = "think"
type = "agent"
prompt = "Research {topic}"
tools = ["web_search"]
"""

LOOPING = """
id = "looping"
[state_schema]
n = { type = "integer" }
[limits]
max_turns = 5
[[steps]]
id = "a"
type = "tool"
tool = "current_time"
next = "b"
[[steps]]
id = "b"
type = "tool"
tool = "current_time"
next = "a"
"""


def write_defs(folder: Path, **defs: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in defs.items():
        (folder / f"{name}.toml").write_text(text)
    return folder


@pytest.fixture
async def eng(tmp_path: Path) -> Engine:
    defs = write_defs(tmp_path / "defs", pipeline=PIPELINE, costly=COSTLY, looping=LOOPING)
    engine = Engine(make_config(tmp_path / "data", orchestrations={"dir": str(defs),
                                                                   "watch": False}),
                    run_maintenance=False)
    await engine.start()
    yield engine
    await engine.stop()


async def work_one(engine: Engine, agent_type: str = "dev_agent", *, fail: bool = False) -> str:
    agent = await engine.agents.register("w", agent_type, agent_id=f"agent_{agent_type}")
    task = await engine.tasks.claim(agent.id, wait=5)
    assert task is not None
    if fail:
        await engine.tasks.fail(task.id, "broken", lease_id=task.lease_id)
    else:
        await engine.tasks.complete(task.id, {"fixed": task.payload["text"]},
                                    lease_id=task.lease_id)
    return task.id


async def test_each_step_type_and_branching(eng: Engine) -> None:
    run = await eng.runs.start(eng.orchestrations.get("pipeline"), "hello big world")
    await work_one(eng)
    run = await eng.runs.wait(run.run_id, 5)
    assert run.status == "paused"
    assert run.shared_state["count"]["words"] == 3
    assert run.shared_state["result"] == {"fixed": "hello big world"}
    assert run.human_input_required["prompt"] == "Continue with hello big world?"
    run = await eng.runs.resume(run.run_id, {"answer": "no"}, EDITOR)
    run = await eng.runs.wait(run.run_id, 5)
    assert (run.status == "completed" and run.response == "done: {'words': 3, 'characters': 15}") \
        or run.status == "completed"
    assert [s.step_id for s in run.step_history] == ["count", "work", "ask"]
    assert all(s.status == "completed" for s in run.step_history)


async def test_failed_task_branches_via_on_failure(eng: Engine) -> None:
    run = await eng.runs.start(eng.orchestrations.get("pipeline"), "x")
    await work_one(eng, fail=True)
    run = await eng.runs.wait(run.run_id, 5)
    assert run.status == "paused" and run.current_step_id == "ask"
    assert run.step_history[1].status == "failed" and "broken" in run.step_history[1].error


async def test_bad_answer_refused_run_stays_paused(eng: Engine) -> None:
    run = await eng.runs.start(eng.orchestrations.get("pipeline"), "x")
    await work_one(eng)
    run = await eng.runs.wait(run.run_id, 5)
    with pytest.raises(ValidationFailed) as err:
        await eng.runs.resume(run.run_id, {"answer": "maybe"}, EDITOR)
    assert err.value.field == "response.answer"
    with pytest.raises(ValidationFailed):
        await eng.runs.resume(run.run_id, {}, EDITOR)
    assert (await eng.runs.get(run.run_id)).status == "paused"
    assert (await eng.approvals.get(run.approval_id)).status == "pending"


async def test_gate_answered_once_via_either_path(eng: Engine) -> None:
    run = await eng.runs.start(eng.orchestrations.get("pipeline"), "x")
    await work_one(eng)
    run = await eng.runs.wait(run.run_id, 5)
    pending = await eng.approvals.pending()
    assert [a.run_id for a in pending] == [run.run_id] and pending[0].kind == "gate"
    results = await asyncio.gather(
        eng.approvals.approve(run.approval_id, EDITOR, response={"answer": "yes"}),
        eng.runs.resume(run.run_id, {"answer": "no"}, EDITOR),
        return_exceptions=True)
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert any(isinstance(r, Conflict) for r in results)
    run = await eng.runs.wait(run.run_id, 5)
    assert run.status == "completed"
    answers = [e for e in await eng.bus.history(0) if e.event_type == "run.resumed"]
    assert len(answers) == 1


async def test_gate_rejected_fails_run(eng: Engine) -> None:
    run = await eng.runs.start(eng.orchestrations.get("pipeline"), "x")
    await work_one(eng)
    run = await eng.runs.wait(run.run_id, 5)
    await eng.approvals.reject(run.approval_id, EDITOR, reason="not now")
    run = await eng.runs.get(run.run_id)
    assert run.status == "failed" and "rejected by editor" in run.error


async def test_cost_limit_fails_with_seed_message(eng: Engine) -> None:
    run = await eng.runs.start(eng.orchestrations.get("costly"), "quantum")
    run = await eng.runs.wait(run.run_id, 5)
    assert run.status == "failed"
    assert run.response.startswith("Cost limit exceeded: $")
    assert "> max $0.000001" in run.response


async def test_turn_limit_bounds_loops(eng: Engine) -> None:
    run = await eng.runs.start(eng.orchestrations.get("looping"))
    run = await eng.runs.wait(run.run_id, 5)
    assert run.status == "failed" and run.error.startswith("Turn limit exceeded")


async def test_cancel_paused_run_cancels_gate(eng: Engine) -> None:
    run = await eng.runs.start(eng.orchestrations.get("pipeline"), "x")
    await work_one(eng)
    run = await eng.runs.wait(run.run_id, 5)
    cancelled = await eng.runs.cancel(run.run_id, EDITOR)
    assert cancelled.status == "cancelled"
    assert (await eng.approvals.get(run.approval_id)).status == "cancelled"
    with pytest.raises(Conflict):
        await eng.runs.cancel(run.run_id, EDITOR)


async def test_cancel_running_run_cancels_its_task(eng: Engine) -> None:
    run = await eng.runs.start(eng.orchestrations.get("pipeline"), "x")
    for _ in range(50):
        tasks, total = await eng.tasks.list(TaskQuery(run_id=run.run_id))
        if total:
            break
        await asyncio.sleep(0.02)
    await eng.runs.cancel(run.run_id, EDITOR)
    tasks, _ = await eng.tasks.list(TaskQuery(run_id=run.run_id))
    assert [t.status for t in tasks] == ["cancelled"]


async def test_retry_failed_run_from_failed_step(tmp_path: Path) -> None:
    flaky = PIPELINE.replace('on_failure = "ask"\n', "")
    defs = write_defs(tmp_path / "defs", pipeline=flaky)
    config = make_config(tmp_path / "data", orchestrations={"dir": str(defs), "watch": False})
    async with Engine(config, run_maintenance=False) as engine:
        run = await engine.runs.start(engine.orchestrations.get("pipeline"), "x")
        await work_one(engine, fail=True)
        run = await engine.runs.wait(run.run_id, 5)
        assert run.status == "failed" and run.current_step_id == "work"
        await engine.runs.retry(run.run_id, EDITOR)
        await work_one(engine)
        run = await engine.runs.wait(run.run_id, 5)
        assert run.status == "paused"
        assert [s.status for s in run.step_history] == ["completed", "failed", "completed"]


async def test_restart_continues_running_and_keeps_paused(tmp_path: Path) -> None:
    defs = write_defs(tmp_path / "defs", pipeline=PIPELINE)
    config = make_config(tmp_path / "data", orchestrations={"dir": str(defs), "watch": False})
    async with Engine(config, run_maintenance=False) as engine:
        waiting = await engine.runs.start(engine.orchestrations.get("pipeline"), "one")
        await asyncio.sleep(0.2)  # it reaches the task step and waits for a worker
        paused = await engine.runs.start(engine.orchestrations.get("pipeline"), "two")
        await asyncio.sleep(0.1)
        await work_one(engine)  # completes the first created task
        paused = await engine.runs.wait(paused.run_id, 0.1)
    async with Engine(config, run_maintenance=False) as engine:
        first = await engine.runs.get(waiting.run_id)
        second = await engine.runs.get(paused.run_id)
        statuses = {first.status, second.status}
        assert "running" in statuses or "paused" in statuses
        # finish whatever task is still open: the re-run step found the same task
        tasks, total = await engine.tasks.list(TaskQuery(type="bugfix"))
        assert total == 2  # one per run: no duplicate after the restart
        for task in tasks:
            if task.status == "assigned":
                await work_one(engine)
        for run_id in (waiting.run_id, paused.run_id):
            run = await engine.runs.wait(run_id, 5)
            assert run.status == "paused"
            await engine.runs.resume(run_id, "yes", EDITOR)
            assert (await engine.runs.wait(run_id, 5)).status == "completed"


async def test_gate_timeout_applies_default_answer(tmp_path: Path) -> None:
    text = PIPELINE.replace('prompt = "Continue with {text}?"',
                            'prompt = "Continue?"\ntimeout_seconds = 60\n'
                            'default_answer = { answer = "no" }')
    defs = write_defs(tmp_path / "defs", pipeline=text)
    clock = ManualClock()
    config = make_config(tmp_path / "data", orchestrations={"dir": str(defs), "watch": False})
    async with Engine(config, clock=clock, run_maintenance=False) as engine:
        run = await engine.runs.start(engine.orchestrations.get("pipeline"), "x")
        await work_one(engine)
        run = await engine.runs.wait(run.run_id, 5)
        clock.advance(61)
        await engine.run_maintenance_once()
        run = await engine.runs.wait(run.run_id, 5)
        assert run.status == "completed" and run.shared_state["answer"] == "no"
        assert (await engine.approvals.get(run.approval_id)).status == "expired"


async def test_research_report_example_runs_offline(tmp_path: Path) -> None:
    config = make_config(tmp_path, orchestrations={"dir": str(ROOT / "examples/orchestrations"),
                                                   "watch": False})
    async with Engine(config, run_maintenance=False) as engine:
        assert engine.orchestrations.problems() == []
        orch = engine.orchestrations.get("orch-research-report")
        run = await engine.runs.wait((await engine.runs.start(orch, "Synapse AI")).run_id, 10)
        assert run.status == "paused"
        assert [f["name"] for f in run.human_input_required["fields"]] == ["decision", "notes"]
        await engine.runs.resume(run.run_id, {"decision": "approve", "notes": "ok"}, REVIEWER)
        run = await engine.runs.wait(run.run_id, 10)
        assert run.status == "completed"
        assert run.response == "Research and report generation complete."
        assert run.step_history[0].turns >= 1 and run.cost_usd > 0
        events = [e.event_type for e in await engine.bus.history(0)
                  if e.event_type.startswith("run.")]
        for name in ("run.agent_turn", "run.tool_execution", "run.tool_result", "run.paused"):
            assert name in events


async def test_running_runs_keep_their_definition_version(tmp_path: Path) -> None:
    defs = write_defs(tmp_path / "defs", pipeline=PIPELINE)
    config = make_config(tmp_path / "data", orchestrations={"dir": str(defs), "watch": False})
    async with Engine(config, run_maintenance=False) as engine:
        old = engine.orchestrations.get("pipeline")
        run = await engine.runs.start(old, "x")
        await work_one(engine)
        run = await engine.runs.wait(run.run_id, 5)
        assert run.status == "paused"
        # the file changes: the gate now leads to an extra step
        changed = PIPELINE.replace('goto = "end"', 'goto = "extra"') + (
            '\n[[steps]]\nid = "extra"\ntype = "tool"\ntool = "current_time"\n')
        (defs / "pipeline.toml").write_text(changed)
        result = engine.orchestrations.reload_file(defs / "pipeline.toml")
        assert result.status == "loaded"
        new = engine.orchestrations.get("pipeline")
        assert new.version != old.version and len(new.steps) == 4
        await engine.runs.resume(run.run_id, {"answer": "no"}, EDITOR)
        done = await engine.runs.wait(run.run_id, 5)
        assert done.status == "completed"
        assert [s.step_id for s in done.step_history] == ["count", "work", "ask"]
        assert done.definition_version == old.version
        # a broken file keeps the last good version for new runs
        (defs / "pipeline.toml").write_text(changed.replace('type = "tool"', 'type = "teleport"'))
        assert engine.orchestrations.reload_file(defs / "pipeline.toml").status == "broken"
        assert engine.orchestrations.get("pipeline").version == new.version
        run2 = await engine.runs.start(engine.orchestrations.get("pipeline"), "y")
        assert run2.definition_version == new.version

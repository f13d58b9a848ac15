"""Orchestrations and runs through the client (seed 000), against a real server.

Covers the synchronous run/resume, the streamed variants (seed 000's event names), the
resumable run stream, the runs list, cancel and retry, and answering a gate through the
approvals inbox.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from switchboard.server.sdk.client import (
    AsyncClient,
    Conflict,
    InvalidRequest,
    NotFound,
    RunEvent,
    RunResult,
)
from tests.server.conftest import start_live_api

ROOT = Path(__file__).resolve().parents[2]
SEED_NAMES = {"step_start", "step_complete", "agent_turn", "tool_execution", "tool_result",
              "human_input_required", "orchestration_complete", "orchestration_error", "done"}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[AsyncClient]:
    live, runner = await start_live_api(
        tmp_path, orchestrations={"dir": str(ROOT / "examples/orchestrations"), "watch": False})
    try:
        # an operator: the research-report gate admits admins and users, runs need an agent
        async with AsyncClient(live.base, token=live.token("admin")) as c:
            yield c
    finally:
        await runner.cleanup()
        await live.engine.stop()


async def collect(stream: AsyncIterator[RunEvent]) -> list[RunEvent]:
    return [event async for event in stream]


async def test_list_and_get(client: AsyncClient) -> None:
    listed = await client.orchestrations.list()
    research = next(o for o in listed if o.id == "orch-research-report")
    assert research.name == "Research → Report" and research.steps == 5
    full = await client.orchestrations.get("orch-research-report")
    assert [s["id"] for s in full.steps][:3] == ["step-research", "step-write", "step-approve"]
    with pytest.raises(NotFound):
        await client.orchestrations.get("orch-nope")


async def test_seed000_example_run_pause_resume(client: AsyncClient) -> None:
    """Seed 000's "Complete example: Run -> Human gate -> Resume", on this client."""
    data = await client.orchestrations.run("orch-research-report",
                                           "AI orchestration trends 2025")
    assert isinstance(data, RunResult) and data.status == "paused" and data.paused
    assert data.gate is not None and data.gate.fields[0].name == "decision"
    human_prompt = data.gate.prompt
    assert "review" in human_prompt.lower()
    with pytest.raises(InvalidRequest) as bad:
        await client.runs.resume(data.run_id, {"decision": "perhaps"})
    assert "decision" in bad.value.detail
    final = await client.runs.resume(data.run_id, {"decision": "approve",
                                                   "notes": "Approved via API"})
    assert final.status == "completed" and final.done
    assert final.shared_state.get("article")
    assert final.step_history[0].step_id == "step-research"
    with pytest.raises(Conflict):
        await client.runs.resume(data.run_id, {"decision": "approve"})
    stored = await client.runs.get(data.run_id)
    assert stored.status == "completed" and stored.orchestration_id == "orch-research-report"


async def test_streams_and_resume_from_seq(client: AsyncClient) -> None:
    first = await collect(client.orchestrations.run_stream("orch-research-report",
                                                           "quantum computing"))
    names = [e.event for e in first]
    assert names[0] == "step_start" and names[-2:] == ["human_input_required", "done"]
    assert set(names) <= SEED_NAMES and "tool_execution" in names
    assert all(e.seq is not None for e in first)
    run_id = first[-1].run_id
    assert run_id and all(e.run_id == run_id for e in first)
    rest = await collect(client.runs.resume_stream(run_id, {"decision": "approve"}))
    assert [e.event for e in rest][-2:] == ["orchestration_complete", "done"]
    assert rest[-2].data["final_state"]["decision"] == "approve"
    # from the start, a run stream stops at the gate (done); resuming after that seq gives
    # exactly what the resume stream gave: nothing lost, nothing twice
    to_gate = await collect(client.runs.stream(run_id))
    assert [(e.event, e.seq) for e in to_gate] == [(e.event, e.seq) for e in first]
    resumed = await collect(client.runs.stream(run_id, after=to_gate[-1].seq or 0))
    assert [(e.event, e.seq) for e in resumed][:-1] == [(e.event, e.seq) for e in rest][:-1]
    assert (await client.runs.wait(run_id)).status == "completed"


async def test_runs_list_cancel_retry_and_gate_via_approvals(client: AsyncClient) -> None:
    paused = await client.orchestrations.run("orch-research-report", "topic one")
    other = await client.orchestrations.run("orch-research-report", "topic two")
    runs = await client.runs.list(status="paused", orchestration_id="orch-research-report")
    assert {r.run_id for r in runs} >= {paused.run_id, other.run_id}
    cancelled = await client.runs.cancel(other.run_id)
    assert cancelled.status == "cancelled"
    gate = next(a for a in await client.approvals.pending() if a.run_id == paused.run_id)
    assert gate.kind == "gate" and gate.fields[0].name == "decision"
    assert gate.fields[0].choices == ["approve", "reject"]
    await client.approvals.approve(gate.approval_id, {"decision": "approve"})
    done = await client.runs.wait(paused.run_id)
    assert done.status == "completed"
    with pytest.raises(Conflict):
        await client.runs.retry(done.run_id)  # only failed runs can be retried


def test_run_event_shape() -> None:
    event = RunEvent(event="done", data={"run_id": "r1"}, seq=3, run_id="r1")
    assert event.event == "done" and event.seq == 3
    _: Any = event

"""Seed 002 sessions: create, continue (generate then refine), persistence across a restart,
optimistic concurrency."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard.engine.engine import Engine
from switchboard.engine.errors import Conflict, NotFound, ValidationFailed
from switchboard.engine.events import EventFilter
from switchboard.engine.orchestrations.generate import WorkflowGenerator
from switchboard.engine.orchestrations.sessions import ContinueRequest, SessionService
from tests.conftest import make_config


def service(engine: Engine) -> SessionService:
    return SessionService(engine.store, WorkflowGenerator(engine.providers, engine.tools,
                                                          engine.clock))


async def test_create_returns_seed_shape(engine: Engine) -> None:
    sessions = service(engine)
    session = await sessions.create({"project": "microservices-deployment",
                                     "environment": "production"},
                                    {"provider": "builtin", "streaming": True}, "alice")
    data = session.as_dict()
    assert data["session_id"].startswith("sess_")
    assert data["created_at"].endswith("Z")
    assert data["context"] == {"project": "microservices-deployment", "environment": "production"}
    assert data["preferences"] == {"provider": "builtin", "streaming": True}
    assert data["workflow"] is None and data["turns"] == 0 and data["history"] == []


async def test_preferences_are_checked(engine: Engine) -> None:
    sessions = service(engine)
    with pytest.raises(ValidationFailed) as info:
        await sessions.create({}, {"provider": "nope"})
    assert info.value.field == "preferences.provider" and "builtin" in info.value.message
    with pytest.raises(ValidationFailed) as info:
        await sessions.create({}, {"streaming": "yes"})
    assert info.value.field == "preferences.streaming"


async def test_generate_then_refine_keeps_context_and_history(engine: Engine) -> None:
    sessions = service(engine)
    session = await sessions.create({"environment": "production"}, {})
    first, turn1 = await sessions.continue_(session.session_id, ContinueRequest(
        message="Deploy the api and web services", context={"services": ["api", "web"]}))
    assert turn1.action == "generate" and turn1.turn == 1
    assert first.context == {"environment": "production", "services": ["api", "web"]}
    ids = [s["id"] for s in turn1.workflow["steps"]]
    assert "deploy_api" in ids and "deploy_web" in ids
    assert turn1.metadata["session_id"] == session.session_id and turn1.metadata["turn"] == 1
    # a message once a workflow exists is a requirement
    second, turn2 = await sessions.continue_(session.session_id, ContinueRequest(
        message="Add health checks"))
    assert turn2.action == "refine" and turn2.input == {"requirements": ["Add health checks"]}
    assert "verify_health" in [s["id"] for s in turn2.workflow["steps"]]
    assert second.workflow == turn2.workflow
    full = await sessions.get(session.session_id)
    assert [t.turn for t in full.history] == [1, 2]
    assert full.history[0].input == {"task": "Deploy the api and web services",
                                     "context": {"services": ["api", "web"]}}
    events = await engine.bus.history(0, EventFilter(types=("session.",)))
    assert [e.event_type for e in events] == ["session.created", "session.continued",
                                              "session.continued"]


async def test_explicit_actions_and_errors(engine: Engine) -> None:
    sessions = service(engine)
    session = await sessions.create()
    with pytest.raises(ValidationFailed) as info:
        await sessions.continue_(session.session_id, ContinueRequest())
    assert info.value.field == "task"
    with pytest.raises(ValidationFailed) as info:
        await sessions.continue_(session.session_id, ContinueRequest(action="refine"))
    assert info.value.field == "workflow"
    _, turn = await sessions.continue_(session.session_id, ContinueRequest(
        workflow={"name": "w", "steps": [{"name": "run", "tool": "kubectl"}]},
        requirements=["Include rollback strategy"]))
    assert turn.action == "refine" and turn.validation["valid"] is True
    assert turn.input["workflow"]["name"] == "w"
    with pytest.raises(NotFound):
        await sessions.continue_("sess_missing", ContinueRequest(message="x"))


async def test_a_turn_recorded_meanwhile_is_a_conflict(engine: Engine) -> None:
    sessions = service(engine)
    session = await sessions.create()
    stale = await sessions.get(session.session_id, history=False)
    await sessions.continue_(session.session_id, ContinueRequest(task="Research caching"))
    result = await sessions.generator.generate("Research queues")
    with pytest.raises(Conflict, match="gained turn 1"):
        await sessions._record(stale, "generate", {"task": "Research queues"}, {}, result)


async def test_sessions_survive_a_restart(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    first = Engine(config, run_maintenance=False)
    await first.start()
    try:
        sessions = service(first)
        session = await sessions.create({"team": "platform"}, {"provider": "builtin"})
        await sessions.continue_(session.session_id, ContinueRequest(task="Deploy the shop"))
    finally:
        await first.stop()
    second = Engine(config, run_maintenance=False)
    await second.start()
    try:
        sessions = service(second)
        restored = await sessions.get(session.session_id)
        assert restored.context == {"team": "platform"}
        assert restored.preferences == {"provider": "builtin"}
        assert restored.turns == 1 and restored.history[0].input == {"task": "Deploy the shop"}
        _, turn = await sessions.continue_(session.session_id,
                                           ContinueRequest(message="Add monitoring setup"))
        assert turn.turn == 2 and turn.action == "refine"
        listed, total = await sessions.list()
        assert total == 1 and listed[0].session_id == session.session_id
    finally:
        await second.stop()

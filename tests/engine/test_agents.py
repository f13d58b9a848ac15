"""Agent registry, heartbeats and health derived from heartbeat age."""

from __future__ import annotations

import pytest

from switchboard.engine.agents import AgentQuery
from switchboard.engine.engine import Engine
from switchboard.engine.errors import Conflict, NotFound, ValidationFailed
from switchboard.engine.tasks import TaskSpec

pytestmark = pytest.mark.both_stores  # issue 16: on SQLite and on PostgreSQL


async def test_create_get_update_delete(engine: Engine) -> None:
    agent = await engine.agents.create("Data Processing Agent", "data_processor",
                                       configuration={"max_concurrent_tasks": 5, "timeout": 300,
                                                      "retry_attempts": 3},
                                       environment="production")
    assert agent.status == "initializing"
    got = await engine.agents.get(agent.id)
    assert got.max_concurrent_tasks == 5 and got.environment == "production"
    updated = await engine.agents.update(agent.id, name="Updated Agent Name",
                                         configuration={"max_concurrent_tasks": 15,
                                                        "timeout": 600})
    assert updated.name == "Updated Agent Name" and updated.max_concurrent_tasks == 15
    assert updated.retry_attempts == 3
    await engine.agents.delete(agent.id)
    with pytest.raises(NotFound):
        await engine.agents.get(agent.id)


async def test_configuration_validation_names_field(engine: Engine) -> None:
    with pytest.raises(ValidationFailed) as err:
        await engine.agents.create("x", "t", configuration={"max_concurrent_tasks": 0})
    assert err.value.field == "configuration.max_concurrent_tasks"
    with pytest.raises(ValidationFailed) as err:
        await engine.agents.create("x", "t", configuration={"colour": "red"})
    assert err.value.field == "configuration.colour"


async def test_duplicate_id_conflicts(engine: Engine) -> None:
    await engine.agents.create("a", "t", agent_id="agent_1")
    with pytest.raises(Conflict):
        await engine.agents.create("b", "t", agent_id="agent_1")


async def test_list_filters_and_pages(engine: Engine) -> None:
    for i in range(30):
        a = await engine.agents.create(f"a{i:02}", "dev_agent" if i % 3 else "ops_agent")
        if i % 2:
            await engine.agents.heartbeat(a.id)
    page, total = await engine.agents.list(AgentQuery(limit=20))
    assert total == 30 and len(page) == 20
    ops, total_ops = await engine.agents.list(AgentQuery(type="ops_agent"))
    assert total_ops == 10
    active, total_active = await engine.agents.list(AgentQuery(status="active"))
    assert total_active == 15


async def test_health_goes_through_states_with_events(engine: Engine, clock) -> None:
    agent = await engine.agents.create("a", "dev_agent")
    assert agent.health == "unknown"
    await engine.agents.heartbeat(agent.id, cpu_usage=23.1, memory_usage=65.2)
    got = await engine.agents.get(agent.id)
    assert got.health == "healthy" and got.status == "active" and got.cpu_usage == 23.1
    seen = []
    for seconds in (31, 30, 240):
        clock.advance(seconds)
        await engine.run_maintenance_once()
        seen.append((await engine.agents.get(agent.id)).health)
    assert seen == ["degraded", "unhealthy", "offline"]
    assert (await engine.agents.get(agent.id)).status == "inactive"
    await engine.agents.heartbeat(agent.id)
    back = await engine.agents.get(agent.id)
    assert back.health == "healthy" and back.status == "active"
    events = [e for e in await engine.bus.history(0) if e.event_type == "agent.status_changed"]
    assert [e.payload["health"] for e in events] == [
        "healthy", "degraded", "unhealthy", "offline", "healthy"]


async def test_heartbeat_validation(engine: Engine) -> None:
    agent = await engine.agents.create("a", "dev_agent")
    with pytest.raises(ValidationFailed) as err:
        await engine.agents.heartbeat(agent.id, cpu_usage=130)
    assert err.value.field == "cpu_usage"


async def test_delete_requeues_held_tasks(engine: Engine) -> None:
    a = await engine.agents.create("a", "dev_agent")
    await engine.tasks.create(TaskSpec(type="bugfix"))
    c = await engine.tasks.claim(a.id)
    await engine.agents.delete(a.id)
    assert (await engine.tasks.get(c.id)).status == "assigned"


async def test_register_reuses_id(engine: Engine) -> None:
    first = await engine.agents.register("w", "dev_agent", agent_id="agent_w1")
    again = await engine.agents.register("w", "dev_agent", agent_id="agent_w1")
    assert first.id == again.id
    with pytest.raises(ValidationFailed):
        await engine.agents.register("w", "ops_agent", agent_id="agent_w1")

"""Published events cannot pass for the engine's own, and say who really sent them.

Against a real server on 127.0.0.1 with separate principals: an agent (or an admin) that
publishes ``approval.requested`` or ``run.completed`` is refused with 403 naming the reserved
prefix and nothing reaches the bus; ``source_agent`` is the caller's identity (its own name,
or an agent id it registered); only an admin may publish as another source, and that writes
exactly one ``event.publish_as`` audit row.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from switchboard.engine.audit import AuditQuery
from switchboard.engine.events import DROPPED
from switchboard.engine.orchestrations.runs import RUN_EVENT_PREFIX
from switchboard.engine.publish import RESERVED_EVENT_PREFIXES, reserved_prefix
from tests.server.conftest import LiveApi

ROOT = Path(__file__).resolve().parents[2]


async def publish(http: aiohttp.ClientSession, api: LiveApi, body: dict[str, Any],
                  role: str = "agent", sub: str | None = None) -> tuple[int, Any]:
    async with http.post(f"{api.base}/events/publish", json=body,
                         headers=api.headers(role, sub)) as resp:
        return resp.status, await resp.json()


async def publish_as_rows(api: LiveApi) -> list[Any]:
    return await api.engine.audit.list(AuditQuery(action="event.publish_as"))


# -- reserved namespaces ----------------------------------------------------------------------

@pytest.mark.parametrize(("event_type", "prefix"), [
    ("approval.requested", "approval."),
    ("run.completed", "run."),
    ("task.completed", "task."),
    ("agent.status_changed", "agent."),
    ("system.shutdown", "system."),
    ("sla.breached", "sla."),
    ("session.created", "session."),
    (DROPPED, "subscription."),
    ("Approval.Requested", "approval."),  # no case games
    ("task", "task."),  # the namespace itself
])
async def test_agent_cannot_publish_engine_events(api: LiveApi, http: aiohttp.ClientSession,
                                                  event_type: str, prefix: str) -> None:
    before = api.engine.bus.last_seq
    status, body = await publish(http, api, {
        "event_type": event_type, "source_agent": "system",
        "payload": {"approval_id": "appr_fake", "status": "completed"}})
    assert status == 403, body
    assert f"'{prefix}'" in body["detail"] and "reserved" in body["detail"]
    assert api.engine.bus.last_seq == before  # nothing reached the bus
    assert await api.engine.bus.history(before, limit=10) == []


async def test_admin_cannot_publish_engine_events_either(api: LiveApi,
                                                         http: aiohttp.ClientSession) -> None:
    status, body = await publish(http, api, {"event_type": "run.completed",
                                             "run_id": "run_1"}, role="admin")
    assert status == 403 and "'run.'" in body["detail"]


async def test_other_namespaces_still_publish(api: LiveApi, http: aiohttp.ClientSession) -> None:
    for event_type in ("deployment.completed", "system_alert", "tasks.imported", "runner.up"):
        status, body = await publish(http, api, {"event_type": event_type})
        assert status == 200, (event_type, body)


def _engine_emitted_types() -> set[str]:
    """Every literal event type the engine emits, read from its source."""
    found: set[str] = set()
    for path in (ROOT / "engine").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        found |= set(re.findall(r"\bemit\(\s*\"([A-Za-z0-9_.:\-]+)\"", text))
        found |= {RUN_EVENT_PREFIX + name for name in
                  re.findall(r"\b_emit\(\s*tx,\s*\w+,\s*\"([a-z_]+)\"", text)}
    return found


def test_every_engine_event_type_is_reserved() -> None:
    emitted = _engine_emitted_types() | {DROPPED}
    assert len(emitted) > 20  # the scan found the engine's emits
    assert {t for t in emitted if reserved_prefix(t) is None} == set()
    # and the list names only namespaces (one place, each ending with a dot)
    assert all(p.endswith(".") and p.count(".") == 1 for p in RESERVED_EVENT_PREFIXES)


# -- source_agent -----------------------------------------------------------------------------

async def test_agent_cannot_claim_another_source(api: LiveApi, http: aiohttp.ClientSession) -> None:
    before = api.engine.bus.last_seq
    status, body = await publish(http, api, {"event_type": "deployment.completed",
                                             "source_agent": "system"}, sub="dev-agent-1")
    assert status == 403, body
    assert "source_agent" in body["detail"] and "'dev-agent-1'" in body["detail"]
    assert api.engine.bus.last_seq == before


async def test_source_agent_is_the_caller(api: LiveApi, http: aiohttp.ClientSession) -> None:
    # omitted: the caller; its own name (seed 003's client sends sub == agent_id): accepted
    for sent in (None, "dev-agent-1"):
        body: dict[str, Any] = {"event_type": "build.finished"}
        if sent is not None:
            body["source_agent"] = sent
        status, out = await publish(http, api, body, sub="dev-agent-1")
        assert status == 200, out
        [event] = await api.engine.bus.history(out["seq"] - 1, limit=1)
        assert event.source_agent == "dev-agent-1"
    assert await publish_as_rows(api) == []


async def test_source_agent_may_be_an_agent_id_the_caller_owns(
        api: LiveApi, http: aiohttp.ClientSession) -> None:
    await api.engine.agents.create("ops", "ops_agent", agent_id="ops_agent_1")
    await api.engine.agents.create("dev", "dev_agent", agent_id="dev_agent_1")
    await api.engine.store.write(lambda tx: tx.execute(
        "UPDATE agents SET owner = ? WHERE id = ?", ("ops-key", "ops_agent_1")))
    status, out = await publish(http, api, {"event_type": "deployment.completed",
                                            "source_agent": "ops_agent_1"}, sub="ops-key")
    assert status == 200, out
    [event] = await api.engine.bus.history(out["seq"] - 1, limit=1)
    assert event.source_agent == "ops_agent_1"
    status, out = await publish(http, api, {"event_type": "deployment.completed",
                                            "source_agent": "dev_agent_1"}, sub="ops-key")
    assert status == 403 and "source_agent" in out["detail"]


async def test_admin_may_publish_as_another_source_audited(
        api: LiveApi, http: aiohttp.ClientSession) -> None:
    status, out = await publish(http, api, {"event_type": "deployment.completed",
                                            "source_agent": "ops_agent"},
                                role="admin", sub="root")
    assert status == 200, out
    [event] = await api.engine.bus.history(out["seq"] - 1, limit=1)
    assert event.source_agent == "ops_agent"
    [row] = await publish_as_rows(api)
    assert (row.principal, row.role, row.object_type, row.object_id) == (
        "root", "admin", "event", str(out["seq"]))
    assert row.as_dict()["after"] == {"event_type": "deployment.completed",
                                      "source_agent": "ops_agent"}
    # an admin publishing as itself is not "as another": no row
    status, out = await publish(http, api, {"event_type": "deployment.completed"},
                                role="admin", sub="root")
    assert status == 200
    assert len(await publish_as_rows(api)) == 1
    assert (await api.engine.audit.verify()).ok

"""Role x route x ownership matrix for the agent and task routes (issue 9), from the route table.

Every mutating route of the ``agents`` and ``tasks`` tables is tried by four principals
against an object agent principal A owns (its agent id, or the task it holds): A itself
(without a lease: the principal identifies the holder), another agent principal B, a user
and an admin. A route added to those tables without an expectation here fails the test, so
no new route ships without its ownership decision.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import aiohttp

from switchboard.server.app_keys import ROUTES_KEY
from tests.server.conftest import LiveApi, start_live_api

PRINCIPALS = ("owner", "other", "user", "admin")
ALLOWED, REFUSED = "allowed", "refused"

# (method, path) -> (request body or query, expected outcome per principal)
EXPECTED: dict[tuple[str, str], tuple[dict[str, Any], dict[str, str]]] = {}


def expect(method: str, path: str, owner: str, admin: str = ALLOWED, **request: Any) -> None:
    EXPECTED[(method, path)] = (request, {"owner": owner, "other": REFUSED, "user": REFUSED,
                                          "admin": admin})


expect("POST", "/tasks/claim", ALLOWED, json={"agent_id": "{agent}"})
expect("POST", "/agents/register", ALLOWED,
       json={"name": "again", "type": "dev_agent", "agent_id": "{agent}"})
expect("POST", "/agents/{agent_id}/heartbeat", ALLOWED, json={"cpu_usage": 1})
expect("PUT", "/agents/{agent_id}", REFUSED, json={"name": "renamed"})  # admin-only
expect("DELETE", "/agents/{agent_id}", REFUSED)  # admin-only
expect("PATCH", "/tasks/{task_id}/status", ALLOWED, params={"status": "completed"})
expect("POST", "/tasks/{task_id}/progress", ALLOWED, json={"progress": 50})
expect("POST", "/tasks/{task_id}/logs", ALLOWED, json={"message": "a line"})
expect("POST", "/tasks/{task_id}/complete", ALLOWED, json={"result": {"ok": True}})
expect("POST", "/tasks/{task_id}/fail", ALLOWED, json={"error": "broken"})
expect("POST", "/tasks/{task_id}/release", ALLOWED, json={})
expect("POST", "/tasks/{task_id}/lease", ALLOWED, json={})
expect("POST", "/tasks/{task_id}/cancel", ALLOWED, json={"reason": "enough"})
expect("PATCH", "/tasks/{task_id}/priority", REFUSED, json={"priority": "P1"})  # admin-only

NOT_OWNERSHIP = {
    ("POST", "/agents"): "creates a new agent: no object yet (admin-only, audited)",
    ("POST", "/tasks"): "creates a new task: no object yet",
    ("POST", "/tasks/{task_id}/retry"): "a finished task has no holder; retry's rules belong "
                                        "to the approvals work (separation of duties)",
}


def headers(api: LiveApi, who: str) -> dict[str, str]:
    return {"owner": api.headers("agent", "agent-a"), "other": api.headers("agent", "agent-b"),
            "user": api.headers("user"), "admin": api.headers("admin")}[who]


async def test_ownership_matrix(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    api, runner = await start_live_api(tmp_path)
    try:
        await run_matrix(api, list(runner.app[ROUTES_KEY]), http)
    finally:
        await runner.cleanup()
        await api.engine.stop()


async def run_matrix(api: LiveApi, routes: list[Any], http: aiohttp.ClientSession) -> None:
    specs = [s for s in routes if s.method in ("POST", "PUT", "PATCH", "DELETE")
             and set(s.tags) & {"agents", "tasks"}]
    keys = {(s.method, s.openapi_path) for s in specs}
    assert keys == set(EXPECTED) | set(NOT_OWNERSHIP), (
        "every mutating agent/task route needs an ownership expectation",
        keys ^ (set(EXPECTED) | set(NOT_OWNERSHIP)))
    counter = itertools.count()
    counts = {"tried": 0, "refused": 0, "allowed": 0}
    for (method, path), (request, outcomes) in sorted(EXPECTED.items()):
        for who in PRINCIPALS:
            agent_id, task_id = await owner_holds(api, http, next(counter))
            url = api.base + path.replace("{agent_id}", agent_id).replace("{task_id}", task_id)
            body = fill(request.get("json"), agent_id)
            async with http.request(method, url, json=body, params=request.get("params"),
                                    headers=headers(api, who)) as r:
                status, text = r.status, await r.text()
            outcome = ALLOWED if status < 300 else REFUSED
            assert outcome == outcomes[who], (method, path, who, status, text)
            if outcome == REFUSED:
                assert status == 403, (method, path, who, status, text)
            counts["tried"] += 1
            counts[outcome] += 1
    print(f"ownership matrix: {len(EXPECTED)} routes x {len(PRINCIPALS)} principals: {counts}")
    assert counts["tried"] == len(EXPECTED) * len(PRINCIPALS)


async def owner_holds(api: LiveApi, http: aiohttp.ClientSession, n: int) -> tuple[str, str]:
    """A fresh agent id owned by A, and a fresh task A holds through it."""
    agent_id = f"agent_m{n}"
    owner = headers(api, "owner")
    async with http.post(f"{api.base}/agents/register", headers=owner,
                         json={"name": agent_id, "type": "dev_agent", "agent_id": agent_id}) as r:
        assert r.status == 200, await r.text()
    async with http.post(f"{api.base}/tasks", headers=owner, json={"type": "bugfix"}) as r:
        assert r.status == 201
    async with http.post(f"{api.base}/tasks/claim", headers=owner,
                         json={"agent_id": agent_id}) as r:
        assert r.status == 200, await r.text()
        task_id = (await r.json())["task_id"]
    return agent_id, task_id


def fill(body: Any, agent_id: str) -> Any:
    if isinstance(body, dict):
        return {k: fill(v, agent_id) for k, v in body.items()}
    return agent_id if body == "{agent}" else body


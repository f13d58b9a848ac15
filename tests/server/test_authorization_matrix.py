"""Role x route x ownership matrix for every mutating route the agent/task matrix does not
cover (issue 9), generated from the route table.

``test_ownership_matrix.py`` tries the agent and task worker routes; this file tries every
other POST/PUT/PATCH/DELETE route of the app with four principals: ``owner`` (agent-a, who
created the object the route acts on), ``other`` (agent-b), ``user`` and ``admin``. Each
route states what each principal gets; a route added to the app without a row here (or in
the agent/task matrix) fails the test, so no route ships without its authorization decision.

Decisions this table pins (each also documented on its route):
- a task's creator may not approve it (separation of duties) but may reject (withdraw) it;
- only a task's creator or an admin may retry it; only a run's starter or an admin may
  cancel or retry the run; only a session's creator or an admin may add turns to it;
- ``source_agent`` on a published event is the caller's own identity unless an admin sets it;
- answering an unrestricted gate is for agents and admins (seed 003: agents approve).
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from switchboard.server.app_keys import ROUTES_KEY
from tests.engine.test_separation import GATES
from tests.server.conftest import LiveApi, start_live_api
from tests.server.test_ownership_matrix import EXPECTED as AGENT_TASK_ROUTES
from tests.server.test_ownership_matrix import NOT_OWNERSHIP

PRINCIPALS = ("owner", "other", "user", "admin")
A, R = "allowed", "refused"

FAILING = """
id = "failing"
name = "Failing"
[state_schema]
out = { type = "object" }
[[steps]]
id = "fetch"
type = "tool"
tool = "http"
args = { url = "http://127.0.0.1:9/never" }
"""

SAFE_INLINE = {"name": "count", "steps": [{"name": "count", "tool": "word_count",
                                           "parameters": {"text": "one two three"}}]}


@dataclass
class Ctx:
    api: LiveApi
    http: aiohttp.ClientSession
    serial: itertools.count = field(default_factory=itertools.count)

    def headers(self, who: str) -> dict[str, str]:
        subject = {"owner": ("agent", "agent-a"), "other": ("agent", "agent-b"),
                   "user": ("user", "viewer"), "admin": ("admin", "root")}[who]
        return self.api.headers(*subject)

    async def call(self, who: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.request(method, self.api.base + path, json=body,
                                     headers=self.headers(who)) as r:
            data = await r.json() if r.content_type == "application/json" else await r.text()
            return r.status, data

    async def ok(self, method: str, path: str, body: Any = None, who: str = "owner") -> Any:
        status, data = await self.call(who, method, path, body)
        assert status < 300, (method, path, status, data)
        return data


Setup = Callable[[Ctx], Awaitable[tuple[dict[str, str], Any]]]
"""Makes a fresh object owned by ``owner``; returns (path parameters, request body)."""


@dataclass(frozen=True)
class Case:
    setup: Setup
    outcomes: dict[str, str | int]
    refused_status: int = 403


CASES: dict[tuple[str, str], Case] = {}


def case(method: str, path: str, owner: str, other: str, user: str, admin: str | int,
         refused_status: int = 403) -> Callable[[Setup], Setup]:
    def decorator(setup: Setup) -> Setup:
        CASES[(method, path)] = Case(setup, {"owner": owner, "other": other, "user": user,
                                             "admin": admin}, refused_status)
        return setup
    return decorator


def fixed(body: Any = None, **params: str) -> Setup:
    async def setup(ctx: Ctx) -> tuple[dict[str, str], Any]:
        return dict(params), body
    return setup


async def _task(ctx: Ctx, priority: str = "P2") -> dict[str, Any]:
    data = await ctx.ok("POST", "/tasks", {"type": "bugfix", "priority": priority})
    return data["task"]


async def _run(ctx: Ctx, orch: str = "gates") -> dict[str, Any]:
    return await ctx.ok("POST", f"/orchestrations/{orch}/run", {"message": "x"})


# -- creation routes: no object yet, the role decides ----------------------------------------
case("POST", "/auth/token", R, R, R, A)(fixed({"user_id": "minted", "role": "user"}))
case("POST", "/oauth/token", R, R, R, R, refused_status=401)(fixed(
    {"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "wrong"}))
case("POST", "/agents", R, R, R, A)(fixed({"name": "n", "type": "dev_agent"}))
case("POST", "/auth/revoke", R, R, R, A)(fixed({"subject": "someone-else"}))
# action links are off here: the admin gets past authorization to 404 ("links are off");
# the link's page is public (the link's token is the credential) and answers HTML
case("POST", "/approvals/{approval_id}/links", R, R, R, 404)(fixed(
    {"principal": "alice"}, approval_id="approval_x"))
case("POST", "/approvals/{approval_id}/act", 404, 404, 404, 404)(fixed(
    approval_id="approval_x"))
# no receivers configured here: the admin gets past authorization to "no such delivery"
case("POST", "/webhooks/deliveries/{delivery_id}/redeliver", R, R, R, 404)(fixed(
    delivery_id="1"))
case("POST", "/tasks", A, A, R, A)(fixed({"type": "bugfix"}))
case("POST", "/events/publish", A, A, R, A)(fixed({"event_type": "build.started"}))
case("POST", "/providers/switch", R, R, R, A)(fixed({"provider": "builtin"}))
case("POST", "/generate", A, A, R, A)(fixed({"task": "count words in a text"}))
case("POST", "/refine", A, A, R, A)(fixed({"workflow": SAFE_INLINE,
                                           "requirements": ["add a step"]}))
case("POST", "/execute", A, A, R, A)(fixed({"workflow": SAFE_INLINE}))
case("POST", "/orchestrate", A, A, R, A)(fixed({"task": "count words",
                                                "options": {"execute": False}}))
case("POST", "/compose", A, A, R, A)(fixed({"task": "count words", "mode": "plan"}))
case("POST", "/sessions", A, A, R, A)(fixed({}))
case("POST", "/orchestrations/{orch_id}/run", A, A, R, A)(fixed({"message": "x"},
                                                               orch_id="gates"))
case("POST", "/orchestrations/{orch_id}/run/stream", A, A, R, A)(fixed({"message": "x"},
                                                                      orch_id="gates"))
case("POST", "/workflows/{workflow_id}/execute", A, A, R, A)(fixed({"message": "x"},
                                                                  workflow_id="gates"))


@case("POST", "/templates/{template_id}/instantiate", A, A, A, A)
async def _template(ctx: Ctx) -> tuple[dict[str, str], Any]:
    status, data = await ctx.call("user", "GET", "/templates")
    assert status == 200, data
    first = data["templates"][0]
    values = {p["name"]: "x" for p in first["parameters"] if p.get("required")}
    return {"template_id": first["id"]}, {"parameters": values}


# -- the owner's own events: source_agent is the caller's identity ---------------------------
@case("POST", "/events/publish#as-owner", A, R, R, A)
async def _publish_as_owner(ctx: Ctx) -> tuple[dict[str, str], Any]:
    return {}, {"event_type": "build.started", "source_agent": "agent-a"}


# -- objects the owner made ------------------------------------------------------------------
@case("POST", "/tasks/{task_id}/retry", A, R, R, A)
async def _cancelled_task(ctx: Ctx) -> tuple[dict[str, str], Any]:
    task = await _task(ctx)
    await ctx.ok("POST", f"/tasks/{task['task_id']}/cancel", {"reason": "stop"})
    return {"task_id": task["task_id"]}, None


@case("POST", "/approvals/{approval_id}/approve", R, A, R, A)
async def _approval_to_approve(ctx: Ctx) -> tuple[dict[str, str], Any]:
    task = await _task(ctx, "P1")
    return {"approval_id": task["approval_id"]}, None


@case("POST", "/approvals/{approval_id}/reject", A, A, R, A)
async def _approval_to_reject(ctx: Ctx) -> tuple[dict[str, str], Any]:
    task = await _task(ctx, "P1")
    return {"approval_id": task["approval_id"]}, {"reason": "no"}


# delegation (issue 14): the requester may not pick its own approver; the set is configured
@case("POST", "/approvals/{approval_id}/reassign", R, A, R, A)
async def _approval_to_reassign(ctx: Ctx) -> tuple[dict[str, str], Any]:
    task = await _task(ctx, "P1")
    return {"approval_id": task["approval_id"]}, {"assignees": ["user:delegate"]}


@case("POST", "/orchestrations/runs/{run_id}/resume", A, A, R, A)
async def _paused_run(ctx: Ctx) -> tuple[dict[str, str], Any]:
    run = await _run(ctx)
    return {"run_id": run["run_id"]}, {"response": {"first": "yes"}}


CASES[("POST", "/orchestrations/runs/{run_id}/resume/stream")] = Case(
    _paused_run, dict(CASES[("POST", "/orchestrations/runs/{run_id}/resume")].outcomes))


@case("POST", "/orchestrations/runs/{run_id}/cancel", A, R, R, A)
async def _run_to_cancel(ctx: Ctx) -> tuple[dict[str, str], Any]:
    run = await _run(ctx)
    return {"run_id": run["run_id"]}, None


@case("POST", "/orchestrations/runs/{run_id}/retry", A, R, R, A)
async def _failed_run(ctx: Ctx) -> tuple[dict[str, str], Any]:
    run = await _run(ctx, "failing")
    assert run["status"] == "failed", run
    return {"run_id": run["run_id"]}, None


@case("POST", "/sessions/{session_id}/continue", A, R, R, A)
async def _session(ctx: Ctx) -> tuple[dict[str, str], Any]:
    session = await ctx.ok("POST", "/sessions", {})
    return {"session_id": session["session_id"]}, {"task": "count words in a text"}


@pytest.fixture
async def matrix_api(tmp_path: Path) -> Any:
    defs = tmp_path / "defs"
    defs.mkdir()
    (defs / "gates.toml").write_text(GATES)
    (defs / "failing.toml").write_text(FAILING)
    live, runner = await start_live_api(tmp_path / "data",
                                        orchestrations={"dir": str(defs), "watch": False},
                                        approvals={"delegates": ["user:delegate"]})
    try:
        yield live, [spec for spec in runner.app[ROUTES_KEY]]
    finally:
        await runner.cleanup()
        await live.engine.stop()


async def test_every_mutating_route_has_an_authorization_decision_and_keeps_it(
        matrix_api: tuple[LiveApi, list[Any]], http: aiohttp.ClientSession) -> None:
    api, specs = matrix_api
    mutating = {(s.method, s.openapi_path) for s in specs
                if s.method in ("POST", "PUT", "PATCH", "DELETE")}
    covered = ({key for key in CASES if "#" not in key[1]} | set(AGENT_TASK_ROUTES)
               | set(NOT_OWNERSHIP))
    assert mutating == covered, ("every mutating route needs a row in an authorization matrix",
                                 sorted(mutating ^ covered))
    ctx = Ctx(api, http)
    counts = {"tried": 0, "refused": 0, "allowed": 0}
    for (method, path), row in sorted(CASES.items()):
        for who in PRINCIPALS:
            params, body = await row.setup(ctx)
            url = path.split("#")[0]
            for name, value in params.items():
                url = url.replace("{" + name + "}", value)
            status, data = await ctx.call(who, method, url, body)
            outcome = A if status < 300 else R
            wanted = row.outcomes[who]
            if isinstance(wanted, int):  # passes authorization, then an exact status
                assert status == wanted, (method, path, who, status, data)
                wanted = A if status < 300 else R
            assert outcome == wanted, (method, path, who, status, data)
            if outcome == R and not isinstance(row.outcomes[who], int):
                assert status == row.refused_status, (method, path, who, status, data)
            if outcome == R and not (isinstance(data, str) and data.startswith("<!doctype")):
                assert isinstance(data, dict) and data.get("detail"), (method, path, data)
            counts["tried"] += 1
            counts[outcome] += 1
    print(f"authorization matrix: {len(CASES)} rows x {len(PRINCIPALS)} principals: {counts}")
    assert counts["tried"] == len(CASES) * len(PRINCIPALS)

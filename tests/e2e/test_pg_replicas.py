"""Two real ``switchboard serve`` replicas on one PostgreSQL database (issue 16): a task
created and claimed on one is visible on the other; when the replica that holds the
maintenance lock is SIGKILLed, the survivor takes the lock over and requeues the dead
worker's task when its lease runs out, and it is claimed again there."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests import pg
from tests.server.serveproc import ServeProcess

pytestmark = pytest.mark.slow
AGENT_KEY = "agent-key-0123456789abcdef"
ENV = {"ORCHESTRATOR_API_KEY_AGENT_KEY": f"{AGENT_KEY}:agent"}
HEADERS = {"X-API-Key": AGENT_KEY}


def _post(base: str, path: str, body: Any) -> tuple[int, Any]:
    r = requests.post(f"{base}/api/v1{path}", json=body, headers=HEADERS, timeout=10)
    return r.status_code, (r.json() if r.status_code != 204 else None)


def test_sigkill_of_the_leading_replica_moves_its_work(tmp_path: Path) -> None:
    url = pg.server().schema_url()
    config = (f'[storage]\nurl = "{url}"\n'
              "[tasks]\nlease_seconds = 2.0\nmaintenance_interval_seconds = 0.2\n")
    try:
        first = ServeProcess(tmp_path / "a", config=config, env=ENV).__enter__()
        time.sleep(1.0)  # let the first replica's maintenance loop take the lock
        second = ServeProcess(tmp_path / "b", config=config, env=ENV).__enter__()
        try:
            status, agent = _post(first.url, "/agents/register",
                                  {"name": "w", "type": "dev_agent"})
            assert status == 200, agent
            agent_id = agent["data"]["id"]
            status, created = _post(second.url, "/tasks", {"type": "bugfix"})
            assert status == 201, created
            status, claimed = _post(first.url, "/tasks/claim",
                                    {"agent_id": agent_id, "wait": 2})
            assert status == 200 and claimed["task_id"] == created["task_id"], claimed
            assert first.proc is not None
            first.proc.kill()  # SIGKILL: no shutdown, its connections just drop
            first.proc.wait()
            deadline = time.monotonic() + 20
            again: Any = None
            while time.monotonic() < deadline:
                status, again = _post(second.url, "/tasks/claim", {"agent_id": agent_id,
                                                                   "wait": 1})
                if status == 200:
                    break
            assert status == 200, "the dead replica's task was never requeued"
            assert again["task_id"] == created["task_id"]
            assert again["lease_id"] != claimed["lease_id"]
            status, done = _post(second.url, f"/tasks/{again['task_id']}/complete",
                                 {"lease_id": again["lease_id"], "result": {"ok": True}})
            assert status == 200, done
        finally:
            second.__exit__()
            first.__exit__()
    finally:
        asyncio.run(pg.server().drop_schema(url))

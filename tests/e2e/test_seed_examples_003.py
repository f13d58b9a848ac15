# ruff: noqa: E501 (the seed's curl lines are copied as printed)
"""Seed 003's examples at its base (the root: ``https://.../tasks``), as printed.

Changes besides scheme, host, port and credential placeholders: the example ids
(``task_abc123``, ``approval_123``) are the objects the examples just created. The Node.js
client needs ``axios`` and ``jsonwebtoken`` from npm; it runs where both can be imported
and is skipped (with that reason) elsewhere.

Documented differences: the engine's own event namespaces (``task.``, ``approval.``...)
are reserved, so the examples' ``publish_event("task.started", ...)`` answers 403 (the
engine emits ``task.started`` itself when the status changes); an event's
``source_agent`` is its publisher's own identity (the event curl runs with ops_agent's
token); and seed 003's token curl mints a JWT without any credential ("requires
ORCHESTRATOR_JWT_SECRET" on the server). Here an unauthenticated caller can never
mint a token, so that line answers 401 and only an admin may call it; the seed's own
``create_token`` (signing with the shared secret, as its Python example does) is the way
for agents, and is exercised below.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import jwt
import pytest
import requests

from tests.e2e.seed_examples import ENV, KEYS, run_curl, with_server
from tests.server.serveproc import SECRET, ServeProcess
from tests.server.test_seed_clients import OrchestratorClient

pytestmark = pytest.mark.slow

HOST = "https://morningai-orchestrator-api.onrender.com"

TOKEN_CURL = """
# Create a JWT token (requires ORCHESTRATOR_JWT_SECRET)
curl -X POST https://morningai-orchestrator-api.onrender.com/auth/token \\
  -H "Content-Type: application/json" \\
  -d '{"user_id": "your-user-id", "role": "agent"}'

# Use the token
curl -H "Authorization: Bearer YOUR_JWT_TOKEN" \\
  https://morningai-orchestrator-api.onrender.com/tasks
"""

API_KEY_AND_HEALTH = """
curl -H "X-API-Key: YOUR_API_KEY" \\
  https://morningai-orchestrator-api.onrender.com/tasks
curl https://morningai-orchestrator-api.onrender.com/health
"""

TASK_CURLS = """
curl -X POST https://morningai-orchestrator-api.onrender.com/tasks \\
  -H "Authorization: Bearer YOUR_TOKEN" \\
  -H "Content-Type: application/json" \\
  -d '{
    "type": "bugfix",
    "payload": {"issue": "123"},
    "priority": "P2"
  }'
curl -H "Authorization: Bearer YOUR_TOKEN" \\
  https://morningai-orchestrator-api.onrender.com/tasks/task_abc123
curl -X PATCH "https://morningai-orchestrator-api.onrender.com/tasks/task_abc123/status?status=completed" \\
  -H "Authorization: Bearer YOUR_TOKEN"
"""

EVENT_CURL = """
curl -X POST https://morningai-orchestrator-api.onrender.com/events/publish \\
  -H "Authorization: Bearer YOUR_TOKEN" \\
  -H "Content-Type: application/json" \\
  -d '{
    "event_type": "deployment.completed",
    "source_agent": "ops_agent",
    "payload": {"service": "api-backend"}
  }'
"""

APPROVAL_CURLS = """
curl -H "Authorization: Bearer YOUR_TOKEN" \\
  https://morningai-orchestrator-api.onrender.com/approvals/pending
curl -X POST https://morningai-orchestrator-api.onrender.com/approvals/approval_123/approve \\
  -H "Authorization: Bearer YOUR_TOKEN"
curl -X POST "https://morningai-orchestrator-api.onrender.com/approvals/approval_456/reject?reason=Security+concerns" \\
  -H "Authorization: Bearer YOUR_TOKEN"
curl https://morningai-orchestrator-api.onrender.com/stats
"""


def create_token(user_id: str, role: str, secret: str) -> str:
    """Seed 003's "Creating JWT Tokens" Python example, verbatim."""
    payload = {
        "sub": user_id,
        "role": role,
        "exp": datetime.now(timezone.utc) + timedelta(hours=24),  # noqa: UP017 (as printed)
        "iat": datetime.now(timezone.utc)  # noqa: UP017
    }
    return jwt.encode(payload, secret, algorithm="HS256")


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    with ServeProcess(tmp_path_factory.mktemp("seed003"), env=ENV) as srv:
        yield srv


def test_authentication_examples(serve: ServeProcess) -> None:
    token = create_token("dev-agent-1", "agent", SECRET)
    refused, tasks = run_curl(with_server(TOKEN_CURL, HOST, serve.url)
                              .replace("YOUR_JWT_TOKEN", token))
    assert "authentication required" in refused["detail"], refused  # see the module doc
    assert "data" in tasks and "pagination" in tasks
    listing, health = run_curl(with_server(API_KEY_AND_HEALTH, HOST, serve.url)
                               .replace("YOUR_API_KEY", KEYS["user"]))
    assert "data" in listing
    assert health["status"] == "healthy" and set(health["queue_stats"]) >= {
        "pending_tasks", "processing_tasks", "total_tasks"}
    admin = requests.post(f"{serve.url}/auth/token", timeout=10, json={
        "user_id": "your-user-id", "role": "agent"},
        headers={"Authorization": f"Bearer {KEYS['admin']}"})
    assert admin.status_code == 200 and admin.json()["access_token"]


def test_task_and_event_curls(serve: ServeProcess) -> None:
    token = create_token("dev-agent-1", "agent", SECRET)
    script = with_server(TASK_CURLS, HOST, serve.url).replace("YOUR_TOKEN", token)
    first, rest = script.split("curl -H", 1)
    (created,) = run_curl(first)
    assert created["success"] and created["task"]["status"] == "assigned", created
    assert created["message"] == f"Task created and assigned to {created['task']['assigned_agent']}"
    # the PATCH example completes a task its caller is working on: take it first (a task
    # still queued for a worker cannot jump to completed)
    moved = requests.patch(f"{serve.url}/tasks/{created['task_id']}/status?status=in_progress",
                           headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert moved.status_code == 200, moved.text
    got, patched = run_curl(("curl -H" + rest).replace("task_abc123", created["task_id"]))
    # the event example publishes as ops_agent: the token is ops_agent's (a source is the
    # publisher's own identity unless an admin publishes for another)
    (published,) = run_curl(with_server(EVENT_CURL, HOST, serve.url).replace(
        "YOUR_TOKEN", create_token("ops_agent", "agent", SECRET)))
    assert got["task"]["task_id"] == created["task_id"] and got["task"]["priority"] == "P2"
    assert patched == {"success": True, "task_id": created["task_id"], "status": "completed"}
    assert published.get("success") and published["event_type"] == "deployment.completed", \
        published


def test_approval_curls(serve: ServeProcess) -> None:
    creator = OrchestratorClient(serve.url, SECRET, "ops-agent-1")
    first = creator.create_task("deployment", {"service": "api"}, "P0")["task"]
    second = creator.create_task("deployment", {"service": "web"}, "P1")["task"]
    reviewer = create_token("ops-lead", "agent", SECRET)  # not the creator: may approve
    script = (with_server(APPROVAL_CURLS, HOST, serve.url).replace("YOUR_TOKEN", reviewer)
              .replace("approval_123", first["approval_id"])
              .replace("approval_456", second["approval_id"]))
    pending, approved, rejected, stats = run_curl(script)
    assert pending["count"] >= 2 and {first["approval_id"], second["approval_id"]} <= {
        a["approval_id"] for a in pending["approvals"]}
    assert approved == {**approved, "success": True, "approval_id": first["approval_id"]}
    assert rejected["message"].startswith("Rejected by"), rejected
    assert stats["queue"]["total_tasks"] >= 2 and stats["timestamp"]
    history = requests.get(f"{serve.url}/approvals/history?limit=10", timeout=10,
                           headers={"Authorization": f"Bearer {reviewer}"}).json()
    assert history["count"] >= 2
    one = requests.get(f"{serve.url}/approvals/{first['approval_id']}", timeout=10,
                       headers={"Authorization": f"Bearer {reviewer}"}).json()
    assert one["approval"]["status"] == "approved" and one["approval"]["approved_by"]


def test_python_agent_integration_usage(serve: ServeProcess) -> None:
    """The "Usage" block of seed 003's ``OrchestratorClient``, with the seed's base URL."""
    client = OrchestratorClient(
        base_url=serve.url,
        secret=SECRET,
        agent_id="dev-agent-1"
    )
    task = client.create_task("bugfix", {"issue": "123"}, "P2")
    assert task["task_id"].startswith("task_")
    client.update_task_status(task['task_id'], "in_progress")
    # task.* is the engine's own namespace: it emitted task.started on the status change,
    # and an agent may not publish into it (403, a documented difference)
    with pytest.raises(requests.HTTPError) as refused:
        client.publish_event("task.started", {"task_id": task['task_id']})
    assert refused.value.response.status_code == 403
    assert "reserved" in refused.value.response.json()["detail"]
    assert client.get_task(task["task_id"])["task"]["status"] == "in_progress"
    events = requests.get(f"{serve.url}/api/v1/events?task_id={task['task_id']}", timeout=10,
                          headers=client._headers()).json()
    assert "task.started" in [e["event_type"] for e in events["data"]]


def test_best_practice_helpers(serve: ServeProcess) -> None:
    """"Monitor Queue Depth", "Use Trace IDs" and the retry helper, at the seed's base."""
    stats = requests.get(f"{serve.url}/stats", timeout=10).json()
    assert isinstance(stats["queue"]["pending_tasks"], int)
    headers = {"Authorization": f"Bearer {create_token('dev-agent-1', 'agent', SECRET)}"}
    trace_id = str(uuid.uuid4())
    response = requests.post(f"{serve.url}/tasks", headers=headers, timeout=10, json={
        "type": "bugfix", "payload": {"issue": "123"}, "metadata": {"trace_id": trace_id}})
    assert response.status_code == 201
    published = requests.post(f"{serve.url}/events/publish", headers=headers, timeout=10,
                              json={"event_type": "task.started", "source_agent": "dev_agent",
                                    "trace_id": trace_id})
    assert published.status_code == 403, published.text  # task.* is reserved (see above)
    retry = requests.get(f"{serve.url}/tasks", headers=headers, timeout=10)
    assert retry.status_code == 200


def test_nodejs_agent_integration(serve: ServeProcess) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    probe = subprocess.run([node, "-e", "require('axios'); require('jsonwebtoken')"],
                           capture_output=True, text=True, timeout=30, check=False)
    if probe.returncode != 0:
        pytest.skip("seed 003's Node.js client needs axios and jsonwebtoken from npm")

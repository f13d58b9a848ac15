"""The seeds' own client code, run unchanged against a real server (base URL swapped)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import jwt
import requests

from tests.server.conftest import SECRET, LiveApi


class OrchestratorClient:
    """Seed 003's "Python Agent Integration" class, verbatim apart from formatting."""

    def __init__(self, base_url, secret, agent_id, role="agent"):
        self.base_url = base_url
        self.secret = secret
        self.agent_id = agent_id
        self.role = role
        self.token = self._create_token()

    def _create_token(self):
        payload = {
            "sub": self.agent_id,
            "role": self.role,
            "exp": datetime.now(UTC) + timedelta(hours=24),
            "iat": datetime.now(UTC),
        }
        return jwt.encode(payload, self.secret, algorithm="HS256")

    def _headers(self):
        return {"Authorization": f"Bearer {self.token}"}

    def create_task(self, task_type, payload, priority="P2"):
        response = requests.post(f"{self.base_url}/tasks", headers=self._headers(),
                                 json={"type": task_type, "payload": payload,
                                       "priority": priority}, timeout=10)
        response.raise_for_status()
        return response.json()

    def get_task(self, task_id):
        response = requests.get(f"{self.base_url}/tasks/{task_id}", headers=self._headers(),
                                timeout=10)
        response.raise_for_status()
        return response.json()

    def update_task_status(self, task_id, status, error=None):
        params = {"status": status}
        if error:
            params["error"] = error
        response = requests.patch(f"{self.base_url}/tasks/{task_id}/status",
                                  headers=self._headers(), params=params, timeout=10)
        response.raise_for_status()
        return response.json()

    def publish_event(self, event_type, payload, task_id=None):
        response = requests.post(f"{self.base_url}/events/publish", headers=self._headers(),
                                 json={"event_type": event_type, "source_agent": self.agent_id,
                                       "payload": payload, "task_id": task_id}, timeout=10)
        response.raise_for_status()
        return response.json()


def seed003_flow(base: str) -> dict:
    client = OrchestratorClient(base_url=base, secret=SECRET, agent_id="dev-agent-1")
    task = client.create_task("bugfix", {"issue": "123"}, "P2")
    assert task["task"]["status"] == "assigned"
    assert task["message"] == "Task created and assigned to dev_agent"
    client.update_task_status(task["task_id"], "in_progress")
    assert client.get_task(task["task_id"])["task"]["status"] == "in_progress"
    # task.* is the engine's own namespace (it emitted task.started on the status change):
    # the seed's example publish is refused with 403; the agent's own namespace is fine
    refused = requests.post(f"{base}/events/publish", headers=client._headers(), timeout=10,
                            json={"event_type": "task.started", "source_agent": "dev-agent-1"})
    assert refused.status_code == 403 and "reserved 'task.'" in refused.json()["detail"]
    published = client.publish_event("build.started", {"task_id": task["task_id"]})
    assert published == {"success": True, "event_type": "build.started",
                         "message": "Event published successfully", "seq": published["seq"]}
    client.update_task_status(task["task_id"], "completed")
    # P1 -> approval pending -> approve -> assigned
    p1 = client.create_task("deployment", {"service": "api-backend"}, "P1")
    assert p1["task"]["status"] == "awaiting_approval"
    headers = client._headers()
    pending = requests.get(f"{base}/approvals/pending", headers=headers, timeout=10).json()
    approval_id = pending["approvals"][0]["approval_id"]
    refused = requests.post(f"{base}/approvals/{approval_id}/approve", headers=headers,
                            timeout=10)
    assert refused.status_code == 403  # its creator cannot approve it (issue 9)
    # another agent principal approves it (seed 003's "Approved by agent-user")
    reviewer = OrchestratorClient(base_url=base, secret=SECRET, agent_id="agent-user")
    approved = requests.post(f"{base}/approvals/{approval_id}/approve",
                             headers=reviewer._headers(), timeout=10).json()
    assert approved["message"] == "Approved by agent-user"
    assert client.get_task(p1["task_id"])["task"]["status"] == "assigned"
    stats = requests.get(base.removesuffix("/api/v1") + "/stats", timeout=10).json()
    history = requests.get(f"{base}/approvals/history", headers=headers, timeout=10).json()
    return {"stats": stats, "history": history}


async def test_seed003_orchestrator_client(api: LiveApi) -> None:
    result = await asyncio.to_thread(seed003_flow, api.base)
    assert result["stats"]["queue"]["total_tasks"] == 2
    assert result["history"]["count"] == 1
    assert result["history"]["history"][0]["approved_by"] == "agent-user"


def seed003_retry_helper(base: str, token: str) -> int:
    """Seed 003's make_request_with_retry reads X-RateLimit-Reset on 429."""
    response = requests.get(f"{base}/tasks", headers={"Authorization": f"Bearer {token}"},
                            timeout=10)
    assert "X-RateLimit-Limit" not in response.headers  # limits are off in this server
    return response.status_code


def seed001_curl_flow(base: str, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    agents = requests.get(f"{base}/agents?status=active", headers=headers, timeout=10)
    assert agents.status_code == 200 and "pagination" in agents.json()
    agent = requests.post(f"{base}/agents", headers=headers, timeout=10, json={
        "name": "Data Processing Agent", "type": "data_processor",
        "configuration": {"max_concurrent_tasks": 10, "timeout": 300, "retry_attempts": 3},
        "environment": "production"}).json()["data"]
    task = requests.post(f"{base}/tasks", headers=headers, timeout=10, json={
        "agent_id": agent["id"], "type": "data_processing", "priority": "medium",
        "payload": {"source": "database", "query": "SELECT * FROM users WHERE active = true",
                    "output_format": "json"},
        "schedule": {"type": "immediate"}})
    assert task.status_code == 201, task.text
    task_id = task.json()["task_id"]
    status = requests.get(f"{base}/tasks/{task_id}", headers=headers, timeout=10).json()
    assert status["data"]["status"] in ("pending", "assigned", "running", "in_progress")
    assert status["data"]["agent_id"] == agent["id"]
    listing = requests.get(f"{base}/tasks?agent_id={agent['id']}&priority=medium",
                           headers=headers, timeout=10).json()
    assert listing["pagination"]["total"] == 1


async def test_seed001_curl_examples(api: LiveApi) -> None:
    await asyncio.to_thread(seed001_curl_flow, api.base, api.token("admin"))
    assert await asyncio.to_thread(seed003_retry_helper, api.base, api.token("user")) == 200

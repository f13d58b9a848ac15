"""Seed 001's examples at its base (``/v1``, and ``/oauth/token`` at the root), as printed.

The JavaScript SDK example runs in ``test_js_sdk.py``. Changes besides scheme, host, port
and credential placeholders, each because the seed's text cannot run as printed:

- curl "Create task": the body's JSON is not closed and spells ``"agent id": "agent 123"``
  (its schema and both SDK examples say ``agent_id`` / ``agent_123``); "Get task status"
  asks for ``task_789``, here the task the example just created;
- Python SDK: ``api key=`` / ``base url=`` are not Python (``api_key`` / ``base_url``), and
  the loop calls ``time.sleep`` without ``import time``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.seed_examples import ENV, KEYS, Worker, make_agent, run_curl, with_server
from tests.server.serveproc import ServeProcess

pytestmark = pytest.mark.slow

HOST = "https://api.agent-orchestration-ops.com"
OAUTH_CLIENT = """
[[auth.oauth_clients]]
client_id = "your_client_id"
client_secret = "your_client_secret"
role = "agent"
"""

AUTH_CURL = """
# Include API key in header
curl -H "Authorization: Bearer YOUR_API_KEY" \\
    -H "Content-Type: application/json" \\
    https://api.agent-orchestration-ops.com/v1/agents
"""

OAUTH_CURL = """
# Get access token
curl -X POST https://api.agent-orchestration-ops.com/oauth/token \\
    -H "Content-Type: application/json" \\
    -d '{
        "grant_type": "client_credentials",
        "client_id": "your_client_id",
        "client_secret": "your_client_secret"
    }'
"""

USE_TOKEN_CURL = """
# Use access token
curl -H "Authorization: Bearer ACCESS_TOKEN" \\
    https://api.agent-orchestration-ops.com/v1/agents
"""

CURL_EXAMPLES = """
# List agents
curl -H "Authorization: Bearer YOUR API KEY" \\
     "https://api.agent-orchestration-ops.com/v1/agents?status=active"
# Create task
curl -X POST \\
     -H "Authorization: Bearer YOUR API KEY" \\
     -H "Content-Type: application/json" \\
     -d '{
       "agent_id": "agent_123",
       "type": "data_processing",
       "payload": {"source": "database"},
       "priority": "medium"
     }' \\
     "https://api.agent-orchestration-ops.com/v1/tasks"
"""

GET_TASK_CURL = """
# Get task status
curl -H "Authorization: Bearer YOUR API KEY" \\
     "https://api.agent-orchestration-ops.com/v1/tasks/task_789"
"""

PYTHON_SDK = """
import time
from agent_orchestration import Client
# Initialize client
client = Client(
    api_key='YOUR API KEY',
    base_url='https://api.agent-orchestration-ops.com/v1'
)
# List agents
agents = client.agents.list(status='active')
print(f"Found {len(agents)} active agents")
# Create task
task = client.tasks.create(
    agent_id='agent_123',
    type='data_processing',
    payload={'source': 'database'},
    priority='medium'
)
# Monitor task progress
while task.status in ['pending', 'running']:
    task = client.tasks.get(task.id)
    print(f"Task progress: {task.progress}%")
    time.sleep(5)
print(f"Task completed with result: {task.result}")
"""


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    with ServeProcess(tmp_path_factory.mktemp("seed001"), env=ENV, config=OAUTH_CLIENT) as srv:
        make_agent(f"{srv.url}/api/v1", "agent_123")
        yield srv


def test_authentication_examples(serve: ServeProcess) -> None:
    key = KEYS["agent"]
    (agents,) = run_curl(with_server(AUTH_CURL, HOST, serve.url).replace("YOUR_API_KEY", key))
    assert [a["id"] for a in agents["data"]] == ["agent_123"]
    (token,) = run_curl(with_server(OAUTH_CURL, HOST, serve.url))
    assert token["token_type"] == "bearer" and token["expires_in"] > 0, token
    (agents,) = run_curl(with_server(USE_TOKEN_CURL, HOST, serve.url)
                         .replace("ACCESS_TOKEN", token["access_token"]))
    assert agents["pagination"]["total"] == 1


def test_curl_examples(serve: ServeProcess) -> None:
    key = KEYS["agent"]
    listing, created = run_curl(with_server(CURL_EXAMPLES, HOST, serve.url)
                                .replace("YOUR API KEY", key))
    assert [a["status"] for a in listing["data"]] == ["active"]
    task = created["data"]
    assert (task["agent_id"], task["type"], task["priority"], task["status"]) == (
        "agent_123", "data_processing", "medium", "pending")
    (got,) = run_curl(with_server(GET_TASK_CURL, HOST, serve.url)
                      .replace("YOUR API KEY", key).replace("task_789", task["id"]))
    assert got["data"]["id"] == task["id"] and got["data"]["status"] == "pending"
    assert got["data"]["progress"] == 0 and got["data"]["logs"] == []
    # the seed's filters: ?status=pending shows the queued task
    pending = requests.get(f"{serve.url}/v1/tasks?status=pending&priority=medium",
                           headers={"Authorization": f"Bearer {key}"}, timeout=10).json()
    assert task["id"] in [t["id"] for t in pending["data"]]
    _cancel(serve, task["id"])


def _cancel(serve: ServeProcess, task_id: str) -> None:
    """Out of the way of the next example's worker."""
    done = requests.post(f"{serve.url}/api/v1/tasks/{task_id}/cancel", timeout=10,
                         headers={"Authorization": f"Bearer {KEYS['admin']}"})
    assert done.status_code == 200, done.text


def test_python_sdk_example(serve: ServeProcess, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(with_server(PYTHON_SDK, HOST, serve.url)
                      .replace("'YOUR API KEY'", repr(KEYS["agent"])), encoding="utf-8")
    worker = Worker(f"{serve.url}/api/v1", "agent_123",
                    {"records_processed": 1000, "success": True}, delay=1.0)
    worker.start()
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, check=False, cwd=tmp_path)
    worker.join(timeout=60)
    assert worker.error is None, f"worker: {worker.error!r}\n{done.stdout}{done.stderr}"
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Found 1 active agents", done.stdout
    assert all(line.startswith("Task progress: ") for line in lines[1:-1]), done.stdout
    assert lines[-2] == "Task progress: 100%", done.stdout
    assert lines[-1] == ("Task completed with result: {'records_processed': 1000, "
                         "'success': True}"), done.stdout

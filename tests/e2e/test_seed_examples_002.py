"""Seed 002's examples at its base (the root: ``http://localhost:8001/generate``), as printed.

The Python client is ``tests/server/seed002_client.py`` (the seed's class verbatim, plus the
``import json`` it forgets) and its "Multi-Provider Workflow" with the seed's base URL; the
TypeScript client runs on Node as JavaScript (types removed) from
``tests/server/test_providers_api.py``. Here they all talk to the root, as the seed's
``OrchestrationClient("http://localhost:8001", api_key)`` does.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.seed_examples import ENV, KEYS, run_curl, with_server
from tests.server.seed002_client import OrchestrationClient, create_comprehensive_deployment
from tests.server.serveproc import ServeProcess
from tests.server.test_providers_api import TS_CLIENT_AS_JS

pytestmark = pytest.mark.slow

HOST = "http://localhost:8001"

AUTH_CURL = """
curl -X POST http://localhost:8001/generate \\
-H "Authorization: Bearer $API_KEY " \\
-H "Content-Type: application/json" \\
-d '{"task": "Deploy to staging"}'
"""


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    with ServeProcess(tmp_path_factory.mktemp("seed002"), env=ENV, sync_wait=30.0) as srv:
        yield srv


def test_authentication_curl(serve: ServeProcess) -> None:
    (generated,) = run_curl(with_server(AUTH_CURL, HOST, serve.url),
                            env={"API_KEY": KEYS["agent"]})
    assert generated["workflow"]["steps"], generated
    assert generated["validation"]["valid"] is True
    assert generated["metadata"]["provider"]


def test_the_documented_paths_answer_at_the_root(serve: ServeProcess) -> None:
    headers = {"Authorization": f"Bearer {KEYS['agent']}"}
    providers = requests.get(f"{serve.url}/providers", headers=headers, timeout=10).json()
    assert {"adk", "mcp"} <= set(providers["providers"]) and providers["default"]
    templates = requests.get(f"{serve.url}/templates", headers=headers, timeout=10)
    assert templates.status_code == 200
    session = requests.post(f"{serve.url}/sessions", headers=headers, timeout=10, json={
        "context": {"project": "microservices-deployment", "environment": "production"},
        "preferences": {"provider": "builtin", "streaming": True}}).json()
    assert session["session_id"].startswith("sess_")
    composed = requests.post(f"{serve.url}/compose", headers=headers, timeout=30,
                             json={"task": "Deploy the api with monitoring"})
    assert composed.status_code == 200, composed.text
    bad = requests.post(f"{serve.url}/generate", headers=headers, timeout=10, json={})
    assert bad.status_code == 400 and "task" in bad.json()["detail"]


def test_python_client_multi_provider_workflow(serve: ServeProcess,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(create_comprehensive_deployment(serve.url, KEYS["agent"]))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "🚀 Starting deployment..."
    assert lines[-1] == "🎉 Deployment complete! Status: success"
    assert not [line for line in lines if line.startswith("❌")]
    refined = asyncio.run(OrchestrationClient(serve.url, KEYS["agent"]).refine_workflow(
        {"name": "deploy-app", "steps": [{"name": "a", "tool": "current_time"}]},
        ["Include rollback strategy"]))
    assert refined["workflow"]["steps"][-1]["id"] == "rollback"


def test_typescript_client_on_node(serve: ServeProcess, tmp_path: Path) -> None:
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    script = tmp_path / "client.mjs"
    script.write_text(TS_CLIENT_AS_JS, encoding="utf-8")
    done = subprocess.run(["node", str(script), serve.url, KEYS["agent"], KEYS["admin"]],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["switched"]["success"] is True, result["switched"]
    assert result["events"][-1]["status"] == "success", result["events"][-1]

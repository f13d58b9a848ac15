"""Seed 001's JavaScript SDK (``sdk/js``) against a real ``switchboard serve``.

Two parts: the SDK's own ``node --test`` suite (agents, tasks, ``tasks.watch`` over SSE and,
where the runtime has a WebSocket, over WebSocket), and the seed's JavaScript example run as
the seed prints it, with only the base URL's scheme, host and port changed (and the API key
placeholder filled in). A worker (here,
in Python over HTTP) takes the example's task and completes it, so the example's watch sees
progress and the final result and the script ends by itself.

Node is on developer and CI machines; where it is missing the test skips with one line,
except under CI (``CI`` set), where a missing Node fails instead of skipping.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.server.serveproc import ServeProcess

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / "sdk" / "js"
KEYS = {role: f"js-sdk-{role}-key-0123456789" for role in ("admin", "agent", "user")}
# The example's apiKey is a placeholder for the reader's key: the server refuses keys shorter
# than 16 characters ([auth] api_keys), so it is the one thing besides the base URL's scheme,
# host and port that the test fills in.
SEED_PLACEHOLDER = "'YOUR API KEY'"
SEED_KEY = "js-sdk-seed-example-key"
SEED_HOST = "https://api.agent-orchestration-ops.com"
# The example's base path: seed 001's own (/v1, its dialect), as the seed prints it.
SEED_BASE_PATH = "/v1"
NODE_TIMEOUT = 240


def _node() -> tuple[str, int]:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is not installed, and CI must run the JavaScript SDK tests")
        pytest.skip("node is not installed: the JavaScript SDK tests need Node 18+")
    version = subprocess.run([node, "--version"], capture_output=True, text=True,
                             check=True).stdout.strip()
    major = int(version.lstrip("v").split(".")[0])
    if major < 18:
        pytest.fail(f"node {version} is too old: the SDK needs Node 18+ (global fetch)")
    return node, major


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    env = {f"ORCHESTRATOR_API_KEY_JS_{role.upper()}": f"{key}:{role}"
           for role, key in KEYS.items()}
    env["ORCHESTRATOR_API_KEY_SEED_EXAMPLE"] = f"{SEED_KEY}:agent"
    with ServeProcess(tmp_path_factory.mktemp("js-sdk"), env=env) as srv:
        yield srv


def _run_node(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=NODE_TIMEOUT, check=False)


def _node_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NODE_")}
    return env | extra


@pytest.mark.parametrize("dialect", ["seed001", "canonical"])
def test_sdk_suite(serve: ServeProcess, dialect: str) -> None:
    """``node --test`` over the SDK's tests, against seed 001's base (``/v1``, its words)
    and the canonical API; on Node 20 a second run with ``--experimental-websocket``
    exercises the WebSocket transport as Node 22 would."""
    node, _ = _node()
    files = sorted(str(p.relative_to(SDK)) for p in (SDK / "test").glob("*.test.js"))
    assert files, "no SDK test files found"
    env = _node_env(SB_BASE_URL=f"{serve.url}/api/v1", SB_ADMIN_KEY=KEYS["admin"],
                    SB_AGENT_KEY=KEYS["agent"], SB_USER_KEY=KEYS["user"])
    if dialect == "seed001":  # the worker in the tests stays on the canonical API
        env |= {"SB_BASE_URL": f"{serve.url}/v1", "SB_API_URL": f"{serve.url}/api/v1",
                "SB_DIALECT": "seed001"}
    runs = [[node, "--test", *files]]
    websocket = _has_websocket(node)
    if not websocket and _has_websocket(node, "--experimental-websocket"):
        runs.append([node, "--experimental-websocket", "--no-warnings", "--test", *files])
        websocket = True
    output = ""
    for args in runs:
        done = _run_node(args, env, SDK)
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"{' '.join(args[:-len(files)])} failed:\n{output[-6000:]}"
        passed = re.search(r"^(?:#|ℹ) pass (\d+)$", output, re.MULTILINE)
        failed = re.search(r"^(?:#|ℹ) fail (\d+)$", output, re.MULTILINE)
        assert passed and int(passed.group(1)) > 0, output[-3000:]
        assert failed and int(failed.group(1)) == 0, output[-3000:]
    skipped = re.search(r"^(?:#|ℹ) skipped (\d+)$", output, re.MULTILINE)
    if websocket:  # the last run had a WebSocket (22+: global; 20: the flag): no skips
        assert skipped and int(skipped.group(1)) == 0, output[-3000:]


def _has_websocket(node: str, *flags: str) -> bool:
    probe = subprocess.run([node, *flags, "--no-warnings", "-e",
                            "process.exit(typeof WebSocket === 'function' ? 0 : 1)"],
                           capture_output=True, text=True, timeout=30, check=False)
    return probe.returncode == 0


class _SeedWorker(threading.Thread):
    """agent_123's worker: claims the example's task, reports 50%, completes it."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.headers = {"Authorization": f"Bearer {KEYS['agent']}"}
        self.error: BaseException | None = None
        self.task: dict[str, Any] | None = None

    def run(self) -> None:
        try:
            claim = requests.post(f"{self.url}/tasks/claim", headers=self.headers, timeout=60,
                                  json={"agent_id": "agent_123", "wait": 30})
            assert claim.status_code == 200, claim.text
            task = self.task = claim.json()["task"]
            lease = {"lease_id": task["lease_id"]}
            progress = requests.post(f"{self.url}/tasks/{task['id']}/progress", timeout=10,
                                     headers=self.headers, json={"progress": 50, **lease})
            assert progress.status_code == 200, progress.text
            done = requests.post(f"{self.url}/tasks/{task['id']}/complete", timeout=10,
                                 headers=self.headers,
                                 json={"result": {"records_processed": 1000, "success": True},
                                       **lease})
            assert done.status_code == 200, done.text
        except BaseException as exc:  # reported by the test
            self.error = exc


def test_seed_example_runs_unchanged(serve: ServeProcess, tmp_path: Path) -> None:
    node, _ = _node()
    api = f"{serve.url}/api/v1"
    admin = {"Authorization": f"Bearer {KEYS['admin']}"}
    created = requests.post(f"{api}/agents", headers=admin, timeout=10, json={
        "id": "agent_123", "name": "Data Processing Agent", "type": "data_processor"})
    assert created.status_code == 201, created.text
    agent = {"Authorization": f"Bearer {KEYS['agent']}"}
    beat = requests.post(f"{api}/agents/agent_123/heartbeat", headers=agent, timeout=10)
    assert beat.status_code == 200, beat.text  # binds agent_123 to the worker; now active

    source = (SDK / "examples" / "seed-001.mjs").read_text(encoding="utf-8")
    assert source.count(SEED_HOST + "/v1") == 1
    assert source.count(SEED_PLACEHOLDER) == 1
    script = (source.replace(SEED_HOST + "/v1", serve.url + SEED_BASE_PATH)
              .replace(SEED_PLACEHOLDER, repr(SEED_KEY)))
    (tmp_path / "example.mjs").write_text(script, encoding="utf-8")
    package = tmp_path / "node_modules" / "@agent-orchestration"
    package.mkdir(parents=True)
    (package / "sdk").symlink_to(SDK, target_is_directory=True)

    worker = _SeedWorker(api)
    worker.start()
    done = _run_node([node, "example.mjs"], _node_env(), tmp_path)
    worker.join(timeout=60)
    assert worker.error is None, f"worker: {worker.error!r}\nnode: {done.stdout}{done.stderr}"
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    active = requests.get(f"{api}/agents?status=active", headers=agent, timeout=10).json()
    assert any(a["id"] == "agent_123" for a in active["data"])
    assert lines[0] == f"Found {len(active['data'])} active agents", done.stdout
    progress = [line for line in lines if line.startswith("Task progress: ")]
    # how many intermediate states the watch sees depends on timing; the last is certain
    assert progress and all(re.fullmatch(r"Task progress: \d+%", p) for p in progress)
    assert lines[-2] == "Task progress: 100%", done.stdout
    assert lines[-1] == "Task completed: { records_processed: 1000, success: true }", done.stdout
    assert done.stderr == "", done.stderr
    task = requests.get(f"{api}/tasks/{worker.task['id']}", headers=agent, timeout=10).json()
    assert task["task"]["status"] == "completed"
    assert task["task"]["agent_id"] == "agent_123"

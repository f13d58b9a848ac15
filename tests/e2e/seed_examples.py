"""Running the seeds' own examples against ``switchboard serve`` on 127.0.0.1.

Each ``test_seed_examples_<seed>.py`` copies its seed's curl, Python and JavaScript lines as
the seed prints them. The only changes a reader would make are the scheme, host and port
of the base URL (``HOSTS`` maps each seed's host to the server's) and the credential
placeholders (keys shorter than 16 characters are refused by the server). Any other change
is named where it is made, with the reason (a seed's typo that is not valid shell or
Python).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from typing import Any

import pytest
import requests

KEYS = {role: f"seed-examples-{role}-key-0123456789" for role in ("admin", "agent", "user")}
ENV = {f"ORCHESTRATOR_API_KEY_SEED_{role.upper()}": f"{key}:{role}" for role, key in KEYS.items()}


def with_server(text: str, seed_host: str, url: str) -> str:
    """The seed's text with its host (scheme, host, port) replaced by the server's."""
    assert seed_host in text, f"{seed_host} is not in the example"
    return text.replace(seed_host, url)


def run_curl(script: str, env: dict[str, str] | None = None) -> list[Any]:
    """Run a block of the seed's curl lines with bash; each command's JSON answer, in order.

    ``-s`` and a newline after each answer are added so the answers can be told apart
    (``curl`` prints nothing between them)."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    script = script.replace("curl ", "curl -s -w '\\n' ")
    done = subprocess.run(["bash", "-e", "-c", script], capture_output=True, text=True,
                          timeout=60, check=False, env={"PATH": "/usr/bin:/bin", **(env or {})})
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


class Worker(threading.Thread):
    """An agent's worker on the canonical API: claims one task of ``agent_id``, reports
    50 %, then completes it with ``result``."""

    def __init__(self, api: str, agent_id: str, result: Any, delay: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.api = api
        self.agent_id = agent_id
        self.result = result
        self.delay = delay
        self.headers = {"Authorization": f"Bearer {KEYS['agent']}"}
        self.error: BaseException | None = None
        self.task: dict[str, Any] | None = None

    def run(self) -> None:
        try:
            claim = requests.post(f"{self.api}/tasks/claim", headers=self.headers, timeout=60,
                                  json={"agent_id": self.agent_id, "wait": 30})
            assert claim.status_code == 200, claim.text
            task = self.task = claim.json()["task"]
            lease = {"lease_id": task["lease_id"]}
            threading.Event().wait(self.delay)
            progress = requests.post(f"{self.api}/tasks/{task['id']}/progress", timeout=10,
                                     headers=self.headers, json={"progress": 50, **lease})
            assert progress.status_code == 200, progress.text
            threading.Event().wait(self.delay)
            done = requests.post(f"{self.api}/tasks/{task['id']}/complete", timeout=10,
                                 headers=self.headers, json={"result": self.result, **lease})
            assert done.status_code == 200, done.text
        except BaseException as exc:  # reported by the test
            self.error = exc


def make_agent(api: str, agent_id: str, agent_type: str = "data_processor") -> None:
    """An active agent (created by an admin, then a heartbeat from its worker)."""
    admin = {"Authorization": f"Bearer {KEYS['admin']}"}
    created = requests.post(f"{api}/agents", headers=admin, timeout=10, json={
        "id": agent_id, "name": "Data Processing Agent", "type": agent_type})
    assert created.status_code == 201, created.text
    agent = {"Authorization": f"Bearer {KEYS['agent']}"}
    beat = requests.post(f"{api}/agents/{agent_id}/heartbeat", headers=agent, timeout=10)
    assert beat.status_code == 200, beat.text

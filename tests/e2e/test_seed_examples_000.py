"""Seed 000's examples at its base (``/api/v1``), as printed, against the shipped
``orch-research-report`` (examples/orchestrations/research-report.toml).

Changes besides scheme, host, port and the key placeholder: the seed prints its Python
example without indentation (restored here, as Python needs it), and ``{run_id}`` in the
resume/stream curl line is the run the example paused. The example's ``input()`` is
answered ``approve`` (the gate's select offers approve and reject). One key runs and
resumes, so it is an admin's: the gate admits admins and users, starting a run needs an
agent.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.seed_examples import ENV, KEYS, run_curl, with_server
from tests.server.serveproc import ServeProcess

pytestmark = pytest.mark.slow

HOST = "http://localhost:8000"

LIST_AND_GET = """
curl http://localhost:8000/api/v1/orchestrations \\
-H "Authorization: Bearer YOUR_API_KEY"
curl http://localhost:8000/api/v1/orchestrations/orch-research-report \\
-H "Authorization: Bearer YOUR_API_KEY"
"""

RUN_STREAM = """
curl -X POST http://localhost:8000/api/v1/orchestrations/orch-research-report/run/stream \\
-H "Authorization: Bearer YOUR_API_KEY" \\
-H "Content-Type: application/json" \\
-N \\
-d '{"message": "quantum computing"}'
"""

RESUME_STREAM = """
curl -X POST http://localhost:8000/api/v1/orchestrations/runs/{run_id}/resume/stream \\
-H "Authorization: Bearer YOUR_API_KEY" \\
-N \\
-d '{"response": {"decision": "approve"}}'
"""

PYTHON_EXAMPLE = """
import requests

BASE = "http://localhost:8000/api/v1"
HEADERS = {"Authorization": "Bearer YOUR_KEY"}

# 1. Start the orchestration
resp = requests.post(
    f"{BASE}/orchestrations/orch-research-report/run",
    headers=HEADERS,
    json={"message": "AI orchestration trends 2025"}
)
data = resp.json()

if data["status"] == "paused":
    run_id = data["run_id"]
    human_prompt = data["human_input_required"]["prompt"]
    print(f"Human approval needed: {human_prompt}")

    # 2. Collect human input (e.g. from your UI)
    decision = input("Approve? (yes/no): ")

    # 3. Resume the orchestration
    resume_resp = requests.post(
        f"{BASE}/orchestrations/runs/{run_id}/resume",
        headers=HEADERS,
        json={"response": {"decision": decision, "notes": "Approved via API"}}
    )
    final = resume_resp.json()
    print(f"Status: {final['status']}")
    print(f"Article: {final['shared_state'].get('article', '')[:200]}...")

elif data["status"] == "completed":
    print(data["response"])
"""


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    with ServeProcess(tmp_path_factory.mktemp("seed000"), env=ENV, sync_wait=30.0) as srv:
        yield srv


def sse_events(text: str) -> list[tuple[str, str]]:
    """(event, data) of each frame of an SSE body."""
    out = []
    for block in text.split("\n\n"):
        lines = block.splitlines()
        name = next((line[7:] for line in lines if line.startswith("event: ")), "")
        data = "\n".join(line[6:] for line in lines if line.startswith("data: "))
        if name:
            out.append((name, data))
    return out


def test_list_and_detail(serve: ServeProcess) -> None:
    listing, detail = run_curl(with_server(LIST_AND_GET, HOST, serve.url)
                               .replace("YOUR_API_KEY", KEYS["user"]))
    entry = next(o for o in listing if o["id"] == "orch-research-report")
    assert entry == {**entry, "name": "Research → Report", "steps": 5}
    assert detail["id"] == "orch-research-report" and len(detail["steps"]) == 5
    assert not detail["source"].startswith("/")  # never the server's absolute path


def test_streams(serve: ServeProcess) -> None:
    script = with_server(RUN_STREAM, HOST, serve.url).replace("YOUR_API_KEY", KEYS["admin"])
    done = subprocess.run(["bash", "-e", "-c", script], capture_output=True, text=True,
                          timeout=120, check=True)
    events = sse_events(done.stdout)
    names = [name for name, _ in events]
    assert names[0] == "step_start" and names[-2:] == ["human_input_required", "done"], names
    run_id = json.loads(events[-2][1])["run_id"]
    script = (with_server(RESUME_STREAM, HOST, serve.url).replace("YOUR_API_KEY", KEYS["admin"])
              .replace("{run_id}", run_id))
    done = subprocess.run(["bash", "-e", "-c", script], capture_output=True, text=True,
                          timeout=120, check=True)
    names = [name for name, _ in sse_events(done.stdout)]
    assert names[-2:] == ["orchestration_complete", "done"], done.stdout[-2000:]


def test_python_example_run_gate_resume(serve: ServeProcess, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(with_server(PYTHON_EXAMPLE, HOST, serve.url)
                      .replace("YOUR_KEY", KEYS["admin"]), encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], input="approve\n", capture_output=True,
                          text=True, timeout=120, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == ("Human approval needed: Please review the draft article and decide "
                        "whether to publish."), done.stdout
    assert lines[1].endswith("Status: completed"), done.stdout  # after the input() prompt
    assert lines[2].startswith("Article: ") and len(lines[2]) > len("Article: ...")

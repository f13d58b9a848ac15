"""``switchboard approvals approve|reject --filter``: bulk decisions from the shell against a
real server on 127.0.0.1 (issue 13): the preview table, the typed count, one result per
approval with the server's reason for a refusal, quorum votes reported as still pending,
gates with forms skipped, and the exit status."""

from __future__ import annotations

import asyncio
import io
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from switchboard.console.approvals_cmd import bulk_command
from switchboard.engine.actors import Actor
from switchboard.engine.tasks import TaskSpec
from tests.server.conftest import LiveApi, start_live_api

ROOT = Path(__file__).resolve().parents[2]
OPERATOR = "operator"  # the CLI's principal (an admin token with this subject)


@pytest.fixture
async def live(tmp_path: Path) -> Any:
    api, runner = await start_live_api(
        tmp_path, tasks={"approval_priorities": ["P0", "P1", "P2"]},
        approvals={"quorum": {"knowledge_sync": 2}})
    try:
        yield api
    finally:
        await runner.cleanup()
        await api.engine.stop()


async def seed(live: LiveApi) -> dict[str, list[str]]:
    """Five P2 faq_update approvals (one of them asked for by the CLI's own principal), a
    P2 of another type, a P1 faq_update and a quorum-of-2 knowledge_sync."""
    engine = live.engine
    out: dict[str, list[str]] = {"faq": [], "own": [], "other": [], "quorum": []}
    for n in range(5):
        actor = Actor(OPERATOR, "admin") if n == 2 else Actor("alice", "user")
        task, _ = await engine.tasks.create(TaskSpec(type="faq_update", priority="P2",
                                                     payload={"description": f"FAQ {n}"}),
                                            actor)
        assert task.approval_id
        (out["own"] if n == 2 else out["faq"]).append(task.approval_id)
    for spec in (TaskSpec(type="bugfix", priority="P2"),
                 TaskSpec(type="faq_update", priority="P1")):
        task, _ = await engine.tasks.create(spec, Actor("alice", "user"))
        assert task.approval_id
        out["other"].append(task.approval_id)
    task, _ = await engine.tasks.create(TaskSpec(type="knowledge_sync", priority="P2"),
                                        Actor("alice", "user"))
    assert task.approval_id
    out["quorum"].append(task.approval_id)
    return out


async def status_of(live: LiveApi, approval_id: str) -> str:
    return str((await live.engine.approvals.get(approval_id)).status)


async def test_preview_typed_count_and_a_result_per_item(live: LiveApi) -> None:
    ids = await seed(live)
    token = live.token("admin", OPERATOR)
    asked: list[str] = []
    out = io.StringIO()

    # a wrong count decides nothing
    code = await bulk_command(live.root, token, "approve", "type:faq_update priority:P2",
                              interactive=True, out=out, ask=lambda p: asked.append(p) or "4")
    assert code == 1 and "not confirmed: nothing decided" in out.getvalue()
    assert asked == ["Type 5 to approve 5 approvals: "]
    assert all([await status_of(live, a) == "pending" for a in ids["faq"] + ids["own"]])
    table = out.getvalue().splitlines()
    assert table[0].split() == ["ID", "P", "KIND", "VOTES", "WHAT", "REQUESTED", "BY", "WILL"]
    rows = [line for line in table[1:6]]
    assert all("P2" in r and "task" in r and "faq_update: FAQ" in r and r.endswith("approve")
               for r in rows), rows
    assert any(OPERATOR in r for r in rows) and sum("alice" in r for r in rows) == 4
    assert "5 to approve" in table[6]

    out = io.StringIO()
    code = await bulk_command(live.root, token, "approve", "type:faq_update priority:P2",
                              interactive=True, out=out, ask=lambda p: "5")
    text = out.getvalue()
    assert code == 1, text  # one refused
    for approval_id in ids["faq"]:
        assert f"{approval_id}  approved" in text
        assert await status_of(live, approval_id) == "approved"
    assert f"{ids['own'][0]}  refused: self-approval is not allowed: {OPERATOR} created" in text
    assert await status_of(live, ids["own"][0]) == "pending"
    assert text.rstrip().endswith("4 decided, 1 refused")
    assert all([await status_of(live, a) == "pending" for a in ids["other"] + ids["quorum"]])


async def test_quorum_vote_is_reported_as_still_pending(live: LiveApi) -> None:
    ids = await seed(live)
    out = io.StringIO()
    code = await bulk_command(live.root, live.token("admin", OPERATOR), "approve",
                              "type:knowledge_sync", yes=True, out=out)
    text = out.getvalue()
    assert code == 0, text
    assert "  0 of 2  knowledge_sync" in text  # the preview shows the quorum's progress
    assert f"{ids['quorum'][0]}  approved 1 of 2, still pending" in text
    assert await status_of(live, ids["quorum"][0]) == "pending"
    out = io.StringIO()  # the second distinct person decides it
    code = await bulk_command(live.root, live.token("admin", "bob"), "approve",
                              "type:knowledge_sync", yes=True, out=out)
    assert code == 0 and f"{ids['quorum'][0]}  approved\n" in out.getvalue()
    assert await status_of(live, ids["quorum"][0]) == "approved"


async def test_reject_needs_a_reason_and_gates_with_forms_are_skipped(live: LiveApi,
                                                                     tmp_path: Path) -> None:
    ids = await seed(live)
    token = live.token("admin", OPERATOR)
    err = io.StringIO()
    code = await bulk_command(live.root, token, "reject", "p:P2", yes=True, err=err)
    assert code == 2 and "--reason is required" in err.getvalue()
    code = await bulk_command(live.root, token, "approve", "colour:red", yes=True, err=err)
    assert code == 2 and "unknown filter key colour" in err.getvalue()
    code = await bulk_command(live.root, token, "approve", "p:P2", err=err)
    assert code == 2 and "pass --yes" in err.getvalue()  # no terminal, no --yes

    out = io.StringIO()
    code = await bulk_command(live.root, token, "reject", "type:faq_update p:P2",
                              reason="FAQ freeze", yes=True, out=out)
    assert code == 0, out.getvalue()
    for approval_id in ids["faq"] + ids["own"]:  # rejecting one's own request is allowed
        assert f"{approval_id}  rejected" in out.getvalue()
        approval = await live.engine.approvals.get(approval_id)
        assert approval.status == "rejected" and approval.rejection_reason == "FAQ freeze"


async def test_gate_with_a_form_is_skipped_when_approving(tmp_path: Path) -> None:
    from tests.console.fixtures import REVIEW_TOML

    orch_dir = tmp_path / "orchestrations"
    orch_dir.mkdir()
    (orch_dir / "review.toml").write_text(REVIEW_TOML, encoding="utf-8")
    live, runner = await start_live_api(tmp_path, orchestrations={"dir": str(orch_dir),
                                                                  "watch": False})
    try:
        engine = live.engine
        orchestration = engine.orchestrations.get("orch-review")
        assert orchestration is not None
        run = await engine.runs.start(orchestration, "PR #1", actor=Actor("alice", "user"))
        run = await engine.runs.wait(run.run_id, timeout=10)
        assert run.approval_id
        out = io.StringIO()
        code = await bulk_command(live.root, live.token("admin", OPERATOR), "approve",
                                  "kind:gate", yes=True, out=out)
        text = out.getvalue()
        assert code == 1, text
        assert "skip: a gate with a form (answer it with f)" in text
        assert "0 to approve, 1 skipped" in text and "nothing to do" in text
        assert (await engine.approvals.get(run.approval_id)).status == "pending"
    finally:
        await runner.cleanup()
        await live.engine.stop()


async def cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("SWITCHBOARD_CONFIG",
                                                             "SWITCHBOARD_TOKEN")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switchboard.console.cli", "approvals", *args, cwd=ROOT,
        env={**base, **env}, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_the_real_command_in_a_subprocess(live: LiveApi) -> None:
    ids = await seed(live)
    env = {"SWITCHBOARD_TOKEN": live.token("admin", OPERATOR)}
    code, out, err = await cli("approve", "--filter", "type:faq_update priority:P2",
                               "--url", live.root, env=env)
    assert code == 2 and "pass --yes" in err, (out, err)  # stdin is not a terminal
    code, out, err = await cli("approve", "--filter", "type:faq_update priority:P2", "--yes",
                               "--url", live.root, env=env)
    assert code == 1, (out, err)
    assert out.count("  approved") == 4 and "refused: self-approval" in out
    assert out.splitlines()[0].startswith("ID ")
    code, out, err = await cli("reject", "--filter", "type:bugfix", "--yes", "--reason",
                               "not now", "--url", live.root, env=env)
    assert code == 0 and f"{ids['other'][0]}  rejected" in out, (out, err)
    code, out, err = await cli("approve", "--url", live.root, env=env)  # no --filter
    assert code != 0 and "--filter" in (out + err)

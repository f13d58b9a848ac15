"""The approvals history (``5`` then ``h``): who decided, when, the outcome in words and why,
in-process and attached to a real server alike.

Issue 13: a gate answered "reject" showed as "approved", and its answer as a Python dict.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from switchboard.console.app import build_app
from switchboard.console.backend import InProcessBackend
from switchboard.console.formatting import datetime_text
from switchboard.console.remote import RemoteBackend
from switchboard.console.screens.approvals import ApprovalsScreen, outcome_of, why_of
from switchboard.engine.actors import Actor
from switchboard.engine.clock import ManualClock
from switchboard.engine.engine import Engine
from switchboard.engine.models import Approval
from tests.console.fixtures import START, FixedIds, decide, seed
from tests.console.test_remote_backend import Server, quiet, screen_text, serve, world_config


@pytest.fixture
async def served(tmp_path: Path, fixed_ids: FixedIds
                 ) -> AsyncIterator[tuple[Server, dict[str, Approval]]]:
    engine = Engine(world_config(tmp_path), clock=ManualClock(START), run_maintenance=False)
    await engine.start()
    decided = await decide(engine, await seed(engine))
    server = await serve(engine)
    try:
        yield server, decided
    finally:
        await server.stop()


def backend_for(mode: str, server: Server) -> Any:
    if mode == "in-process":
        return InProcessBackend(server.engine, Actor("operator", "admin"))
    return RemoteBackend(server.url, server.token(sub="operator"))


def cells(screen: ApprovalsScreen, approval_id: str) -> list[str]:
    row = screen.table.row_cells(approval_id)
    assert row is not None, f"{approval_id} is not in the history"
    return [str(c) if not isinstance(c, tuple) else c[0] for c in row]


@pytest.mark.parametrize("mode", ["in-process", "attached"])
async def test_history_shows_who_when_outcome_and_why(
        served: tuple[Server, dict[str, Approval]], mode: str) -> None:
    server, decided = served
    app = build_app(backend_for(mode, server), clock=server.engine.clock, cursor_blink=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await quiet(pilot)
        await pilot.press("5", "h")
        await quiet(pilot)
        screen = app.screen
        assert isinstance(screen, ApprovalsScreen) and screen.history
        # most recent decision first
        assert screen.table.keys()[:4] == [decided[k].approval_id for k in
                                           ("cancelled", "approved", "answered", "rejected")]

        def row(kind: str) -> list[str]:
            # ID P KIND DECISION BY WHY AT AGO
            return cells(screen, decided[kind].approval_id)[3:7]

        def at(kind: str) -> str:
            return datetime_text(decided[kind].decided_at, zone=False)

        assert row("rejected") == ["rejected", "carol", "too risky on a friday", at("rejected")]
        assert row("answered") == [
            "answered", "dave", "decision: reject; replicas: 2; notes: needs a canary first;"
            " notify: email, slack; rollback: yes; ticket: OPS-9", at("answered")]
        assert row("approved") == ["approved", "operator", "-", at("approved")]
        assert row("cancelled") == ["cancelled", "erin", "its task was cancelled", at("cancelled")]

        text = "\n".join(screen_text(app))
        assert "{'" not in text and "approved  dave" not in text
        assert "DECIDED AT (UTC)" in text and at("answered") in text

        # the selected decision's full story, the answer one pair a line
        screen.table.move_cursor(row=screen.table.get_row_index(decided["answered"].approval_id))
        await quiet(pilot)
        preview = str(screen.query_one("#approval-preview-text").render())
        assert f"answered by dave at {datetime_text(decided['answered'].decided_at)}" in preview
        assert "\n  decision: reject\n  replicas: 2\n" in preview
        assert "  notify: email, slack\n  rollback: yes\n  ticket: OPS-9" in preview

        screen.table.move_cursor(row=screen.table.get_row_index(decided["rejected"].approval_id))
        await quiet(pilot)
        preview = str(screen.query_one("#approval-preview-text").render())
        assert f"rejected by carol at {datetime_text(decided['rejected'].decided_at)}" in preview
        assert "reason: too risky on a friday" in preview

        # the filter searches outcomes and answers too
        await pilot.press("slash", *"answered")
        await quiet(pilot)
        assert screen.table.keys() == [decided["answered"].approval_id]


def test_outcome_and_why_in_words() -> None:
    gate = Approval(approval_id="a", kind="gate", priority="P2", status="approved",
                    response={"ok": False, "nested": {"a": [1, 2]}, "empty": []})
    assert outcome_of(gate) == "answered"
    assert why_of(gate) == 'ok: no; nested: {"a": [1, 2]}; empty: -'
    task = Approval(approval_id="b", kind="task", priority="P1", status="approved")
    assert (outcome_of(task), why_of(task)) == ("approved", "")
    expired = Approval(approval_id="c", kind="task", priority="P1", status="expired",
                       rejection_reason="approval timed out")
    assert (outcome_of(expired), why_of(expired)) == ("expired", "approval timed out")
    by_default = Approval(approval_id="d", kind="gate", priority="P2", status="expired",
                          response={"decision": "approve"})
    assert why_of(by_default) == "timed out; default answer decision: approve"
    approved_on_timeout = Approval(approval_id="e", kind="task", priority="P1", status="expired")
    assert why_of(approved_on_timeout) == "timed out; approved by default"
    run_gone = Approval(approval_id="f", kind="gate", priority="P2", status="cancelled")
    assert why_of(run_gone) == "its run was cancelled"
    plain = Approval(approval_id="g", kind="gate", priority="P2", status="approved",
                     response="ship it")
    assert why_of(plain) == "answer: ship it"
